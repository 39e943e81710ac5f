package delivery

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Per-route quota. All routes share one store, so without a bound one route whose application
// is down (or an auth-none route that anyone can fill) would fill it, and every route would
// answer 503. A route past its MaxQueue refuses new events itself, with ErrQueueFull, long
// before the store is full; the events it holds are never dropped to make room (the streams keep
// DiscardOld with no byte limit, and the check is made before the write).
//
// The use is the bytes of the route's undelivered events and dead letters (delivered events kept
// as history do not count; see usage.bytes), sampled at most
// every quotaRefresh and advanced by the size of every event this process accepted since. Other
// processes on the same cluster are seen at the next sample, so the quota can be overshot by
// what they accept in that time.

// ErrQueueFull is returned by Accept and Quarantine when the route's quota is used up.
var ErrQueueFull = errors.New("route queue is full")

// quotaRefresh is how old a sample of the route's use may be.
const quotaRefresh = time.Second

// quotaSampleTimeout bounds a sample on the request path, so a slow store costs the request that
// samples little of its own deadline.
const quotaSampleTimeout = 500 * time.Millisecond

// eventOverhead approximates what the store adds to an event body: its headers and subject.
const eventOverhead = 512

type quota struct {
	mu      sync.Mutex
	used    int64 // bytes at the last sample plus what was admitted since
	sampled time.Time
	probing bool
}

// Usage is the bytes the route holds in the store against its quota (see usage.bytes).
func (r *Queue) Usage(ctx context.Context) (int64, error) {
	u, err := r.readUsage(ctx)
	if err != nil {
		return 0, err
	}
	return u.bytes(), nil
}

// admit reserves room for an event of n body bytes, or returns ErrQueueFull.
func (r *Queue) admit(ctx context.Context, st *settings, n int) error {
	limit := st.fwd.MaxQueue
	q := &r.quota
	q.mu.Lock()
	stale := r.now().Sub(q.sampled) >= quotaRefresh && !q.probing
	if stale {
		q.probing = true
	}
	q.mu.Unlock()
	if stale {
		// A failed sample keeps the last figure: the quota is no reason to refuse an event the
		// store may well take (when in doubt, keep the event); the publish decides.
		sctx, cancel := context.WithTimeout(ctx, quotaSampleTimeout)
		used, err := r.Usage(sctx)
		cancel()
		q.mu.Lock()
		q.probing = false
		if err == nil {
			q.used, q.sampled = used, r.now()
		}
		q.mu.Unlock()
	}
	size := int64(n) + eventOverhead
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.used+size > limit {
		return ErrQueueFull
	}
	q.used += size
	return nil
}

// QuotaUse is the route's last sampled use of the store and its quota, in bytes (Stats and the
// gauge). The limit is zero in gate mode, which has no quota.
func (r *Queue) QuotaUse() (used, limit int64) {
	r.quota.mu.Lock()
	used = r.quota.used
	r.quota.mu.Unlock()
	if st := r.set.Load(); st != nil && st.fwd != nil {
		limit = st.fwd.MaxQueue
	}
	return used, limit
}
