package keyindex

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// filled is an index with n keys accepted over the last n seconds, some bucket
// sequences and an applied sequence.
func filled(t testing.TB, c *testkit.Clock, n uint64, bucketBits int) *Index {
	t.Helper()
	ix := newIndex(t, Config{Window: 24 * time.Hour, Now: c.Now, BucketBits: bucketBits})
	for i := range n {
		if _, err := ix.Apply(keyN(i), 100+i, c.Now().Add(-time.Duration(i%86_000)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	return ix
}

func snapshotOf(t testing.TB, ix *Index) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := ix.WriteSnapshot(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func readSnapshot(t testing.TB, b []byte, c Config) (*Index, error) {
	t.Helper()
	ix, err := ReadSnapshot(bytes.NewReader(b), int64(len(b)), c)
	if err == nil {
		t.Cleanup(ix.Close)
	}
	return ix, err
}

// sameIndex checks that b holds exactly a's keys, times and sequences.
func sameIndex(t *testing.T, a, b *Index, keys uint64) {
	t.Helper()
	if a.Stats().Keys != b.Stats().Keys || a.Applied() != b.Applied() || a.Buckets() != b.Buckets() {
		t.Fatalf("keys %d/%d applied %d/%d buckets %d/%d", a.Stats().Keys, b.Stats().Keys, a.Applied(), b.Applied(), a.Buckets(), b.Buckets())
	}
	for i := range a.Buckets() {
		if a.BucketSeq(i) != b.BucketSeq(i) {
			t.Fatalf("bucket %d: %d vs %d", i, a.BucketSeq(i), b.BucketSeq(i))
		}
	}
	for i := range keys {
		ta, oka := a.Lookup(keyN(i))
		tb, okb := b.Lookup(keyN(i))
		if oka != okb || !ta.Equal(tb) {
			t.Fatalf("key %d: %v %v vs %v %v", i, ta, oka, tb, okb)
		}
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	c := newClock()
	const n = 100_000
	ix := filled(t, c, n, DefaultBucketBits)
	snap := snapshotOf(t, ix)
	if want := headerSize + 8*4096 + 16*n + trailerSize; len(snap) != want {
		t.Fatalf("snapshot is %d bytes, want %d", len(snap), want)
	}
	back, err := readSnapshot(t, snap, Config{Window: 24 * time.Hour, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if back.Applied() != 100+n-1 {
		t.Fatalf("applied %d, want %d", back.Applied(), 100+n-1)
	}
	sameIndex(t, ix, back, n)
}

// TestSnapshotFile saves and loads through a file, including over an older snapshot,
// and a missing file is fs.ErrNotExist.
func TestSnapshotFile(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "keys.snap")
	if _, err := LoadSnapshot(path, Config{Window: time.Hour}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing snapshot: %v", err)
	}
	small := filled(t, c, 10, 4)
	if err := small.SaveSnapshot(path); err != nil {
		t.Fatal(err)
	}
	ix := filled(t, c, 5000, 4)
	if err := ix.SaveSnapshot(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadSnapshot(path, Config{Window: 24 * time.Hour, Now: c.Now, BucketBits: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	sameIndex(t, ix, back, 5000)
	if m, _ := filepath.Glob(path + ".tmp-*"); len(m) != 0 {
		t.Fatalf("temporary files left: %v", m)
	}
}

// TestSnapshotWindow: a snapshot read under a shorter window (or later) drops the keys
// past it; the writer already leaves out expired keys.
func TestSnapshotWindow(t *testing.T) {
	c := newClock()
	ix := filled(t, c, 1000, 4) // accepted 0–999 s ago
	snap := snapshotOf(t, ix)
	back, err := readSnapshot(t, snap, Config{Window: 500 * time.Second, Now: c.Now, BucketBits: 4})
	if err != nil {
		t.Fatal(err)
	}
	if k := back.Stats().Keys; k != 501 {
		t.Fatalf("%d keys under a 500 s window, want 501 (0–500 s old)", k)
	}
	ix.SetWindow(100 * time.Second)
	if got := (len(snapshotOf(t, ix)) - headerSize - 8*16 - trailerSize) / 16; got != 101 {
		t.Fatalf("writer kept %d keys under a 100 s window, want 101", got)
	}
}

// TestSnapshotCorrupt: every single flipped byte, every truncation, an extra byte, a
// repeated entry and a layout mismatch are refused with ErrCorrupt.
func TestSnapshotCorrupt(t *testing.T) {
	c := newClock()
	ix := filled(t, c, 40, 2)
	snap := snapshotOf(t, ix)
	cfg := Config{Window: 24 * time.Hour, Now: c.Now, BucketBits: 2, Shards: 1}
	if _, err := readSnapshot(t, snap, cfg); err != nil {
		t.Fatal(err)
	}
	refused := func(what string, b []byte, c Config) {
		t.Helper()
		if _, err := readSnapshot(t, b, c); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: %v, want ErrCorrupt", what, err)
		}
	}
	for i := range snap {
		for _, bit := range []byte{0x01, 0x80} {
			b := bytes.Clone(snap)
			b[i] ^= bit
			refused("flipped byte", b, cfg)
		}
	}
	for n := range len(snap) {
		refused("truncated", snap[:n], cfg)
	}
	refused("extra byte", append(bytes.Clone(snap), 0), cfg)
	cfg4 := cfg
	cfg4.BucketBits = 4
	refused("other bucket bits", snap, cfg4)
	// A well-checksummed snapshot that repeats an entry is still refused.
	one := newIndex(t, Config{Window: 24 * time.Hour, Now: c.Now, BucketBits: 2})
	mustInsert(t, one, keyN(1), c.Now())
	mustInsert(t, one, keyN(2), c.Now())
	two := snapshotOf(t, one)
	entries := two[headerSize+8*4 : headerSize+8*4+32]
	copy(entries[16:], entries[:16])
	refused("repeated entry", resum(two), cfg)
}

// resum recomputes a snapshot's checksum after an edit.
func resum(b []byte) []byte {
	b = bytes.Clone(b)
	sum := crc32Castagnoli(b[:len(b)-4])
	b[len(b)-4], b[len(b)-3], b[len(b)-2], b[len(b)-1] = byte(sum), byte(sum>>8), byte(sum>>16), byte(sum>>24)
	return b
}

func crc32Castagnoli(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
