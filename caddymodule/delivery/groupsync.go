package delivery

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Group commit of `sync always` (embedded store only).
//
// nats-server's own SyncAlways fsyncs the block file once per message, inside the stream's
// single writer (filestore.go, flushPendingMsgsLocked), so concurrent publishes queue behind
// one fsync each and a disk that takes a millisecond per fsync caps a route at about a
// thousand events a second. Its only coalesced path, the atomic batch, is all or nothing
// (one failed compare-and-set would refuse every event of the batch) and stages each batch in
// a store of its own. So the gateway runs the embedded server without SyncAlways and does the
// fsync itself, for everyone who is waiting at once:
//
//   - With one replica the file store writes every message to its block file (write(2), in
//     place) before it sends the publish ack (StoreConfig). The message is then in the kernel's
//     page cache, in the stream's last block file.
//   - fsync(2) writes out the dirty pages of the file, whichever descriptor wrote them. So
//     after the ack, the gateway opens the stream's block files by name and fsyncs them.
//   - Every publisher waits for a round of fsyncs that started after its ack (groupSync.wait).
//     While one round runs, the acks of other requests pile up and the next round covers them
//     all: one fsync per round, not per event.
//
// A round fsyncs every block file from the highest one a finished round listed up to the
// highest one now (messages are only appended to the last block, so nothing written since can
// be in an older one), then the msgs directory when its block files changed, and, once, the
// stream directory and its meta files. Each stream (events, dead letters) has its own rounds.
// A failed fsync is sticky: every later publish on that stream fails (503), and so does every
// duplicate answer that would rest on an unsynced copy, because after a failed fsync the kernel
// may have dropped the pages it could not write. Fail closed; a restart recovers from what is
// on disk.
//
// The layout this relies on (<store dir>/jetstream/$G/streams/<stream>/msgs/<n>.blk, the
// global account of an in-process connection) is nats-server's; a round that finds no block
// file after a publish fails instead of answering as if it had synced
// (TestGroupSyncCoversEveryAck pins the layout).

// groupSync runs the fsync rounds of one embedded store.
type groupSync struct {
	dir   string               // <store dir>/jetstream/$G/streams
	fsync func(*os.File) error // (*os.File).Sync; a test hook
	mu    sync.Mutex
	strm  map[string]*streamSync
}

func newGroupSync(storeDir string) *groupSync {
	return &groupSync{
		dir:   filepath.Join(storeDir, "jetstream", "$G", "streams"),
		fsync: (*os.File).Sync,
		strm:  make(map[string]*streamSync),
	}
}

// stream returns the rounds of one stream.
func (g *groupSync) stream(name string) *streamSync {
	g.mu.Lock()
	defer g.mu.Unlock()
	ss := g.strm[name]
	if ss == nil {
		ss = &streamSync{g: g, dir: filepath.Join(g.dir, name), done: make(chan struct{}), lastBlk: -1, dirBlk: -1}
		g.strm[name] = ss
	}
	return ss
}

// wait returns once a round of fsyncs that covers sequence seq of stream has finished, or with
// the error that round (or an earlier one) failed with, or when ctx ends.
func (g *groupSync) wait(ctx context.Context, stream string, seq uint64) error {
	return g.stream(stream).wait(ctx, seq)
}

// maxRounds is how many rounds of one stream may run at once. Overlapping rounds shorten the
// wait of an ack that comes while one runs, but each takes a smaller group and costs an fsync:
// with 64 parallel callers (BenchmarkAccept, 2-core VM) one round at a time took about 10k
// events/s, two 6-9k and four 6-8k.
const maxRounds = 1

// streamSync is the state of one stream's rounds.
type streamSync struct {
	g   *groupSync
	dir string

	mu      sync.Mutex
	acked   uint64        // highest sequence acked to a waiter: written before that ack
	started uint64        // highest sequence a running or finished round covers
	synced  uint64        // highest sequence a finished round covers
	err     error         // sticky: a round failed
	running int           // rounds running
	done    chan struct{} // closed (and replaced) when a round ends
	lastBlk int           // highest block index a finished round listed; -1 before the first
	dirBlk  int           // highest block index whose directory entry is synced
	dirN    int           // block files listed by the last directory fsync
	metaOK  bool          // the stream's directory entries were synced once
	msgsDir os.FileInfo   // the msgs directory those figures are about
}

func (ss *streamSync) wait(ctx context.Context, seq uint64) error {
	ss.mu.Lock()
	ss.acked = max(ss.acked, seq)
	for ss.synced < seq && ss.err == nil {
		if ss.started < seq && ss.running < maxRounds {
			// Every sequence up to acked was written before its ack, so before now.
			ss.running++
			ss.started = ss.acked
			go ss.round(ss.acked, ss.lastBlk)
		}
		done := ss.done
		ss.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			// The round still runs to its end: a retry of this event that is answered as a
			// duplicate waits for it in durable().
			return fmt.Errorf("store: waiting for fsync: %w", ctx.Err())
		}
		ss.mu.Lock()
	}
	err := ss.err
	ss.mu.Unlock()
	return err
}

