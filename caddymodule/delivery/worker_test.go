package delivery

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

func TestRetryThenSuccess(t *testing.T) {
	s := openStore(t, t.TempDir())
	up := testkit.NewUpstream(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n < 3 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	obs := &recorder{}
	r := newRoute(t, s, QueueConfig{Forward: policy(up.URL), Observer: obs})
	r.Start()
	if _, err := r.Accept(testCtx(t), "k", event("01JRTY00000000000000000001")); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "three attempts", func() bool { return up.Count() == 3 })
	settled(t, r, 10*time.Second)
	hits := up.Requests()
	for i, h := range hits {
		if got := h.Header.Get(HeaderAttempt); got != strconv.Itoa(i+1) {
			t.Errorf("attempt %d carries X-Webhook-Attempt %q", i+1, got)
		}
	}
	if gap := hits[1].At.Sub(hits[0].At); gap < 20*time.Millisecond {
		t.Errorf("retry came after %s, before BackoffMin", gap)
	}
	if obs.get(ResultRetry) != 2 || obs.get(ResultSuccess) != 1 {
		t.Errorf("observer saw %v", obs.results)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	s := openStore(t, t.TempDir())
	up := testkit.NewUpstream(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	p := policy(up.URL)
	p.BackoffMax = 5 * time.Second
	r := newRoute(t, s, QueueConfig{Forward: p})
	r.rnd = fixedRand(0)
	r.Start()
	if _, err := r.Accept(testCtx(t), "k", event("01JRAF00000000000000000001")); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "two attempts", func() bool { return up.Count() == 2 })
	hits := up.Requests()
	if gap := hits[1].At.Sub(hits[0].At); gap < 950*time.Millisecond || gap > 3*time.Second {
		t.Fatalf("second attempt %s after the first, want about 1s (Retry-After)", gap)
	}
}

func TestDeadLetterPolicies(t *testing.T) {
	s := openStore(t, t.TempDir())
	target := testkit.NewUpstream(t, testkit.Status(http.StatusOK))
	for _, tc := range []struct {
		name       string
		respond    func(http.ResponseWriter, *http.Request, int)
		tune       func(*Policy)
		age        time.Duration // the route's clock jumps this far during the first attempt
		reason     string
		attempts   int
		lastStatus int
	}{
		{"max attempts", testkit.Status(http.StatusInternalServerError), func(p *Policy) { p.MaxAttempts = 3 }, 0, ReasonMaxAttempts, 3, 500},
		{"dead letter on", testkit.Status(http.StatusUnprocessableEntity), func(p *Policy) { p.DeadLetterOn = []int{422} }, 0, ReasonDeadLetterOn, 1, 422},
		{"max age", testkit.Status(http.StatusBadGateway), func(p *Policy) { p.MaxAge = time.Hour }, 2 * time.Hour, ReasonMaxAge, 1, 502},
		{"redirect is not followed", func(w http.ResponseWriter, r *http.Request, _ int) {
			http.Redirect(w, r, target.URL, http.StatusFound)
		}, func(p *Policy) { p.MaxAttempts = 1 }, 0, ReasonMaxAttempts, 1, 302},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{}
			up := testkit.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					clock.advance(tc.age)
				}
				tc.respond(w, r, n)
			})
			p := policy(up.URL)
			tc.tune(p)
			obs := &recorder{}
			r := newRoute(t, s, QueueConfig{Name: "dl-" + strconv.Itoa(len(tc.name)), Forward: p, Observer: obs})
			r.now = clock.now
			r.Start()
			id := NewID()
			if _, err := r.Accept(testCtx(t), "k", event(id)); err != nil {
				t.Fatal(err)
			}
			var dl DeadLetter
			testkit.WaitFor(t, 10*time.Second, "a dead letter", func() bool {
				d, err := r.DeadLetter(testCtx(t), id)
				dl = d
				return err == nil
			})
			settled(t, r, 10*time.Second)
			if dl.Reason != tc.reason || dl.LastStatus != tc.lastStatus || dl.ID != id || string(dl.Body) != string(event(id).Body) {
				t.Fatalf("dead letter = %+v", dl)
			}
			if dl.Attempts != tc.attempts || up.Count() != tc.attempts {
				t.Fatalf("attempts: record %d, upstream %d, want %d", dl.Attempts, up.Count(), tc.attempts)
			}
			if obs.deadCount() != 1 || obs.get(ResultDeadLetter) != 1 {
				t.Fatalf("observer: %d dead, results %v", obs.deadCount(), obs.results)
			}
			if target.Count() != 0 {
				t.Fatal("a redirect was followed")
			}
			if tc.age == 0 {
				if dup, err := r.Accept(testCtx(t), "k", event(NewID())); err != nil || !dup {
					t.Fatalf("key of a dead letter: dup=%v err=%v, want a duplicate inside the window", dup, err)
				}
			}
		})
	}
}

