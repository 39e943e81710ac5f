package delivery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// maxAckPending bounds the events a route's consumer hands out without an ack: the ones in
// flight plus the ones waiting for a retry (a NakWithDelay keeps a message pending). It is far
// above Concurrency so that events in backoff never block fresh ones; the workers themselves
// bound the attempts in flight to Concurrency.
const maxAckPending = 100_000

// ErrGateMode is returned by Accept on a route without a forward policy.
var ErrGateMode = errors.New("route is in gate mode")

// Queue is one route's side of the store: its event stream (the queue and the dedup window),
// its dead letters, and the workers that deliver its events.
type Queue struct {
	s *Store
	names
	ev jetstream.Stream
	dl jetstream.Stream
	oc jetstream.Stream // outcome records (outcomes.go)

	set     atomic.Pointer[settings]
	updMu   sync.Mutex // serialises Update
	limiter *rate.Limiter

	// now and rnd are the clock and the jitter source (rnd(n) returns [0, n)); tests replace them.
	now func() time.Time
	rnd func(n int64) int64

	mu         sync.Mutex
	running    bool
	stopFetch  context.CancelFunc
	stopWork   context.CancelFunc
	supervisor chan struct{}
	workers    sync.WaitGroup

	inflight   atomic.Int64
	freed      chan struct{}
	updated    chan struct{}
	finalizing sync.Map // stream seq -> struct{}: delivered, but the ack is not stored yet
	down       outage   // pauses fetching while the application is unreachable
	quota      quota    // the route's use of the store, against Policy.MaxQueue

	feed      *keyFeed  // the dedup window: key index and its feed
	cas       casCounts // this process's compare-and-set publishes (Stats.CAS)
	stopJanny context.CancelFunc
	outw      *outcomeWriter
	giveUpMu  sync.Mutex // one caller at a time gives history up (giveup.go)
}

// Queue creates or updates the streams of the route named cfg.Name (and its consumer in forward
// mode) and returns a Queue ready to Start. A store that does not answer is retried for up to
// StoreConfig.ReadyTimeout. It is idempotent: calling it again with the same name
// in another process (or after a restart) attaches to the same queue and dedup window. Call it
// once per name per process and keep the Queue (the adapter's UsagePool does).
func (s *Store) Queue(cfg QueueConfig) (*Queue, error) {
	if err := ValidRouteName(cfg.Name); err != nil {
		return nil, err
	}
	r := &Queue{
		s:       s,
		names:   routeNames(cfg.Name),
		limiter: rate.NewLimiter(rate.Inf, 1),
		now:     time.Now,
		rnd:     rand.Int64N,
		freed:   make(chan struct{}, 1),
		updated: make(chan struct{}, 1),
	}
	deadline := time.Now().Add(s.cfg.ReadyTimeout)
	if err := r.checkLayout(deadline); err != nil {
		return nil, err
	}
	var err error
	r.ev, err = s.ensureStream(deadline, r.eventStreamConfig())
	if err != nil {
		return nil, err
	}
	r.dl, err = s.ensureStream(deadline, jetstream.StreamConfig{
		Name:              r.dlStream,
		Description:       "webhook gateway dead letters of route " + r.route,
		Subjects:          []string{r.dlPfx + "*"},
		Retention:         jetstream.LimitsPolicy,
		Storage:           jetstream.FileStorage,
		Replicas:          s.replicas,
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardOld,
		Duplicates:        2 * time.Minute,
	})
	if err != nil {
		return nil, err
	}
	r.Update(cfg)
	st := r.set.Load()
	r.oc, err = s.ensureStream(deadline, r.outcomeStreamConfig(outcomeLimit(st)))
	if err != nil {
		return nil, err
	}
	err = retryStore(deadline, readyAttempt, s.Logger(), "start key feed of "+r.evStream, func(context.Context) error {
		var err error
		r.feed, err = r.startFeed(st.window, st.log)
		return err
	})
	if err != nil {
		return nil, err
	}
	if st.fwd != nil {
		err := retryStore(deadline, readyAttempt, s.Logger(), "create consumer on "+r.evStream, func(ctx context.Context) error {
			_, err := r.ensureConsumer(ctx, st)
			return err
		})
		if err != nil {
			r.feed.close()
			return nil, err
		}
	}
	r.startOutcomes(outcomeLimit(st))
	r.startJanitor()
	s.track(r, true)
	return r, nil
}

