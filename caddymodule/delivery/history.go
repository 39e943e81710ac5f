package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// History statuses of an event.
const (
	StatusPending   = "pending"   // not yet delivered: queued, in flight or waiting for a retry
	StatusDelivered = "delivered" // the delivery consumer acked it (delivered, or dead-lettered)
	StatusDead      = "dead"      // in the dead letters
)

// Bounds of a history scan. A scan reads headers only; it stops at the page size, at the end of
// the requested range, or when its time budget is spent (the page then ends early, with a
// cursor to go on from).
const (
	maxEventPage   = 1000
	historyBudget  = 5 * time.Second
	historyBatch   = 256
	historyWait    = 500 * time.Millisecond
	idLookupSlack  = time.Minute // an event is stored a moment after its ID was made
	maxReplayRange = 100_000     // events one ReplayRange call queues at most
)

// ErrEventNotFound is returned for an event ID that is not in the route's history.
var ErrEventNotFound = errors.New("event not found")

// IsEventNotFound reports whether err means that the event is not in the history.
func IsEventNotFound(err error) bool { return errors.Is(err, ErrEventNotFound) }

// EventQuery selects events of a route's history. Zero fields select everything.
type EventQuery struct {
	// Since and Until bound the time the event was stored (Until exclusive).
	Since, Until time.Time
	// Key is the idempotency key in clear.
	Key string
	// Status is one of the Status* values, or empty for any.
	Status string
	// Limit is the page size: default 100, at most 1000.
	Limit int
	// Cursor continues a previous page (its next cursor).
	Cursor string
}

// EventInfo is one event of the history, as listed.
type EventInfo struct {
	ID         string    `json:"id"`
	Vendor     string    `json:"vendor,omitempty"`
	Key        string    `json:"key,omitempty"`
	Type       string    `json:"type,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
	Status     string    `json:"status"`
	// Attempts and LastStatus are those of the last attempt recorded (a replay's count from 1),
	// or of the dead letter; 0 means none recorded.
	Attempts   int `json:"attempts,omitempty"`
	LastStatus int `json:"last_status,omitempty"`

	seq uint64
}

// EventDetail is one event with its body and the vendor headers forwarded with it.
type EventDetail struct {
	EventInfo
	ContentType string      `json:"content_type,omitempty"`
	Header      http.Header `json:"headers,omitempty"`
	Body        []byte      `json:"body"`
	// AttemptLog lists the delivery attempts that were recorded for the event, oldest first.
	AttemptLog []Attempt `json:"attempt_log"`
	// DeliveredAt is when the application took the event; nil while it has not.
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

// Attempt is one delivery attempt of an event.
type Attempt struct {
	At time.Time `json:"at"`
	// N counts the attempts of one delivery from 1; a replay starts again at 1.
	N int `json:"n"`
	// Status is the application's HTTP status, 0 when it gave none (a connection error or a
	// timeout, then in Error).
	Status    int     `json:"status,omitempty"`
	Error     string  `json:"error,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
	Replay    bool    `json:"replay,omitempty"`
}

// ValidStatus reports whether s is a status an EventQuery accepts.
func ValidStatus(s string) bool {
	return s == "" || s == StatusPending || s == StatusDelivered || s == StatusDead
}

