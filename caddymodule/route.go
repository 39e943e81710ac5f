package caddymodule

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/auth"
	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/dedup"
	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/delivery"
)

// routes holds the per-route runtime (store route, workers, dedup tier) across
// config reloads: a new config acquires the same key before the old one
// releases it, so the queue and the dedup cache survive a reload.
var routes = caddy.NewUsagePool()

// dedupCacheKeys is the size of each route's in-process dedup tier.
const dedupCacheKeys = 100_000

// routeRuntime is the state of one route that outlives a config.
type routeRuntime struct {
	name    string
	route   *delivery.Route
	tier    *dedup.Tier
	started atomic.Bool
	drain   time.Duration
	// maxEvent is the largest body the store can take as one event: its
	// message limit less room for the event's headers.
	maxEvent int64
}

// eventHeadroom is the room kept for an event's headers within the store's
// message limit.
const eventHeadroom = 64 << 10

// newRouteRuntime opens the route cfg.Name on store with its dedup tier; it
// is the constructor the routes pool runs.
func newRouteRuntime(store *delivery.Store, name string, cfg delivery.RouteConfig) (*routeRuntime, error) {
	r, err := store.Route(cfg)
	if err != nil {
		return nil, err
	}
	tier, err := dedup.New(dedupCacheKeys)
	if err != nil {
		_ = r.Close()
		return nil, err
	}
	return &routeRuntime{name: name, route: r, tier: tier, maxEvent: store.MaxPayload() - eventHeadroom}, nil
}

// Destruct stops the workers, waiting up to the drain bound for in-flight
// deliveries; whatever does not finish is redelivered later, so nothing is lost.
func (rt *routeRuntime) Destruct() error {
	err := rt.route.Stop(rt.drain)
	if cerr := rt.route.Close(); err == nil {
		err = cerr
	}
	rt.tier.Close()
	return err
}

// apply pushes a config's settings into the running route and starts the
// workers the first time a forward block appears.
func (rt *routeRuntime) apply(cfg delivery.RouteConfig, drain time.Duration) {
	rt.drain = drain
	rt.route.Update(cfg)
	if cfg.Forward != nil && rt.started.CompareAndSwap(false, true) {
		rt.route.Start()
	}
}

// routeHandle connects a handler to its runtime. The runtime exists only once
// the app has started, after all handlers were provisioned. Caddy starts its
// apps in random order, so the HTTP server may take requests a few
// milliseconds before that: they wait for it (bounded) instead of getting a 503.
type routeHandle struct {
	cfg   delivery.RouteConfig
	rt    atomic.Pointer[routeRuntime]
	ready chan struct{} // closed once rt is set
	once  sync.Once
}

func newRouteHandle(cfg delivery.RouteConfig) *routeHandle {
	return &routeHandle{cfg: cfg, ready: make(chan struct{})}
}

// set publishes the runtime and releases the requests waiting for it.
func (rh *routeHandle) set(rt *routeRuntime) {
	rh.rt.Store(rt)
	rh.once.Do(func() { close(rh.ready) })
}

// runtime returns the route's runtime, waiting up to d for the app to start.
func (rh *routeHandle) runtime(ctx context.Context, d time.Duration) *routeRuntime {
	if rt := rh.rt.Load(); rt != nil {
		return rt
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-rh.ready:
	case <-t.C:
	case <-ctx.Done():
	}
	return rh.rt.Load()
}

// routeConfig builds the delivery settings of this handler.
func (h *Handler) routeConfig() (delivery.RouteConfig, error) {
	cfg := delivery.RouteConfig{
		Name:        h.Name,
		DedupWindow: h.window,
		Logger:      h.logger,
		Observer:    observer{},
	}
	if h.Forward == nil {
		return cfg, nil
	}
	f := h.Forward
	repl := caddy.NewReplacer()
	p := &delivery.Policy{
		URL:          h.forwardURL,
		Timeout:      time.Duration(f.Timeout),
		MaxAttempts:  f.MaxAttempts,
		MaxAge:       time.Duration(f.MaxAge),
		BackoffMin:   time.Duration(f.BackoffMin),
		BackoffMax:   time.Duration(f.BackoffMax),
		Concurrency:  f.Concurrency,
		DeadLetterOn: f.DeadLetterOn,
		MaxQueue:     f.MaxQueue,
	}
	if f.Retain != nil {
		p.Retain = delivery.RetainNone
		if *f.Retain > 0 {
			p.Retain = time.Duration(*f.Retain)
		}
	}
	if f.Rate != "" {
		rate, err := parseRate(f.Rate)
		if err != nil {
			return cfg, fmt.Errorf("forward rate: %v", err)
		}
		p.Rate = rate
	}
	if len(f.HeaderUp) > 0 {
		p.HeaderUp = make(http.Header, len(f.HeaderUp))
		for k, v := range f.HeaderUp {
			p.HeaderUp.Set(k, repl.ReplaceKnown(v, ""))
		}
	}
	if f.Sign != "" {
		secret, err := auth.DecodeStandardWebhookSecret(repl.ReplaceKnown(f.Sign, ""))
		if err != nil {
			return cfg, fmt.Errorf("forward sign: %v", err)
		}
		p.SignSecret = secret
	}
	cfg.Forward = p
	return cfg, nil
}

// parseRate parses "<n>/<unit>" (unit s, m or h) into events per second.
func parseRate(s string) (float64, error) {
	n, unit, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("invalid rate %q (want <n>/<unit>, e.g. 50/s)", s)
	}
	count, err := strconv.ParseFloat(n, 64)
	if err != nil || !(count > 0) || math.IsInf(count, 0) {
		return 0, fmt.Errorf("invalid rate %q: count must be a positive number", s)
	}
	var per time.Duration
	switch unit {
	case "s", "sec", "second":
		per = time.Second
	case "m", "min", "minute":
		per = time.Minute
	case "h", "hour":
		per = time.Hour
	default:
		return 0, fmt.Errorf("invalid rate %q: unit must be s, m or h", s)
	}
	return count / per.Seconds(), nil
}
