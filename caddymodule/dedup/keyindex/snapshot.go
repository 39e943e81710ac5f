package keyindex

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// Snapshot layout, little-endian:
//
//	header   magic "WHGWKIX\x00", version uint32, bucket bits uint32, applied uint64
//	buckets  1<<bucket bits × uint64: the last sequence of each bucket subject
//	entries  n × (uint64, uint64): the two words of a slot
//	trailer  n uint64, CRC-32C (Castagnoli) uint32 of everything before it
//
// The entry count sits in the trailer because a snapshot is taken while the index keeps
// changing: it is written one shard at a time, so it holds everything applied up to
// its applied sequence and possibly some later keys and bucket sequences. Replaying
// the stream from applied+1 over it gives the same index as replaying from the start,
// because applying a message twice changes nothing (the later time, the higher
// sequence win).
const (
	snapshotMagic   = "WHGWKIX\x00"
	snapshotVersion = 1
	headerSize      = 8 + 4 + 4 + 8
	trailerSize     = 8 + 4
)

// ErrCorrupt is wrapped by every error about a snapshot's content: its size, layout
// or checksum. The caller's answer is the same as for a missing snapshot: a full
// replay from the stream.
var ErrCorrupt = errors.New("key index snapshot is corrupt")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// WriteSnapshot writes the index's keys still in the window, its bucket sequences and
// its applied sequence to w. It holds each shard's read lock only while copying that
// shard.
func (ix *Index) WriteSnapshot(w io.Writer) error {
	// Read first: everything applied up to here is in the tables from now on.
	applied := ix.Applied()
	cutoff := ix.cutoff()
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 64<<10)
	var hdr [headerSize]byte
	copy(hdr[:8], snapshotMagic)
	binary.LittleEndian.PutUint32(hdr[8:], snapshotVersion)
	binary.LittleEndian.PutUint32(hdr[12:], uint32(ix.bucketBits))
	binary.LittleEndian.PutUint64(hdr[16:], applied)
	bw.Write(hdr[:])
	var word [8]byte
	for i := range ix.buckets {
		binary.LittleEndian.PutUint64(word[:], ix.buckets[i].Load())
		bw.Write(word[:])
	}
	var n uint64
	var buf []byte
	for i := range ix.shards {
		s := &ix.shards[i]
		s.mu.RLock()
		buf = buf[:0]
		s.live().each(func(a, w uint64) {
			if uint32(w) >= cutoff {
				buf = binary.LittleEndian.AppendUint64(buf, a)
				buf = binary.LittleEndian.AppendUint64(buf, w)
			}
		})
		s.mu.RUnlock()
		n += uint64(len(buf) / 16)
		bw.Write(buf)
	}
	binary.LittleEndian.PutUint64(word[:], n)
	bw.Write(word[:])
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing key index snapshot: %v", err)
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], crc.Sum32())
	if _, err := w.Write(sum[:]); err != nil {
		return fmt.Errorf("writing key index snapshot: %v", err)
	}
	return nil
}

// ReadSnapshot builds an index from a snapshot of exactly size bytes, with c's
// settings (the window may differ from the one it was written with: keys past the
// current window are dropped). Any flaw in the snapshot is an error wrapping
// ErrCorrupt, and no index is returned: the caller replays the stream instead.
func ReadSnapshot(r io.Reader, size int64, c Config) (*Index, error) {
	if c.BucketBits == 0 {
		c.BucketBits = DefaultBucketBits
	}
	buckets := int64(1) << max(c.BucketBits, 0)
	body := size - headerSize - 8*buckets - trailerSize
	if c.BucketBits < 1 || c.BucketBits > 16 || body < 0 || body%16 != 0 {
		return nil, corrupt("size %d does not fit %d buckets and whole entries", size, buckets)
	}
	n := body / 16
	c.Capacity = max(c.Capacity, int(n))
	ix, err := New(c)
	if err != nil {
		return nil, err
	}
	if err := ix.readFrom(r, n); err != nil {
		ix.Close()
		return nil, err
	}
	return ix, nil
}

