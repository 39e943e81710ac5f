package keyindex

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Config sizes an index. Only Window is required.
type Config struct {
	// Window is how long a key stays in the index after it was accepted: the route's
	// dedup window. It is kept to the second, rounded up.
	Window time.Duration
	// Capacity is the number of keys expected in the window (peak rate × window). The
	// tables start sized for it, so that filling them costs no growth. 0 starts small.
	Capacity int
	// Shards is the number of independently locked tables: a power of two from 1 to 256.
	// Default 64.
	Shards int
	// BucketBits sets the number of bucket subjects, 1<<BucketBits, whose last stream
	// sequence the index keeps: from 1 to 16. Default 12 (4096 buckets).
	BucketBits int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// MaxKeys bounds the memory of the index: a table that would have to grow past its
	// share of about MaxKeys keys fails the insert with ErrFull instead. 0: no bound (the
	// tables grow while the mapping succeeds).
	MaxKeys int
}

// ErrFull is returned by an insert into a table that has reached Config.MaxKeys.
var ErrFull = errors.New("key index is full")

// Defaults of Config.
const (
	DefaultShards     = 64
	DefaultBucketBits = 12
)

// Index is the set of keys in the window. It is safe for concurrent use. Its tables
// live outside the Go heap until Close, which must be called; an Index must not be
// used after Close (it panics).
type Index struct {
	window     atomic.Int64 // seconds, at least 1
	now        func() time.Time
	shards     []shard
	shardMask  uint32
	initSlots  int // per shard; tables never shrink below it
	bucketBits int
	buckets    []atomic.Uint64 // last stream sequence seen per bucket subject
	applied    atomic.Uint64   // stream sequence the ordered consumer has applied
	closeOnce  sync.Once
}

// shard is one table and its lock, padded so that neighbouring locks do not share a
// cache line.
type shard struct {
	mu       sync.RWMutex
	t        *table
	maxSlots uint64 // 0: no bound (Config.MaxKeys)
	_        [32]byte
}

