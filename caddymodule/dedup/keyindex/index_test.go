package keyindex

import (
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestInsertAndLookup(t *testing.T) {
	c := newClock()
	ix := newIndex(t, Config{Window: time.Hour, Now: c.Now})
	const n = 50_000
	for i := range uint64(n) {
		if !mustInsert(t, ix, keyN(i), c.Now()) {
			t.Fatalf("key %d not new", i)
		}
	}
	for i := range uint64(n) {
		if mustInsert(t, ix, keyN(i), c.Now()) {
			t.Fatalf("key %d new on the second insert", i)
		}
		at, ok := ix.Lookup(keyN(i))
		if !ok || !at.Equal(c.Now()) {
			t.Fatalf("key %d: lookup %v %v", i, at, ok)
		}
		if ix.Contains(keyN(i + n)) {
			t.Fatalf("key %d found but never inserted", i+n)
		}
	}
	if st := ix.Stats(); st.Keys != n {
		t.Fatalf("stats count %d keys, want %d", st.Keys, n)
	}
}

// TestKeyBitsThatCount: keys differing anywhere in their first 96 bits are distinct;
// the last 32 bits are not kept.
func TestKeyBitsThatCount(t *testing.T) {
	c := newClock()
	ix := newIndex(t, Config{Window: time.Hour, Now: c.Now})
	var base Key
	mustInsert(t, ix, base, c.Now())
	for bit := range 96 {
		k := base
		k[bit/8] ^= 1 << (bit % 8)
		if ix.Contains(k) {
			t.Fatalf("key with bit %d flipped found", bit)
		}
	}
	k := base
	k[15] = 0xff
	if !ix.Contains(k) {
		t.Fatal("bits 96–127 are not meant to count")
	}
}

func TestLaterAcceptanceWins(t *testing.T) {
	c := newClock()
	ix := newIndex(t, Config{Window: time.Minute, Now: c.Now})
	k := keyN(1)
	t0 := c.Now()
	mustInsert(t, ix, k, t0.Add(-30*time.Second))
	mustInsert(t, ix, k, t0)
	mustInsert(t, ix, k, t0.Add(-50*time.Second)) // older: must not shorten the window
	if at, _ := ix.Lookup(k); !at.Equal(t0) {
		t.Fatalf("accepted at %v, want %v", at, t0)
	}
}

// TestExpiryBoundary: a key accepted at T is a duplicate for at least the whole window
// and at most one second longer, before and after a sweep.
func TestExpiryBoundary(t *testing.T) {
	c := newClock()
	const w = 10 * time.Second
	ix := newIndex(t, Config{Window: w, Now: c.Now})
	k := keyN(7)
	at := c.Now().Add(900 * time.Millisecond) // accepted late in its second
	mustInsert(t, ix, k, at)
	c.Advance(900*time.Millisecond + w - time.Nanosecond) // just before at+w
	if !ix.Contains(k) {
		t.Fatal("key gone before its window ended")
	}
	if n, _ := ix.Sweep(); n != 0 || !ix.Contains(k) {
		t.Fatalf("sweep removed %d keys inside the window", n)
	}
	c.Advance(time.Second + time.Nanosecond) // at+w+1s-ish: past the grace second
	if ix.Contains(k) {
		t.Fatal("key still there more than a second after its window")
	}
	if st := ix.Stats(); st.Keys != 1 {
		t.Fatalf("expiry is lazy: %d keys before the sweep, want 1", st.Keys)
	}
	if !mustInsert(t, ix, k, c.Now()) {
		t.Fatal("expired key not reported new on insert")
	}
	c.Advance(2 * w)
	if n, _ := ix.Sweep(); n != 1 || ix.Stats().Keys != 0 {
		t.Fatalf("sweep removed %d, %d left; want 1, 0", n, ix.Stats().Keys)
	}
}

func TestSetWindow(t *testing.T) {
	c := newClock()
	ix := newIndex(t, Config{Window: time.Minute, Now: c.Now})
	mustInsert(t, ix, keyN(1), c.Now())
	c.Advance(5 * time.Minute)
	if ix.Contains(keyN(1)) {
		t.Fatal("expired key found")
	}
	ix.SetWindow(time.Hour)
	if !ix.Contains(keyN(1)) || ix.Window() != time.Hour {
		t.Fatal("a longer window does not bring back an unswept key")
	}
	ix.SetWindow(1500 * time.Millisecond)
	if ix.Window() != 2*time.Second {
		t.Fatalf("window %v, want rounded up to 2s", ix.Window())
	}
}

// TestGrowthAccounting fills an index that starts small and checks after each step that
// every key is still there and that the table's own accounting stays at 16 B a slot,
// 21–33 B a key once the tables are past their first page.
func TestGrowthAccounting(t *testing.T) {
	c := newClock()
	ix := newIndex(t, Config{Window: time.Hour, Now: c.Now})
	var n uint64
	for _, target := range []uint64{1000, 20_000, 100_000, 300_000} {
		for ; n < target; n++ {
			mustInsert(t, ix, keyN(n), c.Now())
		}
		for i := range n {
			if !ix.Contains(keyN(i)) {
				t.Fatalf("after %d inserts key %d is lost", n, i)
			}
		}
		st := ix.Stats()
		if st.Keys != int(n) || st.Bytes != 16*st.Slots {
			t.Fatalf("stats %+v after %d keys", st, n)
		}
		t.Logf("%7d keys: %8d slots, %.1f B/key", n, st.Slots, st.BytesPerKey())
		if n >= 100_000 && (st.BytesPerKey() < 21 || st.BytesPerKey() > 33) {
			t.Fatalf("%.1f B/key at %d keys, want 21–33", st.BytesPerKey(), n)
		}
	}
}

func TestCapacityPresizes(t *testing.T) {
	ix := newIndex(t, Config{Window: time.Hour, Capacity: 200_000})
	before := ix.Stats().Slots
	for i := range uint64(200_000) {
		mustInsert(t, ix, keyN(i), time.Now())
	}
	st := ix.Stats()
	if st.Slots != before {
		t.Fatalf("a presized index grew: %d → %d slots", before, st.Slots)
	}
	if b := st.BytesPerKey(); b < 21 || b > 25 {
		t.Fatalf("%.1f B/key presized, want about 24", b)
	}
}

func TestSweepShrinksAndKeepsLive(t *testing.T) {
	c := newClock()
	ix := newIndex(t, Config{Window: time.Minute, Now: c.Now, Shards: 4})
	for i := range uint64(100_000) {
		mustInsert(t, ix, keyN(i), c.Now())
	}
	big := ix.Stats().Slots
	c.Advance(2 * time.Minute)
	for i := range uint64(1000) {
		mustInsert(t, ix, keyN(1_000_000+i), c.Now())
	}
	removed, err := ix.Sweep()
	if err != nil || removed != 100_000 {
		t.Fatalf("sweep removed %d, %v; want 100000", removed, err)
	}
	st := ix.Stats()
	if st.Keys != 1000 || st.Slots*4 > big {
		t.Fatalf("after the sweep %+v (was %d slots): want 1000 keys in a smaller table", st, big)
	}
	for i := range uint64(1000) {
		if !ix.Contains(keyN(1_000_000 + i)) {
			t.Fatalf("live key %d lost by the sweep", i)
		}
	}
}

// TestTableAgainstModel drives one small table with clustered keys (homes crowded near
// both ends, so chains wrap) through random puts, sweeps and deletes, and compares it
// with a map after every step.
func TestTableAgainstModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		tb, err := newTable(0)
		if err != nil {
			t.Fatal(err)
		}
		model := map[[2]uint64]uint32{}
		for range 2000 {
			// a: top bits pick one of 16 homes at the two ends of the table.
			a := uint64(r.IntN(8))<<58 | uint64(r.IntN(4))
			if r.IntN(2) == 0 {
				a |= 0xf << 60
			}
			fp := uint32(r.IntN(3))
			k := [2]uint64{a, uint64(fp)}
			switch op := r.IntN(10); {
			case op < 6 && !tb.full():
				sec := uint32(1 + r.IntN(100))
				tb.put(a, fp, sec)
				model[k] = max(model[k], sec)
			case op < 8:
				if i, ok := tb.find(a, fp); ok {
					tb.del(i)
					delete(model, k)
				}
			default:
				cut := uint32(r.IntN(100))
				tb.sweep(cut)
				for mk, s := range model {
					if s < cut {
						delete(model, mk)
					}
				}
			}
			if tb.n != len(model) {
				t.Fatalf("round %d: table has %d entries, model %d", round, tb.n, len(model))
			}
			for mk, s := range model {
				if got, ok := tb.get(mk[0], uint32(mk[1])); !ok || got != s {
					t.Fatalf("round %d: %x/%d = %d %v, want %d", round, mk[0], mk[1], got, ok, s)
				}
			}
		}
		tb.release()
	}
}

