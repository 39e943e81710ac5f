package delivery

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// snapRun is one life of a gateway process on a store directory: an embedded store and one
// gate-mode route on it.
type snapRun struct {
	s *Store
	r *Queue
}

func startSnapRun(t *testing.T, dir string, window time.Duration) snapRun {
	t.Helper()
	s, err := Open(StoreConfig{Dir: dir, ReadyTimeout: 20 * time.Second}, zap.NewNop())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	r, err := s.Queue(QueueConfig{Name: "snap", DedupWindow: window})
	if err != nil {
		_ = s.Close()
		t.Fatalf("route: %v", err)
	}
	return snapRun{s: s, r: r}
}

// stop is a clean stop: the route's feed saves its snapshot.
func (p snapRun) stop(t *testing.T) {
	t.Helper()
	if err := p.r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.s.Close(); err != nil {
		t.Fatal(err)
	}
}

func (p snapRun) record(t *testing.T, prefix string, n int) {
	t.Helper()
	for i := range n {
		if err := p.r.Record(testCtx(t), fmt.Sprintf("%s-%d", prefix, i)); err != nil {
			t.Fatalf("record %s-%d: %v", prefix, i, err)
		}
	}
}

// caughtUp waits until the feed has applied the whole stream, so that a snapshot taken now has a
// known applied sequence.
func (p snapRun) caughtUp(t *testing.T) {
	t.Helper()
	info, err := p.r.ev.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "the feed to apply the stream", func() bool {
		return p.r.feed.ix.Applied() >= info.State.LastSeq
	})
}

// seenAll checks that every key prefix-0 … prefix-(n-1) is a duplicate.
func (p snapRun) seenAll(t *testing.T, prefix string, n int) {
	t.Helper()
	for i := range n {
		k := fmt.Sprintf("%s-%d", prefix, i)
		if dup, err := p.r.Seen(testCtx(t), k); err != nil || !dup {
			t.Fatalf("after the restart, key %s: seen=%v err=%v, want a duplicate", k, dup, err)
		}
	}
	if dup, err := p.r.Seen(testCtx(t), prefix+"-never"); err != nil || dup {
		t.Fatalf("a key never recorded: seen=%v err=%v, want new", dup, err)
	}
}

// snapshotOf returns the one snapshot file of the route, failing the test if there is not one.
// snapshotNow waits for the feed to catch up, saves the index, and returns the snapshot's path,
// its bytes (to be put back later) and the sequence it was applied to.
func (p snapRun) snapshotNow(t *testing.T, dir string) (path string, data []byte, applied uint64) {
	t.Helper()
	p.caughtUp(t)
	if err := p.r.feed.saveSnapshot(); err != nil {
		t.Fatal(err)
	}
	path = snapshotOf(t, dir, p.r)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, data, p.r.feed.ix.Applied()
}

func snapshotOf(t *testing.T, dir string, r *Queue) string {
	t.Helper()
	files := snapshotFiles(filepath.Join(dir, snapshotSubdir), r.evStream)
	if len(files) != 1 {
		t.Fatalf("snapshot files %v, want one", files)
	}
	return files[0]
}

// TestRestartFromSnapshot: a restart loads the snapshot taken before the last keys, resumes
// the feed after its applied sequence, and knows every key: those in the snapshot and those
// after it.
func TestRestartFromSnapshot(t *testing.T) {
	dir := t.TempDir()
	p := startSnapRun(t, dir, time.Hour)
	p.record(t, "a", 300)
	path, early, applied := p.snapshotNow(t, dir)
	p.record(t, "b", 200)
	p.stop(t)
	// The snapshot at stop holds everything; put back the earlier one, so that the restart must
	// resume the feed from the stream for the keys of b.
	if err := os.WriteFile(path, early, 0o600); err != nil {
		t.Fatal(err)
	}

	p = startSnapRun(t, dir, time.Hour)
	defer p.stop(t)
	p.seenAll(t, "a", 300)
	p.seenAll(t, "b", 200)
	if p.r.feed.resumed != applied {
		t.Fatalf("resumed after sequence %d, want the snapshot's %d", p.r.feed.resumed, applied)
	}
	if got := p.r.feed.ix.Applied(); got < applied+200 {
		t.Fatalf("applied %d after the restart, want at least %d", got, applied+200)
	}
}

// TestRestartFromCleanStop: the snapshot saved at a clean stop holds every key, and the restart
// is ready without replaying anything.
func TestRestartFromCleanStop(t *testing.T) {
	dir := t.TempDir()
	p := startSnapRun(t, dir, time.Hour)
	p.record(t, "a", 300)
	info, err := p.r.ev.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	last := info.State.LastSeq
	p.stop(t)
	stale := snapshotOf(t, dir, p.r) + ".tmp-123" // a save a crash interrupted
	if err := os.WriteFile(stale, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}

	p = startSnapRun(t, dir, time.Hour)
	defer p.stop(t)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temporary file: %v, want it removed at start", err)
	}
	select {
	case <-p.r.feed.ready:
	default:
		t.Fatal("not ready at once after loading a snapshot of the whole stream")
	}
	if p.r.feed.resumed != last {
		t.Fatalf("resumed after %d, want %d", p.r.feed.resumed, last)
	}
	p.seenAll(t, "a", 300)
}

// TestRestartWithoutSnapshot: with no snapshot the feed replays the window and loses no key.
func TestRestartWithoutSnapshot(t *testing.T) {
	dir := t.TempDir()
	p := startSnapRun(t, dir, time.Hour)
	p.record(t, "a", 300)
	p.stop(t)
	if err := os.Remove(snapshotOf(t, dir, p.r)); err != nil {
		t.Fatal(err)
	}

	p = startSnapRun(t, dir, time.Hour)
	defer p.stop(t)
	p.seenAll(t, "a", 300)
	if p.r.feed.resumed != 0 {
		t.Fatalf("resumed after %d without a snapshot, want a full replay", p.r.feed.resumed)
	}
}

