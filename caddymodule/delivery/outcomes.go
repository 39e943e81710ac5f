package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Outcome records. The delivery consumer keeps no state per event: it knows which events are
// acked at and below its ack floor, nothing about the ones above it, and nothing about attempts.
// So after every delivery attempt the worker appends a small record of it (when, which attempt,
// the application's status or the error, the latency, whether it was a replay, and whether it
// settled the event) to the route's outcome stream, WHGW-OC-<r>, on the subject of the event's
// block (names.outcomeSubject). The history reads them back to show attempts and "delivered at",
// and to tell an event acked out of order above the ack floor from a pending one.
//
// A record is written off the request path and off the delivery's own path: the worker hands it
// to a buffered writer and goes on to ack. A full buffer or a failed write loses the record, never
// the event, and never delays the delivery; lost records are counted (OutcomeObserver) and logged.
// Without its records an event shows no attempts, and above the ack floor it reads pending: the
// safe mistake.

const (
	outcomeBuffer    = 4096            // records waiting for the writer; past it a record is lost
	outcomeBatch     = 256             // records written before waiting for the store's acks
	outcomeWait      = 5 * time.Second // how long a batch waits for the store's acks
	outcomeFlush     = 2 * time.Second // how long Close waits for the records still buffered
	outcomeLogEvery  = time.Minute     // lost records are logged at most this often
	maxOutcomeError  = 256             // bytes of error text a record keeps
	maxOutcomeBlocks = 8               // blocks one history page reads (1024 events each)
	maxAttemptLog    = 1000            // records one event's detail shows at most (the last ones)
	// outcomeRecordMin is less than the smallest stored message (one record); the outcome stream
	// keeps at most max_queue / outcomeRecordMin messages, so that it stays bounded even if the
	// janitor could not purge it.
	outcomeRecordMin  = 128
	minOutcomeRecords = 100_000
)

// How an attempt settled its event.
const (
	doneDelivered = "delivered" // the application took it
	doneDead      = "dead"      // it went to the dead letters
)

// hdrOrigin is carried by a replay: the stream sequence of the event it is a copy of, so that
// its attempts are recorded with that event.
const hdrOrigin = "Whgw-Origin"

// outcomeRecord is one attempt as stored in the outcome stream.
type outcomeRecord struct {
	Seq     uint64    `json:"seq"` // the event's sequence in the event stream
	ID      string    `json:"id"`  // the event's ID: a record that does not match is ignored
	At      time.Time `json:"at"`
	N       int       `json:"n"`
	Status  int       `json:"status,omitempty"`
	Error   string    `json:"error,omitempty"`
	Latency float64   `json:"ms"`
	Replay  bool      `json:"replay,omitempty"`
	Done    string    `json:"done,omitempty"` // doneDelivered or doneDead; empty: a retry follows
}

func (o *outcomeRecord) attempt() Attempt {
	return Attempt{At: o.At, N: o.N, Status: o.Status, Error: o.Error, LatencyMS: o.Latency, Replay: o.Replay}
}

// OutcomeObserver is implemented by an Observer that counts outcome records that were lost (not
// written): the events are safe, only the history of their attempts is missing.
type OutcomeObserver interface {
	OutcomeLost(route string, n int)
}

// outcomeWriter is a route's buffer of records and the goroutine that writes them.
type outcomeWriter struct {
	ch      chan outcomeRecord
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	lost    atomic.Int64 // since the last log line
	logged  atomic.Int64 // when the last log line was written (Unix ns)
	maxMsgs int64        // the outcome stream's record limit as last set (writer goroutine only)
}

// outcomeStreamConfig is the route's outcome stream: small records, no per-message TTL, oldest
// dropped first past maxMsgs. The janitor purges it along with the events it describes.
func (r *Queue) outcomeStreamConfig(maxMsgs int64) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        r.ocStream,
		Description: "webhook gateway delivery attempts of route " + r.route,
		Subjects:    []string{r.ocPfx + "*"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    r.s.replicas,
		Discard:     jetstream.DiscardOld,
		MaxMsgs:     maxMsgs,
		AllowDirect: r.s.replicas <= 1,
	}
}

