package delivery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// An orphaned queue is a route's streams in the store with no route of that name in the running
// config: a route was renamed or removed while events were still queued. Nothing delivers them,
// so the adapter warns, the admin API lists them, and Attach moves them into a configured route.

// maxOrphanScan bounds the messages read to count one orphan's undelivered events.
const maxOrphanScan = 1_000_000

// OrphanInfo describes the streams of a route name that no running route uses.
type OrphanInfo struct {
	Route string `json:"route"`
	// Pending counts undelivered events (dedup markers and key records are not counted).
	Pending uint64 `json:"pending"`
	// Dead counts dead letters (including quarantined events).
	Dead uint64 `json:"dead"`
	// Stored counts messages in the event stream: queued events, delivered history, keys.
	Stored uint64 `json:"stored"`
	// Truncated is set when Pending stopped counting at its bound.
	Truncated bool `json:"truncated,omitempty"`
}

// RouteNames lists the route names that have an event stream in the store, sorted by the store.
func (s *Store) RouteNames(ctx context.Context) ([]string, error) {
	lister := s.js.StreamNames(ctx)
	var out []string
	for name := range lister.Name() {
		if route, ok := strings.CutPrefix(name, eventStreamPfx); ok && ValidRouteName(route) == nil {
			out = append(out, route)
		}
	}
	if err := lister.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return out, fmt.Errorf("store: %w", err)
	}
	return out, nil
}

// Orphan reads the figures of a route's streams without attaching to them (nothing is created).
// It counts the messages that are not dedup markers: each is an event that was never delivered.
func (s *Store) Orphan(ctx context.Context, route string) (OrphanInfo, error) {
	n := routeNames(route)
	info := OrphanInfo{Route: route}
	ev, err := s.js.Stream(ctx, n.evStream)
	if err != nil {
		return info, fmt.Errorf("store: %w", err)
	}
	si, err := ev.Info(ctx)
	if err != nil {
		return info, fmt.Errorf("store: %w", err)
	}
	info.Stored = si.State.Msgs
	if dl, err := s.js.Stream(ctx, n.dlStream); err == nil {
		if di, err := dl.Info(ctx); err == nil {
			info.Dead = di.State.Msgs
		}
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return info, fmt.Errorf("store: %w", err)
	}
	// Only a forward-mode route has undelivered events (gate mode stores dedup markers only), and
	// an undelivered event is never acked, so it lies above the consumer's ack floor: the scan
	// starts there, and is skipped when the consumer has nothing pending.
	c, err := ev.Consumer(ctx, consumerName)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return info, nil
	}
	if err != nil {
		return info, fmt.Errorf("store: %w", err)
	}
	ci := c.CachedInfo()
	if ci.NumPending == 0 && ci.NumAckPending == 0 {
		return info, nil
	}
	if !oldLayout(si) {
		// Nothing but events queues on the consumer: its counts are exact.
		info.Pending = ci.NumPending + uint64(max(ci.NumAckPending, 0))
		return info, nil
	}
	err = scanStreamFrom(ctx, ev, ci.AckFloor.Stream+1, true, func(msg jetstream.Msg) error {
		if first(msg.Headers(), hdrMark) == "" {
			info.Pending++
		}
		return nil
	}, &info.Truncated)
	return info, err
}

// scanStream calls f for every message of st in order, up to maxOrphanScan of them.
func scanStream(ctx context.Context, st jetstream.Stream, headersOnly bool, f func(jetstream.Msg) error, truncated *bool) error {
	return scanStreamFrom(ctx, st, 0, headersOnly, f, truncated)
}

// scanStreamFrom is scanStream from stream sequence from (0 or 1: the first message).
func scanStreamFrom(ctx context.Context, st jetstream.Stream, from uint64, headersOnly bool, f func(jetstream.Msg) error, truncated *bool) error {
	si, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if si.State.Msgs == 0 || (from > 0 && from > si.State.LastSeq) {
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{HeadersOnly: headersOnly}
	if from > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from
	}
	c, done, err := scanConsumer(ctx, st, cfg)
	if err != nil {
		return err
	}
	defer done()
	seen := 0
	for {
		batch, err := c.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		got, last := 0, false
		for msg := range batch.Messages() {
			got++
			seen++
			if err := f(msg); err != nil {
				return err
			}
			if md, err := msg.Metadata(); err == nil && (md.NumPending == 0 || md.Sequence.Stream >= si.State.LastSeq) {
				last = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("store: %w", err)
		}
		if last || got == 0 {
			return nil
		}
		if seen >= maxOrphanScan {
			if truncated != nil {
				*truncated = true
			}
			return nil
		}
	}
}

// AttachResult counts what Attach moved.
type AttachResult struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Events int    `json:"events"`
	// Duplicates are events whose key the target already holds (queued or delivered).
	Duplicates  int `json:"duplicates"`
	Keys        int `json:"keys"`
	DeadLetters int `json:"dead_letters"`
}

