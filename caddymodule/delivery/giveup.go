package delivery

import (
	"context"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// History is given up first. When a route's max_queue, or the embedded store's max_store, would
// be passed by a new event, the delivered history is purged before the event is refused: the
// front of the route's event stream, oldest first, and the outcome records of what was purged.
// The front is purged only up to the delivery consumer's ack floor, so an undelivered event (at
// or above it) is never purged, and dead letters are never touched: the event is refused (503
// queue_full) only when what is left is what the gateway must keep.
//
// The front may hold events of the dedup window. Their keys stay in every running gateway's key
// index and in its snapshots (a snapshot behind the purged front is still used), so a re-sent
// event is still answered as the duplicate it is; only a restart without a snapshot, which must
// replay the window from the stream, forgets them, and a vendor retry of one of those is then
// delivered again, never refused.

// Watermarks, in parts of the limit: history is given up down to giveUpTo when an event would
// pass the limit, so that the next events do not each purge a little.
const (
	giveUpTo = 0.95 // of max_queue
	// Of max_store: history is given up from storeHigh down to storeTo, and events are refused
	// past storeHard; the room above it is left for what must never fail for want of space (a
	// dead letter, an ack), as the server refuses every write past its limit.
	storeHigh = 0.95
	storeTo   = 0.90
	storeHard = 0.98
	// maxGiveUpRounds bounds the routes one store-level give-up purges from.
	maxGiveUpRounds = 16
)

// giveUpHistory purges at least need bytes of the route's delivered history when it holds that
// much, oldest first (see above), and returns the bytes freed.
func (r *Queue) giveUpHistory(ctx context.Context, need int64) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	u, err := r.readUsage(ctx)
	if err != nil {
		return 0, err
	}
	ev := u.ev.State
	var upTo uint64
	if need > 0 && ev.Msgs > 0 && u.floor >= ev.FirstSeq {
		avg := max(int64(ev.Bytes/ev.Msgs), 1)
		n := uint64((need + avg - 1) / avg)
		upTo = min(ev.FirstSeq+n, u.floor+1)
		if err := r.ev.Purge(ctx, jetstream.WithPurgeSequence(upTo)); err != nil {
			return 0, fmt.Errorf("store: purge history: %w", err)
		}
	}
	if err := r.purgeOutcomes(ctx); err != nil {
		return 0, err
	}
	after, err := r.readUsage(ctx)
	if err != nil {
		return 0, err
	}
	freed := u.bytes() - after.bytes()
	if freed > 0 {
		st := r.set.Load()
		if o, ok := st.obs.(GiveUpObserver); ok {
			o.HistoryGivenUp(r.route, freed)
		}
		st.log.Info("history given up for room", zap.String("route", r.route), zap.Int64("bytes", freed),
			zap.Uint64("first_kept", after.ev.State.FirstSeq))
	}
	return freed, nil
}

// GiveUpObserver is implemented by an Observer that counts the bytes of history given up
// before their retention.
type GiveUpObserver interface {
	HistoryGivenUp(route string, bytes int64)
}

// giveUpStoreHistory frees at least need bytes of the store from the delivered history of the
// routes open in this process, the route whose history is oldest first, and returns the bytes
// freed. Routes that only another process serves keep theirs.
func (s *Store) giveUpStoreHistory(ctx context.Context, need int64) int64 {
	s.mu.Lock()
	routes := make([]*Queue, 0, len(s.all))
	for r := range s.all {
		routes = append(routes, r)
	}
	s.mu.Unlock()
	var freed int64
	for range maxGiveUpRounds {
		if freed >= need || len(routes) == 0 {
			break
		}
		type front struct {
			r   *Queue
			age int64 // the oldest event's time, Unix ns
		}
		var fronts []front
		for _, r := range routes {
			u, err := r.readUsage(ctx)
			if err != nil || u.historyBytes() == 0 {
				continue
			}
			fronts = append(fronts, front{r, u.ev.State.FirstTime.UnixNano()})
		}
		if len(fronts) == 0 {
			break
		}
		oldest := slices.MinFunc(fronts, func(a, b front) int { return int(min(max(a.age-b.age, -1), 1)) })
		n, err := oldest.r.giveUpHistory(ctx, need-freed)
		if err != nil {
			s.Logger().Warn("history not given up", zap.String("route", oldest.r.route), zap.Error(err))
		}
		freed += max(n, 0)
		if n <= 0 {
			routes = slices.DeleteFunc(routes, func(r *Queue) bool { return r == oldest.r })
		}
	}
	return freed
}