// TestCorruptSnapshotReplays: a snapshot with one byte changed (in a key entry, the header, or
// its checksum) is refused and the window replayed: no key is lost.
func TestCorruptSnapshotReplays(t *testing.T) {
	dir := t.TempDir()
	p := startSnapRun(t, dir, time.Hour)
	p.record(t, "a", 300)
	p.stop(t)
	path := snapshotOf(t, dir, p.r)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{20, len(good) - 100, len(good) - 1} {
		t.Run(fmt.Sprintf("byte %d", at), func(t *testing.T) {
			bad := append([]byte(nil), good...)
			bad[at] ^= 0x10
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			p := startSnapRun(t, dir, time.Hour)
			p.seenAll(t, "a", 300)
			resumed := p.r.feed.resumed
			p.stop(t)
			if resumed != 0 {
				t.Fatalf("resumed after %d from a corrupt snapshot, want a full replay", resumed)
			}
		})
	}
}

// TestSnapshotBehindPurge: a snapshot whose next sequence the stream no longer holds (the front
// was purged past it, as history given up does) is still used: it knows every key up to its
// applied sequence, the purged ones too, which a full replay would forget; the feed resumes at
// the stream's front.
func TestSnapshotBehindPurge(t *testing.T) {
	dir := t.TempDir()
	p := startSnapRun(t, dir, time.Hour)
	p.record(t, "a", 100)
	path, early, applied := p.snapshotNow(t, dir)
	p.record(t, "b", 100)
	// Purge up to and including applied+1: the message right after the snapshot is gone.
	if err := p.r.ev.Purge(testCtx(t), jetstream.WithPurgeSequence(applied+2)); err != nil {
		t.Fatal(err)
	}
	p.stop(t)
	if err := os.WriteFile(path, early, 0o600); err != nil {
		t.Fatal(err)
	}

	p = startSnapRun(t, dir, time.Hour)
	defer p.stop(t)
	if p.r.feed.resumed != applied {
		t.Fatalf("resumed after %d behind a purge, want the snapshot's %d", p.r.feed.resumed, applied)
	}
	// The snapshot's keys are known although their messages were purged.
	for i := range 100 {
		if dup, err := p.r.Seen(testCtx(t), fmt.Sprintf("a-%d", i)); err != nil || !dup {
			t.Fatalf("key a-%d: seen=%v err=%v, want a duplicate", i, dup, err)
		}
	}
	// Every key the stream still holds is known: b-1 … b-99 (b-0, after the snapshot, was
	// purged with the front: only it is forgotten).
	for i := 1; i < 100; i++ {
		if dup, err := p.r.Seen(testCtx(t), fmt.Sprintf("b-%d", i)); err != nil || !dup {
			t.Fatalf("key b-%d: seen=%v err=%v, want a duplicate", i, dup, err)
		}
	}
}

// TestSnapshotOfShorterWindow: a snapshot complete for a shorter window than the route's lacks
// keys of the longer one, so a restart with the longer window replays it.
func TestSnapshotOfShorterWindow(t *testing.T) {
	dir := t.TempDir()
	p := startSnapRun(t, dir, time.Minute)
	p.record(t, "a", 50)
	p.stop(t)
	snapshotOf(t, dir, p.r)

	p = startSnapRun(t, dir, time.Hour)
	defer p.stop(t)
	if p.r.feed.resumed != 0 {
		t.Fatalf("resumed after %d from a 1m snapshot with a 1h window, want a full replay", p.r.feed.resumed)
	}
	p.seenAll(t, "a", 50)
}

func TestParseSnapshotName(t *testing.T) {
	created := time.Unix(1700000000, 123)
	name := snapshotName("WHGW-EV-r", created, 90*time.Second)
	c, w, ok := parseSnapshotName("WHGW-EV-r", name)
	if !ok || c != created.UnixNano() || w != 90 {
		t.Fatalf("%s: %d %d %v", name, c, w, ok)
	}
	for _, bad := range []string{"WHGW-EV-r.kix", "WHGW-EV-r.1.kix", "WHGW-EV-r.x.9.kix", "WHGW-EV-r.1.0.kix", "WHGW-EV-rr.1.9.kix", "WHGW-EV-r.1.9.kix.tmp-1"} {
		if _, _, ok := parseSnapshotName("WHGW-EV-r", bad); ok {
			t.Errorf("%s parsed", bad)
		}
	}
}

// TestSnapshotAfterShorterWindow: a reload that shortened the window (the sweep may then drop
// keys of the longer one) labels later snapshots with the shorter window, even after the window
// is lengthened again, so the next start with the long window replays it.
func TestSnapshotAfterShorterWindow(t *testing.T) {
	dir := t.TempDir()
	p := startSnapRun(t, dir, time.Hour)
	p.record(t, "a", 20)
	p.r.Update(QueueConfig{Name: "snap", DedupWindow: time.Minute})
	p.r.Update(QueueConfig{Name: "snap", DedupWindow: time.Hour})
	p.stop(t)
	path := snapshotOf(t, dir, p.r)
	if _, w, ok := parseSnapshotName(p.r.evStream, filepath.Base(path)); !ok || w != 60 {
		t.Fatalf("snapshot %s: window label %d, want 60", path, w)
	}

	p = startSnapRun(t, dir, time.Hour)
	defer p.stop(t)
	if p.r.feed.resumed != 0 {
		t.Fatalf("resumed after %d, want a full replay", p.r.feed.resumed)
	}
	p.seenAll(t, "a", 20)
}
