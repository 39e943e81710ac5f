package delivery

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// TestPurgeKeepsUndelivered: with the application failing some events, a purge past the window
// and the retention removes the delivered events in front of the first undelivered one, and
// nothing from there on.
func TestPurgeKeepsUndelivered(t *testing.T) {
	s := openStore(t, t.TempDir())
	up := testkit.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.Header.Get("X-Webhook-Id") != "" && strings.HasPrefix(r.Header.Get("X-Webhook-Id"), "bad") {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	clock := &fakeClock{}
	p := policy(up.URL)
	p.BackoffMin, p.BackoffMax = time.Hour, time.Hour // a failed event waits for its retry
	p.Retain = time.Minute
	r := newRoute(t, s, QueueConfig{Name: "purge", DedupWindow: time.Minute, Forward: p})
	r.now = clock.now
	r.Start()
	accept := func(id string) {
		t.Helper()
		if dup, err := r.Accept(testCtx(t), "k-"+id, event(id)); err != nil || dup {
			t.Fatalf("accept %s: dup=%v err=%v", id, dup, err)
		}
	}
	for _, id := range []string{"ok1", "ok2", "ok3"} {
		accept(id)
	}
	testkit.WaitFor(t, 10*time.Second, "three deliveries", func() bool { return up.Count() == 3 })
	accept("bad1")
	accept("bad2")
	accept("ok4")
	testkit.WaitFor(t, 10*time.Second, "three more attempts", func() bool { return up.Count() == 6 })
	testkit.WaitFor(t, 10*time.Second, "the acks", func() bool {
		st, err := r.Stats(context.Background())
		return err == nil && st.Pending == 2
	})

	clock.advance(2 * time.Hour) // everything is past the window and the retention
	kept, err := r.purgeFront(testCtx(t))
	if err != nil {
		t.Fatalf("purge: %v", err)
	}
	info, err := r.ev.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 3 || info.State.FirstSeq != kept {
		t.Fatalf("after the purge: %d messages from %d (kept from %d), want the 3 from the first undelivered", info.State.Msgs, info.State.FirstSeq, kept)
	}
	first, err := r.ev.GetMsg(testCtx(t), info.State.FirstSeq)
	if err != nil || first.Header.Get(hdrID) != "bad1" {
		t.Fatalf("first kept message: %v %v, want bad1", first, err)
	}
	st, err := r.Stats(testCtx(t))
	if err != nil || st.Pending != 2 {
		t.Fatalf("pending after the purge: %+v %v, want 2", st, err)
	}
}

// TestPurgeKeepsWindow: events inside max(window, retain) are not purged, delivered or not.
func TestPurgeKeepsWindow(t *testing.T) {
	s := openStore(t, t.TempDir())
	up := testkit.NewUpstream(t, testkit.Status(http.StatusOK))
	r := newRoute(t, s, QueueConfig{Name: "window", DedupWindow: time.Minute, Forward: policy(up.URL)})
	r.Start()
	for _, id := range []string{"a", "b"} {
		if _, err := r.Accept(testCtx(t), "k-"+id, event(id)); err != nil {
			t.Fatal(err)
		}
	}
	settled(t, r, 10*time.Second)
	if _, err := r.purgeFront(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	info, err := r.ev.Info(testCtx(t))
	if err != nil || info.State.Msgs != 2 {
		t.Fatalf("after the purge: %+v %v, want both events (in the window and the retention)", info.State, err)
	}
	if dup, err := r.Accept(testCtx(t), "k-a", event("a2")); err != nil || !dup {
		t.Fatalf("key of a delivered event: dup=%v err=%v, want a duplicate", dup, err)
	}
}

// TestOldLayout: an event stream of the previous layout (a subject per key) is recreated when it
// holds nothing undelivered, and refused with ErrOldLayout when it does.
func TestOldLayout(t *testing.T) {
	for _, queued := range []bool{false, true} {
		name := map[bool]string{false: "drained", true: "queued"}[queued]
		t.Run(name, func(t *testing.T) {
			s := openStore(t, t.TempDir())
			n := routeNames(name)
			ctx := testCtx(t)
			if _, err := s.js.CreateStream(ctx, jetstream.StreamConfig{
				Name: n.evStream, Subjects: []string{n.evPfx + "*", n.rpPfx + "*"},
				MaxMsgsPerSubject: 1, AllowMsgTTL: true, Storage: jetstream.FileStorage,
			}); err != nil {
				t.Fatal(err)
			}
			c, err := s.js.CreateOrUpdateConsumer(ctx, n.evStream, jetstream.ConsumerConfig{
				Durable: consumerName, AckPolicy: jetstream.AckExplicitPolicy,
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.js.Publish(ctx, n.evPfx+"AAAAAAAAAAAAAAAAAAAAAA", []byte("{}")); err != nil {
				t.Fatal(err)
			}
			if !queued {
				msgs, err := c.Fetch(1)
				if err != nil {
					t.Fatal(err)
				}
				for m := range msgs.Messages() {
					if err := m.DoubleAck(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			r, err := s.Queue(QueueConfig{Name: name, Forward: policy("http://127.0.0.1:1")})
			if queued {
				if err == nil || !strings.Contains(err.Error(), ErrOldLayout.Error()) || !strings.Contains(err.Error(), "1 events not yet delivered") {
					t.Fatalf("route on a queued old layout: %v, want ErrOldLayout with the count", err)
				}
				info, ierr := s.js.Stream(ctx, n.evStream)
				if ierr != nil || info.CachedInfo().State.Msgs != 1 {
					t.Fatalf("the old stream was changed: %v", ierr)
				}
				return
			}
			if err != nil {
				t.Fatalf("route on a drained old layout: %v", err)
			}
			defer r.Close()
			info, err := r.ev.Info(ctx)
			if err != nil || info.Config.MaxMsgsPerSubject == 1 || info.State.Msgs != 0 {
				t.Fatalf("stream after recreation: %+v %v", info, err)
			}
		})
	}
}
