package delivery

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/dedup"
)

// TestCASAcrossIndexes: two Routes of one name on one store stand for two processes, each with
// its own key index. A key one of them stored is a duplicate to the other at once (its stale
// index fails the compare-and-set, catches up and finds the key), and racing duplicates from
// both sides are new exactly once.
func TestCASAcrossIndexes(t *testing.T) {
	s := openStore(t, t.TempDir())
	cfg := QueueConfig{Name: "cas", DedupWindow: time.Hour, Forward: policy("http://127.0.0.1:1")}
	a := newRoute(t, s, cfg)
	b := newRoute(t, s, cfg)
	ctx := testCtx(t)
	for i := range 50 {
		kh := dedup.Hash(fmt.Sprintf("seq-%d", i))
		if dup, err := a.Accept(ctx, kh, event(fmt.Sprintf("a%d", i))); err != nil || dup {
			t.Fatalf("first accept of %d: dup=%v err=%v", i, dup, err)
		}
		if dup, err := b.Accept(ctx, kh, event(fmt.Sprintf("b%d", i))); err != nil || !dup {
			t.Fatalf("the other index, key %d: dup=%v err=%v, want a duplicate", i, dup, err)
		}
	}
	// Each key is sent by both routes at about the same moment: exactly one of the two is new.
	const n = 400
	news := make([]int, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, r := range []*Queue{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				kh := dedup.Hash(fmt.Sprintf("race-%d", i))
				dup, err := r.Accept(ctx, kh, event(fmt.Sprintf("r%d", i)))
				if err != nil {
					t.Errorf("accept %d: %v", i, err)
					return
				}
				if !dup {
					mu.Lock()
					news[i]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for i, c := range news {
		if c != 1 {
			t.Errorf("key %d was new %d times, want once", i, c)
		}
	}
	info, err := a.ev.Info(ctx)
	if err != nil || info.State.Msgs != 50+n {
		t.Fatalf("stream holds %d messages (%v), want %d: one per key", info.State.Msgs, err, 50+n)
	}
}

// TestRestartLoadsWindow: a route opened again on the same store knows the keys of the window
// before it answers, from the stream alone.
func TestRestartLoadsWindow(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	cfg := QueueConfig{Name: "restart", DedupWindow: time.Hour}
	r := newRoute(t, s, cfg)
	ctx := testCtx(t)
	const n = 2000
	for i := range n {
		if err := r.Record(ctx, dedup.Hash(fmt.Sprintf("k%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, dir)
	r2 := newRoute(t, s2, cfg)
	for i := range n {
		seen, err := r2.Seen(ctx, dedup.Hash(fmt.Sprintf("k%d", i)))
		if err != nil || !seen {
			t.Fatalf("key %d after the restart: seen=%v err=%v", i, seen, err)
		}
	}
	if seen, err := r2.Seen(ctx, dedup.Hash("other")); err != nil || seen {
		t.Fatalf("a key never recorded: seen=%v err=%v", seen, err)
	}
}

// The CAS figures count every compare-and-set publish and each race lost: a stale index that
// another writer got ahead of loses one.
func TestCASCounts(t *testing.T) {
	s := openStore(t, t.TempDir())
	cfg := QueueConfig{Name: "cascount", DedupWindow: time.Hour, Forward: policy("http://127.0.0.1:1")}
	a := newRoute(t, s, cfg)
	b := newRoute(t, s, cfg)
	ctx := testCtx(t)
	kh := dedup.Hash("first")
	if dup, err := a.Accept(ctx, kh, event("c1")); err != nil || dup {
		t.Fatalf("accept: dup=%v err=%v", dup, err)
	}
	if got := a.CAS(); got != (CASStats{Publishes: 1}) {
		t.Errorf("after one new event: %+v", got)
	}
	// b's index may not have applied a's event yet; either way the key is a duplicate, and a
	// publish b tried lost its race.
	if dup, err := b.Accept(ctx, kh, event("c2")); err != nil || !dup {
		t.Fatalf("other index: dup=%v err=%v", dup, err)
	}
	if got := b.CAS(); got.Publishes != got.WrongLast || got.InFlight != 0 || got.Publishes > 1 {
		t.Errorf("a duplicate from a stale index: %+v, want every publish a lost race", got)
	}
	st, err := a.Stats(ctx)
	if err != nil || st.CAS.Publishes != 1 {
		t.Errorf("stats: %+v, %v", st.CAS, err)
	}
}
