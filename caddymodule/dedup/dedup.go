// Package dedup decides whether an idempotency key was already seen. Ristretto is
// the in-process first tier: a positive hit there is answered without a round
// trip. The store is the authority, because ristretto's Set is asynchronous and
// may be dropped by its admission policy, and because the window must survive
// restarts and span replicas. A per-key lock makes check-then-act safe for
// concurrent duplicates inside one process; the store's atomic insert does the
// same across processes.
package dedup

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Authority is the durable record of keys in the window (the store).
type Authority interface {
	// Seen reports whether the key hash is in the window.
	Seen(ctx context.Context, keyHash string) (bool, error)
	// Record puts the key hash into the window.
	Record(ctx context.Context, keyHash string) error
}

// Hash maps an idempotency key to a fixed-size token that is safe as a store
// subject: the first 128 bits of its SHA-256, base64url without padding (22
// characters). Fixed size bounds the memory a key costs whatever the vendor sends.
func Hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// Tier is the in-process first tier plus the per-key locks.
type Tier struct {
	cache *ristretto.Cache[string, struct{}]
	locks keyedLocks
}

// DefaultCacheKeys is the size of a route's first tier: a fixed memory budget (a few MB), not a
// cost per key of the window.
const DefaultCacheKeys = 100_000

// New returns a tier that caches up to maxKeys recent keys (DefaultCacheKeys when maxKeys <= 0).
func New(maxKeys int64) (*Tier, error) {
	if maxKeys <= 0 {
		maxKeys = DefaultCacheKeys
	}
	c, err := ristretto.NewCache(&ristretto.Config[string, struct{}]{
		NumCounters: maxKeys * 10,
		MaxCost:     maxKeys,
		BufferItems: 64,
	})
	if err != nil {
		return nil, fmt.Errorf("creating dedup cache: %v", err)
	}
	t := &Tier{cache: c}
	t.locks.init()
	return t, nil
}

// Cached reports a fast positive: the key was seen recently in this process.
// A miss means nothing; ask the authority.
func (t *Tier) Cached(keyHash string) bool {
	_, ok := t.cache.Get(keyHash)
	return ok
}

// Remember caches the key for ttl. It is best effort (ristretto may drop it).
func (t *Tier) Remember(keyHash string, ttl time.Duration) {
	t.cache.SetWithTTL(keyHash, struct{}{}, 1, ttl)
}

// Gate runs the gate-mode check for one request. When dup is false the caller
// must call done exactly once with whether the next handler answered 2xx; the
// key is recorded only then, and concurrent requests with the same key wait
// until done so that only one of them reaches the next handler. An authority
// error is returned as is and the caller must not let the request through.
func (t *Tier) Gate(ctx context.Context, a Authority, keyHash string, ttl time.Duration) (dup bool, done func(passed bool) error, err error) {
	if t.Cached(keyHash) {
		return true, nil, nil
	}
	unlock := t.locks.lock(keyHash)
	if t.Cached(keyHash) {
		unlock()
		return true, nil, nil
	}
	seen, err := a.Seen(ctx, keyHash)
	if err != nil {
		unlock()
		return false, nil, err
	}
	if seen {
		t.Remember(keyHash, ttl)
		unlock()
		return true, nil, nil
	}
	return false, func(passed bool) error {
		defer unlock()
		if !passed {
			return nil
		}
		// Record before unlocking, so a waiter finds the key in the authority
		// even if the ristretto Set below is dropped or not yet applied.
		rerr := a.Record(context.WithoutCancel(ctx), keyHash)
		t.Remember(keyHash, ttl)
		return rerr
	}, nil
}

// Close releases the cache.
func (t *Tier) Close() {
	t.cache.Close()
}
