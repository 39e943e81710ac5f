package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Per-route quota. All routes share one store, so without a bound one route whose application
// is down (or an auth-none route that anyone can fill) would fill it, and every route would
// answer 503. A route past its MaxQueue refuses new events itself, with ErrQueueFull, long
// before the store is full; the events it holds are never dropped to make room (the streams keep
// DiscardOld with no byte limit, and the check is made before the write).
//
// The use is everything the route keeps in the store (see usage.bytes), history included,
// sampled at most every quotaRefresh and advanced by the size of every event this process
// accepted since. An event that would pass the quota first has the route's delivered history
// given up to make room (giveup.go); only when that is not enough is it refused. The embedded
// store's max_store is watched the same way, from the account's use. Other processes on the same
// cluster are seen at the next sample, so the quota can be overshot by what they accept in that
// time.

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
	// The embedded store's use, as this route last sampled it plus what it admitted since.
	storeUsed    int64
	storeSampled time.Time
	storeProbing bool
	storeMax     atomic.Int64 // storeLimit: 0 not read yet, -1 none
	// The last give-ups, for the route's quota and for the store's.
	routeGiveUp, storeGiveUp giveUpTry
}

// Usage is the bytes the route holds in the store against its quota (see usage.bytes).
func (r *Queue) Usage(ctx context.Context) (int64, error) {
	u, err := r.readUsage(ctx)
	if err != nil {
		return 0, err
	}
	return u.bytes(), nil
}

// admit reserves room for an event of n body bytes, giving history up for it if need be (see
// above), or returns ErrQueueFull.
func (r *Queue) admit(ctx context.Context, st *settings, n int) error {
	size := int64(n) + eventOverhead
	if err := r.admitRoute(ctx, st.fwd.MaxQueue, size); err != nil {
		return err
	}
	if err := r.admitStore(ctx, size); err != nil {
		r.quota.mu.Lock()
		r.quota.used -= size
		r.quota.mu.Unlock()
		return err
	}
	return nil
}

func (r *Queue) admitRoute(ctx context.Context, limit, size int64) error {
	q := &r.quota
	if q.due(r.now(), &q.sampled, &q.probing) {
		// A failed sample keeps the last figure: the quota is no reason to refuse an event the
		// store may well take (when in doubt, keep the event); the publish decides.
		r.sampleQuota(ctx)
	}
	if q.reserve(size, limit) {
		return nil
	}
	// Over the quota by the estimate: read the exact use, and give history up if it is over
	// indeed, one caller at a time; the others find the room made.
	r.giveUpMu.Lock()
	defer r.giveUpMu.Unlock()
	if q.reserve(size, limit) {
		return nil
	}
	if q.nothingToGiveUp(&q.routeGiveUp, r.now()) {
		return ErrQueueFull // a moment ago nothing was left to give up: no store work per refusal
	}
	if r.reserveExact(ctx, size, limit) {
		return nil
	}
	q.mu.Lock()
	need := q.used + size - int64(float64(limit)*giveUpTo)
	q.mu.Unlock()
	freed, err := r.giveUpHistory(ctx, need)
	if err != nil {
		r.logger().Warn("history not given up", zap.String("route", r.route), zap.Error(err))
	}
	q.gaveUp(&q.routeGiveUp, r.now(), freed)
	if r.reserveExact(ctx, size, limit) {
		return nil
	}
	return ErrQueueFull
}

// reserveExact reads the route's exact use, then reserves size of limit as reserve does.
func (r *Queue) reserveExact(ctx context.Context, size, limit int64) bool {
	q := &r.quota
	q.mu.Lock()
	q.probing = true
	q.mu.Unlock()
	r.sampleQuota(ctx)
	return q.reserve(size, limit)
}

// sampleQuota reads the route's use, bounded by quotaSampleTimeout; the caller set q.probing.
func (r *Queue) sampleQuota(ctx context.Context) {
	q := &r.quota
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

// giveUpTry is when history was last given up for a quota, and whether that freed anything.
type giveUpTry struct {
	at    time.Time
	freed bool
}

// nothingToGiveUp reports whether a give-up less than quotaRefresh ago found nothing to free:
// then a full quota refuses at once, without store work, until the next sample's worth of time.
func (q *quota) nothingToGiveUp(t *giveUpTry, now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return !t.freed && now.Sub(t.at) < quotaRefresh
}

func (q *quota) gaveUp(t *giveUpTry, now time.Time, freed int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	*t = giveUpTry{at: now, freed: freed > 0}
}

// reserve adds size to the use if it stays within limit.
func (q *quota) reserve(size, limit int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.used+size > limit {
		return false
	}
	q.used += size
	return true
}

// admitStore keeps the embedded store's max_store from being reached by events: past storeHigh
// of it, the oldest history of the routes open in this process is given up down to storeTo, and
// past storeHard the event is refused with ErrQueueFull. Without an embedded server (a cluster
// sets its own limits) it admits everything.
func (r *Queue) admitStore(ctx context.Context, size int64) error {
	limit := r.storeLimit()
	if limit <= 0 {
		return nil
	}
	q := &r.quota
	if q.due(r.now(), &q.storeSampled, &q.storeProbing) {
		r.sampleStore(ctx)
	}
	high := int64(float64(limit) * storeHigh)
	q.mu.Lock()
	used := q.storeUsed
	if used+size <= high {
		q.storeUsed += size
		q.mu.Unlock()
		return nil
	}
	q.mu.Unlock()
	r.giveUpMu.Lock()
	defer r.giveUpMu.Unlock()
	if !q.nothingToGiveUp(&q.storeGiveUp, r.now()) {
		r.sampleStore(ctx)
		q.mu.Lock()
		used = q.storeUsed
		q.mu.Unlock()
		if used+size > high {
			freed := r.s.giveUpStoreHistory(ctx, used+size-int64(float64(limit)*storeTo))
			q.gaveUp(&q.storeGiveUp, r.now(), freed)
			r.sampleStore(ctx)
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.storeUsed+size > int64(float64(limit)*storeHard) {
		return fmt.Errorf("%w: the store's max_store is used up by undelivered events and dead letters", ErrQueueFull)
	}
	q.storeUsed += size
	return nil
}

// storeLimit is the embedded server's storage limit (fixed when it starts), 0 without one. It
// is read once: the request path does not ask the server for its config every time.
func (r *Queue) storeLimit() int64 {
	if v := r.quota.storeMax.Load(); v != 0 {
		return max(v, 0)
	}
	limit := int64(-1)
	if r.s.ns != nil {
		if c := r.s.ns.JetStreamConfig(); c != nil && c.MaxStore > 0 {
			limit = c.MaxStore
		}
	}
	r.quota.storeMax.Store(limit)
	return max(limit, 0)
}

// sampleStore reads the store's use (the account's file storage), bounded by quotaSampleTimeout.
// A failed sample keeps the last figure.
func (r *Queue) sampleStore(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, quotaSampleTimeout)
	info, err := r.s.js.AccountInfo(sctx)
	cancel()
	r.quota.mu.Lock()
	defer r.quota.mu.Unlock()
	r.quota.storeProbing = false
	if err == nil {
		r.quota.storeUsed, r.quota.storeSampled = int64(info.Store), r.now()
	}
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

// due reports whether the figure sampled at *at is stale, and if so claims its refresh
// (*probing), so that one request at a time reads the store while the others use the last figure.
func (q *quota) due(now time.Time, at *time.Time, probing *bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if now.Sub(*at) < quotaRefresh || *probing {
		return false
	}
	*probing = true
	return true
}