func TestSequences(t *testing.T) {
	ix := newIndex(t, Config{Window: time.Hour, BucketBits: 4})
	if ix.Buckets() != 16 {
		t.Fatalf("%d buckets, want 16", ix.Buckets())
	}
	k := keyN(3)
	b := ix.BucketOf(k)
	if b != int(k[0]>>4) {
		t.Fatalf("bucket %d, want the top 4 bits %d", b, k[0]>>4)
	}
	// An own publish at 10, then the consumer delivers 7 and 10 late: nothing goes back.
	if _, err := ix.Observe(k, 10, time.Now()); err != nil {
		t.Fatal(err)
	}
	if ix.BucketSeq(b) != 10 || ix.Applied() != 0 {
		t.Fatalf("after observe: bucket %d applied %d", ix.BucketSeq(b), ix.Applied())
	}
	for _, seq := range []uint64{7, 10} {
		if _, err := ix.Apply(k, seq, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	ix.MarkApplied(9)
	if ix.BucketSeq(b) != 10 || ix.Applied() != 10 {
		t.Fatalf("after apply: bucket %d applied %d, want 10 10", ix.BucketSeq(b), ix.Applied())
	}
	ix.MarkApplied(12)
	if ix.Applied() != 12 || ix.BucketSeq((b+1)%16) != 0 {
		t.Fatal("MarkApplied")
	}
	// The store says the bucket is empty (purged): only the expectation it answered is
	// reset, never a sequence seen since.
	ix.BucketEmptied(b, 9)
	if ix.BucketSeq(b) != 10 {
		t.Fatal("BucketEmptied reset a newer sequence")
	}
	ix.BucketEmptied(b, 10)
	if ix.BucketSeq(b) != 0 || !ix.Contains(k) {
		t.Fatalf("BucketEmptied: bucket %d, key kept %v", ix.BucketSeq(b), ix.Contains(k))
	}
}

func TestParseKey(t *testing.T) {
	k := keyN(5)
	back, err := ParseKey(k.String())
	if err != nil || back != k || len(k.String()) != 22 {
		t.Fatalf("round trip %q: %v %v", k.String(), back, err)
	}
	for _, bad := range []string{"", "short", strings.Repeat("A", 23), strings.Repeat("*", 22), strings.Repeat("A", 21) + "B"} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q): no error", bad)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for name, c := range map[string]Config{
		"no window":      {},
		"short window":   {Window: time.Millisecond},
		"shards 3":       {Window: time.Hour, Shards: 3},
		"shards 512":     {Window: time.Hour, Shards: 512},
		"bucket bits 17": {Window: time.Hour, BucketBits: 17},
		"capacity < 0":   {Window: time.Hour, Capacity: -1},
	} {
		if ix, err := New(c); err == nil {
			ix.Close()
			t.Errorf("%s: no error", name)
		}
	}
}

