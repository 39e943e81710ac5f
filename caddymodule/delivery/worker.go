package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

const (
	fetchWait  = 2 * time.Second // longest pull request; bounds how late a Stop is noticed
	abortWait  = 5 * time.Second // after a drain timed out, wait this long for cancelled attempts
	gateNakFor = time.Minute     // redelivery delay of events found while in gate mode
	finalRetry = time.Second     // redelivery delay when a dead letter could not be stored
)

// Start starts the route's delivery workers. They run under the route's own context, which only
// Stop cancels, and deliver nothing while the route is in gate mode (they only ack its key
// records, see ackKeyRecords). Start on a running route does nothing.
func (r *Queue) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		return
	}
	r.running = true
	fetchCtx, stopFetch := context.WithCancel(context.Background())
	workCtx, stopWork := context.WithCancel(context.Background())
	r.stopFetch, r.stopWork = stopFetch, stopWork
	done := make(chan struct{})
	r.supervisor = done
	r.s.register(r, true)
	go func() {
		defer close(done)
		r.supervise(fetchCtx, workCtx)
	}()
}

// Stop stops fetching events and waits up to drain for the attempts in flight. When the drain
// times out, the remaining attempts are cancelled and their events handed back to the queue
// unacknowledged: this process (after a restart) or another replica delivers them later, so
// nothing stored is lost. Stop returns an error only when the drain timed out.
func (r *Queue) Stop(drain time.Duration) error {
	r.mu.Lock()
	if !r.running {
		r.mu.Unlock()
		return nil
	}
	r.running = false
	stopFetch, stopWork, sup := r.stopFetch, r.stopWork, r.supervisor
	r.mu.Unlock()
	defer r.s.register(r, false)

	stopFetch()
	<-sup
	idle := make(chan struct{})
	go func() {
		r.workers.Wait()
		close(idle)
	}()
	timer := time.NewTimer(max(drain, 0))
	defer timer.Stop()
	select {
	case <-idle:
		stopWork()
		return nil
	case <-timer.C:
	}
	n := r.inflight.Load()
	stopWork()
	select {
	case <-idle:
	case <-time.After(abortWait):
	}
	r.logger().Warn("delivery drain timed out", zap.String("route", r.route), zap.Int64("in_flight", n))
	return fmt.Errorf("route %s: drain timed out with %d deliveries in flight; they will be redelivered", r.route, n)
}

func (r *Queue) logger() *zap.Logger { return r.set.Load().log }

// supervise is the fetch loop: it keeps at most Concurrency events in flight. After a store
// error it probes again on nextProbe's backoff, which is capped at probeMax, so deliveries
// resume within a few seconds of the store's return however long it was away; one successful
// fetch resets the backoff.
func (r *Queue) supervise(fetchCtx, workCtx context.Context) {
	var cons jetstream.Consumer
	var consAckWait, pause time.Duration
	var failing storeTrouble
	for fetchCtx.Err() == nil {
		if pause > 0 && !sleepCtx(fetchCtx, pause) {
			return
		}
		st := r.set.Load()
		if st.fwd == nil {
			var more bool
			if cons, more = r.ackKeyRecords(fetchCtx, cons); more {
				continue
			}
			select {
			case <-r.updated:
			case <-fetchCtx.Done():
			}
			continue
		}
		if cons == nil || consAckWait != st.ackWait {
			ctx, cancel := context.WithTimeout(fetchCtx, apiTimeout)
			c, err := r.ensureConsumer(ctx, st)
			cancel()
			if err != nil {
				if fetchCtx.Err() == nil {
					failing.fail(st.log, "delivery consumer unavailable", r.route, err)
				}
				pause = nextProbe(pause)
				continue
			}
			cons, consAckWait = c, st.ackWait
		}
		if wait := r.down.wait(r.now()); wait > 0 {
			select {
			case <-time.After(wait):
			case <-r.updated:
			case <-fetchCtx.Done():
			}
			continue
		}
		free := st.fwd.Concurrency - int(r.inflight.Load())
		if free <= 0 {
			select {
			case <-r.freed:
			case <-r.updated:
			case <-fetchCtx.Done():
			}
			continue
		}
		ctx, cancel := context.WithTimeout(fetchCtx, fetchWait)
		started, got := time.Now(), 0
		batch, err := cons.Fetch(free, jetstream.FetchContext(ctx))
		if err == nil {
			for msg := range batch.Messages() {
				got++
				if fetchCtx.Err() != nil {
					requeue(msg)
					continue
				}
				r.inflight.Add(1)
				r.workers.Add(1)
				go r.handle(workCtx, msg)
			}
			err = batch.Error()
		}
		cancel()
		if err != nil && fetchCtx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			failing.fail(st.log, "delivery fetch failed", r.route, err)
			if errors.Is(err, jetstream.ErrConsumerNotFound) {
				cons = nil
			}
			pause = nextProbe(pause)
			continue
		}
		if err == nil || got > 0 {
			failing.recovered(st.log, r.route)
		}
		if got == 0 && time.Since(started) < fetchWait/20 {
			pause = fetchWait / 20 // an empty answer came back at once: do not spin
			continue
		}
		pause = 0
	}
}

