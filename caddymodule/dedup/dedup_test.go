package dedup

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memAuthority is an exact in-memory authority for the tests of the tier's policy.
type memAuthority struct {
	mu   sync.Mutex
	keys map[string]bool
	err  error
}

func (m *memAuthority) Seen(_ context.Context, k string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keys[k], m.err
}

func (m *memAuthority) Record(_ context.Context, k string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil {
		m.keys = map[string]bool{}
	}
	m.keys[k] = true
	return m.err
}

func newTier(t *testing.T) *Tier {
	t.Helper()
	tier, err := New(1000)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tier.Close)
	return tier
}

func TestHash(t *testing.T) {
	tests := []struct{ a, b string }{
		{"unico:idcloud:1:PROCESS_STATE_FINISHED", "unico:idcloud:2:PROCESS_STATE_FINISHED"},
		{"", " "},
	}
	for _, tc := range tests {
		t.Run(tc.a, func(t *testing.T) {
			ha, hb := Hash(tc.a), Hash(tc.b)
			if len(ha) != 22 || len(hb) != 22 {
				t.Fatalf("hash length %d/%d, want 22", len(ha), len(hb))
			}
			if ha == hb {
				t.Fatal("different keys gave the same hash")
			}
			if ha != Hash(tc.a) {
				t.Fatal("hash not stable")
			}
		})
	}
}

func TestGateConcurrentDuplicatesPassOnce(t *testing.T) {
	tier := newTier(t)
	a := &memAuthority{}
	var passed atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dup, done, err := tier.Gate(context.Background(), a, "k", time.Hour)
			if err != nil {
				t.Error(err)
				return
			}
			if dup {
				return
			}
			passed.Add(1)
			if err := done(true); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := passed.Load(); got != 1 {
		t.Fatalf("%d requests passed, want 1", got)
	}
}

func TestGateFailedNextLetsRetryThrough(t *testing.T) {
	tier := newTier(t)
	a := &memAuthority{}
	for i, wantDup := range []bool{false, false} {
		dup, done, err := tier.Gate(context.Background(), a, "k", time.Hour)
		if err != nil || dup != wantDup {
			t.Fatalf("attempt %d: dup=%v err=%v, want dup=%v", i, dup, err, wantDup)
		}
		if err := done(false); err != nil { // the next handler answered 5xx
			t.Fatal(err)
		}
	}
	dup, done, _ := tier.Gate(context.Background(), a, "k", time.Hour)
	if dup {
		t.Fatal("unexpected duplicate")
	}
	_ = done(true)
	if dup, _, _ := tier.Gate(context.Background(), a, "k", time.Hour); !dup {
		t.Fatal("a key recorded after a 2xx must be a duplicate")
	}
}

func TestGateAuthorityIsConsultedOnCacheMiss(t *testing.T) {
	tier := newTier(t)
	a := &memAuthority{keys: map[string]bool{"old": true}}
	dup, _, err := tier.Gate(context.Background(), a, "old", time.Hour)
	if err != nil || !dup {
		t.Fatalf("dup=%v err=%v, want a duplicate from the authority", dup, err)
	}
}

func TestGateAuthorityErrorFailsClosed(t *testing.T) {
	tier := newTier(t)
	a := &memAuthority{err: errors.New("store down")}
	dup, done, err := tier.Gate(context.Background(), a, "k", time.Hour)
	if err == nil || dup || done != nil {
		t.Fatalf("dup=%v done=%v err=%v, want an error and no pass", dup, done != nil, err)
	}
	// The lock must have been released: a second call must not block.
	a.err = nil
	if _, done, err := tier.Gate(context.Background(), a, "k", time.Hour); err != nil || done == nil {
		t.Fatalf("second call: err=%v", err)
	} else {
		_ = done(false)
	}
}

func TestKeyedLocksRelease(t *testing.T) {
	var k keyedLocks
	k.init()
	unlock := k.lock("a")
	unlock()
	for i := range k.shards {
		if n := len(k.shards[i].locks); n != 0 {
			t.Fatalf("shard %d holds %d locks after release", i, n)
		}
	}
}

func BenchmarkGateCachedDuplicate(b *testing.B) {
	tier, _ := New(1000)
	defer tier.Close()
	a := &memAuthority{}
	_, done, _ := tier.Gate(context.Background(), a, "k", time.Hour)
	_ = done(true)
	tier.cache.Wait()
	b.ReportAllocs()
	for b.Loop() {
		tier.Gate(context.Background(), a, "k", time.Hour)
	}
}

func BenchmarkGateNewKey(b *testing.B) {
	tier, _ := New(100_000)
	defer tier.Close()
	a := &memAuthority{}
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = Hash(string(rune(i)) + "key")
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, done, _ := tier.Gate(context.Background(), a, keys[i%len(keys)]+"x", time.Hour)
		if done != nil {
			_ = done(false)
		}
		i++
	}
}
