package auth

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Failure throttle of the token endpoint. Without it a sender that reaches the token path can
// try secrets as fast as the network allows. Only failed client authentications spend a token,
// so a vendor that authenticates correctly is never slowed down; once a (client id, source IP)
// pair has spent its burst, the endpoint answers 429 without checking the secret at all, so
// throttled guesses learn nothing.
const (
	// throttleBurst failures are allowed at once per client id and source IP.
	throttleBurst = 5
	// throttleEvery is the time one more failure is earned back.
	throttleEvery = 12 * time.Second
	// throttleEntries bounds the table: client ids and addresses are chosen by the sender.
	throttleEntries = 10_000
	// unknownClient stands for every client id that is not configured, so invented ids share
	// one bucket per source address instead of growing the table.
	unknownClient = "\x00unknown"
)

// failureThrottle counts failed client authentications per (client id, source address).
type failureThrottle struct {
	mu      sync.Mutex
	entries map[throttleKey]*rate.Limiter
}

type throttleKey struct{ client, source string }

func newFailureThrottle() *failureThrottle {
	return &failureThrottle{entries: map[throttleKey]*rate.Limiter{}}
}

// wait reports how long the pair must wait before its next attempt is even checked; zero
// means it may try now.
func (t *failureThrottle) wait(k throttleKey, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	lim := t.entries[k]
	if lim == nil {
		return 0
	}
	tokens := lim.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - tokens) * float64(throttleEvery)))
}

// fail spends one token of the pair.
func (t *failureThrottle) fail(k throttleKey, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	lim := t.entries[k]
	if lim == nil {
		if len(t.entries) >= throttleEntries {
			t.evict(now)
		}
		lim = rate.NewLimiter(rate.Every(throttleEvery), throttleBurst)
		t.entries[k] = lim
	}
	lim.AllowN(now, 1)
}

// evict drops the entries that have earned their whole burst back (they hold no state worth
// keeping); if none has, it drops an arbitrary one, so the table stays bounded. Called with
// t.mu held.
func (t *failureThrottle) evict(now time.Time) {
	for k, lim := range t.entries {
		if lim.TokensAt(now) >= throttleBurst {
			delete(t.entries, k)
		}
	}
	if len(t.entries) < throttleEntries {
		return
	}
	for k := range t.entries {
		delete(t.entries, k)
		return
	}
}
