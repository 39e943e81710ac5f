package dedup

import (
	"hash/maphash"
	"sync"
)

const lockShards = 64

// keyedLocks is a set of mutexes keyed by string, created on demand and removed
// when nobody holds or waits for them, so memory stays proportional to the
// number of keys in flight rather than the number of keys ever seen.
type keyedLocks struct {
	seed   maphash.Seed
	shards [lockShards]lockShard
}

type lockShard struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedLocks) init() {
	k.seed = maphash.MakeSeed()
	for i := range k.shards {
		k.shards[i].locks = make(map[string]*keyLock)
	}
}

// lock blocks until the caller holds the key's lock and returns its release.
func (k *keyedLocks) lock(key string) func() {
	s := &k.shards[maphash.String(k.seed, key)%lockShards]
	s.mu.Lock()
	l := s.locks[key]
	if l == nil {
		l = &keyLock{}
		s.locks[key] = l
	}
	l.refs++
	s.mu.Unlock()

	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(s.locks, key)
		}
		s.mu.Unlock()
	}
}