// Attach moves the orphaned queue named from into r: its undelivered events join r's queue
// (under the same idempotency keys, so an event r already holds is not queued twice), its dedup
// markers join r's window, and its dead letters join r's. Only when everything was copied are
// from's streams deleted; an interrupted Attach can be run again. r must be in forward mode.
// Replicas still running a route named from would keep delivering from it meanwhile, which
// gives duplicates, never a loss: attach once every replica runs the new config.
func (r *Queue) Attach(ctx context.Context, from string) (AttachResult, error) {
	res := AttachResult{From: from, To: r.route}
	if err := ValidRouteName(from); err != nil {
		return res, err
	}
	if from == r.route {
		return res, errors.New("a route cannot be attached to itself")
	}
	st := r.set.Load()
	if st.fwd == nil {
		return res, fmt.Errorf("route %s is in gate mode: attach to a route with a forward block", r.route)
	}
	src := routeNames(from)
	ev, err := r.s.js.Stream(ctx, src.evStream)
	if err != nil {
		return res, fmt.Errorf("store: %w", err)
	}
	si, err := ev.Info(ctx)
	if err != nil {
		return res, fmt.Errorf("store: %w", err)
	}
	old := oldLayout(si)
	// In the current layout a delivered event stays in the stream as history: only what lies
	// above the delivery consumer's ack floor may be undelivered, and is queued again (an event
	// acked out of order there is delivered once more: a duplicate, never a loss). Below it
	// only the keys move. In the previous layout every event still in the stream is undelivered.
	var floor uint64
	if c, err := ev.Consumer(ctx, consumerName); err == nil {
		floor = c.CachedInfo().AckFloor.Stream
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return res, fmt.Errorf("store: %w", err)
	}
	now := r.now()
	err = scanStream(ctx, ev, false, func(msg jetstream.Msg) error {
		h := copyHeaders(msg.Headers())
		subj := msg.Subject()
		md, err := msg.Metadata()
		if err != nil {
			return err
		}
		queued := old || md.Sequence.Stream > floor
		if strings.HasPrefix(subj, src.rpPfx) {
			if !queued {
				return nil
			}
			id := strings.TrimPrefix(subj, src.rpPfx)
			m := &nats.Msg{Subject: r.rpPfx + id, Header: h, Data: msg.Data()}
			if _, err := r.s.js.PublishMsg(ctx, m, jetstream.WithMsgID("attach-"+from+"-"+strconv.FormatUint(md.Sequence.Stream, 10))); err != nil {
				return fmt.Errorf("store: %w", err)
			}
			res.Events++
			return nil
		}
		key, acc := first(h, hdrKeyHash), md.Timestamp
		if old {
			key = strings.TrimPrefix(subj, src.evPfx)
			if first(h, hdrMark) != "" {
				acc = time.Unix(0, atoi64(first(h, hdrAcceptedAt)))
			}
		}
		if validToken("key hash", key) != nil {
			return nil //nolint:nilerr // a message without a usable key hash cannot be moved by key: skipped, not a failure
		}
		if queued && first(h, hdrMark) == "" {
			delete(h, hdrTTL)
			h[hdrKeyHash] = []string{key}
			dup, err := r.casPublish(ctx, key, &nats.Msg{Header: h, Data: msg.Data()})
			if err != nil {
				return err
			}
			if dup {
				res.Duplicates++
			} else {
				res.Events++
			}
			return nil
		}
		if now.Sub(acc) >= st.window {
			return nil // past the window: nothing to remember
		}
		if err := r.Record(ctx, key); err != nil {
			return err
		}
		res.Keys++
		return nil
	}, nil)
	if err != nil {
		return res, err
	}
	dl, err := r.s.js.Stream(ctx, src.dlStream)
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return res, fmt.Errorf("store: %w", err)
	}
	if err == nil {
		err = scanStream(ctx, dl, false, func(msg jetstream.Msg) error {
			h := copyHeaders(msg.Headers())
			md, err := msg.Metadata()
			if err != nil {
				return err
			}
			id := strings.TrimPrefix(msg.Subject(), src.dlPfx)
			srcTag := "a" + strconv.FormatUint(md.Sequence.Stream, 10) + "-" + from
			if first(h, hdrSource) != "" {
				srcTag = first(h, hdrSource)
			}
			for _, token := range []string{id, id + "-" + from} {
				if validTokenN("dead letter id", token, maxDeadToken) != nil {
					continue
				}
				h[hdrID] = []string{token}
				h[hdrSource] = []string{srcTag}
				h[hdrExpectSubjSeq] = []string{"0"}
				_, err := r.s.js.PublishMsg(ctx, &nats.Msg{Subject: r.dlPfx + token, Header: h, Data: msg.Data()})
				if err == nil {
					res.DeadLetters++
					return nil
				}
				if !isWrongLastSeq(err) {
					return fmt.Errorf("store: %w", err)
				}
				old, gerr := r.dl.GetLastMsgForSubject(ctx, r.dlPfx+token)
				if gerr == nil && first(old.Header, hdrSource) == srcTag {
					return nil // copied by an earlier, interrupted attach
				}
			}
			return fmt.Errorf("dead letter %s: no free id in route %s", id, r.route)
		}, nil)
		if err != nil {
			return res, err
		}
	}
	return res, r.s.DeleteQueue(ctx, from)
}

// oldLayout reports whether an event stream was written by an earlier version: one subject per
// key, at most one message each (see checkLayout).
func oldLayout(si *jetstream.StreamInfo) bool { return si.Config.MaxMsgsPerSubject == 1 }

// DeleteQueue deletes the streams of a route name: its queued events, dedup keys, outcome
// records and dead letters are gone for good. The caller makes sure no running route uses the name.
func (s *Store) DeleteQueue(ctx context.Context, route string) error {
	if err := ValidRouteName(route); err != nil {
		return err
	}
	n := routeNames(route)
	for _, name := range []string{n.evStream, n.dlStream, n.ocStream} {
		if err := s.js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("store: delete %s: %w", name, err)
		}
	}
	return nil
}

func copyHeaders(in nats.Header) nats.Header {
	h := make(nats.Header, len(in)+2)
	for k, vs := range in {
		if !strings.HasPrefix(k, "Nats-") {
			h[k] = append([]string(nil), vs...)
		}
	}
	return h
}

func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
