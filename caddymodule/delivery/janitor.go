package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// janitorEvery is how often a route purges the front of its event stream and sweeps its key
// index. Every process does it; purging the same front twice changes nothing.
const janitorEvery = time.Minute

// startJanitor runs the route's janitor until Close.
func (r *Queue) startJanitor() {
	ctx, stop := context.WithCancel(context.Background())
	r.stopJanny = stop
	go func() {
		t := time.NewTicker(janitorEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if _, err := r.purgeFront(ctx); err != nil && ctx.Err() == nil {
				r.logger().Warn("event stream purge failed", zap.String("route", r.route), zap.Error(err))
			}
			if err := r.purgeOutcomes(ctx); err != nil && ctx.Err() == nil {
				r.logger().Warn("outcome stream purge failed", zap.String("route", r.route), zap.Error(err))
			}
			if ix, err := r.feed.acquire(ctx); err == nil {
				_, _ = ix.Sweep()
				r.feed.release()
			}
		}
	}()
}

// purgeFront removes the messages at the front of the event stream that are both older than
// max(dedup window, retain) and acked by the delivery consumer: the history past its retention.
// An undelivered event (not yet attempted, waiting for a retry, in flight) is at or above the
// consumer's ack floor, so it is never purged however old it is; max_age bounds how long it can
// stay. It returns the first sequence kept.
func (r *Queue) purgeFront(ctx context.Context) (uint64, error) {
	st := r.set.Load()
	keep := st.window
	if st.fwd != nil {
		keep = max(keep, st.fwd.Retain)
	}
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	info, err := r.ev.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	cutoff := r.now().Add(-keep)
	if info.State.Msgs == 0 || !info.State.FirstTime.Before(cutoff) {
		// Nothing older than the retention: no search by time, which loads the stream's blocks
		// (this is the minute's common case with the default retain of 72h).
		return info.State.FirstSeq, nil
	}
	upTo, err := r.seqSince(ctx, r.evStream, cutoff)
	if err != nil {
		return 0, err
	}
	if upTo == 0 {
		upTo = info.State.LastSeq + 1 // every message is older
	}
	c, err := r.ev.Consumer(ctx, consumerName)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		// Never in forward mode: nothing was ever queued for delivery.
	case err != nil:
		return 0, fmt.Errorf("store: %w", err)
	default:
		upTo = min(upTo, c.CachedInfo().AckFloor.Stream+1)
	}
	if upTo <= info.State.FirstSeq {
		return info.State.FirstSeq, nil
	}
	if err := r.ev.Purge(ctx, jetstream.WithPurgeSequence(upTo)); err != nil {
		return 0, fmt.Errorf("store: purge: %w", err)
	}
	return upTo, nil
}

// seqSince is the sequence of the first message of the stream stored at or after t, 0 if there
// is none. JetStream's message get answers that by time (start_time), from its index.
func (r *Queue) seqSince(ctx context.Context, stream string, t time.Time) (uint64, error) {
	req, _ := json.Marshal(struct {
		StartTime time.Time `json:"start_time"`
	}{t.UTC()})
	resp, err := r.s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, req)
	if err != nil {
		return 0, fmt.Errorf("store: message by time: %w", err)
	}
	var ans struct {
		Message *struct {
			Seq uint64 `json:"seq"`
		} `json:"message"`
		Error *struct {
			Code        int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &ans); err != nil {
		return 0, fmt.Errorf("store: message by time: %w", err)
	}
	if ans.Error != nil {
		if ans.Error.Code == int(jetstream.JSErrCodeMessageNotFound) {
			return 0, nil
		}
		return 0, fmt.Errorf("store: message by time: %s (%d)", ans.Error.Description, ans.Error.Code)
	}
	if ans.Message == nil {
		return 0, errors.New("store: message by time: empty answer")
	}
	return ans.Message.Seq, nil
}
