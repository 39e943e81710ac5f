package delivery

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/dedup/keyindex"
)

// A route's dedup window lives in its key index (one entry per key, outside the Go heap), kept
// current in every process by a headers-only ordered consumer on the route's event stream. The
// store stays the authority: a new key is stored by a compare-and-set publish on its bucket
// subject that expects the bucket's last sequence as this process knows it, so an index that
// lags another process fails the publish instead of answering a false "new" (see casPublish).
const (
	// feedMargin starts the feed this much before now − window, so that a clock a little
	// behind the store's never leaves a key of the window out.
	feedMargin = time.Minute
	// readyPoll is how often a feed that has not caught up yet asks its consumer whether
	// anything is left to deliver (the stream's last message may have been deleted).
	readyPoll = 250 * time.Millisecond
	// appliedPoll is how often a compare-and-set that lost to another writer checks whether
	// the feed has applied that writer's message.
	appliedPoll = 2 * time.Millisecond
	// stopCatchUp bounds how long a clean stop waits for the feed to apply this process's own
	// publishes before the last snapshot: longer only makes the next start replay a little more.
	stopCatchUp = 2 * time.Second
)

// tuneIndex, when set, adjusts the config of every key index the feed creates: tests make the
// index small and bounded (keyindex.Config.MaxKeys) so that inserts fail. Nil in production.
var tuneIndex func(*keyindex.Config)

// errNotReady is returned while the index has not loaded the window yet (503: retry).
var errNotReady = errors.New("store: the dedup window is still loading")

// keyFeed is a route's key index and the consumer that feeds it.
type keyFeed struct {
	ix     *keyindex.Index
	target uint64        // the stream's last sequence at start: ready once applied
	ready  chan struct{} // closed when ready
	once   sync.Once
	log    *zap.Logger

	// Where and as what the index is saved (snapshot.go); dir is empty without snapshots.
	dir      string
	stream   string
	created  time.Time    // the stream's creation time
	complete atomic.Int64 // the longest window (ns) the index is known to hold every key of
	saving   sync.WaitGroup
	resumed  uint64 // the applied sequence of the snapshot loaded at start; 0 after a full replay

	// stuck is set once a message could not be put into the index. From then on the feed
	// applies nothing more, so the applied sequence never moves past the missing key: a
	// compare-and-set that lost to that message waits for it and gets 503, instead of
	// re-checking an index that misses it and answering a false "new".
	stuck atomic.Bool

	mu     sync.RWMutex // held shared while ix is used, exclusively by close
	closed bool
	stop   context.CancelFunc
	cc     jetstream.ConsumeContext
}

// startFeed loads the window of the route's event stream into a new index and keeps it current.
// It returns at once; the route is ready (usable by Accept, Seen and Record) once the index has
// applied every message up to the stream's last sequence at this moment.
func (r *Queue) startFeed(window time.Duration, log *zap.Logger) (*keyFeed, error) {
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	info, err := r.ev.Info(ctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	cfg := keyindex.Config{Window: window, Now: func() time.Time { return r.now() }}
	if tuneIndex != nil {
		tuneIndex(&cfg)
	}
	f := &keyFeed{
		target: info.State.LastSeq, ready: make(chan struct{}), log: log,
		dir: r.s.snapshotDir(), stream: r.evStream, created: info.Created,
	}
	f.complete.Store(int64(window))
	occ := jetstream.OrderedConsumerConfig{HeadersOnly: true}
	ix, from := r.loadSnapshot(info, window, cfg)
	if ix != nil {
		// Resume right after the snapshot: the stream still holds that sequence.
		log.Info("key index loaded from snapshot", zap.String("route", r.route), zap.String("file", from),
			zap.Uint64("applied", ix.Applied()), zap.Uint64("first", info.State.FirstSeq), zap.Uint64("target", f.target),
			zap.Int("keys", ix.Stats().Keys))
		f.resumed = max(ix.Applied(), 1)
		occ.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		occ.OptStartSeq = ix.Applied() + 1
		if ix.Applied() >= f.target {
			f.markReady()
		}
	} else {
		log.Info("key index replays the window", zap.String("route", r.route), zap.String("reason", from),
			zap.Uint64("target", f.target))
		if ix, err = keyindex.New(cfg); err != nil {
			return nil, err
		}
		start := r.now().Add(-window - feedMargin)
		occ.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		occ.OptStartTime = &start
		if info.State.Msgs == 0 || info.State.LastTime.Before(start) {
			// Nothing in the window: every message up to the last is past it.
			ix.MarkApplied(f.target)
			f.markReady()
		}
	}
	f.ix = ix
	fctx, stop := context.WithCancel(context.Background())
	f.stop = stop
	cons, err := r.s.js.OrderedConsumer(fctx, r.evStream, occ)
	if err != nil {
		stop()
		ix.Close()
		return nil, fmt.Errorf("store: key feed of %s: %w", r.evStream, err)
	}
	f.cc, err = cons.Consume(func(msg jetstream.Msg) { f.apply(r, msg) })
	if err != nil {
		stop()
		ix.Close()
		return nil, fmt.Errorf("store: key feed of %s: %w", r.evStream, err)
	}
	go f.watchReady(fctx, cons)
	f.saving.Add(1)
	go func() {
		defer f.saving.Done()
		f.runSnapshots(fctx.Done(), r.route)
	}()
	return f, nil
}

// apply puts one stream message into the index. Messages come in stream order, so the applied
// sequence only moves past a message once its key is in.
func (f *keyFeed) apply(r *Queue, msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		return
	}
	seq := md.Sequence.Stream
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed || f.stuck.Load() {
		return
	}
	kh := first(msg.Headers(), hdrKeyHash)
	if kh == "" || !strings.HasPrefix(msg.Subject(), r.evPfx) {
		// A replayed dead letter, or a message with no key: nothing to remember.
		f.ix.MarkApplied(seq)
	} else if _, err := f.ix.Apply(keyOf(kh), seq, md.Timestamp); err != nil {
		// Out of memory for the table: stop here rather than miss a key; requests that need
		// this message get 503 until the process is restarted.
		f.stuck.Store(true)
		f.log.Error("key index insert failed: the route's dedup window is stuck until restart",
			zap.String("route", r.route), zap.Uint64("seq", seq), zap.Error(err))
		return
	}
	if f.ix.Applied() >= f.target {
		f.markReady()
	}
}

