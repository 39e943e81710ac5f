package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/delivery"
)

// drainPoll is how often a drain checks whether the orphan's queue is empty.
const drainPoll = time.Second

// startDrain delivers an orphaned queue's events to url (the default delivery
// policy: retries, then dead letters), in the background. The route runs in
// the same pool as configured routes, so a config that brings the name back
// while the drain runs takes the queue over with its own settings. Once
// nothing is pending the drain lets go; a queue left with no events and no
// dead letters is deleted, one with dead letters stays listed as orphaned.
func startDrain(store *delivery.Store, storeKey, name, url string) error {
	// Hold the store while draining, so a config stop does not close it under us.
	if _, loaded, err := stores.LoadOrNew(storeKey, func() (caddy.Destructor, error) {
		return nil, errors.New("the store is not open")
	}); err != nil || !loaded {
		return fmt.Errorf("drain %s: the store is not open", name)
	}
	logger := caddy.Log().Named("webhook_gateway.drain")
	cfg := delivery.QueueConfig{
		Name:        name,
		DedupWindow: delivery.DefaultDedupWindow,
		Logger:      logger,
		Observer:    observer{},
		Forward:     &delivery.Policy{URL: url},
	}
	key := storeKey + "\x00" + name
	val, loaded, err := routes.LoadOrNew(key, func() (caddy.Destructor, error) {
		rt, err := newRouteState(store, name, cfg)
		if err != nil {
			return nil, err // a nil *routeState in the interface would not be nil
		}
		return rt, nil
	})
	if err == nil && loaded {
		_, _ = routes.Delete(key)
		err = errors.New("a running route has that name")
	}
	if err != nil {
		_, _ = stores.Delete(storeKey)
		return fmt.Errorf("drain %s: %v", name, err)
	}
	rt := val.(*routeState)
	rt.apply(key, cfg, defaultDrainTimeout)
	logger.Info("draining orphaned queue", zap.String("route", name))
	go func() {
		defer func() { _, _ = stores.Delete(storeKey) }()
		failures := 0
		for {
			time.Sleep(drainPoll)
			ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
			st, err := rt.queue.Stats(ctx)
			cancel()
			if err != nil {
				if failures++; failures >= 30 {
					logger.Error("drain stopped: the store does not answer; its events stay queued", zap.String("route", name), zap.Error(err))
					rt.release(key)
					_, _ = routes.Delete(key)
					return
				}
				continue
			}
			failures = 0
			if st.Pending > 0 || st.InFlight > 0 {
				continue
			}
			rt.release(key)
			deleted, _ := routes.Delete(key)
			if deleted && st.Dead == 0 {
				ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
				err := store.DeleteQueue(ctx, name)
				cancel()
				if err != nil {
					logger.Warn("drained, but deleting the empty queue failed", zap.String("route", name), zap.Error(err))
					return
				}
			}
			logger.Info("drained orphaned queue", zap.String("route", name), zap.Uint64("dead", st.Dead))
			return
		}
	}()
	return nil
}
