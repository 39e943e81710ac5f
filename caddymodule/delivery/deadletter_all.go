package delivery

import (
	"context"

	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Bounds of ReplayAllDeadLetters: one call replays at most maxReplayAll dead letters, at the
// route's forward rate, or at defaultReplayAllRate per second when the route has none, so that a
// click cannot flood the application with a backlog at once.
const (
	maxReplayAll         = 10_000
	defaultReplayAllRate = 50
)

// ReplayAllResult is what one ReplayAllDeadLetters call did.
type ReplayAllResult struct {
	// Replayed counts the dead letters queued again (and removed from the dead letters).
	Replayed int `json:"replayed"`
	// Skipped counts the quarantined (schema) dead letters left in place.
	Skipped int `json:"skipped"`
	// More is true when dead letters were left past the call's bound (or its context's end):
	// call it again.
	More bool `json:"more"`
}

// ReplayAllDeadLetters replays the route's dead letters as Replay does, oldest first. It lists
// them before it replays any, so an event that dies again during the call is not replayed twice
// by it. Quarantined events (reason schema: their body failed the route's schema) are left in
// place unless includeQuarantined. It replays at most 10,000 per call, paced at the route's
// forward rate (50 per second without one), and stops without an error when ctx ends (or would
// end before the next one is due); the result says how many it queued and whether some are left.
func (r *Queue) ReplayAllDeadLetters(ctx context.Context, includeQuarantined bool) (ReplayAllResult, error) {
	var res ReplayAllResult
	st := r.set.Load()
	if st == nil || st.fwd == nil {
		return res, ErrGateMode
	}
	var ids []string
	var cursor uint64
	for {
		page, next, err := r.DeadLetterPage(ctx, cursor, maxListed)
		if err != nil {
			return res, err
		}
		for _, dl := range page {
			if dl.Reason == ReasonSchema && !includeQuarantined {
				res.Skipped++
				continue
			}
			if len(ids) == maxReplayAll {
				res.More = true
				break
			}
			ids = append(ids, dl.ID)
		}
		if next == 0 || res.More {
			break
		}
		cursor = next
	}
	perSecond := st.fwd.Rate
	if perSecond <= 0 {
		perSecond = defaultReplayAllRate
	}
	pace := rate.NewLimiter(rate.Limit(perSecond), 1)
	defer func() {
		if res.Replayed > 0 {
			st.log.Info("dead letters replayed", zap.String("route", r.route), zap.Int("count", res.Replayed), zap.Bool("more", res.More))
		}
	}()
	for _, id := range ids {
		if pace.Wait(ctx) != nil {
			// ctx ends (or would, before the next slot): the rest waits for the next call.
			res.More = true
			return res, nil
		}
		// The caller's deadline gates only the start of a replay: one that has started finishes
		// (its copy is stored and its dead letter removed), or a next call would send it twice.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), apiTimeout)
		err := r.Replay(rctx, id)
		cancel()
		if IsNotFound(err) {
			continue // replayed or deleted by someone else since it was listed
		}
		if err != nil {
			res.More = true
			return res, err
		}
		res.Replayed++
	}
	return res, nil
}