// watchReady covers a start whose last message will never be delivered (deleted, or purged):
// once the consumer has nothing left and the index applied all it delivered, the window is in.
func (f *keyFeed) watchReady(ctx context.Context, cons jetstream.Consumer) {
	t := time.NewTicker(readyPoll)
	defer t.Stop()
	for {
		select {
		case <-f.ready:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ictx, cancel := context.WithTimeout(ctx, readyAttempt)
		ci, err := cons.Info(ictx)
		cancel()
		if err != nil || ci.NumPending > 0 {
			continue
		}
		f.mu.RLock()
		// Nothing left to deliver, and either nothing was (no message since the start time)
		// or all that was is applied.
		if !f.closed && !f.stuck.Load() && (ci.Delivered.Consumer == 0 || f.ix.Applied() >= ci.Delivered.Stream) {
			f.ix.MarkApplied(f.target)
			f.markReady()
		}
		f.mu.RUnlock()
	}
}

func (f *keyFeed) markReady() { f.once.Do(func() { close(f.ready) }) }

// acquire waits, bounded by ctx, until the index has loaded the window, and returns it held
// against close; the caller must call release.
func (f *keyFeed) acquire(ctx context.Context) (*keyindex.Index, error) {
	select {
	case <-f.ready:
	default:
		select {
		case <-f.ready:
		case <-ctx.Done():
			return nil, errNotReady
		}
	}
	f.mu.RLock()
	if f.closed {
		f.mu.RUnlock()
		return nil, errors.New("store: route closed")
	}
	return f.ix, nil
}

func (f *keyFeed) release() { f.mu.RUnlock() }

// waitApplied waits, bounded by ctx, until the index has applied stream sequence seq.
func waitApplied(ctx context.Context, ix *keyindex.Index, seq uint64) error {
	if ix.Applied() >= seq {
		return nil
	}
	t := time.NewTicker(appliedPoll)
	defer t.Stop()
	for ix.Applied() < seq {
		select {
		case <-ctx.Done():
			return fmt.Errorf("store: key index behind the stream (at %d, need %d): %w", ix.Applied(), seq, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// catchUp waits, at most stopCatchUp, until the feed has applied this process's own publishes
// (Observe put them in the index before the consumer delivered them back), so that the snapshot
// saved at a clean stop covers the whole stream and the next start is ready at once.
func (f *keyFeed) catchUp() {
	select {
	case <-f.ready:
	default:
		return
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed || f.stuck.Load() {
		return
	}
	var last uint64
	for b := range f.ix.Buckets() {
		last = max(last, f.ix.BucketSeq(b))
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopCatchUp)
	defer cancel()
	_ = waitApplied(ctx, f.ix, last)
}

// setWindow changes the index's window on a reload. A longer window than the index was loaded
// with may miss keys it swept or never loaded, so its snapshots stay labelled with the shorter
// one (and the next start replays the longer window).
func (f *keyFeed) setWindow(d time.Duration) {
	for {
		c := f.complete.Load()
		if int64(d) >= c || f.complete.CompareAndSwap(c, int64(d)) {
			break
		}
	}
	f.ix.SetWindow(d)
}

// close stops the feed, saves a last snapshot (a clean stop), and frees the index once no
// request uses it.
func (f *keyFeed) close() {
	f.catchUp()
	f.stop()
	if f.cc != nil {
		f.cc.Stop()
	}
	f.saving.Wait()
	if err := f.saveSnapshot(); err != nil {
		f.log.Warn("key index snapshot at stop failed", zap.String("stream", f.stream), zap.Error(err))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		f.ix.Close()
	}
}

// keyOf reads a key hash given to Accept, Seen or Record: the gateway's own 22-character form
// (dedup.Hash) as is, any other token through SHA-256, so that any valid token has one key.
func keyOf(keyHash string) keyindex.Key {
	if k, err := keyindex.ParseKey(keyHash); err == nil {
		return k
	}
	var k keyindex.Key
	sum := sha256.Sum256([]byte(keyHash))
	copy(k[:], sum[:])
	return k
}
