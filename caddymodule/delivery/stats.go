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
	// Nothing else queues there, except gate-mode key records on a route that forwarded once,
	// which the workers ack (in either mode). Zero means nothing is left to deliver.
	Pending uint64 `json:"pending"`
	// InFlight counts attempts running in this process.
	InFlight uint64 `json:"in_flight"`
	// Dead counts dead letters (including quarantined events).
	Dead uint64 `json:"dead"`
	// Stored counts messages in the event stream: queued events, delivered events kept as
	// history (at least the dedup window, up to retain) and gate-mode key records.
	Stored uint64 `json:"stored"`
	// Bytes is the route's use of the store against its quota: everything it keeps there, its
	// event stream (queued events, history, dedup records), its outcome records and its dead
	// letters.
	Bytes uint64 `json:"bytes"`
	// HistoryBytes is the part of Bytes that would be given up first when the quota is reached:
	// the delivered events at the front of the event stream, up to the delivery consumer's ack
	// floor (estimated at the stream's average message size), and the outcome records.
	HistoryBytes uint64 `json:"history_bytes"`
	// MaxQueue is the route's quota of Bytes (forward mode; 0 in gate mode).
	MaxQueue uint64 `json:"max_queue,omitempty"`
	// CAS counts this process's compare-and-set publishes and the races they lost.
	CAS CASStats `json:"cas"`
	// KeyIndexStuck reports that this process's key index could not take a stored key (no
	// memory for a table to grow): the route answers 503 for keys that meet it until the
	// process restarts (see the log line "key index insert failed").
	KeyIndexStuck bool `json:"key_index_stuck,omitempty"`
}

// Stats returns the route's queue figures.
func (r *Queue) Stats(ctx context.Context) (Stats, error) {
	s := Stats{Route: r.route, InFlight: uint64(max(r.inflight.Load(), 0)), CAS: r.CAS(), KeyIndexStuck: r.feed.stuck.Load()}
	u, err := r.readUsage(ctx)
	if err != nil {
		return s, err
	}
	s.Stored, s.Dead, s.Pending, s.Bytes = u.ev.State.Msgs, u.dl.State.Msgs, u.pending, uint64(u.bytes())
	s.HistoryBytes = uint64(u.historyBytes())
	if _, limit := r.QuotaUse(); limit > 0 {
		s.MaxQueue = uint64(limit)
	}
	return s, nil
}

// usage is what a route keeps in the store, read from its three streams and its delivery
// consumer.
type usage struct {
	ev, dl, oc *jetstream.StreamInfo
	pending    uint64 // undelivered events: the consumer's pending plus unacked
	floor      uint64 // the consumer's ack floor (0 in gate mode)
}

func (r *Queue) readUsage(ctx context.Context) (usage, error) {
	var u usage
	var err error
	if u.ev, err = r.ev.Info(ctx); err != nil {
		return u, fmt.Errorf("store: %w", err)
	}
	if u.dl, err = r.dl.Info(ctx); err != nil {
		return u, fmt.Errorf("store: %w", err)
	}
	if u.oc, err = r.oc.Info(ctx); err != nil {
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return u, fmt.Errorf("store: %w", err)
		}
		u.oc = &jetstream.StreamInfo{} // the records are gone; the events are what counts
	}
	c, err := r.ev.Consumer(ctx, consumerName)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return u, nil // gate mode: no delivery queue
	}
	if err != nil {
		return u, fmt.Errorf("store: %w", err)
	}
	ci := c.CachedInfo()
	u.pending = ci.NumPending + uint64(max(ci.NumAckPending, 0))
	u.floor = ci.AckFloor.Stream
	return u, nil
}

// bytes is the route's use of the store against its quota: all it keeps there. Delivered events
// kept as history count too: they are what the quota gives up first (giveup.go), so a route
// with its application up never refuses an event for the history it keeps.
func (u usage) bytes() int64 {
	return int64(u.ev.State.Bytes + u.dl.State.Bytes + u.oc.State.Bytes)
}

// historyBytes estimates what giving up history could free: the front of the event stream up
// to the ack floor, at the stream's average message size, and the outcome records.
func (u usage) historyBytes() int64 {
	var front uint64
	if n := u.ev.State.Msgs; n > 0 && u.floor >= u.ev.State.FirstSeq {
		front = uint64(float64(u.ev.State.Bytes) / float64(n) * float64(min(u.floor-u.ev.State.FirstSeq+1, n)))
	}
	return int64(front + u.oc.State.Bytes)
}
