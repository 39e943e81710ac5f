package delivery

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/dedup/keyindex"
)

// A route's key index is saved to a file now and then, so that a restart loads it and lets the
// feed resume after the snapshot's applied sequence instead of replaying the whole window. The
// snapshot is a cache, never the record: whenever it cannot be trusted the feed replays the
// window from the stream, as without one.
//
// The file name says what the snapshot is valid for, so that nothing inside it needs trusting
// before the checksum is checked:
//
//	<event stream>.<stream created, Unix ns>.<window it is complete for, s>.kix
//
// A stream deleted and created again (same name, other sequences) has another creation time,
// and a snapshot complete for a shorter window than the route's lacks keys of the longer one.
const (
	// snapshotEvery is how often a ready route saves its index; it also saves at a clean stop.
	snapshotEvery = time.Minute
	snapshotExt   = ".kix"
	// snapshotSubdir is the snapshot directory under the embedded store's directory.
	snapshotSubdir = "keyindex"
)

// snapshotDir is where the routes' snapshots go; empty means no snapshots.
func (s *Store) snapshotDir() string {
	if s.cfg.SnapshotDir != "" {
		return s.cfg.SnapshotDir
	}
	if s.cfg.Dir != "" && len(s.cfg.URLs) == 0 {
		return filepath.Join(s.cfg.Dir, snapshotSubdir)
	}
	return ""
}

// snapshotName is the file name of a snapshot of the stream's index complete for window (in
// whole seconds, rounded up as the index keeps it).
func snapshotName(stream string, created time.Time, window time.Duration) string {
	secs := int64((window + time.Second - 1) / time.Second)
	return fmt.Sprintf("%s.%d.%d%s", stream, created.UnixNano(), secs, snapshotExt)
}

// parseSnapshotName reads back a name made by snapshotName for stream.
func parseSnapshotName(stream, name string) (created int64, windowSec int64, ok bool) {
	rest, found := strings.CutPrefix(name, stream+".")
	if !found {
		return 0, 0, false
	}
	rest, found = strings.CutSuffix(rest, snapshotExt)
	if !found {
		return 0, 0, false
	}
	cs, ws, found := strings.Cut(rest, ".")
	if !found {
		return 0, 0, false
	}
	created, err1 := strconv.ParseInt(cs, 10, 64)
	windowSec, err2 := strconv.ParseInt(ws, 10, 64)
	return created, windowSec, err1 == nil && err2 == nil && created > 0 && windowSec > 0
}

// snapshotFiles lists the stream's snapshot files in dir.
func snapshotFiles(dir, stream string) []string {
	names, err := filepath.Glob(filepath.Join(dir, stream+".*"+snapshotExt))
	if err != nil {
		return nil
	}
	return names
}

// removeStaleTemps removes the temporary files of saves a crash interrupted. (Two gateways sharing
// a data dir with an external cluster may remove each other's save in progress: that save then
// fails with a warning, and the next one succeeds.)
func removeStaleTemps(dir, stream string) {
	names, _ := filepath.Glob(filepath.Join(dir, stream+".*"+snapshotExt+".tmp-*"))
	for _, p := range names {
		_ = os.Remove(p)
	}
}

// loadSnapshot returns the index saved for the stream described by info, complete for at least
// window, whose applied sequence the stream can resume from; or nil and why not (logged at info:
// the caller replays the window, which is always correct).
func (r *Queue) loadSnapshot(info *jetstream.StreamInfo, window time.Duration, cfg keyindex.Config) (*keyindex.Index, string) {
	dir := r.s.snapshotDir()
	if dir == "" {
		return nil, "no snapshot directory"
	}
	removeStaleTemps(dir, r.evStream)
	var path string
	for _, p := range snapshotFiles(dir, r.evStream) {
		created, wsec, ok := parseSnapshotName(r.evStream, filepath.Base(p))
		if !ok || created != info.Created.UnixNano() {
			continue
		}
		if time.Duration(wsec)*time.Second < window {
			return nil, fmt.Sprintf("snapshot %s is complete for a %ds window only", p, wsec)
		}
		path = p
	}
	if path == "" {
		return nil, "no snapshot of this stream"
	}
	ix, err := keyindex.LoadSnapshot(path, cfg)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, "no snapshot of this stream"
	case err != nil:
		return nil, err.Error()
	}
	applied, last := ix.Applied(), info.State.LastSeq
	if applied > last {
		ix.Close()
		return nil, fmt.Sprintf("snapshot %s applied sequence %d is past the stream's last %d", path, applied, last)
	}
	// A snapshot behind the stream's front (its first sequence past applied + 1: the front was purged past it,
	// by history given up or by the retention purge while this process was down) is used too:
	// the messages in between are gone, and a full replay could not see them either, while the
	// snapshot still holds every key up to applied. The feed resumes at the stream's first
	// message. The keys of the purged messages after applied are forgotten, as a full replay
	// would forget them: a re-sent one is delivered again, never refused. (The start's log line
	// gives both sequences.)
	return ix, path
}

// saveSnapshot writes the feed's index to its snapshot file and removes the route's older
// snapshots. Only a ready index is saved: before that it does not hold the whole window.
func (f *keyFeed) saveSnapshot() error {
	if f.dir == "" {
		return nil
	}
	select {
	case <-f.ready:
	default:
		return nil
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil
	}
	window := min(time.Duration(f.complete.Load()), f.ix.Window())
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return fmt.Errorf("saving key index snapshot: %v", err)
	}
	path := filepath.Join(f.dir, snapshotName(f.stream, f.created, window))
	if err := f.ix.SaveSnapshot(path); err != nil {
		return err
	}
	for _, p := range snapshotFiles(f.dir, f.stream) {
		if p != path {
			_ = os.Remove(p)
		}
	}
	return nil
}

// runSnapshots saves the index every snapshotEvery until done is closed.
func (f *keyFeed) runSnapshots(done <-chan struct{}, route string) {
	t := time.NewTicker(snapshotEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if err := f.saveSnapshot(); err != nil {
			f.log.Warn("key index snapshot failed", zap.String("route", route), zap.Error(err))
		}
	}
}