func TestConcurrencyBound(t *testing.T) {
	s := openStore(t, t.TempDir())
	var cur, peak atomic.Int32
	up := testkit.NewUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
		cur.Add(-1)
		w.WriteHeader(http.StatusOK)
	})
	p := policy(up.URL)
	p.Concurrency = 3
	r := newRoute(t, s, QueueConfig{Forward: p})
	for i := range 12 {
		if _, err := r.Accept(testCtx(t), "k"+strconv.Itoa(i), event(NewID())); err != nil {
			t.Fatal(err)
		}
	}
	r.Start()
	testkit.WaitFor(t, 10*time.Second, "twelve deliveries", func() bool { return up.Count() == 12 })
	if got := peak.Load(); got != 3 {
		t.Fatalf("peak concurrency %d, want 3", got)
	}
}

func TestRate(t *testing.T) {
	s := openStore(t, t.TempDir())
	up := testkit.NewUpstream(t, testkit.Status(http.StatusOK))
	p := policy(up.URL)
	p.Rate = 20
	p.RateBurst = 1
	r := newRoute(t, s, QueueConfig{Forward: p})
	for i := range 8 {
		if _, err := r.Accept(testCtx(t), "k"+strconv.Itoa(i), event(NewID())); err != nil {
			t.Fatal(err)
		}
	}
	r.Start()
	testkit.WaitFor(t, 10*time.Second, "eight deliveries", func() bool { return up.Count() == 8 })
	hits := up.Requests()
	if span := hits[7].At.Sub(hits[0].At); span < 330*time.Millisecond {
		t.Fatalf("8 deliveries in %s at 20/s, want at least 350ms", span)
	}
}

func TestStopDrainThenReopen(t *testing.T) {
	dir := t.TempDir()
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	hang := testkit.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	s1 := openStore(t, dir)
	r1 := newRoute(t, s1, QueueConfig{Forward: policy(hang.URL)})
	r1.Start()
	id := NewID()
	if _, err := r1.Accept(testCtx(t), "k", event(id)); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "the hanging attempt", func() bool { return hang.Count() == 1 })
	start := time.Now()
	if err := r1.Stop(200 * time.Millisecond); err == nil {
		t.Fatal("stop with a hanging delivery reported a finished drain")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("stop took %s with a 200ms drain", took)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	ok := testkit.NewUpstream(t, testkit.Status(http.StatusOK))
	s2 := openStore(t, dir)
	r2 := newRoute(t, s2, QueueConfig{Forward: policy(ok.URL)})
	r2.Start()
	testkit.WaitFor(t, 10*time.Second, "delivery after reopen", func() bool { return ok.Count() == 1 })
	if got := ok.Requests()[0].Header.Get(HeaderID); got != id {
		t.Fatalf("delivered %s, want %s", got, id)
	}
}

func TestUpdateURL(t *testing.T) {
	s := openStore(t, t.TempDir())
	bad := testkit.NewUpstream(t, testkit.Status(http.StatusInternalServerError))
	good := testkit.NewUpstream(t, testkit.Status(http.StatusOK))
	p := policy(bad.URL)
	p.BackoffMin, p.BackoffMax = 200*time.Millisecond, 200*time.Millisecond
	r := newRoute(t, s, QueueConfig{Forward: p})
	r.Start()
	if _, err := r.Accept(testCtx(t), "k", event(NewID())); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "an attempt on the old URL", func() bool { return bad.Count() >= 1 })
	p2 := *p
	p2.URL = good.URL
	r.Update(QueueConfig{Forward: &p2})
	testkit.WaitFor(t, 10*time.Second, "delivery to the new URL", func() bool { return good.Count() == 1 })
	settled(t, r, 10*time.Second)
}

func TestGateToForward(t *testing.T) {
	s := openStore(t, t.TempDir())
	up := testkit.NewUpstream(t, testkit.Status(http.StatusOK))
	r := newRoute(t, s, QueueConfig{})
	r.Start()
	r.Update(QueueConfig{Forward: policy(up.URL)})
	if _, err := r.Accept(testCtx(t), "k", event(NewID())); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "delivery after switching to forward mode", func() bool { return up.Count() == 1 })
}
