package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/delivery"
)

// stores holds the open store (embedded NATS server or client connection)
// across reloads, keyed by its identity (directory or cluster URLs).
var stores = caddy.NewUsagePool()

const (
	defaultDrainTimeout   = 10 * time.Second
	queueSampleInterval   = 5 * time.Second
	storeModeEmbedded     = "embedded"
	storeModeNATS         = "nats"
	syncPolicyAlways      = "always"
	syncPolicyInterval    = "interval"
	storeDirName          = "webhook_gateway"
	defaultStreamReplicas = 1
)

// App is the webhook_gateway app: the shared runtime of every webhook_gateway
// handler. It owns the durable store and the delivery workers, which live in
// UsagePools so that a config reload reuses them instead of restarting them.
// It is configured by the global option of the same name; with no config it
// runs the embedded store under Caddy's data directory.
type App struct {
	// Store selects the durable store. Default: embedded.
	Store *StoreConfig `json:"store,omitempty"`

	// Sync is the fsync policy of the embedded store: "always" (no write is acked
	// before an fsync covering it; concurrent writes share one: survives a
	// machine crash) or "interval" (the
	// default: writes reach the OS before the ack, so they survive a crash of
	// the process; fsync runs every SyncInterval, so a machine crash may lose
	// the last interval).
	Sync string `json:"sync,omitempty" validate:"omitempty,oneof=always interval"`

	// SyncInterval is the fsync period with Sync "interval". Default: NATS's (2m).
	SyncInterval caddy.Duration `json:"sync_interval,omitempty" validate:"gte=0"`

	// MaxStore caps the embedded store's disk use, in bytes. Default: NATS's own limit, 75% of
	// the free disk space when the store starts (so it does not follow the disk if it grows):
	// set it explicitly in production. Not for store nats, whose servers set their own limits.
	MaxStore int64 `json:"max_store,omitempty" validate:"gte=0"`

	// BodyMemory is the process-wide budget of body bytes being received at once, across all
	// routes. A request whose body would exceed it gets 503 with Retry-After before its body
	// is read. Default: 64 MiB.
	BodyMemory int64 `json:"body_memory,omitempty" validate:"gte=0"`

	// DrainTimeout bounds how long a stop waits for in-flight deliveries.
	// Unfinished deliveries are redelivered after the restart. Default: 10s.
	DrainTimeout caddy.Duration `json:"drain_timeout,omitempty" validate:"gte=0"`

	// ReadyTimeout bounds how long the start waits for the store: the
	// cluster to be reachable and have a JetStream meta leader, the embedded
	// server to recover its files, the routes' streams and consumers to be
	// created. Until then every store request is retried; past it the start
	// (or the reload that adds a route) fails. Default: 30s.
	ReadyTimeout caddy.Duration `json:"ready_timeout,omitempty" validate:"gte=0"`

	logger   *zap.Logger
	storeKey string
	storeCfg delivery.StoreConfig

	mu        sync.Mutex
	handles   map[string]*stateRef
	acquired  []string
	applied   []*routeState // the routes this config pushed its settings into (released by Stop)
	storeHeld bool          // this config holds a reference on the stores pool (released by Stop)
	store     *delivery.Store
	// loggedTo is the store this config installed its logger into, and
	// prevLog the logger it had before: a Start that fails puts it back (see Stop).
	loggedTo *delivery.Store
	prevLog  *zap.Logger
	cancel   context.CancelFunc
}