// storeTrouble keeps the fetch loop's log to one warning when the store starts failing, debug
// lines while it keeps failing (one per probe), and one line when it answers again.
type storeTrouble struct {
	since  time.Time
	errors int
}

func (f *storeTrouble) fail(log *zap.Logger, msg, route string, err error) {
	f.errors++
	if f.errors == 1 {
		f.since = time.Now()
		log.Warn(msg, zap.String("route", route), zap.Error(err))
		return
	}
	if ce := log.Check(zap.DebugLevel, msg); ce != nil {
		ce.Write(zap.String("route", route), zap.Int("errors", f.errors), zap.Error(err))
	}
}

func (f *storeTrouble) recovered(log *zap.Logger, route string) {
	if f.errors == 0 {
		return
	}
	log.Info("delivery fetch recovered", zap.String("route", route), zap.Int("errors", f.errors),
		zap.Duration("after", time.Since(f.since)))
	*f = storeTrouble{}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *Queue) release() {
	r.inflight.Add(-1)
	r.workers.Done()
	select {
	case r.freed <- struct{}{}:
	default:
	}
}

// handle runs one delivery attempt of msg and settles it: ack (success), nak with a delay
// (retry), or dead letter.
func (r *Queue) handle(ctx context.Context, msg jetstream.Msg) {
	defer r.release()
	md, err := msg.Metadata()
	if err != nil {
		_ = msg.Term()
		return
	}
	h := msg.Headers()
	if first(h, hdrMark) != "" {
		_ = msg.Ack() // a gate-mode key record, nothing to deliver
		return
	}
	st := r.set.Load()
	replay := strings.HasPrefix(msg.Subject(), r.rpPfx)
	if _, ok := r.finalizing.Load(md.Sequence.Stream); ok {
		r.complete(ctx, st, msg, md, replay)
		return
	}
	ev, err := decodeEvent(h, msg.Data())
	if err != nil {
		r.deadLetter(ctx, st, msg, md, replay, failure{reason: ReasonUndecodable, err: err})
		return
	}
	ev.Replay = replay
	if st.fwd == nil {
		_ = msg.NakWithDelay(gateNakFor)
		return
	}
	hb := startHeartbeat(msg, st.ackWait/3)
	if err := r.limiter.Wait(ctx); err != nil {
		hb.stop()
		requeue(msg)
		return
	}
	attempt := int(md.NumDelivered)
	res := forward(ctx, st.client, st.fwd, ev, attempt, r.now)
	hb.stop()
	if !res.ok() && ctx.Err() != nil {
		requeue(msg) // stopped mid-attempt
		return
	}
	r.down.observe(st.fwd, res.status != 0, r.now())
	if res.ok() {
		st.obs.Attempt(r.route, ResultSuccess, res.status, res.latency)
		// One info line per delivery, so that an operator sees the event arrive.
		if ce := st.log.Check(zap.InfoLevel, "delivered"); ce != nil {
			ce.Write(zap.String("route", r.route), zap.String("id", ev.ID), zap.Int("attempt", attempt),
				zap.Int("status", res.status), zap.Duration("latency", res.latency))
		}
		r.noteAttempt(msg, md, ev.ID, replay, attempt, res.status, nil, res.latency, doneDelivered)
		r.complete(ctx, st, msg, md, replay)
		return
	}
	now := r.now()
	deadline := md.Timestamp.Add(st.fwd.MaxAge)
	f := failure{status: res.status, err: res.err, attempts: attempt, latency: res.latency, id: ev.ID}
	switch {
	case st.dlOn[res.status]:
		f.reason = ReasonDeadLetterOn
	case attempt >= st.fwd.MaxAttempts:
		f.reason = ReasonMaxAttempts
	case !now.Before(deadline):
		f.reason = ReasonMaxAge
	}
	if f.reason != "" {
		r.deadLetter(ctx, st, msg, md, replay, f)
		return
	}
	delay := retryDelay(st.fwd, attempt, res.retryAfter, res.hasRetryAfter, r.rnd, now, deadline)
	st.obs.Attempt(r.route, ResultRetry, res.status, res.latency)
	r.noteAttempt(msg, md, ev.ID, replay, attempt, res.status, res.err, res.latency, "")
	if ce := st.log.Check(zap.InfoLevel, "delivery failed"); ce != nil {
		ce.Write(zap.String("route", r.route), zap.String("id", ev.ID), zap.Int("attempt", attempt),
			zap.Int("status", res.status), zap.Error(res.err), zap.Duration("retry_in", delay))
	}
	_ = msg.NakWithDelay(delay)
}