// readFrom fills the empty index from a snapshot of n entries.
func (ix *Index) readFrom(r io.Reader, n int64) error {
	sr := &summedReader{r: bufio.NewReaderSize(r, 64<<10), crc: crc32.New(castagnoli)}
	var hdr [headerSize]byte
	if err := sr.read(hdr[:]); err != nil {
		return corrupt("header: %v", err)
	}
	if string(hdr[:8]) != snapshotMagic {
		return corrupt("not a key index snapshot")
	}
	if v := binary.LittleEndian.Uint32(hdr[8:]); v != snapshotVersion {
		return corrupt("version %d, want %d", v, snapshotVersion)
	}
	if b := binary.LittleEndian.Uint32(hdr[12:]); b != uint32(ix.bucketBits) {
		return corrupt("%d bucket bits, want %d", b, ix.bucketBits)
	}
	applied := binary.LittleEndian.Uint64(hdr[16:])
	var word [16]byte
	for i := range ix.buckets {
		if err := sr.read(word[:8]); err != nil {
			return corrupt("bucket sequences: %v", err)
		}
		ix.buckets[i].Store(binary.LittleEndian.Uint64(word[:8]))
	}
	cutoff := ix.cutoff()
	for i := int64(0); i < n; i++ {
		if err := sr.read(word[:]); err != nil {
			return corrupt("entry %d: %v", i, err)
		}
		a, w := binary.LittleEndian.Uint64(word[:8]), binary.LittleEndian.Uint64(word[8:])
		if uint32(w) == 0 {
			return corrupt("entry %d is empty", i)
		}
		if uint32(w) < cutoff {
			continue
		}
		found, err := ix.load(a, w)
		if err != nil {
			return err
		}
		if found {
			return corrupt("entry %d is a repeat", i)
		}
	}
	if err := sr.read(word[:8]); err != nil {
		return corrupt("trailer: %v", err)
	}
	if got := binary.LittleEndian.Uint64(word[:8]); got != uint64(n) {
		return corrupt("trailer counts %d entries, size says %d", got, n)
	}
	want := sr.crc.Sum32()
	if _, err := io.ReadFull(sr.r, word[:4]); err != nil {
		return corrupt("checksum: %v", err)
	}
	if got := binary.LittleEndian.Uint32(word[:4]); got != want {
		return corrupt("checksum %08x, want %08x", got, want)
	}
	ix.applied.Store(applied)
	return nil
}

// summedReader reads whole buffers and adds exactly the bytes consumed to a checksum
// (a checksum fed by the buffered reader's read-ahead would cover the trailer too).
type summedReader struct {
	r   *bufio.Reader
	crc hash.Hash32
}

func (s *summedReader) read(p []byte) error {
	if _, err := io.ReadFull(s.r, p); err != nil {
		return err
	}
	s.crc.Write(p)
	return nil
}

// load puts one snapshot entry into its shard.
func (ix *Index) load(a, w uint64) (found bool, err error) {
	fp := uint32(w >> 32)
	s := ix.shardOf(fp)
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.live()
	if t.full() {
		if t, err = s.makeRoom(0); err != nil {
			return false, err
		}
	}
	_, found = t.put(a, fp, uint32(w))
	return found, nil
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// SaveSnapshot writes a snapshot to path atomically: to a temporary file in the same
// directory, synced, then renamed over path.
func (ix *Index) SaveSnapshot(path string) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("saving key index snapshot: %v", err)
	}
	tmp := f.Name()
	err = ix.WriteSnapshot(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("saving key index snapshot: %v", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// LoadSnapshot reads the snapshot at path (see ReadSnapshot). A missing file is an
// error wrapping fs.ErrNotExist.
func LoadSnapshot(path string, c Config) (*Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("loading key index snapshot: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("loading key index snapshot: %w", err)
	}
	ix, err := ReadSnapshot(f, fi.Size(), c)
	if err != nil {
		return nil, fmt.Errorf("loading key index snapshot %s: %w", path, err)
	}
	return ix, nil
}
