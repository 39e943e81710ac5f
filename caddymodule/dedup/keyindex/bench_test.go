package keyindex

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// prefilled is an index holding keyN(0…n-1).
func prefilled(b *testing.B, n int) *Index {
	b.Helper()
	ix := newIndex(b, Config{Window: 24 * time.Hour})
	now := time.Now()
	for i := range uint64(n) {
		mustInsert(b, ix, keyN(i), now)
	}
	return ix
}

func BenchmarkInsert(b *testing.B) {
	ix := prefilled(b, 1_000_000)
	now := time.Now()
	i := uint64(1 << 40)
	b.ReportAllocs()
	for b.Loop() {
		mustInsert(b, ix, keyN(i), now)
		i++
	}
}

func BenchmarkLookupHit(b *testing.B) {
	ix := prefilled(b, 1_000_000)
	var i uint64
	b.ReportAllocs()
	for b.Loop() {
		if !ix.Contains(keyN(i % 1_000_000)) {
			b.Fatal("miss")
		}
		i++
	}
}

func BenchmarkLookupMiss(b *testing.B) {
	ix := prefilled(b, 1_000_000)
	i := uint64(1 << 40)
	b.ReportAllocs()
	for b.Loop() {
		if ix.Contains(keyN(i)) {
			b.Fatal("hit")
		}
		i++
	}
}

func BenchmarkLookupParallel(b *testing.B) {
	ix := prefilled(b, 1_000_000)
	var seed atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := seed.Add(1) << 32
		for pb.Next() {
			ix.Contains(keyN(i % 1_000_000))
			i++
		}
	})
}

func BenchmarkInsertParallel(b *testing.B) {
	ix := prefilled(b, 1_000_000)
	var seed atomic.Uint64
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := (seed.Add(1) + 1) << 40
		for pb.Next() {
			if _, err := ix.Insert(keyN(i), now); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkSweep sweeps a million keys of which none has expired: the periodic cost.
func BenchmarkSweep(b *testing.B) {
	ix := prefilled(b, 1_000_000)
	for b.Loop() {
		if _, err := ix.Sweep(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshot writes and reads back a snapshot of a million keys: the restart
// path before the stream replay.
func BenchmarkSnapshot(b *testing.B) {
	ix := prefilled(b, 1_000_000)
	var buf bytes.Buffer
	b.Run("write", func(b *testing.B) {
		for b.Loop() {
			buf.Reset()
			if err := ix.WriteSnapshot(&buf); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(buf.Len()))
	})
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			back, err := ReadSnapshot(bytes.NewReader(buf.Bytes()), int64(buf.Len()), Config{Window: 24 * time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			back.Close()
		}
		b.SetBytes(int64(buf.Len()))
	})
}

// memFigures is the growth of the process for n keys.
type memFigures struct {
	keys                 int
	rss, heap, table     float64 // bytes per key
	insertNs, tableBytes float64
	presized             bool
}

func (m memFigures) String() string {
	how := "grown"
	if m.presized {
		how = "presized"
	}
	return fmt.Sprintf("%d keys (%s): RSS +%.1f B/key, Go heap +%.1f B/key, table %.1f B/key (%.1f MB), insert %.0f ns/key",
		m.keys, how, m.rss, m.heap, m.table, m.tableBytes/(1<<20), m.insertNs)
}

// measureMemory inserts n keys into a new index and measures what the process grew by:
// resident set (Linux /proc/self/statm) and the Go heap in use, each after a GC.
func measureMemory(tb testing.TB, n int, presize bool) memFigures {
	tb.Helper()
	settle := func() (rss, heap int64) {
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return residentBytes(tb), int64(ms.HeapInuse)
	}
	rss0, heap0 := settle()
	c := Config{Window: 24 * time.Hour}
	if presize {
		c.Capacity = n
	}
	ix, err := New(c)
	if err != nil {
		tb.Fatal(err)
	}
	defer ix.Close()
	now := time.Now()
	start := time.Now()
	for i := range uint64(n) {
		if _, err := ix.Insert(keyN(i), now); err != nil {
			tb.Fatal(err)
		}
	}
	took := time.Since(start)
	rss1, heap1 := settle()
	st := ix.Stats()
	return memFigures{
		keys: n, presized: presize,
		rss: float64(rss1-rss0) / float64(n), heap: float64(heap1-heap0) / float64(n),
		table: st.BytesPerKey(), tableBytes: float64(st.Bytes), insertNs: float64(took.Nanoseconds()) / float64(n),
	}
}

// residentBytes is the process's resident set, or 0 where /proc is missing.
func residentBytes(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// TestMemoryPerKey prints what a million keys cost the process, grown from empty and
// presized. It asserts only the table's own accounting (16 B a slot, at most 33 B a
// key); the RSS and heap figures are printed, not asserted.
func TestMemoryPerKey(t *testing.T) {
	testkit.SkipShort(t, "inserts two million keys")
	for _, presize := range []bool{false, true} {
		m := measureMemory(t, 1_000_000, presize)
		t.Log(m)
		if m.table < 16 || m.table > 33 {
			t.Errorf("table accounting %.1f B/key, want 16–33", m.table)
		}
	}
}

// BenchmarkMemory reports the same figures as metrics at one and five million keys
// (run with -benchtime=1x).
func BenchmarkMemory(b *testing.B) {
	for _, n := range []int{1_000_000, 5_000_000} {
		for _, presize := range []bool{false, true} {
			b.Run(fmt.Sprintf("keys=%d/presized=%v", n, presize), func(b *testing.B) {
				var m memFigures
				for b.Loop() {
					m = measureMemory(b, n, presize)
				}
				b.ReportMetric(m.rss, "rss-B/key")
				b.ReportMetric(m.heap, "heap-B/key")
				b.ReportMetric(m.table, "table-B/key")
				b.ReportMetric(m.insertNs, "insert-ns/key")
			})
		}
	}
}