// outcomeLimit is the number of messages the outcome stream keeps at most under st: one per
// outcomeRecordMin bytes of the route's quota. A limit in bytes would reserve that much of the
// store's max_store for the stream; a count reserves nothing.
func outcomeLimit(st *settings) int64 {
	if st == nil || st.fwd == nil {
		return minOutcomeRecords
	}
	return max(st.fwd.MaxQueue/outcomeRecordMin, minOutcomeRecords)
}

// startOutcomes runs the route's outcome writer until stopOutcomes.
func (r *Queue) startOutcomes(maxMsgs int64) {
	w := &outcomeWriter{
		ch:      make(chan outcomeRecord, outcomeBuffer),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		maxMsgs: maxMsgs,
	}
	r.outw = w
	go r.runOutcomes(w)
}

// stopOutcomes writes the records still buffered, for at most outcomeFlush, and stops the writer.
func (r *Queue) stopOutcomes() {
	w := r.outw
	if w == nil {
		return
	}
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

// noteAttempt hands the record of one attempt of the message to the writer. It never blocks.
// A replay without an origin (a quarantined event, which has no place in the history) has no
// record.
func (r *Queue) noteAttempt(msg jetstream.Msg, md *jetstream.MsgMetadata, id string, replay bool,
	n, status int, err error, latency time.Duration, done string) {
	if r.outw == nil {
		return
	}
	seq := md.Sequence.Stream
	if replay {
		seq, _ = strconv.ParseUint(first(msg.Headers(), hdrOrigin), 10, 64)
		if seq == 0 {
			return
		}
	}
	rec := outcomeRecord{
		Seq: seq, ID: id, At: r.now().UTC(), N: n, Status: status,
		Latency: float64(latency.Microseconds()) / 1000, Replay: replay, Done: done,
	}
	if err != nil {
		rec.Error = truncate(HeaderSafe(err.Error()), maxOutcomeError)
	}
	select {
	case r.outw.ch <- rec:
	default:
		r.outcomesLost(1, errors.New("outcome buffer full"))
	}
}

// outcomesLost counts n lost records and logs them, at most once per outcomeLogEvery.
func (r *Queue) outcomesLost(n int, err error) {
	w := r.outw
	st := r.set.Load()
	if o, ok := st.obs.(OutcomeObserver); ok {
		o.OutcomeLost(r.route, n)
	}
	total := w.lost.Add(int64(n))
	now := time.Now().UnixNano()
	last := w.logged.Load()
	if now-last < int64(outcomeLogEvery) || !w.logged.CompareAndSwap(last, now) {
		return
	}
	w.lost.Add(-total)
	st.log.Warn("outcome records lost: the events are safe, the history misses some of their attempts",
		zap.String("route", r.route), zap.Int64("records", total), zap.Error(err))
}

func (r *Queue) runOutcomes(w *outcomeWriter) {
	defer close(w.done)
	batch := make([]outcomeRecord, 0, outcomeBatch)
	for {
		select {
		case rec := <-w.ch:
			batch = append(batch[:0], rec)
		case <-w.stop:
			r.flushOutcomes(w, batch[:0])
			return
		}
		batch = takeMore(w.ch, batch)
		r.writeOutcomes(w, batch)
	}
}

// takeMore adds the records already waiting in ch to batch, up to outcomeBatch.
func takeMore(ch chan outcomeRecord, batch []outcomeRecord) []outcomeRecord {
	for len(batch) < outcomeBatch {
		select {
		case rec := <-ch:
			batch = append(batch, rec)
		default:
			return batch
		}
	}
	return batch
}

// flushOutcomes writes what is left in the buffer at a stop, for at most outcomeFlush.
func (r *Queue) flushOutcomes(w *outcomeWriter, batch []outcomeRecord) {
	deadline := time.Now().Add(outcomeFlush)
	for time.Now().Before(deadline) {
		batch = takeMore(w.ch, batch[:0])
		if len(batch) == 0 {
			return
		}
		r.writeOutcomes(w, batch)
	}
	if n := len(w.ch); n > 0 {
		r.outcomesLost(n, errors.New("stopped before they were written"))
	}
}

// writeOutcomes publishes a batch of records, one message per block (a JSON array of that
// block's records: under load one store write carries many attempts), and waits, at most
// outcomeWait, for the store's acks. A record the store did not take is lost (counted): it is
// never retried in the delivery's place.
func (r *Queue) writeOutcomes(w *outcomeWriter, batch []outcomeRecord) {
	r.fitOutcomeLimit(w)
	type group struct {
		subject string
		recs    []outcomeRecord
		future  jetstream.PubAckFuture
	}
	var groups []*group
	for _, rec := range batch {
		subj := r.outcomeSubject(rec.Seq)
		i := slices.IndexFunc(groups, func(g *group) bool { return g.subject == subj })
		if i < 0 {
			groups = append(groups, &group{subject: subj})
			i = len(groups) - 1
		}
		groups[i].recs = append(groups[i].recs, rec)
	}
	lost := 0
	var lastErr error
	for _, g := range groups {
		data, err := json.Marshal(g.recs)
		if err == nil {
			g.future, err = r.s.js.PublishMsgAsync(&nats.Msg{Subject: g.subject, Data: data})
		}
		if err != nil {
			lost += len(g.recs)
			lastErr = err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), outcomeWait)
	defer cancel()
	for _, g := range groups {
		if g.future == nil {
			continue
		}
		select {
		case <-g.future.Ok():
			continue
		case err := <-g.future.Err():
			lastErr = err
		case <-ctx.Done():
			select {
			case <-g.future.Ok():
				continue
			default:
			}
			lastErr = errors.New("no ack from the store in time")
		}
		lost += len(g.recs)
	}
	if lost > 0 {
		r.outcomesLost(lost, lastErr)
	}
}

// fitOutcomeLimit sets the outcome stream's record limit to what the route's quota asks for,
// when a reload changed it. A failure is logged and not retried until the quota changes again.
func (r *Queue) fitOutcomeLimit(w *outcomeWriter) {
	st := r.set.Load()
	want := outcomeLimit(st)
	if want == w.maxMsgs {
		return
	}
	w.maxMsgs = want
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	if _, err := r.s.js.UpdateStream(ctx, r.outcomeStreamConfig(want)); err != nil {
		st.log.Warn("outcome stream limit not updated", zap.String("route", r.route), zap.Int64("records", want), zap.Error(err))
	}
}

// outcomesOf reads the outcome records of the events at the given stream sequences (each with
// its event's ID), in the order they were written. It reads the blocks those events fall in, the
// first maxOutcomeBlocks of them: events of further blocks get none (a page of up to 1000
// consecutive events spans at most two).
func (r *Queue) outcomesOf(ctx context.Context, events map[uint64]string) (map[uint64][]outcomeRecord, error) {
	out := make(map[uint64][]outcomeRecord, len(events))
	if len(events) == 0 {
		return out, nil
	}
	blocks := make([]uint64, 0, 2)
	for seq := range events {
		if b := seq >> outcomeBlockBits; !slices.Contains(blocks, b) {
			blocks = append(blocks, b)
		}
	}
	slices.Sort(blocks)
	blocks = blocks[:min(len(blocks), maxOutcomeBlocks)]
	subjects := make([]string, len(blocks))
	for i, b := range blocks {
		subjects[i] = r.outcomeSubject(b << outcomeBlockBits)
	}
	ctx, cancel := context.WithTimeout(ctx, historyBudget)
	defer cancel()
	c, done, err := scanConsumer(ctx, r.oc, jetstream.OrderedConsumerConfig{FilterSubjects: subjects, InactiveThreshold: 30 * time.Second})
	if err != nil {
		return out, err
	}
	defer done()
	left := uint64(0)
	if ci := c.CachedInfo(); ci != nil {
		left = ci.NumPending
	}
	for left > 0 {
		batch, err := c.Fetch(historyBatch, jetstream.FetchMaxWait(historyWait))
		if err != nil {
			return out, fmt.Errorf("store: %w", err)
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			left--
			if md, err := msg.Metadata(); err == nil {
				left = md.NumPending
			}
			var recs []outcomeRecord
			if json.Unmarshal(msg.Data(), &recs) != nil {
				continue
			}
			for _, rec := range recs {
				if id, ok := events[rec.Seq]; ok && id == rec.ID {
					out[rec.Seq] = append(out[rec.Seq], rec)
				}
			}
			if left == 0 {
				break
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			return out, fmt.Errorf("store: %w", err)
		}
		if got == 0 || ctx.Err() != nil {
			break // the budget is spent: the rest shows no attempts
		}
	}
	for seq, recs := range out {
		slices.SortStableFunc(recs, func(a, b outcomeRecord) int { return a.At.Compare(b.At) })
		out[seq] = recs
	}
	return out, nil
}

// applyOutcomes completes an event's listing from its records: the attempts and last status of
// the last attempt recorded, and "delivered" for an event above the ack floor that one of its
// own attempts settled (a replay's attempts settle the copy, not the event).
func applyOutcomes(info *EventInfo, recs []outcomeRecord) {
	if len(recs) == 0 {
		return
	}
	if info.Status != StatusDead {
		last := recs[len(recs)-1]
		info.Attempts, info.LastStatus = last.N, last.Status
	}
	if info.Status == StatusPending {
		for _, rec := range recs {
			if rec.Done != "" && !rec.Replay {
				info.Status = StatusDelivered
				break
			}
		}
	}
}

// addOutcomes applies the records of a page of events (applyOutcomes). The lookup is one read
// per page; if it fails, the page is shown without them (and logged), as the safe mistake.
func (r *Queue) addOutcomes(ctx context.Context, page []EventInfo) {
	want := make(map[uint64]string, len(page))
	for _, e := range page {
		want[e.seq] = e.ID
	}
	recs, err := r.outcomesOf(ctx, want)
	if err != nil {
		r.logger().Warn("outcome records not read for a history page", zap.String("route", r.route), zap.Error(err))
	}
	for i := range page {
		applyOutcomes(&page[i], recs[page[i].seq])
	}
}

// attemptLog is the detail of one event's records: every attempt (the last maxAttemptLog) and
// when the application first took it.
func attemptLog(recs []outcomeRecord) ([]Attempt, *time.Time) {
	log := make([]Attempt, 0, min(len(recs), maxAttemptLog))
	var at *time.Time
	for i := range recs {
		if recs[i].Done == doneDelivered && at == nil {
			t := recs[i].At
			at = &t
		}
	}
	for i := max(len(recs)-maxAttemptLog, 0); i < len(recs); i++ {
		log = append(log, recs[i].attempt())
	}
	return log, at
}

// purgeOutcomes removes the records older than the event stream's first message: every one of
// them describes an event already purged (a record is written after its event was stored). An
// empty event stream leaves no record worth keeping.
func (r *Queue) purgeOutcomes(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	ev, err := r.ev.Info(ctx)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	oc, err := r.oc.Info(ctx)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if oc.State.Msgs == 0 || (ev.State.Msgs > 0 && !oc.State.FirstTime.Before(ev.State.FirstTime)) {
		return nil // nothing older than the first event: no search by time (it loads blocks)
	}
	var upTo uint64
	if ev.State.Msgs > 0 {
		if upTo, err = r.seqSince(ctx, r.ocStream, ev.State.FirstTime); err != nil {
			return err
		}
	}
	if upTo == 0 {
		upTo = oc.State.LastSeq + 1 // every record is older
	}
	if upTo <= oc.State.FirstSeq {
		return nil
	}
	if err := r.oc.Purge(ctx, jetstream.WithPurgeSequence(upTo)); err != nil {
		return fmt.Errorf("store: purge outcomes: %w", err)
	}
	return nil
}
