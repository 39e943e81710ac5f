package delivery

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// A NATS cluster is briefly unable to answer JetStream requests whenever it has no meta leader
// (a fresh cluster still forming, a lost quorum, an election) or a stream has no leader (its
// leader crashed): requests then time out or fail at once. Two gateways that create the same
// stream at the same moment also make each other's first request time out. None of this is a
// reason to give up, so every store operation that can wait is retried on a short, capped
// backoff: Open and Queue until ReadyTimeout, the fetch loop and the bookkeeping after a
// delivery for as long as the route runs.
//
// A request can go unanswered for good (the server that took it died, or dropped it), so the
// requests are bounded short and repeated rather than left waiting for the whole ReadyTimeout.
// Two creators of one replicated stream are the common case (gateways started together): the
// meta leader takes both proposals and neither request gets an answer, although the stream is
// created; a retry finds the stream and updates it to the same config, which is answered at
// once. The bound of a request that changes the store grows to readyAttempt, in case a loaded
// cluster is merely slow.
const (
	firstAttempt = time.Second            // bound of the first request while waiting for the store
	readyAttempt = 5 * time.Second        // bound of one request that changes the store
	probeMin     = 100 * time.Millisecond // first wait after a failed store request
	probeMax     = 2 * time.Second        // longest wait: a recovered store is noticed within it
)

// nextProbe is the wait after another failed store request: probeMin, doubling up to probeMax.
func nextProbe(p time.Duration) time.Duration {
	if p <= 0 {
		return probeMin
	}
	return min(2*p, probeMax)
}

// retryStore calls op until it succeeds or deadline passes, the first call bounded by
// firstAttempt, each further one by twice the last up to maxBound, waiting nextProbe between
// calls. It logs each failure as a warning with the retry's delay, and the success after
// failures; it returns op's last error, with the number of attempts.
func retryStore(deadline time.Time, maxBound time.Duration, log *zap.Logger, what string, op func(context.Context) error) error {
	var wait time.Duration
	bound := min(firstAttempt, maxBound)
	for attempt := 1; ; attempt, bound = attempt+1, min(2*bound, maxBound) {
		ctx, cancel := context.WithTimeout(context.Background(), min(bound, max(time.Until(deadline), probeMin)))
		err := op(ctx)
		cancel()
		if err == nil {
			if attempt > 1 {
				log.Info("store ready", zap.String("op", what), zap.Int("attempts", attempt))
			}
			return nil
		}
		wait = nextProbe(wait)
		if time.Until(deadline) < wait {
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		log.Warn("store not ready, retrying", zap.String("op", what), zap.Int("attempt", attempt),
			zap.Duration("retry_in", wait), zap.Error(err))
		time.Sleep(wait)
	}
}