// Events returns a page of the route's history, oldest first, and the cursor of the next page
// ("" when the range is exhausted).
func (r *Queue) Events(ctx context.Context, q EventQuery) ([]EventInfo, string, error) {
	if !ValidStatus(q.Status) {
		return nil, "", fmt.Errorf("%w: status %q (want pending, delivered or dead)", ErrInvalidName, q.Status)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, maxEventPage)
	var start uint64
	if q.Cursor != "" {
		n, err := strconv.ParseUint(q.Cursor, 10, 64)
		if err != nil || n == 0 {
			return nil, "", fmt.Errorf("%w: cursor %q", ErrInvalidName, q.Cursor)
		}
		start = n
	}
	// The status of an event above the ack floor comes from its outcome records, read per page:
	// so the events are gathered in pages, completed, and only then filtered by status. One
	// budget bounds the whole call; the page then ends early, with its cursor.
	ctx, cancel := context.WithTimeout(ctx, historyBudget)
	defer cancel()
	out := make([]EventInfo, 0, min(limit, 100))
	for {
		var chunk []EventInfo
		next, err := r.scanEvents(ctx, q.Since, q.Until, start, func(h nats.Header, md *jetstream.MsgMetadata, floor uint64) (bool, error) {
			if q.Key != "" && first(h, hdrKey) != HeaderSafe(q.Key) {
				return true, nil
			}
			info, err := r.eventInfo(ctx, h, md.Sequence.Stream, floor)
			if err != nil {
				return false, err
			}
			if q.Status != "" && !mayBecome(info.Status, q.Status) {
				return true, nil
			}
			chunk = append(chunk, info)
			return len(chunk) < limit-len(out), nil
		})
		if err != nil {
			return out, "", err
		}
		r.addOutcomes(ctx, chunk)
		for _, e := range chunk {
			if q.Status == "" || e.Status == q.Status {
				out = append(out, e)
			}
		}
		if next == 0 {
			return out, "", nil
		}
		if len(out) >= limit || ctx.Err() != nil {
			return out, strconv.FormatUint(next, 10), nil
		}
		start = next
	}
}

// mayBecome reports whether an event whose status reads have (from the ack floor and the dead
// letters) can have the status want once its outcome records are read: only pending can turn
// into delivered.
func mayBecome(have, want string) bool {
	return have == want || (have == StatusPending && want == StatusDelivered)
}

// scanEvents reads the headers of the events stored in [since, until) (or from sequence start),
// oldest first, and hands each to fn with the delivery consumer's ack floor, until fn returns
// false, the range ends or the time budget is spent. It returns the sequence to go on from, 0
// when the range was read to its end.
func (r *Queue) scanEvents(ctx context.Context, since, until time.Time, start uint64,
	fn func(h nats.Header, md *jetstream.MsgMetadata, floor uint64) (bool, error)) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, historyBudget)
	defer cancel()
	info, err := r.ev.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	if info.State.Msgs == 0 || start > info.State.LastSeq {
		return 0, nil
	}
	floor, err := r.ackFloor(ctx)
	if err != nil {
		return 0, err
	}
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{r.evPfx + "*"},
		HeadersOnly:    true,
		// An ordered consumer is removed by the server soon after it goes idle.
		InactiveThreshold: 30 * time.Second,
	}
	switch {
	case start > 0:
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = start
	case !since.IsZero():
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		t := since.UTC()
		cfg.OptStartTime = &t
	}
	c, done, err := scanConsumer(ctx, r.ev, cfg)
	if err != nil {
		return 0, err
	}
	defer done()
	last := info.State.LastSeq
	for {
		batch, err := c.Fetch(historyBatch, jetstream.FetchMaxWait(historyWait))
		if err != nil {
			return 0, fmt.Errorf("store: %w", err)
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			md, err := msg.Metadata()
			if err != nil {
				continue
			}
			seq := md.Sequence.Stream
			if !until.IsZero() && !md.Timestamp.Before(until) {
				return 0, nil
			}
			h := msg.Headers()
			if first(h, hdrMark) == "" && first(h, hdrID) != "" { // key records are not events
				more, err := fn(h, md, floor)
				if err != nil {
					return 0, err
				}
				if !more {
					if md.NumPending == 0 || seq >= last {
						return 0, nil
					}
					return seq + 1, nil
				}
			}
			if md.NumPending == 0 || seq >= last {
				return 0, nil
			}
			if ctx.Err() != nil {
				return seq + 1, nil // budget spent: the caller goes on from here
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("store: %w", err)
		}
		if got == 0 {
			return 0, nil // nothing more came within the wait: the range is read
		}
	}
}

// ackFloor is the stream sequence at and below which the delivery consumer has acked every
// message; 0 in gate mode (no consumer).
func (r *Queue) ackFloor(ctx context.Context) (uint64, error) {
	c, err := r.ev.Consumer(ctx, consumerName)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return c.CachedInfo().AckFloor.Stream, nil
}

