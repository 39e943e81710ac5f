package delivery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// maxCAS bounds the compare-and-set rounds of one Accept or Record: a round is lost only when
// another writer changed the key's subject in between, which is rare past the first round.
const maxCAS = 8

// Accept stores ev for delivery unless keyHash is already in the dedup window. It reports
// dup=true (nothing stored) for a key whose event is still queued, or was accepted less than
// DedupWindow ago. Checking the key and storing the event are one JetStream publish on the
// key's subject with Nats-Expected-Last-Subject-Sequence, so concurrent Accepts of one key, in
// this process or in other replicas, store it once, and a crash can never leave a key recorded
// without its event. Accept returns nil only after the store acknowledged the event (see
// StoreConfig for what that survives); any error means the event is not known to be stored and
// the sender must be told to retry (503). ErrQueueFull means the route's MaxQueue is used up.
//
// keyHash must be a subject token (hex or base64url of a hash; keep it short, it is held in
// memory per key). Empty ev.ID and zero ev.ReceivedAt are filled in.
func (r *Route) Accept(ctx context.Context, keyHash string, ev *Event) (dup bool, err error) {
	if err := validToken("key hash", keyHash); err != nil {
		return false, err
	}
	if ev == nil {
		return false, errors.New("nil event")
	}
	st := r.set.Load()
	if st.fwd == nil {
		return false, ErrGateMode
	}
	if ev.ID == "" {
		ev.ID = NewID()
	} else if err := validToken("event id", ev.ID); err != nil {
		return false, err
	}
	if ev.ReceivedAt.IsZero() {
		ev.ReceivedAt = r.now()
	}
	if err := r.admit(ctx, st, len(ev.Body)); err != nil {
		// A full route still recognises a re-sent event: the vendor gets its duplicate ack
		// rather than a 503 it would retry.
		if errors.Is(err, ErrQueueFull) {
			if seen, serr := r.Seen(ctx, keyHash); serr == nil && seen {
				return true, nil
			}
		}
		return false, err
	}
	subj := r.evPfx + keyHash
	m := &nats.Msg{Subject: subj, Header: encodeEvent(ev, 1), Data: ev.Body}
	return r.casPublish(ctx, m, st.window)
}

// casPublish publishes m on its subject if the subject is free or holds an expired marker, and
// reports dup=true otherwise.
func (r *Route) casPublish(ctx context.Context, m *nats.Msg, window time.Duration) (bool, error) {
	var expect uint64
	for range maxCAS {
		m.Header[hdrExpectSubjSeq] = []string{strconv.FormatUint(expect, 10)}
		_, err := r.s.js.PublishMsg(ctx, m)
		if err == nil {
			return false, nil
		}
		if !isWrongLastSeq(err) {
			return false, fmt.Errorf("store: %w", err)
		}
		last, err := r.ev.GetLastMsgForSubject(ctx, m.Subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			expect = 0
			continue
		}
		if err != nil {
			return false, fmt.Errorf("store: read key: %w", err)
		}
		if r.remembers(last, window) {
			return true, nil
		}
		expect = last.Sequence
	}
	return false, errors.New("store: key changed too often")
}

// remembers reports whether the message stored on a key's subject keeps the key in the window:
// an event still queued always does; a marker does until DedupWindow after the key was accepted.
func (r *Route) remembers(m *jetstream.RawStreamMsg, window time.Duration) bool {
	if first(m.Header, hdrMark) == "" {
		return true
	}
	return r.now().Sub(markerAcceptedAt(m)) < window
}

func markerAcceptedAt(m *jetstream.RawStreamMsg) time.Time {
	ns, err := strconv.ParseInt(first(m.Header, hdrAcceptedAt), 10, 64)
	if err != nil {
		return m.Time
	}
	return time.Unix(0, ns)
}

// Seen reports whether keyHash is in the dedup window (gate mode; it works in forward mode too).
func (r *Route) Seen(ctx context.Context, keyHash string) (bool, error) {
	if err := validToken("key hash", keyHash); err != nil {
		return false, err
	}
	last, err := r.ev.GetLastMsgForSubject(ctx, r.evPfx+keyHash)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: read key: %w", err)
	}
	return r.remembers(last, r.set.Load().window), nil
}

// Record puts keyHash into the dedup window (gate mode, after the next handler answered 2xx).
// The record is a marker that expires with the window. A key whose event is queued for delivery
// is left alone.
func (r *Route) Record(ctx context.Context, keyHash string) error {
	if err := validToken("key hash", keyHash); err != nil {
		return err
	}
	st := r.set.Load()
	now := r.now()
	m := &nats.Msg{Subject: r.evPfx + keyHash, Header: markerHeader(now, st.window, now)}
	var expect uint64
	for range maxCAS {
		m.Header[hdrExpectSubjSeq] = []string{strconv.FormatUint(expect, 10)}
		_, err := r.s.js.PublishMsg(ctx, m)
		if err == nil {
			return nil
		}
		if !isWrongLastSeq(err) {
			return fmt.Errorf("store: %w", err)
		}
		last, err := r.ev.GetLastMsgForSubject(ctx, m.Subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			expect = 0
			continue
		}
		if err != nil {
			return fmt.Errorf("store: read key: %w", err)
		}
		if first(last.Header, hdrMark) == "" {
			return nil
		}
		expect = last.Sequence
	}
	return errors.New("store: key changed too often")
}

// markerHeader is the header of a marker for a key accepted at acceptedAt: it expires (Nats-TTL,
// whole seconds, at least 1) when the window ends.
func markerHeader(acceptedAt time.Time, window time.Duration, now time.Time) nats.Header {
	left := acceptedAt.Add(window).Sub(now)
	secs := int64((left + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return nats.Header{
		hdrMark:       []string{"1"},
		hdrAcceptedAt: []string{strconv.FormatInt(acceptedAt.UnixNano(), 10)},
		hdrTTL:        []string{strconv.FormatInt(secs, 10)},
	}
}

// isWrongLastSeq reports whether a publish failed its Nats-Expected-Last-Subject-Sequence check.
func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}
