package delivery

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// backoff returns the delay after the failed attempt number attempt (1-based): a uniformly
// random duration in [min, ceil], where ceil = min·2^(attempt-1) capped at max ("full jitter"
// above the floor min). rnd(n) must return a value in [0, n).
func backoff(min, max time.Duration, attempt int, rnd func(int64) int64) time.Duration {
	if min <= 0 {
		min = time.Millisecond
	}
	if max < min {
		max = min
	}
	ceil := min
	for i := 1; i < attempt && ceil < max; i++ {
		ceil *= 2
		if ceil <= 0 || ceil > max {
			ceil = max
		}
	}
	span := int64(ceil - min)
	if span <= 0 {
		return min
	}
	return min + time.Duration(rnd(span+1))
}

// retryDelay is the delay before the next attempt: the backoff, or the application's
// Retry-After when it gave one (never below BackoffMin, never above BackoffMax), shortened so
// that the next attempt happens no later than the deadline (queued time + MaxAge).
func retryDelay(p *Policy, attempt int, retryAfter time.Duration, hasRetryAfter bool, rnd func(int64) int64, now, deadline time.Time) time.Duration {
	d := backoff(p.BackoffMin, p.BackoffMax, attempt, rnd)
	if hasRetryAfter {
		d = min(max(retryAfter, p.BackoffMin), p.BackoffMax)
	}
	if left := deadline.Sub(now); left < d {
		d = max(left, 0)
	}
	return d
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(365*24*time.Hour/time.Second) {
			secs = int64(365 * 24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}
