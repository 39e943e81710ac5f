package delivery

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"sync/atomic"
	"net/http/httptest"
	"io"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"crypto/sha256"
	"encoding/base64"
)

func rss() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS") {
			return l
		}
	}
	return ""
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func TestMemProbe(t *testing.T) {
	if os.Getenv("MEMPROBE") == "" {
		t.Skip()
	}
	n, _ := strconv.Atoi(os.Getenv("MEMPROBE"))
	s := openStore(t, t.TempDir())
	var cnt atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body); cnt.Add(1) }))
	defer up.Close()
	p := policy(up.URL)
	p.Concurrency = 64
	r := newRoute(t, s, RouteConfig{Forward: p})
	h0 := heap()
	fmt.Println("start", h0>>20, "MB", rss())
	start := time.Now()
	var wg sync.WaitGroup
	body := []byte(`{"event":"onboarding.completed","id":"x","status":"OK"}`)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				sum := sha256.Sum256([]byte(strconv.Itoa(i)))
				k := base64.RawURLEncoding.EncodeToString(sum[:16])
				if _, err := r.Accept(t.Context(), k, &Event{Vendor: "v", Body: body}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	h1 := heap()
	fmt.Println("accepted", n, time.Since(start), "heap", h1>>20, "MB", "per key", (h1-h0)/uint64(n), rss())
	start = time.Now()
	r.Start()
	waitFor(t, 10*time.Minute, "delivery", func() bool { return cnt.Load() >= int64(n) })
	settled(t, r, time.Minute)
	h2 := heap()
	f, _ := os.Create("/tmp/heap.prof")
	pprof.WriteHeapProfile(f)
	f.Close()
	time.Sleep(30 * time.Second)
	fmt.Println("after 30s heap", heap()>>20, "MB")
	fmt.Println("delivered", time.Since(start), "heap", h2>>20, "MB", "per key", (h2-h0)/uint64(n), rss())
}
