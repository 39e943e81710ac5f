package delivery

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// openStore opens an embedded store in dir and closes it when the test ends.
func openStore(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(StoreConfig{Dir: dir, ReadyTimeout: 20 * time.Second}, zap.NewNop())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newRoute creates a route on s; clock, if not nil, replaces the route's clock.
func newRoute(t testing.TB, s *Store, cfg QueueConfig) *Queue {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	r, err := s.Queue(cfg)
	if err != nil {
		t.Fatalf("route: %v", err)
	}
	t.Cleanup(func() { _ = r.Stop(time.Second) })
	return r
}

// fakeClock is a clock that runs with real time plus an adjustable offset.
type fakeClock struct{ offset atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *fakeClock) advance(d time.Duration) { c.offset.Add(int64(d)) }
func fixedRand(v int64) func(int64) int64    { return func(n int64) int64 { return min(v, n-1) } }
func testCtx(t testing.TB) context.Context   { return t.Context() }
func policy(url string) *Policy {
	return &Policy{URL: url, BackoffMin: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond}
}
func event(id string) *Event {
	return &Event{ID: id, Vendor: "incode", Type: "onboarding.completed", Key: "key-" + id, ContentType: "application/json", Body: []byte(`{"id":"` + id + `"}`)}
}

// settled waits until the route has nothing pending (all events delivered or dead).
func settled(t testing.TB, r *Queue, within time.Duration) {
	t.Helper()
	testkit.WaitFor(t, within, "an empty queue", func() bool {
		st, err := r.Stats(context.Background())
		return err == nil && st.Pending == 0 && st.InFlight == 0
	})
}

// recorder is an Observer that counts results.
type recorder struct {
	mu      sync.Mutex
	results map[string]int
	dead    int
}

func (o *recorder) Attempt(_, result string, _ int, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.results == nil {
		o.results = make(map[string]int)
	}
	o.results[result]++
}

func (o *recorder) DeadLettered(string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dead++
}

func (o *recorder) deadCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dead
}

func (o *recorder) get(result string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.results[result]
}