// New returns an empty index.
func New(c Config) (*Index, error) {
	if c.Window < time.Second {
		return nil, fmt.Errorf("key index window %v: want at least 1s", c.Window)
	}
	if c.Shards == 0 {
		c.Shards = DefaultShards
	}
	if c.Shards < 1 || c.Shards > 256 || c.Shards&(c.Shards-1) != 0 {
		return nil, fmt.Errorf("key index shards %d: want a power of two from 1 to 256", c.Shards)
	}
	if c.BucketBits == 0 {
		c.BucketBits = DefaultBucketBits
	}
	if c.BucketBits < 1 || c.BucketBits > 16 {
		return nil, fmt.Errorf("key index bucket bits %d: want 1 to 16", c.BucketBits)
	}
	if c.Capacity < 0 {
		return nil, fmt.Errorf("key index capacity %d: want 0 or more", c.Capacity)
	}
	if c.MaxKeys < 0 {
		return nil, fmt.Errorf("key index max keys %d: want 0 or more", c.MaxKeys)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	ix := &Index{
		now: c.Now, shards: make([]shard, c.Shards), shardMask: uint32(c.Shards - 1),
		bucketBits: c.BucketBits, buckets: make([]atomic.Uint64, 1<<c.BucketBits),
	}
	ix.SetWindow(c.Window)
	// Sized so that Capacity keys fill each table to about two thirds.
	ix.initSlots = c.Capacity / c.Shards * 3 / 2
	for i := range ix.shards {
		t, err := newTable(ix.initSlots)
		if err != nil {
			ix.Close()
			return nil, err
		}
		ix.shards[i].t = t
		if c.MaxKeys > 0 {
			// A table is full at maxLoadNum/maxLoadDen of its slots: its share of MaxKeys
			// needs that many more slots.
			ix.shards[i].maxSlots = max(uint64(c.MaxKeys/c.Shards)*maxLoadDen/maxLoadNum, t.slots)
		}
	}
	ix.initSlots = int(ix.shards[0].t.slots)
	return ix, nil
}

// Close frees the tables. It is safe to call more than once.
func (ix *Index) Close() {
	ix.closeOnce.Do(func() {
		for i := range ix.shards {
			s := &ix.shards[i]
			s.mu.Lock()
			if s.t != nil {
				s.t.release()
				s.t = nil
			}
			s.mu.Unlock()
		}
	})
}

// SetWindow changes the window, for example on a config reload. Entries keep their
// accepted-at time, so a longer window brings back keys not yet swept.
func (ix *Index) SetWindow(d time.Duration) {
	ix.window.Store(max(int64((d+time.Second-1)/time.Second), 1))
}

// Window is the current window.
func (ix *Index) Window() time.Duration { return time.Duration(ix.window.Load()) * time.Second }

// second is t as stored: Unix seconds, clamped to 1 … 2³²−1 (the year 2106).
func second(t time.Time) uint32 {
	return uint32(min(max(t.Unix(), 1), math.MaxUint32))
}

// cutoff is the first accepted-at second still in the window now. An entry stored as
// second s was accepted in [s, s+1), so it stays while now < s+1+window: a key is a
// duplicate for at least the whole window and at most one second longer.
func (ix *Index) cutoff() uint32 {
	c := ix.now().Unix() - ix.window.Load()
	return uint32(min(max(c, 0), math.MaxUint32))
}

func (ix *Index) shardOf(fp uint32) *shard { return &ix.shards[fp&ix.shardMask] }

// live returns s's table; it panics after Close rather than touch unmapped memory.
func (s *shard) live() *table {
	if s.t == nil {
		panic("keyindex: index used after Close")
	}
	return s.t
}

// Contains reports whether the key was accepted within the window.
func (ix *Index) Contains(k Key) bool {
	_, ok := ix.Lookup(k)
	return ok
}

// Lookup returns when the key was accepted (to the second), if within the window.
// Entries past the window count as absent before any sweep removes them.
func (ix *Index) Lookup(k Key) (acceptedAt time.Time, ok bool) {
	a, fp := k.words()
	s := ix.shardOf(fp)
	s.mu.RLock()
	sec, found := s.live().get(a, fp)
	s.mu.RUnlock()
	// The clock is read only for a hit: a miss (a new event) needs no time.
	if !found || sec < ix.cutoff() {
		return time.Time{}, false
	}
	return time.Unix(int64(sec), 0), true
}

// Insert records that the key was accepted at acceptedAt, keeping the later time when
// it is already present, and reports whether it was new (absent, or past the window).
// It fails only when a table cannot grow (no memory for the mapping); the key is then
// not recorded.
func (ix *Index) Insert(k Key, acceptedAt time.Time) (added bool, err error) {
	a, fp := k.words()
	sec := second(acceptedAt)
	cutoff := ix.cutoff()
	s := ix.shardOf(fp)
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.live()
	if t.full() {
		if t, err = s.makeRoom(cutoff); err != nil {
			return false, err
		}
	}
	prev, found := t.put(a, fp, sec)
	return !found || prev < cutoff, nil
}

// makeRoom runs when the shard's table is full: it drops the expired entries, and
// grows the table unless that brought it below 5/8 full. Requiring that margin keeps
// a table that hovers at its limit from being swept on every insert.
func (s *shard) makeRoom(cutoff uint32) (*table, error) {
	t := s.t
	t.sweep(cutoff)
	if uint64(t.n)*8 < t.slots*5 {
		return t, nil
	}
	slots := t.slots * growNum / growDen
	if s.maxSlots > 0 && slots > s.maxSlots {
		return nil, ErrFull
	}
	nt, err := t.resized(int(slots), 0)
	if err != nil {
		return nil, err
	}
	t.release()
	s.t = nt
	return nt, nil
}

// Observe records a key the store accepted at sequence seq of its bucket subject, in
// answer to a compare-and-set publish that expected BucketSeq of that bucket, and
// raises the bucket's last sequence to seq. It reports whether the key was new.
//
// The bucket sequences keep one invariant, on which a compare-and-set's answer rests:
// every message on bucket b up to BucketSeq(b) is in the index. Apply keeps it because
// the consumer applies in stream order; Observe keeps it because the store appended
// seq right after the expected sequence. A publish that was not a compare-and-set must
// be left to the consumer.
func (ix *Index) Observe(k Key, seq uint64, acceptedAt time.Time) (added bool, err error) {
	if added, err = ix.Insert(k, acceptedAt); err != nil {
		return false, err
	}
	raise(&ix.buckets[k.Bucket(ix.bucketBits)], seq)
	return added, nil
}

// Apply is Observe for the ordered consumer: every message up to seq has now been
// applied, so it also raises the applied sequence a snapshot records.
func (ix *Index) Apply(k Key, seq uint64, acceptedAt time.Time) (added bool, err error) {
	if added, err = ix.Observe(k, seq, acceptedAt); err != nil {
		return false, err
	}
	raise(&ix.applied, seq)
	return added, nil
}

// MarkApplied raises the applied sequence for a stream message that carries no key.
func (ix *Index) MarkApplied(seq uint64) { raise(&ix.applied, seq) }

// Applied is the stream sequence up to which the ordered consumer has applied every
// message.
func (ix *Index) Applied() uint64 { return ix.applied.Load() }

// Buckets is the number of bucket subjects.
func (ix *Index) Buckets() int { return len(ix.buckets) }

// BucketOf is the key's bucket.
func (ix *Index) BucketOf(k Key) int { return k.Bucket(ix.bucketBits) }

// BucketSeq is the last stream sequence seen on a bucket subject, 0 when none: the
// expected last subject sequence of the next compare-and-set publish to it.
func (ix *Index) BucketSeq(bucket int) uint64 { return ix.buckets[bucket].Load() }

// BucketEmptied resets a bucket's last sequence to 0 after the store answered a publish
// that expected `expected` with "wrong last sequence: 0": the purge of the stream's
// front removed every message of the bucket (all of them past the window). It does
// nothing if a later sequence was seen meanwhile. A reported sequence above BucketSeq
// needs no call: the caller waits until Applied reaches it, re-checks the key, retries.
func (ix *Index) BucketEmptied(bucket int, expected uint64) {
	ix.buckets[bucket].CompareAndSwap(expected, 0)
}

// raise sets v to seq unless it already holds a later sequence: messages may be
// observed twice and out of order (an own publish, then the consumer), never backwards.
func raise(v *atomic.Uint64, seq uint64) {
	for {
		cur := v.Load()
		if seq <= cur || v.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// Sweep removes the keys past the window, shrinks tables that sweeping left under a
// fifth full, and returns how many keys it removed. Lookups already ignore expired
// keys; sweeping gives their memory back.
func (ix *Index) Sweep() (removed int, err error) {
	cutoff := ix.cutoff()
	for i := range ix.shards {
		s := &ix.shards[i]
		s.mu.Lock()
		t := s.live()
		removed += t.sweep(cutoff)
		if int(t.slots) > ix.initSlots && uint64(t.n)*5 < t.slots {
			var nt *table
			if nt, err = t.resized(max(ix.initSlots, 2*t.n), cutoff); err == nil {
				t.release()
				s.t = nt
			}
		}
		s.mu.Unlock()
		if err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// RunSweeper sweeps every interval until ctx is done. A failed shrink is retried at
// the next sweep; the table it would have replaced stays in use.
func (ix *Index) RunSweeper(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_, _ = ix.Sweep()
		}
	}
}

// Stats is the index's own accounting.
type Stats struct {
	// Keys counts the entries, including expired ones not yet swept.
	Keys int
	// Slots is the table capacity; Bytes the memory the tables map.
	Slots int
	Bytes int
}

// BytesPerKey is Bytes / Keys (0 when empty).
func (s Stats) BytesPerKey() float64 {
	if s.Keys == 0 {
		return 0
	}
	return float64(s.Bytes) / float64(s.Keys)
}

// Stats adds up the shards.
func (ix *Index) Stats() Stats {
	var st Stats
	for i := range ix.shards {
		s := &ix.shards[i]
		s.mu.RLock()
		t := s.live()
		st.Keys += t.n
		st.Slots += int(t.slots)
		st.Bytes += t.mapped
		s.mu.RUnlock()
	}
	return st
}
