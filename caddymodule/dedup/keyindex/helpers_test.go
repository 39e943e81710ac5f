package keyindex

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
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

// newClock is a clock the tests move by hand.
func newClock() *testkit.Clock { return testkit.NewClock(time.Unix(1_800_000_000, 0)) }

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
