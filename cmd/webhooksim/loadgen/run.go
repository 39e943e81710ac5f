package loadgen

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/senderauth"
	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/vendors"
)

// Target is one endpoint and the events sent to it.
type Target struct {
	// URL receives the webhooks.
	URL string
	// Gen renders them.
	Gen *vendors.Generator
}

// Config describes one load run.
type Config struct {
	// Targets are picked uniformly for every new event. At least one.
	Targets []Target
	// Client sends the requests; nil means NewClient(Concurrency, Timeout). Not used
	// with Raw.
	Client *http.Client
	// Raw sends over the raw engine instead of Client: one keep-alive connection per
	// worker and target, written and read without net/http, so that the generator costs
	// little CPU beside the server it measures. Targets must be plain http URLs. On
	// Linux its closed loop runs as epoll event loops, as wrk does.
	Raw bool
	// Signer adds credentials; nil sends none.
	Signer *senderauth.Signer
	// Concurrency is the number of workers, each with at most one request in flight.
	Concurrency int
	// Duration bounds the run. Required.
	Duration time.Duration
	// Rate, when > 0, selects open loop: arrivals at Rate per second, spread over the
	// workers; latency counts from each arrival's intended time.
	Rate float64
	// Grace is how long after Duration an open-loop run may go on sending arrivals that
	// are late; the rest count as Missed. Default: Duration/2, at most 5s.
	Grace time.Duration
	// MaxRequests, when > 0, stops the run after that many requests.
	MaxRequests int64
	// DupShare is the share (0..1) of requests that re-send an earlier accepted event.
	DupShare float64
	// Timeout is the per-request timeout of the default client. Default: 10s.
	Timeout time.Duration
	// Seed makes the event choice reproducible; 0 picks one at random.
	Seed uint64

	// goroutines makes the raw engine's closed loop run a goroutine per worker even
	// where event loops exist (tests of both).
	goroutines bool
}

// recentSize is how many accepted events each worker remembers as duplicate candidates.
const recentSize = 64

// sent is an accepted event that may be re-sent as a duplicate.
type sent struct {
	target int
	msg    vendors.Message
}