func TestUseAfterClosePanics(t *testing.T) {
	ix, err := New(Config{Window: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ix.Close()
	ix.Close()
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	ix.Contains(keyN(1))
}

// TestConcurrent runs inserts, lookups, sweeps and snapshots at once (meant for -race):
// every key a writer inserted is found afterwards.
func TestConcurrent(t *testing.T) {
	c := newClock()
	ix := newIndex(t, Config{Window: time.Hour, Now: c.Now, Shards: 8})
	const writers, per = 4, 20_000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range uint64(writers) {
		wg.Go(func() {
			for i := range uint64(per) {
				k := keyN(w<<32 | i)
				if !mustInsert(t, ix, k, c.Now()) || !ix.Contains(k) {
					t.Errorf("writer %d key %d", w, i)
					return
				}
			}
		})
	}
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				_, _ = ix.Sweep()
				_ = ix.WriteSnapshot(discard{})
				_ = ix.Stats()
			}
		}
	})
	wg.Wait()
	close(stop)
	readers.Wait()
	if st := ix.Stats(); st.Keys != writers*per {
		t.Fatalf("%d keys, want %d", st.Keys, writers*per)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestMaxKeys: an index bounded by MaxKeys takes about that many keys, then refuses new
// ones with ErrFull and keeps every key it took; keys past the window make room again.
func TestMaxKeys(t *testing.T) {
	c := newClock()
	const limit = 10_000
	ix := newIndex(t, Config{Window: time.Minute, Now: c.Now, Shards: 4, MaxKeys: limit})
	var n uint64
	var err error
	for ; n < 10*limit; n++ {
		if _, err = ix.Insert(keyN(n), c.Now()); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("after %d keys: %v, want ErrFull", n, err)
	}
	if n < limit/2 || n > 2*limit {
		t.Fatalf("full after %d keys, want about %d", n, limit)
	}
	for i := range n {
		if !ix.Contains(keyN(i)) {
			t.Fatalf("key %d of %d lost when the index filled", i, n)
		}
	}
	c.Advance(2 * time.Minute)
	if _, err := ix.Insert(keyN(n), c.Now()); err != nil {
		t.Fatalf("insert after the window passed: %v", err)
	}
	if _, err := New(Config{Window: time.Minute, MaxKeys: -1}); err == nil {
		t.Fatal("MaxKeys -1 accepted")
	}
}
