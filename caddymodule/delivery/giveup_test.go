package delivery

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
	"go.uber.org/zap"
)

// paddedEvent is an event whose body has about size bytes.
func paddedEvent(id string, size int) *Event {
	ev := event(id)
	ev.Body = []byte(fmt.Sprintf(`{"id":%q,"pad":%q}`, id, strings.Repeat("x", size)))
	return ev
}

// retryLater is an application that is down for an hour: it answers 503 with a Retry-After of
// an hour, so that its events wait in the queue.
func retryLater(w http.ResponseWriter, _ *http.Request, _ int) {
	w.Header().Set("Retry-After", "3600")
	w.WriteHeader(http.StatusServiceUnavailable)
}

// fillHistoryThenQueue runs the two halves of the give-up tests on r: with the application up,
// n events of size bytes, each delivered before the next, are all accepted although they add up
// to far more than the limit, and the oldest history is gone; then, with it down, events are
// accepted until ErrQueueFull, and every one of those is still queued. It returns how many
// were accepted while the application was down.
func fillHistoryThenQueue(t *testing.T, r *Queue, up *testkit.Upstream, n, size int) int {
	t.Helper()
	for i := range n {
		if dup, err := r.Accept(testCtx(t), fmt.Sprintf("k%04d", i), paddedEvent(fmt.Sprintf("H%04d", i), size)); err != nil || dup {
			t.Fatalf("event %d with the application up: dup=%v err=%v", i, dup, err)
		}
		testkit.WaitFor(t, 10*time.Second, "its delivery", func() bool { return up.Count() == i+1 })
	}
	settled(t, r, 10*time.Second)
	info, err := r.ev.Info(testCtx(t))
	if err != nil || info.State.FirstSeq <= 1 {
		t.Fatalf("event stream after %d events: first seq %d (err %v): no history was given up", n, info.State.FirstSeq, err)
	}
	if _, err := r.Event(testCtx(t), "H0000"); !IsEventNotFound(err) {
		t.Fatalf("the oldest event is still in the history: %v", err)
	}
	// Its key is still in the window: a re-send is the duplicate it is.
	if dup, err := r.Accept(testCtx(t), "k0000", paddedEvent("again", size)); err != nil || !dup {
		t.Fatalf("re-send of a given-up event: dup=%v err=%v", dup, err)
	}
	t.Logf("after %d delivered events: the history starts at seq %d, %d bytes stored", n, info.State.FirstSeq, info.State.Bytes)

	up.SetRespond(retryLater)
	var queued []string
	for i := range 10 * n {
		id := fmt.Sprintf("Q%04d", i)
		_, err = r.Accept(testCtx(t), fmt.Sprintf("q%04d", i), paddedEvent(id, size))
		if err != nil {
			break
		}
		queued = append(queued, id)
	}
	if !errors.Is(err, ErrQueueFull) || len(queued) < 5 {
		t.Fatalf("with the application down: %v after %d events, want ErrQueueFull after some", err, len(queued))
	}
	// The consumer's counts may lag an attempt that has just been made by a moment.
	testkit.WaitFor(t, 5*time.Second, fmt.Sprintf("all %d undelivered events counted pending", len(queued)), func() bool {
		st, err := r.Stats(testCtx(t))
		return err == nil && st.Pending == uint64(len(queued))
	})
	pending, _, err := r.Events(testCtx(t), EventQuery{Status: StatusPending, Limit: maxEventPage})
	if err != nil || len(pending) != len(queued) || pending[0].ID != queued[0] {
		t.Fatalf("%d pending events listed (err %v), want %d from %s", len(pending), err, len(queued), queued[0])
	}
	return len(queued)
}

// TestHistoryGivenUpFirst: a route's delivered history counts against its max_queue and is
// given up, oldest first, before an event is refused; undelivered events never are.
func TestHistoryGivenUpFirst(t *testing.T) {
	s := openStore(t, t.TempDir())
	up := testkit.NewUpstream(t, nil)
	p := policy(up.URL)
	p.MaxQueue = 32 << 10
	p.BackoffMax = time.Hour
	r := newRoute(t, s, QueueConfig{Name: "giveup", DedupWindow: time.Hour, Forward: p})
	r.Start()
	queued := fillHistoryThenQueue(t, r, up, 150, 600)
	st, err := r.Stats(testCtx(t))
	// The quota is checked before each write, against a sample plus estimates, and the outcome
	// records of the attempts made since come on top: it can be passed by a little, not more.
	if err != nil || st.Bytes > uint64(p.MaxQueue)*11/10 {
		t.Fatalf("stats %+v (err %v): well over the quota", st, err)
	}
	t.Logf("%d events queued while the application was down; %d bytes used of %d", queued, st.Bytes, p.MaxQueue)
}

// TestStoreHistoryGivenUpFirst: the same against the embedded store's max_store, with the
// route's own quota far above it.
func TestStoreHistoryGivenUpFirst(t *testing.T) {
	const maxStore = 4 << 20
	s, err := Open(StoreConfig{Dir: t.TempDir(), MaxStore: maxStore, ReadyTimeout: 20 * time.Second}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	up := testkit.NewUpstream(t, nil)
	p := policy(up.URL)
	p.BackoffMax = time.Hour
	r := newRoute(t, s, QueueConfig{Name: "storefull", DedupWindow: time.Hour, Forward: p})
	r.Start()
	queued := fillHistoryThenQueue(t, r, up, 400, 16<<10)
	info, err := s.js.AccountInfo(testCtx(t))
	if err != nil || info.Store > maxStore {
		t.Fatalf("store use %d of %d (err %v)", info.Store, maxStore, err)
	}
	t.Logf("%d events queued while the application was down; the store holds %d bytes of %d", queued, info.Store, maxStore)
}
