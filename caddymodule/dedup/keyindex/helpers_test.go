package keyindex

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"
)

// keyN is a pseudo-random key derived from n (splitmix64), made without allocating, so
// that memory measurements count the index and not the keys.
func keyN(n uint64) Key {
	var k Key
	binary.LittleEndian.PutUint64(k[:8], mix(n))
	binary.LittleEndian.PutUint64(k[8:], mix(n^0x9e3779b97f4a7c15))
	return k
}

func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newIndex(t testing.TB, c Config) *Index {
	t.Helper()
	ix, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ix.Close)
	return ix
}

func mustInsert(t testing.TB, ix *Index, k Key, at time.Time) bool {
	t.Helper()
	added, err := ix.Insert(k, at)
	if err != nil {
		t.Fatal(err)
	}
	return added
}
