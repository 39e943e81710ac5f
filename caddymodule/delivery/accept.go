package delivery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// maxCAS bounds the compare-and-set rounds of one Accept or Record: a round is lost only when
// another writer (or the purge) changed the key's bucket in between.
const maxCAS = 16

// Back-off of a publish that met another one still in flight on the same bucket (a replicated
// stream answers those with 10164 instead of the bucket's last sequence).
const (
	inFlightMin = time.Millisecond
	inFlightMax = 50 * time.Millisecond
)

// Accept stores ev for delivery unless keyHash is already in the dedup window. It reports
// dup=true (nothing stored) for a key accepted less than DedupWindow ago, whether its event was
// delivered or not. Checking the key and storing the event are one compare-and-set publish on
// the key's bucket subject (see casPublish), so concurrent Accepts of one key, in this process
// or in other replicas, store it once, and a crash can never leave a key recorded without its
// event. Accept returns nil only after the store acknowledged the event (see StoreConfig for
// what that survives); any error means the event is not known to be stored and the sender must
// be told to retry (503). ErrQueueFull means the route's MaxQueue is used up.
//
// keyHash must be a subject token (the gateway passes dedup.Hash of the key). Empty ev.ID and
// zero ev.ReceivedAt are filled in.
func (r *Queue) Accept(ctx context.Context, keyHash string, ev *Event) (dup bool, err error) {
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
	h := encodeEvent(ev, 2)
	h[hdrKeyHash] = []string{keyHash}
	return r.casPublish(ctx, keyHash, &nats.Msg{Header: h, Data: ev.Body})
}

// Seen reports whether keyHash is in the dedup window (gate mode; it works in forward mode too).
// It is a lookup in the route's key index: no store round trip.
func (r *Queue) Seen(ctx context.Context, keyHash string) (bool, error) {
	if err := validToken("key hash", keyHash); err != nil {
		return false, err
	}
	ix, err := r.feed.acquire(ctx)
	if err != nil {
		return false, err
	}
	defer r.feed.release()
	return ix.Contains(keyOf(keyHash)), nil
}

// Record puts keyHash into the dedup window (gate mode, after the next handler answered 2xx):
// one compare-and-set publish of a message that holds the key only. A key already in the
// window is left alone.
func (r *Queue) Record(ctx context.Context, keyHash string) error {
	if err := validToken("key hash", keyHash); err != nil {
		return err
	}
	h := nats.Header{hdrKeyHash: []string{keyHash}, hdrMark: []string{"1"}}
	_, err := r.casPublish(ctx, keyHash, &nats.Msg{Header: h})
	return err
}

// casPublish stores m on the bucket subject of keyHash unless the key is in the window, and
// reports dup=true otherwise. The publish expects the bucket's last sequence as this process's
// index knows it (Nats-Expected-Last-Subject-Sequence), and the index holds every message of the
// bucket up to that sequence: so the store takes the message only if no message of the bucket
// came after what the index checked, and a key another process stored meanwhile makes the
// publish fail instead of being stored twice. On that failure the index catches up to the
// sequence the store reports and checks the key again. A stale index costs a retry, never a
// false "new".
func (r *Queue) casPublish(ctx context.Context, keyHash string, m *nats.Msg) (dup bool, err error) {
	ix, err := r.feed.acquire(ctx)
	if err != nil {
		return false, err
	}
	defer r.feed.release()
	k := keyOf(keyHash)
	b := ix.BucketOf(k)
	m.Subject = r.bucketSubject(b)
	expect := ix.BucketSeq(b)
	var backoff time.Duration
	for range maxCAS {
		if ix.Contains(k) {
			// The first copy is at or below the bucket's last sequence.
			if err := r.s.durable(ctx, r.evStream, ix.BucketSeq(b)); err != nil {
				return false, err
			}
			return true, nil
		}
		m.Header[hdrExpectSubjSeq] = []string{strconv.FormatUint(expect, 10)}
		r.cas.publishes.Add(1)
		ack, err := r.s.js.PublishMsg(ctx, m)
		if err == nil {
			if _, err := ix.Observe(k, ack.Sequence, r.now()); err != nil {
				// Stored, but this process cannot hold the key: the feed retries it and stops
				// there, so no later check answers from an index that misses it.
				return false, fmt.Errorf("store: key index: %w", err)
			}
			return false, nil
		}
		last, wrong, inFlight := casConflict(err)
		switch {
		case inFlight:
			r.cas.inFlight.Add(1)
			backoff = min(max(2*backoff, inFlightMin), inFlightMax)
			if !sleepCtx(ctx, backoff) {
				return false, fmt.Errorf("store: %w", ctx.Err())
			}
			expect = max(expect, ix.BucketSeq(b))
		case wrong && last == 0:
			// The purge emptied the bucket: every message in it was past the window.
			r.cas.wrongLast.Add(1)
			ix.BucketEmptied(b, expect)
			expect = 0
		case wrong:
			// Another writer got there first: the key may be in what it wrote.
			r.cas.wrongLast.Add(1)
			if err := waitApplied(ctx, ix, last); err != nil {
				return false, err
			}
			expect = max(last, ix.BucketSeq(b))
		default:
			return false, fmt.Errorf("store: %w", err)
		}
	}
	return false, errors.New("store: key's bucket changed too often")
}

// casConflict tells the compare-and-set failures apart: wrong with the bucket's actual last
// sequence (10071), or inFlight when a replicated stream has another message of the bucket in
// flight (10164).
func casConflict(err error) (last uint64, wrong, inFlight bool) {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return 0, false, false
	}
	switch apiErr.ErrorCode {
	case jetstream.JSErrCodeStreamWrongLastSequenceConstant:
		return 0, false, true
	case jetstream.JSErrCodeStreamWrongLastSequence:
		_, num, ok := strings.Cut(apiErr.Description, ": ")
		n, perr := strconv.ParseUint(strings.TrimSpace(num), 10, 64)
		if !ok || perr != nil {
			return 0, false, true // no sequence to catch up to: treat as in flight
		}
		return n, true, false
	}
	return 0, false, false
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

// casCounts count a route's compare-and-set publishes in this process.
type casCounts struct{ publishes, wrongLast, inFlight atomic.Uint64 }

// CASStats are a route's compare-and-set publishes in this process since it started, and
// how many of them lost the race: the store refused them because another writer (another
// process, or the purge) had changed the key's bucket since the key index last saw it
// (WrongLast), or had a message of the bucket in flight on a replicated stream (InFlight).
// Each lost race costs a catch-up and a retry, never a false "new".
type CASStats struct {
	Publishes uint64 `json:"publishes"`
	WrongLast uint64 `json:"wrong_last"`
	InFlight  uint64 `json:"in_flight"`
}

// CAS returns the route's compare-and-set figures of this process.
func (r *Queue) CAS() CASStats {
	return CASStats{Publishes: r.cas.publishes.Load(), WrongLast: r.cas.wrongLast.Load(), InFlight: r.cas.inFlight.Load()}
}
