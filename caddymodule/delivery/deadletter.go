package delivery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// ErrNotFound is returned for a dead letter that does not exist.
var ErrNotFound = errors.New("dead letter not found")

// IsNotFound reports whether err means that the dead letter does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// Dead-letter reasons.
const (
	ReasonMaxAttempts  = "max_attempts"
	ReasonMaxAge       = "max_age"
	ReasonDeadLetterOn = "dead_letter_on"
	ReasonSchema       = "schema" // on_invalid quarantine: the body failed the route's schema
	ReasonUndecodable  = "undecodable"
)

// maxListed caps the page size of DeadLetterPage.
const maxListed = 1000

// DeadLetter is an event that will not be delivered unless it is replayed.
type DeadLetter struct {
	// ID is the dead letter's ID: the event ID (with a suffix in the rare case that two events
	// shared an ID).
	ID     string `json:"id"`
	Vendor string `json:"vendor,omitempty"`
	Type   string `json:"type,omitempty"`
	Key    string `json:"key,omitempty"`
	// Reason is one of the Reason* values.
	Reason string `json:"reason"`
	// ReceivedAt is when the gateway received the event.
	ReceivedAt time.Time `json:"received_at"`
	// DeadAt is when the gateway gave up on it.
	DeadAt time.Time `json:"dead_at"`
	// Attempts is the number of delivery attempts made.
	Attempts int `json:"attempts"`
	// LastStatus is the application's last status, 0 if it never answered.
	LastStatus int `json:"last_status,omitempty"`
	// LastError describes the last failure (no bodies, no secrets).
	LastError string `json:"last_error,omitempty"`
	// ContentType is the original request's Content-Type.
	ContentType string `json:"content_type,omitempty"`
	// Body is the original request body; only Queue.DeadLetter sets it.
	Body []byte `json:"body,omitempty"`
}

// failure describes why an event is dead-lettered.
type failure struct {
	reason   string
	status   int
	err      error
	attempts int // 0: no attempt was made (an undecodable message)
	latency  time.Duration
	id       string // the event's ID, for its outcome record
}

// deadLetter moves msg to the dead letters and settles it. If the dead-letter stream cannot take
// it, the message is retried later.
func (r *Queue) deadLetter(ctx context.Context, st *settings, msg jetstream.Msg, md *jetstream.MsgMetadata, replay bool, f failure) {
	pctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	h := make(nats.Header, len(msg.Headers())+8)
	for k, vs := range msg.Headers() {
		if !strings.HasPrefix(k, "Nats-") {
			h[k] = vs
		}
	}
	src := "s" + strconv.FormatUint(md.Sequence.Stream, 10)
	if !replay {
		// A replay of this dead letter records its attempts with this event (a replay's own
		// dead letter keeps the origin it was given).
		h[hdrOrigin] = []string{strconv.FormatUint(md.Sequence.Stream, 10)}
	}
	id := first(h, hdrID)
	if validToken("event id", id) != nil {
		id = src
	}
	id, _, err := r.publishDeadLetter(pctx, id, src, h, msg.Data(), f)
	if err != nil {
		st.obs.Attempt(r.route, ResultError, f.status, f.latency)
		if f.attempts > 0 {
			r.noteAttempt(msg, md, f.id, replay, f.attempts, f.status, f.err, f.latency, "")
		}
		st.log.Error("dead letter failed", zap.String("route", r.route), zap.String("id", id), zap.Error(err))
		_ = msg.NakWithDelay(finalRetry)
		return
	}
	if f.attempts > 0 {
		r.noteAttempt(msg, md, f.id, replay, f.attempts, f.status, f.err, f.latency, doneDead)
	}
	if f.reason != ReasonUndecodable {
		st.obs.Attempt(r.route, ResultDeadLetter, f.status, f.latency)
	}
	st.obs.DeadLettered(r.route)
	st.log.Error("delivery dead-lettered", zap.String("route", r.route), zap.String("id", id),
		zap.String("reason", f.reason), zap.Int("attempt", f.attempts), zap.Int("status", f.status), zap.Error(f.err))
	r.complete(ctx, st, msg, md, replay)
}

