package delivery

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// TestGateAfterForwardPurges: a route switched from forward to gate mode keeps its delivery
// consumer. Its key records must not hold the purge: the workers ack them, and a purge past the
// window and the retention empties the stream's front. An event still undelivered when the
// route switched holds the purge instead, and is delivered once the route forwards again.
func TestGateAfterForwardPurges(t *testing.T) {
	s := openStore(t, t.TempDir())
	var failing atomic.Bool
	failing.Store(true)
	up := testkit.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if failing.Load() && r.Header.Get("X-Webhook-Id") == "held" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	clock := &fakeClock{}
	p := policy(up.URL)
	p.Retain = time.Minute
	p.MaxAttempts = 10_000 // the held event below fails until the end, and must stay queued
	p.BackoffMin, p.BackoffMax = 100*time.Millisecond, 100*time.Millisecond
	fwd := QueueConfig{Name: "switch", DedupWindow: time.Minute, Forward: p}
	gate := QueueConfig{Name: "switch", DedupWindow: time.Minute}
	r := newRoute(t, s, fwd)
	r.now = clock.now
	r.Start()
	for _, id := range []string{"e1", "e2"} {
		if dup, err := r.Accept(testCtx(t), "k-"+id, event(id)); err != nil || dup {
			t.Fatalf("accept %s: dup=%v err=%v", id, dup, err)
		}
	}
	settled(t, r, 10*time.Second)

	r.Update(gate)
	record := func(prefix string, n int) uint64 {
		t.Helper()
		for i := range n {
			if err := r.Record(testCtx(t), fmt.Sprintf("%s%d", prefix, i)); err != nil {
				t.Fatalf("record: %v", err)
			}
		}
		info, err := r.ev.Info(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		return info.State.LastSeq
	}
	last := record("g", 50)
	testkit.WaitFor(t, 10*time.Second, "the key records acked", func() bool {
		return r.ackFloorNow(t) >= last
	})
	clock.advance(2 * time.Hour)
	kept, err := r.purgeFront(testCtx(t))
	if err != nil {
		t.Fatalf("purge: %v", err)
	}
	if kept != last+1 {
		t.Fatalf("purge kept from %d, want everything up to %d purged", kept, last)
	}

	// An event the application does not take, then the switch: it holds the front.
	r.Update(fwd)
	if _, err := r.Accept(testCtx(t), "k-held", event("held")); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "a failed attempt", func() bool { return up.Count() >= 3 })
	info, _ := r.ev.Info(testCtx(t))
	held := info.State.LastSeq
	r.Update(gate)
	last = record("h", 20)
	clock.advance(2 * time.Hour)
	if kept, err = r.purgeFront(testCtx(t)); err != nil || kept != held {
		t.Fatalf("purge kept from %d (%v), want the undelivered event at %d", kept, err, held)
	}
	failing.Store(false)
	r.Update(fwd)
	testkit.WaitFor(t, 30*time.Second, "the held event delivered", func() bool { return r.ackFloorNow(t) >= last })
	if n := len(up.Delivered("X-Webhook-Id")["held"]); n != 1 {
		t.Fatalf("held event delivered %d times, want 1", n)
	}
}

// ackFloorNow is the delivery consumer's ack floor (stream sequence).
func (r *Queue) ackFloorNow(t *testing.T) uint64 {
	ctx, cancel := context.WithTimeout(testCtx(t), time.Second)
	defer cancel()
	floor, err := r.ackFloor(ctx)
	if err != nil {
		return 0
	}
	return floor
}
