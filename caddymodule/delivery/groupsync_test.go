package delivery

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

// syncWatch replaces the store's fsync with one that, before the real fsync, reads the file
// and notes which of the test's markers it holds; a marker counts as synced only once that
// real fsync returned nil.
type syncWatch struct {
	mu     sync.Mutex
	synced map[string]bool
	rounds int // fsyncs of block files
	fail   error
}

func watchSyncs(t *testing.T, s *Store) *syncWatch {
	t.Helper()
	if s.gsync == nil {
		t.Fatal("store has no group commit")
	}
	w := &syncWatch{synced: map[string]bool{}}
	s.gsync.fsync = func(f *os.File) error {
		var found []string
		if strings.HasSuffix(f.Name(), ".blk") {
			data, err := os.ReadFile(f.Name())
			if err != nil {
				return err
			}
			for _, m := range bytes.SplitAfter(data, []byte("marker-"))[1:] {
				if end := bytes.IndexByte(m, '"'); end > 0 {
					found = append(found, "marker-"+string(m[:end]))
				}
			}
		}
		w.mu.Lock()
		fail := w.fail
		w.mu.Unlock()
		if fail != nil {
			return fail
		}
		if err := f.Sync(); err != nil {
			return err
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if strings.HasSuffix(f.Name(), ".blk") {
			w.rounds++
		}
		for _, m := range found {
			w.synced[m] = true
		}
		return nil
	}
	return w
}

func (w *syncWatch) has(marker string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.synced[marker]
}

func openSyncStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(StoreConfig{Dir: dir, SyncAlways: true, ReadyTimeout: 20 * time.Second}, zap.NewNop())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func markedEvent(i int) *Event {
	ev := event(fmt.Sprintf("01JSYNC%019d", i))
	ev.Body = fmt.Appendf(nil, `{"m":"marker-%d"}`, i)
	return ev
}

// Every Accept that returns nil under `sync always` is covered by an fsync that returned before
// it, and concurrent Accepts share fsyncs. This also pins the file layout group commit relies
// on: a layout the rounds cannot find fails the Accepts instead.
func TestGroupSyncCoversEveryAck(t *testing.T) {
	s := openSyncStore(t, t.TempDir())
	w := watchSyncs(t, s)
	r := newRoute(t, s, QueueConfig{Forward: policy("http://127.0.0.1:1/")})

	const workers, each = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for g := range workers {
		wg.Go(func() {
			for j := range each {
				i := g*each + j
				ev := markedEvent(i)
				dup, err := r.Accept(testCtx(t), fmt.Sprintf("k%d", i), ev)
				switch {
				case err != nil:
					errs <- fmt.Errorf("accept %d: %w", i, err)
				case dup:
					errs <- fmt.Errorf("accept %d: duplicate", i)
				case !w.has(fmt.Sprintf("marker-%d", i)):
					errs <- fmt.Errorf("event %d acked before an fsync covered it", i)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	w.mu.Lock()
	rounds := w.rounds
	w.mu.Unlock()
	t.Logf("%d events, %d block fsyncs", workers*each, rounds)
	if rounds >= workers*each {
		t.Errorf("%d block fsyncs for %d concurrent events: no grouping", rounds, workers*each)
	}

	// A dead letter (quarantine) is a publish on another stream, covered the same way.
	ev := markedEvent(100000)
	if dup, err := r.Quarantine(testCtx(t), "kq", ev, "schema"); err != nil || dup {
		t.Fatalf("quarantine: dup=%v err=%v", dup, err)
	}
	if !w.has("marker-100000") {
		t.Error("dead letter acked before an fsync covered it")
	}
}

// A failed fsync is sticky: the event is refused, and so is every later one, and a duplicate
// answer (which rests on a copy that may not be on disk) too.
func TestGroupSyncFailureIsSticky(t *testing.T) {
	s := openSyncStore(t, t.TempDir())
	w := watchSyncs(t, s)
	r := newRoute(t, s, QueueConfig{Forward: policy("http://127.0.0.1:1/")})
	if dup, err := r.Accept(testCtx(t), "k1", markedEvent(1)); err != nil || dup {
		t.Fatalf("accept: dup=%v err=%v", dup, err)
	}
	w.mu.Lock()
	w.fail = errors.New("EIO")
	w.mu.Unlock()
	if _, err := r.Accept(testCtx(t), "k2", markedEvent(2)); err == nil {
		t.Fatal("accept with a failing fsync succeeded")
	}
	w.mu.Lock()
	w.fail = nil
	w.mu.Unlock()
	if _, err := r.Accept(testCtx(t), "k3", markedEvent(3)); err == nil {
		t.Error("accept after a failed fsync succeeded")
	}
	if dup, err := r.Accept(testCtx(t), "k2", markedEvent(2)); err == nil {
		t.Errorf("duplicate of the event whose fsync failed answered dup=%v without error", dup)
	}
}

// A duplicate whose first copy is not synced yet waits for the round that covers it.
func TestGroupSyncDuplicateWaitsForFirstCopy(t *testing.T) {
	s := openSyncStore(t, t.TempDir())
	watchSyncs(t, s)
	r := newRoute(t, s, QueueConfig{Forward: policy("http://127.0.0.1:1/")})
	if dup, err := r.Accept(testCtx(t), "k1", markedEvent(1)); err != nil || dup {
		t.Fatalf("accept: dup=%v err=%v", dup, err)
	}
	ss := s.gsync.stream(r.evStream)
	ss.mu.Lock()
	covered := ss.synced
	ss.synced, ss.started = 0, 0 // as if the first copy had been written by a process before a crash
	ss.mu.Unlock()
	dup, err := r.Accept(testCtx(t), "k1", markedEvent(1))
	if err != nil || !dup {
		t.Fatalf("second copy: dup=%v err=%v", dup, err)
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.synced < covered {
		t.Errorf("duplicate answered without a round: synced %d, first copy at %d", ss.synced, covered)
	}
}

// A stream deleted and created again numbers its blocks from 1 again; the rounds start over
// instead of skipping blocks below the old stream's last one.
func TestGroupSyncStreamRecreated(t *testing.T) {
	s := openSyncStore(t, t.TempDir())
	w := watchSyncs(t, s)
	r := newRoute(t, s, QueueConfig{Forward: policy("http://127.0.0.1:1/")})
	if dup, err := r.Accept(testCtx(t), "k1", markedEvent(1)); err != nil || dup {
		t.Fatalf("accept: dup=%v err=%v", dup, err)
	}
	ss := s.gsync.stream(r.evStream)
	ss.mu.Lock()
	ss.lastBlk = 1 << 20 // as if the old stream had reached a block the new one never will
	ss.mu.Unlock()
	if err := os.RemoveAll(ss.dir + "/msgs"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(ss.dir+"/msgs", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ss.dir+"/msgs/1.blk", []byte(`{"m":"marker-7"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.gsync.wait(testCtx(t), r.evStream, 1<<30); err != nil {
		t.Fatal(err)
	}
	if !w.has("marker-7") {
		t.Error("the new stream's first block was not synced")
	}
}
