package caddymodule

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/dedup"
	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/delivery"
)

// routes holds each route's state (its store queue and workers, its dedup tier) across
// config reloads: a new config acquires the same key before the old one
// releases it, so the queue and the dedup cache survive a reload.
var routes = caddy.NewUsagePool()

// routeState is the state of one route that outlives a config: the pooled value.
type routeState struct {
	name    string
	queue   *delivery.Queue
	tier    *dedup.Tier
	started atomic.Bool
	drain   time.Duration
	// appliedMu guards applied: the settings of every running config that holds this route,
	// oldest first. The last one is in force; when it stops before an older one (its Start
	// failed, and Caddy keeps the older config running), the older one's are put back.
	appliedMu sync.Mutex
	applied   []appliedSettings
	// maxEvent is the largest body the store can take as one event: its
	// message limit less room for the event's headers.
	maxEvent int64
}

// newRouteState opens the route cfg.Name on store with its dedup tier; it
// is the constructor the routes pool runs.
func newRouteState(store *delivery.Store, name string, cfg delivery.QueueConfig) (*routeState, error) {
	r, err := store.Queue(cfg)
	if err != nil {
		return nil, err
	}
	tier, err := dedup.New(dedup.DefaultCacheKeys)
	if err != nil {
		_ = r.Close()
		return nil, err
	}
	resetCounts(name) // the console's counts are of this route's life in the process
	return &routeState{name: name, queue: r, tier: tier, maxEvent: store.MaxEventBody()}, nil
}

// Destruct stops the workers, waiting up to the drain bound for in-flight
// deliveries; whatever does not finish is redelivered later, so nothing is lost.
func (rt *routeState) Destruct() error {
	err := rt.queue.Stop(rt.drain)
	if cerr := rt.queue.Close(); err == nil {
		err = cerr
	}
	rt.tier.Close()
	return err
}

// appliedSettings are one config's settings of a route; owner is that config (its App, or the
// drain that holds the route).
type appliedSettings struct {
	owner any
	cfg   delivery.QueueConfig
	drain time.Duration
}

// apply pushes owner's settings into the running route and starts the
// workers the first time a forward block appears.
func (rt *routeState) apply(owner any, cfg delivery.QueueConfig, drain time.Duration) {
	rt.appliedMu.Lock()
	defer rt.appliedMu.Unlock()
	rt.applied = append(rt.applied, appliedSettings{owner: owner, cfg: cfg, drain: drain})
	rt.use(cfg, drain)
}

// release forgets owner's settings. If they were in force and an older owner still holds the
// route, the older owner's settings are put back: a config whose Start failed must not leave
// its settings on the routes of the config that keeps running.
func (rt *routeState) release(owner any) {
	rt.appliedMu.Lock()
	defer rt.appliedMu.Unlock()
	for i, a := range rt.applied {
		if a.owner != owner {
			continue
		}
		inForce := i == len(rt.applied)-1
		rt.applied = append(rt.applied[:i], rt.applied[i+1:]...)
		if inForce && len(rt.applied) > 0 {
			prev := rt.applied[len(rt.applied)-1]
			rt.use(prev.cfg, prev.drain)
		}
		return
	}
}

func (rt *routeState) use(cfg delivery.QueueConfig, drain time.Duration) {
	rt.drain = drain
	rt.queue.Update(cfg)
	if cfg.Forward != nil && rt.started.CompareAndSwap(false, true) {
		rt.queue.Start()
	}
}

// stateRef connects a handler to its route state. The state exists only once
// the app has started, after all handlers were provisioned. Caddy starts its
// apps in random order, so the HTTP server may take requests a few
// milliseconds before that: they wait for it (bounded) instead of getting a 503.
type stateRef struct {
	cfg    delivery.QueueConfig
	vendor string // the route's preset, or "custom" (the console shows it)
	rt     atomic.Pointer[routeState]
	ready  chan struct{} // closed once rt is set
	once   sync.Once
}

func newStateRef(cfg delivery.QueueConfig) *stateRef {
	return &stateRef{cfg: cfg, ready: make(chan struct{})}
}

// set publishes the state and releases the requests waiting for it.
func (rh *stateRef) set(rt *routeState) {
	rh.rt.Store(rt)
	rh.once.Do(func() { close(rh.ready) })
}

// get returns the route's state, waiting up to d for the app to start.
func (rh *stateRef) get(ctx context.Context, d time.Duration) *routeState {
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