// publishDeadLetter stores a dead letter under its event ID, once per source message: when the
// same message is dead-lettered again (a redelivery after a crash), the existing record stays
// and existed is true. If another event already holds the ID, the record gets the ID
// "<id>-<src>". It returns the dead letter's ID.
func (r *Queue) publishDeadLetter(ctx context.Context, id, src string, h nats.Header, body []byte, f failure) (token string, existed bool, err error) {
	h[hdrReason] = []string{f.reason}
	h[hdrDeadAt] = []string{r.now().UTC().Format(time.RFC3339Nano)}
	h[hdrAttempts] = []string{strconv.Itoa(f.attempts)}
	h[hdrLastStatus] = []string{strconv.Itoa(f.status)}
	h[hdrSource] = []string{src}
	if f.err != nil {
		h[hdrLastError] = []string{HeaderSafe(truncate(f.err.Error(), maxLastError))}
	}
	for _, token := range []string{id, id + "-" + src} {
		h[hdrID] = []string{token}
		h[hdrExpectSubjSeq] = []string{"0"}
		_, err := r.s.js.PublishMsg(ctx, &nats.Msg{Subject: r.dlPfx + token, Header: h, Data: body})
		if err == nil {
			return token, false, nil
		}
		if !isWrongLastSeq(err) {
			return token, false, err
		}
		old, err := r.dl.GetLastMsgForSubject(ctx, r.dlPfx+token)
		if err != nil && !isNotFound(err) {
			return token, false, err
		}
		if err == nil && first(old.Header, hdrSource) == src {
			return token, true, nil
		}
	}
	return id, false, errors.New("dead letter id in use")
}

// maxLastError bounds the error text kept with a dead letter (a header of the stored message).
const maxLastError = 2 << 10

// truncate cuts s to at most n bytes at a UTF-8 boundary, marking the cut with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n -= len("…")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Quarantine stores ev with the dead letters without delivering it (on_invalid quarantine):
// reason says why the schema refused it, in words fit for the admin API (no body, no secret).
// Quarantine dedups like Accept: the dead letter's ID is derived from keyHash and set in ev.ID,
// so the same body sent again finds the record it made and reports dup=true (nothing new is
// stored) until that dead letter is replayed or deleted. It returns only after the store
// acknowledged the record.
func (r *Queue) Quarantine(ctx context.Context, keyHash string, ev *Event, reason string) (dup bool, err error) {
	if err := validToken("key hash", keyHash); err != nil {
		return false, err
	}
	if ev == nil {
		return false, errors.New("nil event")
	}
	if ev.ReceivedAt.IsZero() {
		ev.ReceivedAt = r.now()
	}
	if st := r.set.Load(); st.fwd != nil {
		if err := r.admit(ctx, st, len(ev.Body)); err != nil {
			return false, err
		}
	}
	ev.ID = quarantinePrefix + keyHash
	f := failure{reason: ReasonSchema, err: errors.New(reason)}
	id, existed, err := r.publishDeadLetter(ctx, ev.ID, ev.ID, encodeEvent(ev, 8), ev.Body, f)
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	ev.ID = id
	if !existed {
		r.set.Load().obs.DeadLettered(r.route)
	}
	return existed, nil
}

// quarantinePrefix starts the ID of a quarantined event, which is derived from its key hash.
const quarantinePrefix = "q"

// DeadLetters lists up to limit dead letters (default 100, at most 1000), oldest first, without
// their bodies.
func (r *Queue) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	list, _, err := r.DeadLetterPage(ctx, 0, limit)
	return list, err
}

