package delivery

import (
	"net/http"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// TestAttachOrphan: a route's queue left behind under an old name (events
// queued, a delivered key, a dead letter) is counted without being attached
// to, then moved into another route, which delivers the events, keeps the key
// a duplicate, holds the dead letter; the old streams are gone.
func TestAttachOrphan(t *testing.T) {
	s := openStore(t, t.TempDir())
	up := testkit.NewUpstream(t, testkit.Status(http.StatusBadRequest)) // until the move
	p := policy(up.URL)
	p.DeadLetterOn = []int{http.StatusBadRequest}
	old := newRoute(t, s, QueueConfig{Name: "old", Forward: p})
	old.Start()
	// One event is dead-lettered (its key stays remembered by a marker).
	if _, err := old.Accept(testCtx(t), "kdead", event("01JATT00000000000000000001")); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "the dead letter", func() bool {
		st, err := old.Stats(testCtx(t))
		return err == nil && st.Dead == 1
	})
	// The route is removed from the config while two events are queued.
	if err := old.Stop(time.Second); err != nil {
		t.Fatal(err)
	}
	for i, k := range []string{"ka", "kb"} {
		if _, err := old.Accept(testCtx(t), k, event("01JATT0000000000000000000"+string(rune('2'+i)))); err != nil {
			t.Fatal(err)
		}
	}

	names, err := s.RouteNames(testCtx(t))
	if err != nil || len(names) != 1 || names[0] != "old" {
		t.Fatalf("route names %v, %v", names, err)
	}
	info, err := s.Orphan(testCtx(t), "old")
	if err != nil || info.Pending != 2 || info.Dead != 1 {
		t.Fatalf("orphan: %+v, %v; want 2 pending (the marker not counted) and 1 dead", info, err)
	}

	up.SetRespond(testkit.Status(http.StatusOK))
	target := newRoute(t, s, QueueConfig{Name: "new", Forward: policy(up.URL)})
	target.Start()
	res, err := target.Attach(testCtx(t), "old")
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 2 || res.Keys != 1 || res.DeadLetters != 1 || res.Duplicates != 0 {
		t.Fatalf("attach: %+v", res)
	}
	testkit.WaitFor(t, 10*time.Second, "both events delivered", func() bool {
		ds := up.Delivered(HeaderID)
		return len(ds) == 2 && len(ds["01JATT00000000000000000002"])+len(ds["01JATT00000000000000000003"]) == 2
	})
	if dup, err := target.Accept(testCtx(t), "kdead", event("01JATT00000000000000000009")); err != nil || !dup {
		t.Fatalf("the dead-lettered key is not a duplicate in the new route: dup %v, %v", dup, err)
	}
	if list, err := target.DeadLetters(testCtx(t), 10); err != nil || len(list) != 1 || list[0].ID != "01JATT00000000000000000001" {
		t.Fatalf("dead letters of the new route: %+v, %v", list, err)
	}
	if names, _ := s.RouteNames(testCtx(t)); len(names) != 1 || names[0] != "new" {
		t.Fatalf("after attach the store holds %v, want only the new route", names)
	}
	if _, err := target.Attach(testCtx(t), "new"); err == nil {
		t.Fatal("a route attached to itself")
	}
}

// TestDeadLetterPage: pages follow the cursor to the end and stay valid while
// dead letters are removed.
func TestDeadLetterPage(t *testing.T) {
	s := openStore(t, t.TempDir())
	r := newRoute(t, s, QueueConfig{Forward: policy("http://127.0.0.1:1")})
	var ids []string
	for i := range 7 {
		ev := event("01JPAGE000000000000000000" + string(rune('0'+i)))
		if _, err := r.Quarantine(testCtx(t), "kp"+string(rune('0'+i)), ev, "test"); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID) // the dead letter's ID
	}
	var all []string
	var cursor uint64
	for pages := 0; ; pages++ {
		list, next, err := r.DeadLetterPage(testCtx(t), cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range list {
			all = append(all, d.ID)
		}
		if pages == 0 {
			// Deleting one of the next page's entries does not shift the cursor.
			if err := r.DeleteDeadLetter(testCtx(t), ids[3]); err != nil {
				t.Fatal(err)
			}
		}
		if next == 0 {
			break
		}
		if pages > 5 {
			t.Fatal("the cursor does not advance")
		}
		cursor = next
	}
	want := append(append([]string(nil), ids[:3]...), ids[4:]...)
	if len(all) != len(want) {
		t.Fatalf("paged %v, want the 6 remaining in order %v", all, want)
	}
	for i := range want {
		if all[i] != want[i] {
			t.Fatalf("paged %v, want the 6 remaining in order %v", all, want)
		}
	}
}
