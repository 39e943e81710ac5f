package delivery

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// TestReplayAllDeadLetters: every dead letter is replayed once and removed, quarantined ones
// stay unless asked for, the pace is the route's rate, and a context that ends stops the call
// without an error, with more left for the next one.
func TestReplayAllDeadLetters(t *testing.T) {
	s := openStore(t, t.TempDir())
	up := testkit.NewUpstream(t, testkit.Status(http.StatusInternalServerError)) // until the replays
	p := policy(up.URL)
	p.MaxAttempts = 1
	p.Rate = 20 // the replays are paced at 20 per second
	p.RateBurst = 1
	r := newRoute(t, s, QueueConfig{Forward: p})
	r.Start()
	const n = 6
	for i := range n {
		id := "01JRPA0000000000000000000" + string(rune('1'+i))
		if _, err := r.Accept(testCtx(t), "k"+id, event(id)); err != nil {
			t.Fatal(err)
		}
	}
	testkit.WaitFor(t, 10*time.Second, "six dead letters", func() bool {
		st, err := r.Stats(testCtx(t))
		return err == nil && st.Dead == n && st.Pending == 0
	})
	if _, err := r.Quarantine(testCtx(t), "kq", event("01JRPA00000000000000000009"), "schema: /id is required"); err != nil {
		t.Fatal(err)
	}
	up.SetRespond(testkit.Status(http.StatusOK))

	// A context that ends before all six paced slots (250 ms at 20/s) stops the call early, with
	// no error (how many it replayed first depends on how fast the listing was).
	ctx, cancel := context.WithTimeout(testCtx(t), 150*time.Millisecond)
	res, err := r.ReplayAllDeadLetters(ctx, false)
	cancel()
	if err != nil || !res.More || res.Replayed >= n {
		t.Fatalf("bounded call = %+v, %v; want more left", res, err)
	}
	first := res.Replayed

	start := time.Now()
	res, err = r.ReplayAllDeadLetters(testCtx(t), false)
	if err != nil || res.More || res.Replayed != n-first || res.Skipped != 1 {
		t.Fatalf("second call = %+v, %v; want the other %d replayed, 1 quarantined skipped", res, err, n-first)
	}
	if took, least := time.Since(start), time.Duration(res.Replayed-1)*50*time.Millisecond; took < least*8/10 {
		t.Errorf("%d replays took %v: not paced at 20/s (want at least %v)", res.Replayed, took, least)
	}
	testkit.WaitFor(t, 10*time.Second, "every event delivered again", func() bool { return up.Count() == 2*n })
	seen := map[string]int{}
	for _, h := range up.Requests()[n:] {
		seen[h.Header.Get(HeaderID)]++
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("event %s replayed %d times", id, c)
		}
	}
	st, err := r.Stats(testCtx(t))
	if err != nil || st.Dead != 1 {
		t.Fatalf("dead letters left = %+v, %v; want the quarantined one", st, err)
	}
	res, err = r.ReplayAllDeadLetters(testCtx(t), true)
	if err != nil || res.Replayed != 1 || res.Skipped != 0 {
		t.Fatalf("with quarantined = %+v, %v", res, err)
	}
	gate := newRoute(t, s, QueueConfig{Name: "gate"})
	if _, err := gate.ReplayAllDeadLetters(testCtx(t), false); err != ErrGateMode {
		t.Errorf("gate mode: %v, want ErrGateMode", err)
	}
}
