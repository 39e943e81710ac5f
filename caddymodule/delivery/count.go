package delivery

import (
	"context"
	"fmt"
	"time"
)

// CountEvents counts the events of the history stored in [since, until) with the status (empty:
// any): the events a ReplayRange with the same arguments would queue, so that an operator can be
// told the number before confirming. It reads headers only, page by page, and stops at the most
// one ReplayRange queues (100,000) or when ctx ends; complete is false then, and n is a lower
// bound.
func (r *Queue) CountEvents(ctx context.Context, since, until time.Time, status string) (n int, complete bool, err error) {
	if !ValidStatus(status) {
		return 0, false, fmt.Errorf("%w: status %q (want pending, delivered or dead)", ErrInvalidName, status)
	}
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		return 0, false, fmt.Errorf("%w: since must be before until", ErrInvalidName)
	}
	cursor := ""
	for n < maxReplayRange {
		page, next, err := r.Events(ctx, EventQuery{Since: since, Until: until, Status: status, Limit: maxEventPage, Cursor: cursor})
		if err == nil {
			n += len(page)
			if next == "" {
				return n, true, nil
			}
		}
		if ended(ctx) {
			return n, false, nil // out of time: n is what was counted so far
		}
		if err != nil {
			return n, false, err
		}
		cursor = next
	}
	return n, false, nil
}

// ended reports whether ctx is done: a count that runs out of time is a lower bound, not an error.
func ended(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}
