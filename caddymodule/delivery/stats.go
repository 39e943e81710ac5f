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
	// flight in any process. It falls as deliveries complete: the dedup markers that this
	// process's deliveries wrote (see markersAhead) are not counted. Markers written by other
	// processes on the same cluster, or before a restart, are, until the workers pass them, so
	// there it can read high while a backlog drains. Zero means nothing is left to deliver.
	Pending uint64 `json:"pending"`
	// InFlight counts attempts running in this process.
	InFlight uint64 `json:"in_flight"`
	// Dead counts dead letters (including quarantined events).
	Dead uint64 `json:"dead"`
	// Stored counts messages in the event stream: queued events plus remembered keys.
	Stored uint64 `json:"stored"`
	// Bytes is the route's use of the store: its event stream plus its dead letters.
	Bytes uint64 `json:"bytes"`
	// MaxQueue is the route's quota of Bytes (forward mode; 0 in gate mode).
	MaxQueue uint64 `json:"max_queue,omitempty"`
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
	s.Bytes = ev.State.Bytes + dl.State.Bytes
	if _, limit := r.QuotaUse(); limit > 0 {
		s.MaxQueue = uint64(limit)
	}
	c, err := r.ev.Consumer(ctx, consumerName)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return s, nil // gate mode: no delivery queue
	}
	if err != nil {
		return s, fmt.Errorf("store: %w", err)
	}
	ci := c.CachedInfo()
	pending := ci.NumPending + uint64(max(ci.NumAckPending, 0))
	s.Pending = pending - min(pending, r.markers.count(ci.Delivered.Stream))
	return s, nil
}