// eventInfo builds the listing of one stored event. An event above the ack floor is reported
// pending: the consumer's state does not say which of those were acked out of order, and calling
// a delivered event pending is the safe mistake.
func (r *Queue) eventInfo(ctx context.Context, h nats.Header, seq, floor uint64) (EventInfo, error) {
	info := EventInfo{
		ID:     first(h, hdrID),
		Vendor: first(h, hdrVendor),
		Key:    first(h, hdrKey),
		Type:   first(h, hdrType),
		Status: StatusPending,
		seq:    seq,
	}
	info.ReceivedAt, _ = time.Parse(time.RFC3339Nano, first(h, hdrReceived))
	if seq <= floor {
		info.Status = StatusDelivered
	}
	if validToken("event id", info.ID) == nil {
		// A dead-lettered event is acked; its dead letter is kept under its ID.
		m, err := r.dl.GetLastMsgForSubject(ctx, r.dlPfx+info.ID)
		switch {
		case err == nil:
			info.Status = StatusDead
			info.Attempts = atoiHeader(m.Header, hdrAttempts)
			info.LastStatus = atoiHeader(m.Header, hdrLastStatus)
		case !isNotFound(err):
			return info, fmt.Errorf("store: %w", err)
		}
	}
	return info, nil
}

// findEvent returns the stored message of event id. Event IDs begin with their creation time
// (NewID), so the scan starts there; an ID of another form is looked for from the stream's start,
// within the scan's budget.
func (r *Queue) findEvent(ctx context.Context, id string) (*jetstream.RawStreamMsg, uint64, error) {
	if err := validToken("event id", id); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrEventNotFound, err)
	}
	var since time.Time
	if t, ok := idTime(id); ok {
		since = t.Add(-idLookupSlack)
	}
	var found, floor uint64
	_, err := r.scanEvents(ctx, since, time.Time{}, 0, func(h nats.Header, md *jetstream.MsgMetadata, f uint64) (bool, error) {
		if first(h, hdrID) == id {
			found, floor = md.Sequence.Stream, f
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return nil, 0, err
	}
	if found == 0 {
		return nil, 0, ErrEventNotFound
	}
	m, err := r.ev.GetMsg(ctx, found)
	if isNotFound(err) {
		return nil, 0, ErrEventNotFound // purged in between
	}
	if err != nil {
		return nil, 0, fmt.Errorf("store: %w", err)
	}
	return m, floor, nil
}

// idTime is the creation time an event ID made by NewID begins with.
func idTime(id string) (time.Time, bool) {
	if len(id) != 26 {
		return time.Time{}, false
	}
	var ms uint64
	for i := 0; i < 10; i++ { // 10 characters: 50 bits, the top 2 are zero
		v := strings.IndexByte(crockford, id[i])
		if v < 0 {
			return time.Time{}, false
		}
		ms = ms<<5 | uint64(v)
	}
	return time.UnixMilli(int64(ms)), true
}

// Event returns one event of the history with its body and forwarded headers.
func (r *Queue) Event(ctx context.Context, id string) (EventDetail, error) {
	m, floor, err := r.findEvent(ctx, id)
	if err != nil {
		return EventDetail{}, err
	}
	info, err := r.eventInfo(ctx, m.Header, m.Sequence, floor)
	if err != nil {
		return EventDetail{}, err
	}
	ev, err := decodeEvent(m.Header, m.Data)
	if err != nil {
		return EventDetail{}, ErrEventNotFound
	}
	recs, err := r.outcomesOf(ctx, map[uint64]string{m.Sequence: info.ID})
	if err != nil {
		// The event is there; only its attempts cannot be shown.
		r.logger().Warn("outcome records not read for an event", zap.String("route", r.route), zap.String("id", id), zap.Error(err))
	}
	applyOutcomes(&info, recs[m.Sequence])
	d := EventDetail{EventInfo: info, ContentType: ev.ContentType, Header: ev.Header, Body: ev.Body}
	d.AttemptLog, d.DeliveredAt = attemptLog(recs[m.Sequence])
	return d, nil
}

// ReplayEvent queues one event of the history for delivery again. The replay keeps the event's
// ID, key and body, is marked as a replay (X-Webhook-Replay: true), and counts its attempts
// afresh; the route's workers deliver it at the route's rate and concurrency.
//
// An event that is dead is replayed as its dead letter is (Replay): the copy is queued and the
// dead letter removed, so the event is no longer listed dead, and a second replay of it is an
// ordinary one.
func (r *Queue) ReplayEvent(ctx context.Context, id string) error {
	m, _, err := r.findEvent(ctx, id)
	if err != nil {
		return err
	}
	if err := r.replayOne(ctx, id, m, true); err != nil {
		return err
	}
	r.replayed(1, zap.String("id", id))
	return nil
}

// replayOne queues one stored event again: from its dead letter when it may have one (which the
// replay removes), else as a copy of the stored event.
func (r *Queue) replayOne(ctx context.Context, id string, m *jetstream.RawStreamMsg, mayBeDead bool) error {
	if mayBeDead {
		err := r.Replay(ctx, id)
		if err == nil || !IsNotFound(err) {
			return err
		}
	}
	return r.publishReplay(ctx, id, m.Sequence, m.Header, m.Data)
}

// ReplayRange queues every event of the history stored in [since, until) with the status (empty:
// any) for delivery again, as ReplayEvent does, and returns how many it queued. It queues at most
// 100,000 events per call; an error after some were queued still reports their number.
func (r *Queue) ReplayRange(ctx context.Context, since, until time.Time, status string) (int, error) {
	if !ValidStatus(status) {
		return 0, fmt.Errorf("%w: status %q (want pending, delivered or dead)", ErrInvalidName, status)
	}
	if !until.IsZero() && !since.Before(until) {
		return 0, fmt.Errorf("%w: since must be before until", ErrInvalidName)
	}
	n := 0
	var err error
	defer func() {
		if n > 0 {
			r.replayed(n, zap.Time("since", since), zap.Time("until", until), zap.String("status", status))
		}
	}()
	cursor := ""
	for n < maxReplayRange {
		var page []EventInfo
		page, cursor, err = r.Events(ctx, EventQuery{Since: since, Until: until, Status: status, Limit: maxEventPage, Cursor: cursor})
		if err != nil {
			return n, err
		}
		for _, e := range page {
			m, err := r.ev.GetMsg(ctx, e.seq)
			if isNotFound(err) {
				continue // purged since it was listed: past its retention
			}
			if err != nil {
				return n, fmt.Errorf("store: %w", err)
			}
			if err := r.replayOne(ctx, e.ID, m, e.Status == StatusDead); err != nil {
				return n, err
			}
			n++
		}
		if cursor == "" {
			return n, nil
		}
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("stopped after %d events: %w", n, err)
		}
	}
	return n, fmt.Errorf("stopped after %d events (the most one call replays): go on from since=%s", n, since)
}

