package delivery

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// gateDrainBatch is how many messages one fetch of ackKeyRecords takes.
const gateDrainBatch = 256

// ackKeyRecords runs the fetch loop's turn while the route is in gate mode. Gate mode's key
// records go on the event stream, where a route that forwarded before still has its delivery
// consumer; nobody would ack them, and that consumer's ack floor bounds the janitor's purge, so
// they would hold the stream's front (and the route's max_queue) forever. So the loop acks them.
// It stops at the first event: an event still undelivered from forward mode holds the purge, as
// it must, until the route forwards again. The event is handed back at once (nobody fetches in
// gate mode, so it waits for the first fetch in forward mode) and only once, not every turn,
// since each redelivery counts as an attempt. It returns the consumer to keep and whether
// to come back (false: no consumer, or an event met; wait for the next Update).
func (r *Queue) ackKeyRecords(ctx context.Context, cons jetstream.Consumer) (jetstream.Consumer, bool) {
	if cons == nil {
		lctx, cancel := context.WithTimeout(ctx, apiTimeout)
		c, err := r.ev.Consumer(lctx, consumerName)
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			return nil, false // never forwarded: nothing holds the purge
		case err != nil:
			return nil, sleepCtx(ctx, time.Second)
		}
		cons = c
	}
	fctx, cancel := context.WithTimeout(ctx, fetchWait)
	defer cancel()
	started, got := time.Now(), 0
	batch, err := cons.Fetch(gateDrainBatch, jetstream.FetchContext(fctx))
	if err != nil {
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, false
		}
		return cons, sleepCtx(ctx, time.Second)
	}
	event := false
	for msg := range batch.Messages() {
		got++
		switch {
		case ctx.Err() != nil:
			requeue(msg)
		case first(msg.Headers(), hdrMark) != "":
			_ = msg.Ack()
		default:
			event = true
			requeue(msg)
		}
	}
	if got == 0 && time.Since(started) < fetchWait/20 && !sleepCtx(ctx, fetchWait/20) {
		return cons, false // an empty answer came back at once: do not spin
	}
	return cons, !event && ctx.Err() == nil
}
