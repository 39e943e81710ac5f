package loadgen

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/senderauth"
	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/vendors"
	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// gateway is a stand-in for the gateway: it checks Basic u:p, acks a repeated body with
// X-Webhook-Duplicate, and sleeps stall(n) before answering the n-th request.
type gateway struct {
	mu    sync.Mutex
	seen  map[string]bool
	stall func(n int64) time.Duration
	n     atomic.Int64
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := g.n.Add(1)
	body, _ := io.ReadAll(r.Body)
	if g.stall != nil {
		time.Sleep(g.stall(n))
	}
	if r.Header.Get("Authorization") != "Basic dTpw" { // u:p
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	g.mu.Lock()
	dup := g.seen[string(body)]
	g.seen[string(body)] = true
	g.mu.Unlock()
	if dup {
		w.Header().Set("X-Webhook-Duplicate", "true")
	}
	w.WriteHeader(http.StatusOK)
}

func target(t testing.TB, url string) Target {
	t.Helper()
	evs, err := vendors.Select("idwise", "", "")
	if err != nil {
		t.Fatal(err)
	}
	g, err := vendors.NewGenerator(evs)
	if err != nil {
		t.Fatal(err)
	}
	return Target{URL: url, Gen: g}
}

func signer(t testing.TB, basic string) *senderauth.Signer {
	t.Helper()
	s, err := senderauth.New(senderauth.Config{Basic: basic}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// engine is one way of sending: net/http's client, or the raw engine, whose closed loop
// runs as event loops on Linux or, with goroutines, one goroutine per worker.
type engine struct{ raw, goroutines bool }

// engines runs a test with every engine.
func engines(t *testing.T, test func(t *testing.T, e engine)) {
	for name, e := range map[string]engine{"net_http": {}, "raw": {raw: true}, "raw_goroutines": {raw: true, goroutines: true}} {
		t.Run(name, func(t *testing.T) { test(t, e) })
	}
}

func TestClosedLoopCountsAndDuplicates(t *testing.T) {
	engines(t, func(t *testing.T, e engine) {
		g := &gateway{seen: map[string]bool{}}
		srv := httptest.NewServer(g)
		defer srv.Close()
		res, err := Run(context.Background(), Config{
			Targets: []Target{target(t, srv.URL)}, Signer: signer(t, "u:p"), Raw: e.raw, goroutines: e.goroutines,
			Concurrency: 4, Duration: 5 * time.Second, MaxRequests: 2000, DupShare: 0.2,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests != 2000 || res.OK != 2000 || res.Errors != 0 {
			t.Fatalf("requests %d ok %d errors %d, want 2000/2000/0\n%v", res.Requests, res.OK, res.Errors, res)
		}
		if res.DuplicatesSent != res.DuplicateAcks || res.DuplicatesSent < 250 || res.DuplicatesSent > 550 {
			t.Fatalf("duplicates sent %d, acked %d; want about 400 each", res.DuplicatesSent, res.DuplicateAcks)
		}
		if g.n.Load() != res.Requests || res.Histogram().Count() != uint64(res.Requests) {
			t.Fatalf("server saw %d, histogram %d, result %d", g.n.Load(), res.Histogram().Count(), res.Requests)
		}
	})
}

func TestErrorsByStatusAndTransport(t *testing.T) {
	engines(t, func(t *testing.T, e engine) {
		srv := httptest.NewServer(&gateway{seen: map[string]bool{}})
		defer srv.Close()
		res, err := Run(context.Background(), Config{
			Targets: []Target{target(t, srv.URL)}, Signer: signer(t, "u:wrong"), Raw: e.raw, goroutines: e.goroutines,
			Concurrency: 2, Duration: 5 * time.Second, MaxRequests: 50,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.OK != 0 || res.Statuses["401"] != 50 {
			t.Fatalf("statuses %v ok %d, want 50×401", res.Statuses, res.OK)
		}
		closed := httptest.NewServer(http.NotFoundHandler())
		url := closed.URL
		closed.Close()
		res, err = Run(context.Background(), Config{
			Targets: []Target{target(t, url)}, Concurrency: 2, Duration: 5 * time.Second, MaxRequests: 10, Raw: e.raw, goroutines: e.goroutines,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.TransportErrors["connection refused"] != 10 || res.Errors != 10 {
			t.Fatalf("transport errors %v, want 10 connection refused", res.TransportErrors)
		}
	})
}

// TestOpenLoopSeesQueueing stalls the server once for 300 ms. A closed-loop client
// records one slow sample and hides the queue; the open-loop client measures every
// arrival that was due during the stall from its intended time, so the stall shows up
// far beyond p99.
func TestOpenLoopSeesQueueing(t *testing.T) {
	testkit.SkipShort(t, "timing test")
	stall := func(n int64) time.Duration {
		if n == 20 {
			return 300 * time.Millisecond
		}
		return 0
	}
	engines(t, func(t *testing.T, e engine) { openLoopSeesQueueing(t, e, stall) })
}

func openLoopSeesQueueing(t *testing.T, e engine, stall func(int64) time.Duration) {
	run := func(rate float64) *Result {
		srv := httptest.NewServer(&gateway{seen: map[string]bool{}, stall: stall})
		defer srv.Close()
		res, err := Run(context.Background(), Config{
			Targets: []Target{target(t, srv.URL)}, Signer: signer(t, "u:p"), Raw: e.raw, goroutines: e.goroutines,
			Concurrency: 1, Duration: time.Second, Rate: rate,
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	open := run(200)
	closed := run(0)
	if open.Mode != "open" || open.Requests < 150 || open.Missed > 50 {
		t.Fatalf("open loop: %v", open)
	}
	if p90 := open.Latency.P90; p90 < 50 {
		t.Errorf("open-loop p90 %.1f ms: the stall's queue is hidden", p90)
	}
	if p99 := closed.Latency.P99; p99 > 50 || closed.Latency.Max < 250 {
		t.Errorf("closed loop p99 %.1f ms, max %.1f ms: want a single slow sample", p99, closed.Latency.Max)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	tg := Target{URL: "http://127.0.0.1:1", Gen: nil}
	for name, c := range map[string]Config{
		"no target":   {Duration: time.Second},
		"no duration": {Targets: []Target{tg}},
		"bad dup":     {Targets: []Target{tg}, Duration: time.Second, DupShare: 1},
	} {
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCombine(t *testing.T) {
	srv := httptest.NewServer(&gateway{seen: map[string]bool{}})
	defer srv.Close()
	var parts []*Result
	for _, n := range []int64{100, 300} {
		res, err := Run(context.Background(), Config{
			Targets: []Target{target(t, srv.URL)}, Signer: signer(t, "u:p"), Raw: true,
			Concurrency: 2, Duration: 5 * time.Second, MaxRequests: n,
		})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, res)
	}
	parts[1].Statuses = map[string]int64{"503": 2}
	all := Combine(parts)
	if all.Requests != 400 || all.OK != 400 || all.Histogram().Count() != 400 || all.Statuses["503"] != 2 ||
		all.Elapsed != parts[0].Elapsed+parts[1].Elapsed || all.OKRPS != 400/all.Elapsed {
		t.Fatalf("combined %+v", all)
	}
	if Combine(nil) != nil {
		t.Fatal("Combine(nil)")
	}
}
