package delivery

import (
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// TestDiskCostPerEvent measures what a delivered event kept as history costs on the embedded
// store: the event (body, the gateway's headers, a few forwarded vendor headers) and its outcome
// record, as the streams count them and as the files take them on disk. It prints the figures
// the README's event history section quotes; it asserts only that they were measured.
func TestDiskCostPerEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement: runs without -short")
	}
	dir := t.TempDir()
	s := openStore(t, dir)
	up := testkit.NewUpstream(t, testkit.Status(http.StatusOK))
	r := newRoute(t, s, QueueConfig{Name: "diskcost", DedupWindow: time.Hour, Forward: policy(up.URL)})
	r.Start()
	const n = 2000
	for _, size := range []int{1 << 10, 4 << 10} {
		ev0, _ := r.ev.Info(testCtx(t))
		oc0, _ := r.oc.Info(testCtx(t))
		disk0 := dirBytes(t, dir)
		for i := range n {
			ev := paddedEvent(fmt.Sprintf("%02d%026d", size>>10, i), size-40)
			ev.Key = fmt.Sprintf("idwise:%s:%064x", strings.Repeat("e", 36), i)
			ev.Header = http.Header{"X-Request-Id": {fmt.Sprintf("%032x", i)}, "User-Agent": {"IDWise-Webhooks/1.0"}}
			if _, err := r.Accept(testCtx(t), fmt.Sprintf("k%d-%06d", size, i), ev); err != nil {
				t.Fatal(err)
			}
		}
		testkit.WaitFor(t, 60*time.Second, "every delivery", func() bool { return up.Count() >= upTarget(size, n) })
		settled(t, r, 30*time.Second)
		// Records are written in batches, a message per block: wait until the writer is idle.
		var last uint64
		testkit.WaitFor(t, 10*time.Second, "every outcome record", func() bool {
			time.Sleep(200 * time.Millisecond)
			oc, err := r.oc.Info(testCtx(t))
			if err != nil || oc.State.Bytes == last || len(r.outw.ch) > 0 {
				return err == nil && oc.State.Bytes == last && last > oc0.State.Bytes
			}
			last = oc.State.Bytes
			return false
		})
		ev1, _ := r.ev.Info(testCtx(t))
		oc1, _ := r.oc.Info(testCtx(t))
		disk1 := dirBytes(t, dir)
		evB := float64(ev1.State.Bytes-ev0.State.Bytes) / n
		ocB := float64(oc1.State.Bytes-oc0.State.Bytes) / n
		diskB := float64(disk1-disk0) / n
		if evB <= float64(size) || ocB <= 0 {
			t.Fatalf("body %d B: event %.0f B, record %.0f B", size, evB, ocB)
		}
		perDay := func(b float64) float64 { return b * 50 * 86400 / 1e9 }
		t.Logf("body %d B: event %.0f B, outcome record %.0f B (%d records in %d messages; stream bytes); files %.0f B per event; at 50 events/s %.1f GB per day (files %.1f GB)",
			size, evB, ocB, n, oc1.State.Msgs-oc0.State.Msgs, diskB, perDay(evB+ocB), perDay(diskB))
	}
}

// upTarget is how many deliveries the upstream has seen once the first size-sized round is in.
func upTarget(size, n int) int {
	if size == 1<<10 {
		return n
	}
	return 2 * n
}

// dirBytes is the size of the files under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}