// complete acks msg: the event needs no more delivery. The ack is the only record of that (the
// event stays in the stream as history until the janitor purges it, and its key stays in the
// window by the event itself), so it is confirmed by the store (a double ack).
//
// A store that cannot take the ack (no stream leader, a lost quorum) is retried from this worker
// on nextProbe's backoff, and the message is kept meanwhile, its heartbeat holding the ack
// deadline off. Handing it back would let the next fetch of any gateway sharing the queue take it
// and deliver it again. Only a stop (ctx cancelled) ends the retries: the message then comes
// back after AckWait, to this process (finalizing remembers it, so it is settled without another
// attempt) or to another gateway, which delivers it again.
func (r *Queue) complete(ctx context.Context, st *settings, msg jetstream.Msg, md *jetstream.MsgMetadata, _ bool) {
	seq := md.Sequence.Stream
	var hb *heartbeat
	var wait time.Duration
	failures := 0
	for {
		actx, cancel := context.WithTimeout(context.Background(), readyAttempt)
		err := msg.DoubleAck(actx)
		cancel()
		if err == nil || errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			break
		}
		failures++
		if hb == nil {
			r.finalizing.Store(seq, struct{}{})
			hb = startHeartbeat(msg, st.ackWait/3)
			st.log.Error("delivery ack failed, retrying", zap.String("route", r.route), zap.Uint64("seq", seq), zap.Error(err))
		}
		wait = nextProbe(wait)
		if !sleepCtx(ctx, wait) {
			hb.stop()
			st.log.Warn("delivery ack abandoned by a stop; the event will be delivered again",
				zap.String("route", r.route), zap.Uint64("seq", seq), zap.Int("failures", failures))
			return
		}
	}
	if hb != nil {
		hb.stop()
		st.log.Info("delivery ack recovered", zap.String("route", r.route), zap.Uint64("seq", seq), zap.Int("failures", failures))
	}
	r.finalizing.Delete(seq)
}

// requeue hands msg back for immediate redelivery. A plain Nak only queues it in the server's
// memory, so after a restart it would wait for the whole AckWait; a Nak with a (tiny) delay
// rewrites the delivery time in the consumer's stored state.
func requeue(msg jetstream.Msg) {
	_ = msg.NakWithDelay(time.Millisecond)
}

func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeMessageNotFound
}

// heartbeat sends InProgress for a message every interval until stopped, so that waiting for the
// rate limiter or a slow application never lets the ack deadline pass.
type heartbeat struct {
	mu      sync.Mutex
	t       *time.Timer
	stopped bool
}

func startHeartbeat(msg jetstream.Msg, every time.Duration) *heartbeat {
	hb := &heartbeat{}
	hb.mu.Lock()
	defer hb.mu.Unlock()
	hb.t = time.AfterFunc(every, func() {
		hb.mu.Lock()
		defer hb.mu.Unlock()
		if hb.stopped {
			return
		}
		_ = msg.InProgress()
		hb.t.Reset(every)
	})
	return hb
}

// stop stops the heartbeat; no InProgress is sent after it returns (one sent later would undo
// the delay of a NakWithDelay).
func (hb *heartbeat) stop() {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	hb.stopped = true
	hb.t.Stop()
}