// eventStreamConfig is the route's event stream: every event and gate-mode key record on one of
// the route's bucket subjects, each with its key hash in a header, replays of dead letters on
// their own subjects. Nothing expires by itself: the janitor purges the front (see janitor.go).
func (r *Queue) eventStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        r.evStream,
		Description: "webhook gateway events and dedup keys of route " + r.route,
		Subjects:    []string{r.evPfx + "*", r.rpPfx + "*"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    r.s.replicas,
		Discard:     jetstream.DiscardOld,
		Duplicates:  2 * time.Minute,
		AllowDirect: r.s.replicas <= 1,
	}
}

// Close stops the route's workers (as Stop(0)), its key feed, its janitor and its outcome writer
// (after it wrote the records still buffered, for at most 2s), and frees its key index. The
// route is of no use afterwards; the store keeps its queue and window.
func (r *Queue) Close() error {
	err := r.Stop(0)
	r.s.track(r, false)
	r.closeFeed()
	return err
}

func (r *Queue) closeFeed() {
	if r.stopJanny != nil {
		r.stopJanny()
	}
	r.stopOutcomes()
	r.feed.close()
}

// Name is the route's name.
func (r *Queue) Name() string { return r.route }

// Rate is the route's delivery rate limit in events per second; 0 means none (or gate mode).
func (r *Queue) Rate() float64 {
	if st := r.set.Load(); st != nil && st.fwd != nil {
		return st.fwd.Rate
	}
	return 0
}

// Forwarding reports whether the route is in forward mode.
func (r *Queue) Forwarding() bool {
	st := r.set.Load()
	return st != nil && st.fwd != nil
}

// Running reports whether the route's delivery workers run.
func (r *Queue) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running
}

// Update pushes new settings into the route; running workers pick them up for their next
// attempt. The name in cfg is ignored. Switching between gate and forward mode is allowed: the
// workers idle while the route is in gate mode.
func (r *Queue) Update(cfg QueueConfig) {
	r.updMu.Lock()
	defer r.updMu.Unlock()
	old := r.set.Load()
	st := &settings{window: cfg.DedupWindow, log: cfg.Logger, obs: cfg.Observer}
	if st.window <= 0 {
		st.window = DefaultDedupWindow
	}
	if st.log == nil {
		st.log = zap.NewNop()
	}
	if st.obs == nil {
		st.obs = nopObserver{}
	}
	if cfg.Forward != nil {
		p := cfg.Forward.withDefaults()
		p.HeaderUp = p.HeaderUp.Clone()
		p.DeadLetterOn = append([]int(nil), p.DeadLetterOn...)
		p.SignSecret = append([]byte(nil), p.SignSecret...)
		if len(p.SignSecret) == 0 {
			p.SignSecret = nil
		}
		st.fwd = &p
		st.ackWait = p.Timeout + ackMargin
		st.dlOn = make(map[int]bool, len(p.DeadLetterOn))
		for _, code := range p.DeadLetterOn {
			st.dlOn[code] = true
		}
		if old != nil && old.fwd != nil && old.fwd.Concurrency == p.Concurrency {
			st.client = old.client
		} else {
			st.client = newClient(p.Concurrency)
		}
		if p.Rate > 0 {
			r.limiter.SetBurst(p.RateBurst)
			r.limiter.SetLimit(rate.Limit(p.Rate))
		} else {
			r.limiter.SetLimit(rate.Inf)
		}
	}
	r.set.Store(st)
	if r.feed != nil && (old == nil || old.window != st.window) {
		r.feed.setWindow(st.window)
	}
	if old != nil && old.client != nil && old.client != st.client {
		old.client.CloseIdleConnections()
	}
	select {
	case r.updated <- struct{}{}:
	default:
	}
}

// ensureConsumer creates the durable delivery consumer or updates it to the settings.
func (r *Queue) ensureConsumer(ctx context.Context, st *settings) (jetstream.Consumer, error) {
	c, err := r.s.js.CreateOrUpdateConsumer(ctx, r.evStream, jetstream.ConsumerConfig{
		Durable:       consumerName,
		Description:   "webhook gateway delivery workers",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       st.ackWait,
		MaxDeliver:    -1,
		MaxAckPending: maxAckPending,
	})
	if err != nil {
		return nil, fmt.Errorf("create consumer on %s: %w", r.evStream, err)
	}
	return c, nil
}

// newClient returns the HTTP client of a route: keep-alive sized to the concurrency, the
// environment's proxy settings, and no redirects (a 3xx is a failed attempt).
func newClient(concurrency int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = concurrency
	tr.MaxIdleConnsPerHost = concurrency
	tr.IdleConnTimeout = 90 * time.Second
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