// DeadLetterPage lists up to limit dead letters (default 100, at most 1000), oldest first,
// without their bodies, starting at the cursor (0: the oldest). next is the cursor of the
// following page, 0 when this page reached the end. A cursor is a stream sequence, so it stays
// valid while dead letters are replayed or deleted.
func (r *Queue) DeadLetterPage(ctx context.Context, cursor uint64, limit int) (list []DeadLetter, next uint64, err error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, maxListed)
	info, err := r.dl.Info(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("store: %w", err)
	}
	if info.State.Msgs == 0 || (cursor > 0 && cursor > info.State.LastSeq) {
		return []DeadLetter{}, 0, nil
	}
	cfg := jetstream.OrderedConsumerConfig{HeadersOnly: true}
	if cursor > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = cursor
	}
	c, done, err := scanConsumer(ctx, r.dl, cfg)
	if err != nil {
		return nil, 0, err
	}
	defer done()
	batch, err := c.FetchNoWait(int(min(uint64(limit), info.State.Msgs)))
	if err != nil {
		return nil, 0, fmt.Errorf("store: %w", err)
	}
	out := make([]DeadLetter, 0, limit)
	var last uint64
	more := false
	for msg := range batch.Messages() {
		out = append(out, parseDeadLetter(msg.Headers(), nil))
		if md, err := msg.Metadata(); err == nil {
			last, more = md.Sequence.Stream, md.NumPending > 0
		}
		if len(out) == limit {
			break
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		return out, 0, fmt.Errorf("store: %w", err)
	}
	if more && last > 0 {
		next = last + 1
	}
	return out, next, nil
}

// DeadLetter returns one dead letter with its body.
func (r *Queue) DeadLetter(ctx context.Context, id string) (DeadLetter, error) {
	m, err := r.getDeadLetter(ctx, id)
	if err != nil {
		return DeadLetter{}, err
	}
	return parseDeadLetter(m.Header, m.Data), nil
}

func (r *Queue) getDeadLetter(ctx context.Context, id string) (*jetstream.RawStreamMsg, error) {
	if err := validTokenN("dead letter id", id, maxDeadToken); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	m, err := r.dl.GetLastMsgForSubject(ctx, r.dlPfx+id)
	if isNotFound(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return m, nil
}

// Replay queues a dead letter for delivery again, with fresh attempts and a fresh MaxAge, then
// removes it from the dead letters. The replayed event is not subject to the dedup window.
func (r *Queue) Replay(ctx context.Context, id string) error {
	m, err := r.getDeadLetter(ctx, id)
	if err != nil {
		return err
	}
	h := make(nats.Header, len(m.Header)+1)
	for k, vs := range m.Header {
		switch k {
		case hdrReason, hdrDeadAt, hdrAttempts, hdrLastStatus, hdrLastError, hdrKeyHash, hdrSource:
			continue
		}
		if !strings.HasPrefix(k, "Nats-") {
			h[k] = vs
		}
	}
	rp := &nats.Msg{Subject: r.rpPfx + id, Header: h, Data: m.Data}
	if _, err := r.s.js.PublishMsg(ctx, rp, jetstream.WithMsgID("replay-"+id+"-"+strconv.FormatUint(m.Sequence, 10))); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := r.dl.DeleteMsg(ctx, m.Sequence); err != nil && !isNotFound(err) {
		return fmt.Errorf("store: event queued, but the dead letter was not removed: %w", err)
	}
	return nil
}

// DeleteDeadLetter removes a dead letter for good.
func (r *Queue) DeleteDeadLetter(ctx context.Context, id string) error {
	m, err := r.getDeadLetter(ctx, id)
	if err != nil {
		return err
	}
	if err := r.dl.DeleteMsg(ctx, m.Sequence); err != nil {
		if isNotFound(err) {
			return ErrNotFound
		}
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

func parseDeadLetter(h nats.Header, body []byte) DeadLetter {
	d := DeadLetter{
		ID:          first(h, hdrID),
		Vendor:      first(h, hdrVendor),
		Type:        first(h, hdrType),
		Key:         first(h, hdrKey),
		Reason:      first(h, hdrReason),
		Attempts:    atoiHeader(h, hdrAttempts),
		LastStatus:  atoiHeader(h, hdrLastStatus),
		LastError:   first(h, hdrLastError),
		ContentType: first(h, hdrContentType),
		Body:        body,
	}
	d.ReceivedAt, _ = time.Parse(time.RFC3339Nano, first(h, hdrReceived))
	d.DeadAt, _ = time.Parse(time.RFC3339Nano, first(h, hdrDeadAt))
	return d
}
