package delivery

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// TestHistoryListAndReplay: delivered, dead and pending events are listed oldest first with
// their status, filtered by time, key and status and paged by cursor; one found by ID has its
// body and headers; a replay by ID and by range delivers again exactly those events, with their
// ID and key, marked as a replay and with attempts counted afresh.
func TestHistoryListAndReplay(t *testing.T) {
	s := openStore(t, t.TempDir())
	up := testkit.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		switch {
		case strings.HasPrefix(r.Header.Get(HeaderID), "DEAD"):
			w.WriteHeader(http.StatusGone)
		case strings.HasPrefix(r.Header.Get(HeaderID), "WAIT") && r.Header.Get(HeaderReplay) == "":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	p := policy(up.URL)
	p.DeadLetterOn = []int{http.StatusGone}
	p.BackoffMin, p.BackoffMax = time.Hour, time.Hour
	r := newRoute(t, s, QueueConfig{Name: "hist", DedupWindow: time.Hour, Forward: p})
	r.Start()
	accept := func(id string) {
		t.Helper()
		ev := event(id)
		ev.Header = http.Header{"X-Vendor-Trace": {"t-" + id}}
		if dup, err := r.Accept(testCtx(t), "k-"+id, ev); err != nil || dup {
			t.Fatalf("accept %s: dup=%v err=%v", id, dup, err)
		}
	}
	accept("OK1")
	accept("OK2")
	testkit.WaitFor(t, 10*time.Second, "two deliveries", func() bool { return up.Count() == 2 })
	time.Sleep(20 * time.Millisecond)
	mid := time.Now()
	time.Sleep(20 * time.Millisecond)
	accept("OK3")
	accept("DEAD1")
	accept("WAIT1")
	testkit.WaitFor(t, 10*time.Second, "five attempts", func() bool { return up.Count() == 5 })
	testkit.WaitFor(t, 10*time.Second, "the dead letter and the ack floor", func() bool {
		st, err := r.Stats(testCtx(t))
		return err == nil && st.Dead == 1 && st.Pending == 1
	})

	info0, err := r.ev.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	all, next, err := r.Events(testCtx(t), EventQuery{})
	if err != nil || next != "" {
		t.Fatalf("events: next=%q err=%v", next, err)
	}
	got := map[string]string{}
	var order []string
	for _, e := range all {
		got[e.ID] = e.Status
		order = append(order, e.ID)
	}
	want := map[string]string{"OK1": StatusDelivered, "OK2": StatusDelivered, "OK3": StatusDelivered, "DEAD1": StatusDead, "WAIT1": StatusPending}
	if len(all) != 5 || strings.Join(order, ",") != "OK1,OK2,OK3,DEAD1,WAIT1" {
		t.Fatalf("listing %v, want OK1..WAIT1 in order", order)
	}
	for id, st := range want {
		if got[id] != st {
			t.Errorf("%s: status %q, want %q", id, got[id], st)
		}
	}

	page, next, err := r.Events(testCtx(t), EventQuery{Limit: 2})
	if err != nil || len(page) != 2 || next == "" {
		t.Fatalf("page 1: %d events, next=%q, err=%v", len(page), next, err)
	}
	page2, _, err := r.Events(testCtx(t), EventQuery{Limit: 2, Cursor: next})
	if err != nil || len(page2) != 2 || page2[0].ID != "OK3" {
		t.Fatalf("page 2: %+v err=%v", page2, err)
	}
	since, _, _ := r.Events(testCtx(t), EventQuery{Since: mid})
	if len(since) != 3 || since[0].ID != "OK3" {
		t.Fatalf("since: %+v", since)
	}
	until, _, _ := r.Events(testCtx(t), EventQuery{Until: mid})
	if len(until) != 2 || until[1].ID != "OK2" {
		t.Fatalf("until: %+v", until)
	}
	byKey, _, _ := r.Events(testCtx(t), EventQuery{Key: "key-OK2"})
	if len(byKey) != 1 || byKey[0].ID != "OK2" {
		t.Fatalf("by key: %+v", byKey)
	}
	dead, _, _ := r.Events(testCtx(t), EventQuery{Status: StatusDead})
	if len(dead) != 1 || dead[0].ID != "DEAD1" || dead[0].Attempts != 1 || dead[0].LastStatus != http.StatusGone {
		t.Fatalf("dead: %+v", dead)
	}
	if _, _, err := r.Events(testCtx(t), EventQuery{Status: "nope"}); err == nil {
		t.Fatal("a bad status was accepted")
	}

	d, err := r.Event(testCtx(t), "OK2")
	if err != nil || string(d.Body) != `{"id":"OK2"}` || d.Header.Get("X-Vendor-Trace") != "t-OK2" || d.Key != "key-OK2" {
		t.Fatalf("event OK2: %+v err=%v", d, err)
	}
	if _, err := r.Event(testCtx(t), "NOPE"); !IsEventNotFound(err) {
		t.Fatalf("missing event: %v", err)
	}

	before := up.Count()
	if err := r.ReplayEvent(testCtx(t), "OK1"); err != nil {
		t.Fatalf("replay OK1: %v", err)
	}
	testkit.WaitFor(t, 10*time.Second, "the replay", func() bool { return up.Count() == before+1 })
	h := up.Requests()[before].Header
	if h.Get(HeaderID) != "OK1" || h.Get(HeaderIdempotencyKey) != "key-OK1" || h.Get(HeaderReplay) != "true" || h.Get(HeaderAttempt) != "1" {
		t.Fatalf("replayed headers: %v", h)
	}
	for _, hit := range up.Requests()[:before] {
		if hit.Header.Get(HeaderReplay) != "" {
			t.Fatalf("a first delivery is marked as a replay: %v", hit.Header)
		}
	}

	before = up.Count()
	n, err := r.ReplayRange(testCtx(t), mid, time.Time{}, StatusDelivered)
	if err != nil || n != 1 {
		t.Fatalf("replay range: n=%d err=%v", n, err)
	}
	testkit.WaitFor(t, 10*time.Second, "the range replay", func() bool { return up.Count() == before+1 })
	time.Sleep(200 * time.Millisecond)
	if up.Count() != before+1 || up.Requests()[before].Header.Get(HeaderID) != "OK3" {
		t.Fatalf("range replay delivered %d events, first %v", up.Count()-before, up.Requests()[before].Header.Get(HeaderID))
	}
	if _, err := r.ReplayRange(testCtx(t), mid, mid, ""); err == nil {
		t.Fatal("an empty range was accepted")
	}
	// Scans leave no consumer behind: polling the history must not use up the store's limit.
	info, err := r.ev.Info(testCtx(t))
	if err != nil || info.State.Consumers != info0.State.Consumers {
		t.Fatalf("%d consumers on the event stream after the scans (err %v), want %d as before them", info.State.Consumers, err, info0.State.Consumers)
	}
}

// TestHistoryRetainNone: with RetainNone (retain 0), a delivered event is listed while it is in
// the dedup window and is gone from the history after the first purge past it; with a retention
// it stays.
func TestHistoryRetainNone(t *testing.T) {
	s := openStore(t, t.TempDir())
	up := testkit.NewUpstream(t, testkit.Status(http.StatusOK))
	for _, tc := range []struct {
		name   string
		retain time.Duration
		kept   int
	}{{"none", RetainNone, 0}, {"hour", time.Hour, 1}} {
		clock := &fakeClock{}
		p := policy(up.URL)
		p.Retain = tc.retain
		r := newRoute(t, s, QueueConfig{Name: "retain-" + tc.name, DedupWindow: time.Minute, Forward: p})
		r.now = clock.now
		r.Start()
		if _, err := r.Accept(testCtx(t), "k-"+tc.name, event("R"+tc.name)); err != nil {
			t.Fatal(err)
		}
		// The consumer may count an event pending a moment after it was stored: wait for the
		// delivery itself, not only for an empty queue.
		testkit.WaitFor(t, 10*time.Second, "the delivery", func() bool {
			got, _, err := r.Events(testCtx(t), EventQuery{Status: StatusDelivered})
			return err == nil && len(got) == 1
		})
		settled(t, r, 10*time.Second)
		if got, _, err := r.Events(testCtx(t), EventQuery{}); err != nil || len(got) != 1 {
			t.Fatalf("%s: %d events in the window (err %v), want 1", tc.name, len(got), err)
		}
		clock.advance(2 * time.Minute)
		if _, err := r.purgeFront(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if got, _, err := r.Events(testCtx(t), EventQuery{}); err != nil || len(got) != tc.kept {
			t.Fatalf("%s: %d events after the window (err %v), want %d", tc.name, len(got), err, tc.kept)
		}
		if _, err := r.Event(testCtx(t), "R"+tc.name); (tc.kept == 0) != IsEventNotFound(err) {
			t.Fatalf("%s: event lookup after the window: %v", tc.name, err)
		}
	}
}
