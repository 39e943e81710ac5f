package caddymodule

import (
	"context"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	zapobserver "go.uber.org/zap/zaptest/observer"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/delivery"
)

// testApp is an App for the embedded store in dir, built without Provision,
// whose logger is its own observer.
func testApp(dir string, routes ...string) (*App, *zap.Logger) {
	core, _ := zapobserver.New(zapcore.DebugLevel)
	log := zap.New(core)
	a := &App{
		logger:   log,
		storeKey: "embedded:" + dir,
		storeCfg: delivery.StoreConfig{Dir: dir},
		handles:  map[string]*stateRef{},
	}
	for _, name := range routes {
		a.handles[name] = newStateRef(delivery.QueueConfig{Name: name, DedupWindow: 1e9})
	}
	return a, log
}

// TestStoreLoggerFollowsConfig: the store outlives configs, and Caddy closes
// a config's log writers when it unloads it, so the store must log through
// the config that runs now: the newest one that started, or, when a new
// config fails to start, the one that keeps running.
func TestStoreLoggerFollowsConfig(t *testing.T) {
	dir := t.TempDir()

	first, firstLog := testApp(dir, "one")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	store := first.store
	if store.Logger() != firstLog {
		t.Fatal("the first config's store does not log through it")
	}

	// A reload: the new config starts before the old one stops.
	second, secondLog := testApp(dir, "one")
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	if second.store != store {
		t.Fatal("the reload opened a second store")
	}
	if store.Logger() != secondLog {
		t.Error("after a reload the store still logs through the first config")
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	if store.Logger() != secondLog {
		t.Error("stopping the replaced config took the store's logger from the running one")
	}

	// A reload that fails: a route name the store refuses fails its Start,
	// and the running config keeps the store's logger.
	bad, _ := testApp(dir, "one", "Not A Valid Name")
	if err := bad.Start(); err == nil {
		_ = bad.Stop()
		t.Fatal("a config with an invalid route name started")
	}
	if store.Logger() != secondLog {
		t.Error("a config that failed to start left its logger in the store")
	}
	if err := second.Stop(); err != nil {
		t.Fatal(err)
	}
}

// TestMaxStoreEmbeddedOnly: max_store configures the embedded store; with store nats it is a
// config mistake that names the directive and the value.
func TestMaxStoreEmbeddedOnly(t *testing.T) {
	a := &App{MaxStore: 1 << 30, Store: &StoreConfig{Mode: "nats", URLs: []string{"nats://127.0.0.1:4222"}}}
	err := a.Provision(caddy.Context{Context: context.Background()})
	if err == nil || !strings.Contains(err.Error(), "max_store 1073741824") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %v, want one line naming max_store and its value", err)
	}
	e := &App{MaxStore: 1 << 30, Store: &StoreConfig{Dir: t.TempDir()}}
	if err := e.Provision(caddy.Context{Context: context.Background()}); err != nil || e.storeCfg.MaxStore != 1<<30 {
		t.Fatalf("embedded: err %v, max store %d", err, e.storeCfg.MaxStore)
	}
}

// TestFailedStartRestoresSettings: routes outlive configs, and a new config pushes its settings
// into them at Start. When that config's Start fails (here: one of its routes has a name the
// store refuses, after the shared route got the new settings), Caddy keeps the old config
// running, so the old config's settings must be back in force; after a successful reload,
// stopping the replaced config must not put its settings back.
func TestFailedStartRestoresSettings(t *testing.T) {
	dir := t.TempDir()
	withRate := func(a *App, rate float64) {
		rh := a.handles["one"]
		rh.cfg.Forward = &delivery.Policy{URL: "http://127.0.0.1:1/", Rate: rate}
	}
	first, _ := testApp(dir, "one")
	withRate(first, 10)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	q := first.handles["one"].rt.Load().queue
	if got := q.Rate(); got != 10 {
		t.Fatalf("rate %v after the first start, want 10", got)
	}

	bad, _ := testApp(dir, "one", "zz Not A Valid Name")
	withRate(bad, 99)
	if err := bad.Start(); err == nil {
		_ = bad.Stop()
		t.Fatal("a config with an invalid route name started")
	}
	if got := q.Rate(); got != 10 {
		t.Fatalf("rate %v after a failed reload, want the running config's 10", got)
	}

	second, _ := testApp(dir, "one")
	withRate(second, 20)
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	if got := q.Rate(); got != 20 {
		t.Fatalf("rate %v after the replaced config stopped, want the new config's 20", got)
	}
	if err := second.Stop(); err != nil {
		t.Fatal(err)
	}
}
