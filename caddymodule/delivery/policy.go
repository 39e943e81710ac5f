package delivery

import (
	"net/http"
	"time"

	"go.uber.org/zap"
)

// Defaults of a Policy and a QueueConfig, applied to zero values.
const (
	DefaultTimeout     = 30 * time.Second
	DefaultMaxAttempts = 20
	DefaultMaxAge      = 72 * time.Hour
	DefaultBackoffMin  = time.Second
	DefaultBackoffMax  = 10 * time.Minute
	DefaultConcurrency = 16
	DefaultDedupWindow = 24 * time.Hour
	DefaultMaxQueue    = 1 << 30
	DefaultRetain      = 72 * time.Hour
	// RetainNone as Policy.Retain keeps delivered events no longer than the dedup window.
	RetainNone time.Duration = -1
)

// Policy is the forward block of a route: where and how accepted events are delivered.
// Zero values take the defaults above.
type Policy struct {
	// URL receives a POST per delivery attempt. Redirects are not followed: a 3xx answer is a
	// failed attempt, so an event never silently lands on another host.
	URL string
	// Timeout bounds one attempt, from dialling to the end of the response headers. Default 30s.
	Timeout time.Duration
	// MaxAttempts is the number of attempts before the event is dead-lettered. Default 20.
	MaxAttempts int
	// MaxAge is how long after it was queued an event is still retried. Retries are scheduled so
	// that the last one happens at MaxAge; if it fails, the event is dead-lettered. Default 72h.
	MaxAge time.Duration
	// Retain is how long after it was accepted a delivered event is kept in the store as history.
	// The dedup window's events are kept in any case (the window's keys live in them), and an
	// undelivered event is never purged. Default 72h; RetainNone keeps only the window.
	Retain time.Duration
	// BackoffMin and BackoffMax bound the delay between attempts: exponential from BackoffMin,
	// doubling per attempt, capped at BackoffMax, with full jitter. Defaults 1s and 10m.
	BackoffMin, BackoffMax time.Duration
	// Concurrency is the number of attempts in flight at once for the route in this process.
	// Default 16.
	Concurrency int
	// Rate caps the attempts per second of the route in this process; 0 means unlimited.
	Rate float64
	// RateBurst is the burst of the rate limiter; default 1.
	RateBurst int
	// DeadLetterOn lists application statuses that dead-letter the event at once instead of
	// retrying.
	DeadLetterOn []int
	// HeaderUp holds header fields set on every forwarded request, after the vendor's extra
	// headers and before the X-Webhook-* fields (which cannot be overridden). "Host" sets the
	// request's Host.
	HeaderUp http.Header
	// SignSecret is the raw HMAC key for Standard Webhooks signatures on forwarded requests
	// (auth.SignStandardWebhook); nil means no signature. auth.DecodeStandardWebhookSecret turns a
	// "whsec_" secret into this key.
	SignSecret []byte
	// MaxQueue is the route's quota in the store, in bytes: all it keeps there, its event
	// stream (undelivered events, history, dedup records), its outcome records and its dead
	// letters. An event that would pass it first has the oldest delivered history given up;
	// when that is not enough, Accept and Quarantine refuse it with ErrQueueFull. No undelivered
	// event and no dead letter is ever dropped. Default 1 GiB.
	MaxQueue int64
}

// QueueConfig configures one route. Name is its stable identity; the other fields can change
// while the route runs (Queue.Update).
type QueueConfig struct {
	// Name identifies the route's queue and dedup window (see ValidRouteName).
	Name string
	// DedupWindow is how long an idempotency key is remembered after its event was accepted.
	// Default 24h.
	DedupWindow time.Duration
	// Forward is the delivery policy; nil means gate mode (Seen and Record only, no delivery).
	Forward *Policy
	// Logger receives the route's logs; nil means no logs.
	Logger *zap.Logger
	// Observer receives delivery metrics; nil means none.
	Observer Observer
}

// Attempt results reported to an Observer.
const (
	ResultSuccess    = "success"     // the application answered 2xx
	ResultRetry      = "retry"       // the attempt failed and a retry is scheduled
	ResultDeadLetter = "dead_letter" // the attempt failed and the event was dead-lettered
	ResultError      = "error"       // the gateway could not finish handling the event (store error); it is retried
)

// Observer receives delivery metrics. Implementations must be safe for concurrent use and fast:
// they are called on the delivery path.
type Observer interface {
	// Attempt reports one finished delivery attempt with one of the Result* values, the
	// application's status (0 when no response arrived) and the attempt's latency.
	Attempt(route, result string, status int, latency time.Duration)
	// DeadLettered reports an event moved to the dead letters (including quarantined events).
	DeadLettered(route string)
}

type nopObserver struct{}

func (nopObserver) Attempt(string, string, int, time.Duration) {}
func (nopObserver) DeadLettered(string)                        {}

// ackMargin is added to the attempt timeout to form the consumer's AckWait: it covers the time
// between the fetch and the request, and between the response and the ack. Workers also send
// InProgress while they hold a message, so a slow rate limiter never lets it expire.
const ackMargin = 30 * time.Second

// settings is the live configuration of a running route, swapped atomically by Update.
type settings struct {
	window  time.Duration
	fwd     *Policy // defaults applied; nil in gate mode
	log     *zap.Logger
	obs     Observer
	ackWait time.Duration
	client  *http.Client
	dlOn    map[int]bool
}

func (p Policy) withDefaults() Policy {
	if p.Timeout <= 0 {
		p.Timeout = DefaultTimeout
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.MaxAge <= 0 {
		p.MaxAge = DefaultMaxAge
	}
	if p.Retain == 0 {
		p.Retain = DefaultRetain
	} else if p.Retain < 0 {
		p.Retain = 0
	}
	if p.BackoffMin <= 0 {
		p.BackoffMin = DefaultBackoffMin
	}
	if p.BackoffMax <= 0 {
		p.BackoffMax = DefaultBackoffMax
	}
	if p.BackoffMax < p.BackoffMin {
		p.BackoffMax = p.BackoffMin
	}
	if p.Concurrency <= 0 {
		p.Concurrency = DefaultConcurrency
	}
	if p.RateBurst <= 0 {
		p.RateBurst = 1
	}
	if p.MaxQueue <= 0 {
		p.MaxQueue = DefaultMaxQueue
	}
	return p
}