// Run drives the load and returns its result. It stops at Duration (plus Grace in open
// loop), at MaxRequests, or when ctx is done, whichever comes first.
func Run(ctx context.Context, c Config) (*Result, error) {
	if len(c.Targets) == 0 {
		return nil, errors.New("no target")
	}
	if c.Duration <= 0 {
		return nil, errors.New("duration must be positive")
	}
	if c.DupShare < 0 || c.DupShare >= 1 {
		return nil, errors.New("duplicate share must be in [0, 1)")
	}
	c.Concurrency = max(c.Concurrency, 1)
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	var raws []*rawTarget
	if c.Raw {
		for _, t := range c.Targets {
			rt, err := newRawTarget(t.URL)
			if err != nil {
				return nil, err
			}
			raws = append(raws, rt)
		}
	} else if c.Client == nil {
		c.Client = NewClient(c.Concurrency, c.Timeout)
	}
	if c.Grace <= 0 {
		c.Grace = min(c.Duration/2, 5*time.Second)
	}
	seed := c.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	mode := "closed"
	if c.Rate > 0 {
		mode = "open"
	}

	start := time.Now()
	end := start.Add(c.Duration)
	ctx, cancel := context.WithDeadline(ctx, end.Add(c.Grace+c.Timeout))
	defer cancel()

	var tickets atomic.Int64 // requests taken (closed loop) or arrivals taken (open loop)
	tallies := make([]*tally, c.Concurrency)
	for w := range tallies {
		tallies[w] = &tally{}
	}
	if c.Raw && c.Rate <= 0 && eventLoops && !c.goroutines {
		if err := runEventLoops(ctx, c, raws, seed, end, &tickets, tallies); err != nil {
			return nil, err
		}
		return merge(mode, c.Concurrency, c.Rate, time.Since(start), tallies), nil
	}
	var wg sync.WaitGroup
	for w := range c.Concurrency {
		t := tallies[w]
		r := rand.New(rand.NewPCG(seed, uint64(w)))
		wg.Go(func() {
			send := newSender(c, raws)
			defer send.close()
			var recent []sent
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			for ctx.Err() == nil {
				i := tickets.Add(1) - 1
				if c.MaxRequests > 0 && i >= c.MaxRequests {
					return
				}
				var intended time.Time
				if c.Rate > 0 {
					intended = Arrival(start, i, c.Rate)
					if !intended.Before(end) {
						return
					}
					if d := time.Until(intended); d > 0 {
						timer.Reset(d)
						select {
						case <-timer.C:
						case <-ctx.Done():
							return
						}
					} else if time.Since(end) > c.Grace {
						return // late beyond grace: the rest are counted as missed
					}
				} else if !time.Now().Before(end) {
					return
				}
				ti, m, dup := next(c, r, recent)
				if c.Rate <= 0 {
					intended = time.Now()
				}
				status, dupAck, err := send.send(ctx, ti, m)
				lat := time.Since(intended)
				if err != nil && ctx.Err() != nil {
					return // the run was cut off; this request does not count
				}
				if dup {
					t.dupSent++
				}
				if err != nil {
					t.record(lat, 0, false, errorKind(err))
					continue
				}
				t.record(lat, status, dupAck, "")
				if !dup && status >= 200 && status < 300 && c.DupShare > 0 {
					recent = remember(recent, sent{ti, m}, r)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var expected int64
	if c.Rate > 0 {
		// An open-loop run lasts as long as its arrivals, not until the last answer:
		// latencies already carry any lateness.
		expected = int64(c.Duration.Seconds() * c.Rate)
		if c.MaxRequests > 0 && c.MaxRequests < expected {
			expected = c.MaxRequests
		}
		elapsed = Arrival(start, expected, c.Rate).Sub(start)
	}
	res := merge(mode, c.Concurrency, c.Rate, elapsed, tallies)
	if c.Rate > 0 {
		res.Missed = max(expected-res.Requests, 0)
	}
	return res, nil
}

// sender is one worker's way of sending: a non-nil error means no answer came back.
type sender interface {
	send(ctx context.Context, target int, m vendors.Message) (status int, dup bool, err error)
	close()
}

// newSender returns the worker's sender: the raw engine's connections when raws is set,
// else the shared client.
func newSender(c Config, raws []*rawTarget) sender {
	if raws == nil {
		return &clientSender{c: c}
	}
	conns := make([]rawConn, len(raws))
	for i, rt := range raws {
		conns[i] = rawConn{t: rt, timeout: c.Timeout}
	}
	return &rawSender{signer: c.Signer, conns: conns}
}

// clientSender sends through net/http.
type clientSender struct{ c Config }

func (s *clientSender) send(ctx context.Context, target int, m vendors.Message) (int, bool, error) {
	a, err := Send(ctx, s.c.Client, s.c.Signer, s.c.Targets[target].URL, m, false)
	if a == nil {
		return 0, false, err
	}
	return a.Status, a.Duplicate(), nil // an answer whose body broke off still counts
}

func (s *clientSender) close() {}

// rawSender sends on the worker's own raw connections, one per target.
type rawSender struct {
	signer *senderauth.Signer
	conns  []rawConn
}

func (s *rawSender) send(ctx context.Context, target int, m vendors.Message) (int, bool, error) {
	return s.conns[target].send(ctx, s.signer, m, time.Now())
}

func (s *rawSender) close() {
	for i := range s.conns {
		s.conns[i].close()
	}
}

// next picks the message to send: with probability DupShare a remembered accepted event,
// otherwise a new event for a random target.
func next(c Config, r *rand.Rand, recent []sent) (int, vendors.Message, bool) {
	if len(recent) > 0 && c.DupShare > 0 && r.Float64() < c.DupShare {
		s := recent[r.IntN(len(recent))]
		return s.target, s.msg, true
	}
	ti := 0
	if len(c.Targets) > 1 {
		ti = r.IntN(len(c.Targets))
	}
	return ti, c.Targets[ti].Gen.Next(r), false
}

// remember adds s to the bounded set of duplicate candidates, replacing a random one
// when it is full.
func remember(recent []sent, s sent, r *rand.Rand) []sent {
	if len(recent) < recentSize {
		return append(recent, s)
	}
	recent[r.IntN(len(recent))] = s
	return recent
}

// Arrival is the intended send time of the i-th arrival (from 0) of an open-loop run at
// rate per second that started at start. Arrivals are evenly spaced: a constant rate,
// whatever the answers do.
func Arrival(start time.Time, i int64, rate float64) time.Time {
	return start.Add(time.Duration(float64(i) * float64(time.Second) / rate))
}
