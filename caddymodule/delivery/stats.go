package delivery

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Stats are a route's queue figures. Pending and Dead are shared by all processes on the same
// store; InFlight is this process's.
type Stats struct {
	Route string `json:"route"`
	// Pending counts events waiting for delivery: not yet attempted, waiting for a retry, or in
	// flight in any process, read from the delivery consumer (its pending and unacked counts).
	// Nothing else queues there, except the key records of a route switched from gate to
	// forward mode, which the workers ack at once. Zero means nothing is left to deliver.
	Pending uint64 `json:"pending"`
	// InFlight counts attempts running in this process.
	InFlight uint64 `json:"in_flight"`
	// Dead counts dead letters (including quarantined events).
	Dead uint64 `json:"dead"`
	// Stored counts messages in the event stream: queued events, delivered events kept as
	// history (at least the dedup window, up to retain) and gate-mode key records.
	Stored uint64 `json:"stored"`
}

// Stats returns the route's queue figures.
func (r *Route) Stats(ctx context.Context) (Stats, error) {
	s := Stats{Route: r.route, InFlight: uint64(max(r.inflight.Load(), 0))}
	ev, err := r.ev.Info(ctx)
	if err != nil {
		return s, fmt.Errorf("store: %w", err)
	}
	s.Stored = ev.State.Msgs
	dl, err := r.dl.Info(ctx)
	if err != nil {
		return s, fmt.Errorf("store: %w", err)
	}
	s.Dead = dl.State.Msgs
	c, err := r.ev.Consumer(ctx, consumerName)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return s, nil // gate mode: no delivery queue
	}
	if err != nil {
		return s, fmt.Errorf("store: %w", err)
	}
	ci := c.CachedInfo()
	s.Pending = ci.NumPending + uint64(max(ci.NumAckPending, 0))
	return s, nil
}