// round fsyncs the block files from block from on (from the highest block a finished round
// listed: nothing written since can be in an older one, as messages are only appended to the
// last block), the directory when its block files changed, and, once, the stream's own
// entries; then it marks every sequence up to covered synced.
func (ss *streamSync) round(covered uint64, from int) {
	high, names, err := ss.syncBlocks(from)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.running--
	if err != nil {
		ss.err = fmt.Errorf("store: fsync of stream %s failed, the store refuses events until a restart: %w", filepath.Base(ss.dir), err)
	} else {
		ss.synced = max(ss.synced, covered)
		ss.lastBlk = max(ss.lastBlk, high)
		if names >= 0 {
			ss.dirBlk, ss.dirN, ss.metaOK = max(ss.dirBlk, high), names, true
		}
	}
	close(ss.done)
	ss.done = make(chan struct{})
}

// syncBlocks does the fsyncs of one round. names is the count of block files it listed when it
// also synced the directory, else -1.
func (ss *streamSync) syncBlocks(from int) (high, names int, err error) {
	msgs := filepath.Join(ss.dir, "msgs")
	fi, err := os.Stat(msgs)
	if err != nil {
		return 0, 0, err
	}
	ss.mu.Lock()
	if ss.msgsDir == nil || !os.SameFile(ss.msgsDir, fi) {
		// A stream deleted and created again (a layout migration) numbers its blocks from 1
		// again: forget what the rounds knew of the old one.
		ss.msgsDir, ss.lastBlk, ss.dirBlk, ss.dirN, ss.metaOK = fi, -1, -1, 0, false
		from = -1
	}
	ss.mu.Unlock()
	ents, err := os.ReadDir(msgs)
	if err != nil {
		return 0, 0, err
	}
	high, n := -1, 0
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), ".blk")
		if !ok {
			continue
		}
		i, err := strconv.Atoi(base)
		if err != nil {
			continue
		}
		n++
		high = max(high, i)
		if i < from {
			continue
		}
		if err := ss.syncPath(filepath.Join(msgs, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, 0, err // (a block purged since the listing holds nothing to keep)
		}
	}
	if high < 0 {
		return 0, 0, errors.New("no block file in " + msgs)
	}
	ss.mu.Lock()
	dirBlk, dirN, metaOK := ss.dirBlk, ss.dirN, ss.metaOK
	ss.mu.Unlock()
	// The directory, when its block files changed: a new block's entry, or a block rewritten
	// by a compaction (a rename), which nats-server does only to a block that is no longer the
	// last, so only after a new block was added.
	if high <= dirBlk && n == dirN && metaOK {
		return high, -1, nil
	}
	if err := ss.syncPath(msgs); err != nil {
		return 0, 0, err
	}
	if !metaOK {
		// The stream's own entries: without them a recovered store has no stream to hold the
		// blocks. The parents too, for the first stream of a new store.
		for _, p := range []string{filepath.Join(ss.dir, "meta.inf"), filepath.Join(ss.dir, "meta.sum"), ss.dir, ss.g.dir, filepath.Dir(ss.g.dir)} {
			if err := ss.syncPath(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return 0, 0, err
			}
		}
	}
	return high, n, nil
}

func (ss *streamSync) syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = ss.g.fsync(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncedJS is the store's JetStream handle under group commit: a publish returns only after a
// round of fsyncs covers what it stored. Every other call goes to the JetStream it wraps.
type syncedJS struct {
	jetstream.JetStream
	gs *groupSync
}

func (j syncedJS) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	ack, err := j.JetStream.PublishMsg(ctx, m, opts...)
	if err != nil {
		return ack, err
	}
	if err := j.gs.wait(ctx, ack.Stream, ack.Sequence); err != nil {
		return nil, err
	}
	return ack, nil
}

func (j syncedJS) Publish(ctx context.Context, subj string, data []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	return j.PublishMsg(ctx, &nats.Msg{Subject: subj, Data: data}, opts...)
}

// durable returns once stream's messages up to seq are on disk: at once without group commit,
// or after a round covers seq. A duplicate answer rests on the first copy, so in `sync always`
// it must not go out before that copy is synced (its own request may have given up waiting).
func (s *Store) durable(ctx context.Context, stream string, seq uint64) error {
	if s.gsync == nil || seq == 0 {
		return nil
	}
	return s.gsync.wait(ctx, stream, seq)
}
