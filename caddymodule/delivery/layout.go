package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// ErrOldLayout is wrapped by the error of Store.Queue for an event stream written by an earlier
// version (one subject per key) that still holds undelivered events.
var ErrOldLayout = errors.New("event stream in the previous layout")

// checkLayout finds an event stream of the previous layout, where each key had its own subject
// (whgw.<r>.ev.<key hash>, at most one message each, a TTL marker after delivery). Its keys
// cannot be told from bucket subjects, so it cannot be used as it is. Without undelivered events
// it is deleted here (and recreated in the new layout by the caller): what is lost is the dedup
// window of events already delivered, so a vendor retry of one of them in the next window is
// delivered again; never an event. With undelivered events, Queue fails with a message that says
// what to do: an event the sender was told is stored is never dropped or ignored.
func (r *Queue) checkLayout(deadline time.Time) error {
	var info *jetstream.StreamInfo
	err := retryStore(deadline, readyAttempt, r.s.Logger(), "read stream "+r.evStream, func(ctx context.Context) error {
		st, err := r.s.js.Stream(ctx, r.evStream)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			info = nil
			return nil
		}
		if err != nil {
			return err
		}
		info = st.CachedInfo()
		return nil
	})
	if err != nil {
		return fmt.Errorf("read stream %s: %w", r.evStream, err)
	}
	if info == nil || !oldLayout(info) {
		return nil
	}
	var undelivered uint64
	err = retryStore(deadline, readyAttempt, r.s.Logger(), "read consumer of "+r.evStream, func(ctx context.Context) error {
		c, err := r.s.js.Consumer(ctx, r.evStream, consumerName)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			undelivered = 0
			return nil
		}
		if err != nil {
			return err
		}
		ci := c.CachedInfo()
		undelivered = ci.NumPending + uint64(max(ci.NumAckPending, 0))
		return nil
	})
	if err != nil {
		return fmt.Errorf("read consumer of %s: %w", r.evStream, err)
	}
	if undelivered > 0 {
		return fmt.Errorf("route %s: %w with %d events not yet delivered (or their markers); "+
			"run the previous gateway version on this store until `caddy webhook stats %s` shows pending 0, then start this version",
			r.route, ErrOldLayout, undelivered, r.route)
	}
	r.s.Logger().Warn("event stream in the previous layout holds no undelivered event: recreating it; the dedup window of delivered events starts afresh",
		zap.String("route", r.route), zap.Uint64("stored", info.State.Msgs))
	return retryStore(deadline, readyAttempt, r.s.Logger(), "delete stream "+r.evStream, func(ctx context.Context) error {
		err := r.s.js.DeleteStream(ctx, r.evStream)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil
		}
		return err
	})
}
