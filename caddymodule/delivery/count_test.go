package delivery

import (
	"net/http"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// TestCountEventsMatchesReplayRange: the count of a range and status is exactly what a
// ReplayRange with the same arguments queues.
func TestCountEventsMatchesReplayRange(t *testing.T) {
	s := openStore(t, t.TempDir())
	up := testkit.NewUpstream(t, testkit.Status(http.StatusOK))
	r := newRoute(t, s, QueueConfig{Forward: policy(up.URL)})
	r.Start()
	ids := []string{"01JCNT00000000000000000001", "01JCNT00000000000000000002", "01JCNT00000000000000000003", "01JCNT00000000000000000004"}
	var mid time.Time
	for i, id := range ids {
		if i == 2 {
			time.Sleep(20 * time.Millisecond)
			mid = time.Now()
			time.Sleep(20 * time.Millisecond)
		}
		if _, err := r.Accept(testCtx(t), "k"+id, event(id)); err != nil {
			t.Fatal(err)
		}
	}
	settled(t, r, 10*time.Second)
	testkit.WaitFor(t, 10*time.Second, "four delivered", func() bool {
		n, complete, err := r.CountEvents(testCtx(t), mid.Add(-time.Hour), time.Time{}, StatusDelivered)
		return err == nil && complete && n == 4
	})
	cases := []struct {
		since, until time.Time
		status       string
		want         int
	}{
		{mid.Add(-time.Hour), time.Time{}, "", 4},
		{mid, time.Time{}, "", 2},
		{mid.Add(-time.Hour), mid, "", 2},
		{mid.Add(-time.Hour), time.Time{}, StatusPending, 0},
		{time.Now().Add(time.Hour), time.Time{}, "", 0},
	}
	for i, c := range cases {
		n, complete, err := r.CountEvents(testCtx(t), c.since, c.until, c.status)
		if err != nil || !complete || n != c.want {
			t.Errorf("case %d: CountEvents = %d, %v, %v; want %d, complete", i, n, complete, err, c.want)
		}
	}
	before := up.Count()
	n, err := r.ReplayRange(testCtx(t), mid, time.Time{}, "")
	if err != nil || n != 2 {
		t.Fatalf("ReplayRange after a count of 2 = %d, %v", n, err)
	}
	testkit.WaitFor(t, 10*time.Second, "the two replays", func() bool { return up.Count() == before+2 })
	if _, _, err := r.CountEvents(testCtx(t), mid, mid.Add(-time.Second), ""); err == nil {
		t.Errorf("since after until: no error")
	}
	if _, _, err := r.CountEvents(testCtx(t), mid, time.Time{}, "lost"); err == nil {
		t.Errorf("unknown status: no error")
	}
}
