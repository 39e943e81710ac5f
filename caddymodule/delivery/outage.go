package delivery

import (
	"sync/atomic"
	"time"
)

// maxOutagePause caps the pause of a route whose application is unreachable.
const maxOutagePause = 30 * time.Second

// outage pauses a route's fetching while its application cannot be reached at
// all (a refused connection or a timeout, not an HTTP status). Without it every
// queued event keeps cycling through failed attempts, which costs CPU that the
// acks need (and floods a recovering application). Each further unreachable
// attempt doubles the pause from BackoffMin up to min(BackoffMax, 30s); one
// answer from the application, whatever its status, ends the outage. The events
// keep their own backoff; the pause only stops new attempts from starting.
type outage struct {
	until atomic.Int64 // unix nanoseconds; fetching waits until then
	step  atomic.Int64 // current pause, nanoseconds
	since atomic.Int64 // unix nanoseconds of the first unreachable attempt of the outage; 0 when none
}

// observe records the result of one attempt.
func (o *outage) observe(p *Policy, reached bool, now time.Time) {
	if reached {
		o.step.Store(0)
		o.until.Store(0)
		o.since.Store(0)
		return
	}
	o.since.CompareAndSwap(0, now.UnixNano())
	ceiling := min(p.BackoffMax, maxOutagePause)
	step := time.Duration(o.step.Load())
	if step == 0 {
		step = p.BackoffMin
	} else {
		step = min(2*step, ceiling)
	}
	step = min(step, ceiling)
	o.step.Store(int64(step))
	o.until.Store(now.Add(step).UnixNano())
}

// wait reports how long fetching should still pause.
func (o *outage) wait(now time.Time) time.Duration {
	until := o.until.Load()
	if until == 0 {
		return 0
	}
	return max(time.Duration(until-now.UnixNano()), 0)
}

// Outage reports whether the route's application is unreachable, as the workers last saw it:
// since is the first unreachable attempt of the current outage (zero when there is none), and
// resumeIn how long fetching still pauses before the next attempt.
func (r *Queue) Outage() (since time.Time, resumeIn time.Duration) {
	ns := r.down.since.Load()
	if ns == 0 {
		return time.Time{}, 0
	}
	return time.Unix(0, ns), r.down.wait(r.now())
}