// publishReplay stores a copy of the event stored at seq on the route's replay subject. It
// carries neither the key hash nor any NATS header: the copy is not a new key of the dedup
// window. Its origin header names the event, whose history its attempts join.
func (r *Queue) publishReplay(ctx context.Context, id string, seq uint64, src nats.Header, body []byte) error {
	h := make(nats.Header, len(src)+1)
	for k, vs := range src {
		if k == hdrKeyHash || strings.HasPrefix(k, "Nats-") {
			continue
		}
		h[k] = vs
	}
	h[hdrOrigin] = []string{strconv.FormatUint(seq, 10)}
	if err := validToken("event id", id); err != nil {
		return err
	}
	// A replay queues like a new event: it counts against max_queue, so a large range cannot
	// fill the route's share and have the vendors' new events refused.
	if st := r.set.Load(); st.fwd != nil {
		if err := r.admit(ctx, st, len(body)); err != nil {
			return err
		}
	} else {
		return ErrGateMode
	}
	if _, err := r.s.js.PublishMsg(ctx, &nats.Msg{Subject: r.rpPfx + id, Header: h, Data: body}); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// replayed logs and counts n events queued again from the history.
func (r *Queue) replayed(n int, fields ...zap.Field) {
	st := r.set.Load()
	if o, ok := st.obs.(ReplayObserver); ok {
		o.Replayed(r.route, n)
	}
	st.log.Info("events replayed", append([]zap.Field{zap.String("route", r.route), zap.Int("count", n)}, fields...)...)
}

// ReplayObserver is implemented by an Observer that counts replays from the history.
type ReplayObserver interface {
	Replayed(route string, n int)
}