// StoreConfig selects the store.
type StoreConfig struct {
	// Mode is "embedded" (NATS JetStream in-process, file storage) or "nats"
	// (an external NATS cluster shared by several gateways).
	Mode string `json:"mode,omitempty" validate:"omitempty,oneof=embedded nats"`
	// Dir is the embedded store's directory. Default: <Caddy data dir>/webhook_gateway.
	Dir string `json:"dir,omitempty"`
	// URLs are the external cluster's client URLs (mode nats).
	URLs []string `json:"urls,omitempty"`
	// Creds is a NATS credentials file for the external cluster.
	Creds string `json:"creds,omitempty"`
	// Replicas is the stream replica count on the external cluster. Default: 1.
	Replicas int `json:"replicas,omitempty" validate:"gte=0,lte=5"`
	// Listen exposes the embedded server to NATS clients on host:port. Default: none.
	Listen string `json:"listen,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "webhook_gateway",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision computes the store settings. It opens nothing: caddy validate runs it.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.handles = map[string]*stateRef{}
	sc := a.Store
	if sc == nil {
		sc = &StoreConfig{}
	}
	mode := sc.Mode
	if mode == "" {
		mode = storeModeEmbedded
		if len(sc.URLs) > 0 {
			mode = storeModeNATS
		}
	}
	cfg := delivery.StoreConfig{
		SyncAlways:   a.Sync == syncPolicyAlways,
		SyncInterval: time.Duration(a.SyncInterval),
		ReadyTimeout: time.Duration(a.ReadyTimeout),
	}
	repl := caddy.NewReplacer()
	switch mode {
	case storeModeEmbedded:
		cfg.Dir = sc.Dir
		if cfg.Dir == "" {
			cfg.Dir = filepath.Join(caddy.AppDataDir(), storeDirName)
		}
		cfg.Dir = repl.ReplaceAll(cfg.Dir, "")
		cfg.Listen = sc.Listen
		cfg.MaxStore = a.MaxStore
		a.storeKey = "embedded:" + cfg.Dir
	case storeModeNATS:
		if len(sc.URLs) == 0 {
			return errors.New("store nats: at least one URL is required")
		}
		if a.MaxStore > 0 {
			return fmt.Errorf("max_store %d: applies to the embedded store only (a NATS cluster sets max_file_store itself)", a.MaxStore)
		}
		for _, u := range sc.URLs {
			cfg.URLs = append(cfg.URLs, repl.ReplaceAll(u, ""))
		}
		cfg.CredsFile = repl.ReplaceAll(sc.Creds, "")
		cfg.Replicas = sc.Replicas
		if cfg.Replicas == 0 {
			cfg.Replicas = defaultStreamReplicas
		}
		a.storeKey = "nats:" + strings.Join(cfg.URLs, ",")
		// The key index snapshots are a local cache of the cluster's streams (see README, Restart).
		cfg.SnapshotDir = filepath.Join(caddy.AppDataDir(), storeDirName, "keyindex")
	default:
		return fmt.Errorf("store: unknown mode %q (want embedded or nats)", mode)
	}
	a.storeCfg = cfg
	return nil
}

// Validate checks the app config.
func (a *App) Validate() error {
	return validateStruct(a)
}

// register records a handler's route; two handlers may not share a name.
func (a *App) register(cfg delivery.QueueConfig) (*stateRef, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.handles[cfg.Name]; dup {
		return nil, fmt.Errorf("two webhook_gateway routes share the name %q; give each its own name", cfg.Name)
	}
	rh := newStateRef(cfg)
	a.handles[cfg.Name] = rh
	return rh, nil
}

// Start opens (or reuses) the store and the routes' states. Caddy does not
// call Stop on an app whose Start failed, so a failed Start releases what it
// acquired itself.
func (a *App) Start() error {
	if err := a.start(); err != nil {
		_ = a.Stop()
		return err
	}
	return nil
}

func (a *App) start() error {
	bodyBudget.limit.Store(a.bodyMemory())
	val, _, err := stores.LoadOrNew(a.storeKey, func() (caddy.Destructor, error) {
		// Said before the open, which can take a while (recovering a large
		// store, or reaching a cluster).
		a.logger.Info("opening webhook gateway store", zap.String("store", a.storeKind()), zap.String("location", a.storeLocation()))
		s, err := delivery.Open(a.storeCfg, a.logger)
		if err != nil {
			return nil, err
		}
		return storeHolder{s}, nil
	})
	if err != nil {
		return fmt.Errorf("opening webhook_gateway store: %v", err)
	}
	a.storeHeld = true
	store := val.(storeHolder).Store
	// The store outlives this config; its logger must be this config's,
	// since Caddy closes the previous config's log writers when it unloads.
	a.loggedTo = store
	a.prevLog = store.SetLogger(a.logger)

	a.mu.Lock()
	defer a.mu.Unlock()
	names := make([]string, 0, len(a.handles))
	for name := range a.handles {
		names = append(names, name)
	}
	sort.Strings(names)
	drain := a.drainTimeout()
	for _, name := range names {
		rh := a.handles[name]
		key := a.storeKey + "\x00" + name
		val, _, err := routes.LoadOrNew(key, func() (caddy.Destructor, error) {
			rt, err := newRouteState(store, name, rh.cfg)
			if err != nil {
				return nil, err // a nil *routeState in the interface would not be nil
			}
			return rt, nil
		})
		if err != nil {
			return fmt.Errorf("opening route %q: %v", name, err)
		}
		a.acquired = append(a.acquired, key)
		rt := val.(*routeState)
		rt.apply(a, rh.cfg, drain)
		a.applied = append(a.applied, rt)
		rh.set(rt)
	}

	a.warnOvercommit(names)

	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.store = store
	go a.sampleQueues(ctx)
	go a.warnOrphans(ctx, store)
	running := make([]string, 0, len(names))
	for _, name := range names {
		mode := "gate"
		if a.handles[name].cfg.Forward != nil {
			mode = "forward"
		}
		running = append(running, name+" ("+mode+")")
	}
	a.logger.Info("webhook gateway started", zap.String("version", Version), zap.String("store", a.storeKind()), zap.String("location", a.storeLocation()),
		zap.Strings("routes", running))
	current.Store(a)
	return nil
}

// current is the app of the running config, for the health endpoint.
var current atomic.Pointer[App]

// storeLocation is where the events are kept: the embedded store's directory
// or the cluster's URLs (without credentials, which live in the creds file).
func (a *App) storeLocation() string {
	if len(a.storeCfg.URLs) > 0 {
		return strings.Join(a.storeCfg.URLs, ",")
	}
	return a.storeCfg.Dir
}

// warnOrphans logs, once per config load, every queue in the store that holds
// undelivered events or dead letters but has no route in this config.
func (a *App) warnOrphans(ctx context.Context, store *delivery.Store) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	names, err := store.RouteNames(ctx)
	if err != nil {
		a.logger.Warn("listing the store's queues failed", zap.Error(err))
		return
	}
	a.mu.Lock()
	configured := make(map[string]bool, len(a.handles))
	for name := range a.handles {
		configured[name] = true
	}
	a.mu.Unlock()
	for _, name := range names {
		if configured[name] {
			continue
		}
		o, err := store.Orphan(ctx, name)
		if err != nil {
			a.logger.Warn("reading an orphaned queue failed", zap.String("route", name), zap.Error(err))
			continue
		}
		if o.Pending == 0 && o.Dead == 0 {
			continue
		}
		a.logger.Warn("orphaned queue: undelivered events with no route in this config; give a route this name, or move them with `caddy webhook attach "+name+" <route>`",
			zap.String("route", name), zap.Uint64("pending", o.Pending), zap.Uint64("dead", o.Dead))
	}
}

// Stop releases the routes and the store; the last user's release drains the
// workers and closes the store.
func (a *App) Stop() error {
	current.CompareAndSwap(a, nil)
	if a.cancel != nil {
		a.cancel()
	}
	var errs []error
	a.mu.Lock()
	for _, rt := range a.applied {
		rt.release(a)
	}
	a.applied = nil
	for _, key := range a.acquired {
		if _, err := routes.Delete(key); err != nil {
			errs = append(errs, err)
		}
	}
	a.acquired = nil
	a.mu.Unlock()
	if a.storeHeld {
		a.storeHeld = false
		// A config that stops while its logger is still the store's did not
		// take over (its Start failed, and the previous config runs on): give
		// the store back the logger it had. A config that was replaced by a
		// newer one finds the newer one's logger there and leaves it.
		if l := a.loggedTo; l != nil && l.Logger() == a.logger && a.prevLog != nil {
			l.SetLogger(a.prevLog)
		}
		if _, err := stores.Delete(a.storeKey); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// warnOvercommit logs when the routes' quotas add up to more than max_store: then one route can
// still fill the store before it reaches its own quota, and the others get 503. Called with a.mu
// held.
func (a *App) warnOvercommit(names []string) {
	if a.MaxStore <= 0 {
		return
	}
	var sum int64
	for _, name := range names {
		if f := a.handles[name].cfg.Forward; f != nil {
			q := f.MaxQueue
			if q <= 0 {
				q = delivery.DefaultMaxQueue
			}
			sum += q
		}
	}
	if sum > a.MaxStore {
		a.logger.Warn("the routes' max_queue add up to more than max_store: one route can fill the store for all",
			zap.Int64("max_queue_sum", sum), zap.Int64("max_store", a.MaxStore))
	}
}

func (a *App) bodyMemory() int64 {
	if a.BodyMemory > 0 {
		return a.BodyMemory
	}
	return defaultBodyMemory
}

func (a *App) drainTimeout() time.Duration {
	if a.DrainTimeout > 0 {
		return time.Duration(a.DrainTimeout)
	}
	return defaultDrainTimeout
}

func (a *App) storeKind() string {
	if len(a.storeCfg.URLs) > 0 {
		return storeModeNATS
	}
	return storeModeEmbedded
}

// sampleQueues refreshes the queue depth gauges until the app stops.
func (a *App) sampleQueues(ctx context.Context) {
	t := time.NewTicker(queueSampleInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.mu.Lock()
		handles := make([]*stateRef, 0, len(a.handles))
		for _, rh := range a.handles {
			handles = append(handles, rh)
		}
		a.mu.Unlock()
		for _, rh := range handles {
			rt := rh.rt.Load()
			if rt == nil {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			st, err := rt.queue.Stats(sctx)
			cancel()
			if err != nil {
				continue
			}
			setQueueGauges(rt.name, st)
		}
	}
}

// setQueueGauges puts one route's sampled figures into the gauges.
func setQueueGauges(route string, st delivery.Stats) {
	queueDepth.WithLabelValues(route, "pending").Set(float64(st.Pending))
	queueDepth.WithLabelValues(route, "in_flight").Set(float64(st.InFlight))
	queueDepth.WithLabelValues(route, "dead").Set(float64(st.Dead))
	queueBytes.WithLabelValues(route).Set(float64(st.Bytes))
	stuck := 0.0
	if st.KeyIndexStuck {
		stuck = 1
	}
	keyIndexStuck.WithLabelValues(route).Set(stuck)
	if st.MaxQueue > 0 {
		queueMaxBytes.WithLabelValues(route).Set(float64(st.MaxQueue))
	}
}

// storeHolder makes the store a UsagePool value.
type storeHolder struct{ *delivery.Store }

// Destruct closes the store once no config uses it.
func (s storeHolder) Destruct() error { return s.Close() }

// Interface guards.
var (
	_ caddy.App         = (*App)(nil)
	_ caddy.Provisioner = (*App)(nil)
	_ caddy.Validator   = (*App)(nil)
)
