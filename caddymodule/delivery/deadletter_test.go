package delivery

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

func TestDeadLetterAdmin(t *testing.T) {
	s := openStore(t, t.TempDir())
	up := testkit.NewUpstream(t, testkit.Status(http.StatusInternalServerError)) // until the replay
	p := policy(up.URL)
	p.MaxAttempts = 1
	r := newRoute(t, s, QueueConfig{Forward: p})
	r.Start()
	ids := []string{"01JDLA00000000000000000001", "01JDLA00000000000000000002", "01JDLA00000000000000000003"}
	for i, id := range ids {
		if _, err := r.Accept(testCtx(t), "k"+id[len(id)-1:], event(id)); err != nil {
			t.Fatalf("accept %d: %v", i, err)
		}
	}
	testkit.WaitFor(t, 10*time.Second, "three dead letters", func() bool {
		st, err := r.Stats(testCtx(t))
		return err == nil && st.Dead == 3 && st.Pending == 0
	})
	quarantined := event("01JDLA00000000000000000004")
	if dup, err := r.Quarantine(testCtx(t), "kq", quarantined, "schema: /status is required"); err != nil || dup {
		t.Fatalf("quarantine: dup=%v, %v", dup, err)
	}

	t.Run("list", func(t *testing.T) {
		list, err := r.DeadLetters(testCtx(t), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 4 {
			t.Fatalf("listed %d dead letters, want 4", len(list))
		}
		for _, d := range list {
			if d.Body != nil {
				t.Errorf("list carries the body of %s", d.ID)
			}
		}
		if l, _ := r.DeadLetters(testCtx(t), 2); len(l) != 2 {
			t.Errorf("limit 2 listed %d", len(l))
		}
	})
	t.Run("show", func(t *testing.T) {
		d, err := r.DeadLetter(testCtx(t), ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if d.Reason != ReasonMaxAttempts || d.Attempts != 1 || d.LastStatus != 500 || d.LastError == "" ||
			d.Vendor != "incode" || d.Type != "onboarding.completed" || d.Key != "key-"+ids[0] ||
			d.ContentType != "application/json" || string(d.Body) != string(event(ids[0]).Body) || d.DeadAt.IsZero() || d.ReceivedAt.IsZero() {
			t.Fatalf("dead letter = %+v", d)
		}
		q, err := r.DeadLetter(testCtx(t), quarantined.ID)
		if err != nil || q.Reason != ReasonSchema || q.LastError != "schema: /status is required" {
			t.Fatalf("quarantined = %+v, %v", q, err)
		}
		if _, err := r.DeadLetter(testCtx(t), "01JDLA0000000000000000000X"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown id: %v", err)
		}
		if _, err := r.DeadLetter(testCtx(t), "../etc"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("bad id: %v", err)
		}
	})
	t.Run("replay", func(t *testing.T) {
		up.SetRespond(testkit.Status(http.StatusOK))
		before := up.Count()
		if err := r.Replay(testCtx(t), ids[1]); err != nil {
			t.Fatal(err)
		}
		testkit.WaitFor(t, 10*time.Second, "the replayed delivery", func() bool { return up.Count() == before+1 })
		h := up.Requests()[before]
		if h.Header.Get(HeaderID) != ids[1] || h.Header.Get(HeaderAttempt) != "1" {
			t.Fatalf("replay delivered id %s attempt %s", h.Header.Get(HeaderID), h.Header.Get(HeaderAttempt))
		}
		if _, err := r.DeadLetter(testCtx(t), ids[1]); !errors.Is(err, ErrNotFound) {
			t.Fatalf("replayed dead letter still listed: %v", err)
		}
		settled(t, r, 10*time.Second)
		if err := r.Replay(testCtx(t), ids[1]); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second replay: %v", err)
		}
	})
	t.Run("delete", func(t *testing.T) {
		if err := r.DeleteDeadLetter(testCtx(t), ids[2]); err != nil {
			t.Fatal(err)
		}
		if err := r.DeleteDeadLetter(testCtx(t), ids[2]); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		st, err := r.Stats(testCtx(t))
		if err != nil || st.Dead != 2 {
			t.Fatalf("stats after replay and delete = %+v, %v", st, err)
		}
	})
}

// TestQuarantineDedups: the same bad body (one key) quarantined three times is
// one dead letter; another key is another.
func TestQuarantineDedups(t *testing.T) {
	s := openStore(t, t.TempDir())
	r := newRoute(t, s, QueueConfig{Forward: policy("http://127.0.0.1:1")})
	var first string
	for i := range 3 {
		ev := event("01JDUP00000000000000000001")
		dup, err := r.Quarantine(testCtx(t), "k1", ev, "invalid")
		if err != nil {
			t.Fatal(err)
		}
		if dup != (i > 0) {
			t.Fatalf("quarantine %d: dup=%v", i, dup)
		}
		if i == 0 {
			first = ev.ID
		} else if ev.ID != first {
			t.Fatalf("quarantine %d got id %s, the first %s", i, ev.ID, first)
		}
	}
	if dup, err := r.Quarantine(testCtx(t), "k2", event("01JDUP00000000000000000001"), "invalid"); err != nil || dup {
		t.Fatalf("another key: dup=%v, %v", dup, err)
	}
	list, err := r.DeadLetters(testCtx(t), 10)
	if err != nil || len(list) != 2 || list[0].ID == list[1].ID {
		t.Fatalf("dead letters %+v, %v; want 2", list, err)
	}
	for _, d := range list {
		if d.Reason != ReasonSchema {
			t.Errorf("reason %q, want %q", d.Reason, ReasonSchema)
		}
		if _, err := r.DeadLetter(testCtx(t), d.ID); err != nil {
			t.Fatalf("show %s: %v", d.ID, err)
		}
	}
	// Once replayed, the dead letter is gone, and the same body is kept again.
	if err := r.Replay(testCtx(t), first); err != nil {
		t.Fatal(err)
	}
	if dup, err := r.Quarantine(testCtx(t), "k1", event("01JDUP00000000000000000001"), "invalid"); err != nil || dup {
		t.Fatalf("after replay: dup=%v, %v", dup, err)
	}
}

// TestDeadLetterListingLeavesNoConsumer: each page is a scan with its own
// ordered consumer, deleted when the page is read, so polling the dead
// letters never uses up the store's consumers.
func TestDeadLetterListingLeavesNoConsumer(t *testing.T) {
	s := openStore(t, t.TempDir())
	r := newRoute(t, s, QueueConfig{Forward: policy("http://127.0.0.1:1")})
	if _, err := r.Quarantine(testCtx(t), "kc", event("01JCONS0000000000000000001"), "invalid"); err != nil {
		t.Fatal(err)
	}
	before, err := r.dl.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if list, _, err := r.DeadLetterPage(testCtx(t), 0, 10); err != nil || len(list) != 1 {
			t.Fatalf("page: %d dead letters, %v", len(list), err)
		}
	}
	after, err := r.dl.Info(testCtx(t))
	if err != nil || after.State.Consumers != before.State.Consumers {
		t.Fatalf("%d consumers on the dead-letter stream after 5 pages (err %v), want %d", after.State.Consumers, err, before.State.Consumers)
	}
}
