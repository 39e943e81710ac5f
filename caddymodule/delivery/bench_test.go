package delivery

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

// BenchmarkAccept measures accepted events per second into the embedded store (unique keys, 1 KiB
// bodies, no workers), with parallel callers as on the request path.
func BenchmarkAccept(b *testing.B) {
	for _, mode := range []struct {
		name string
		sync bool
	}{{"sync=interval", false}, {"sync=always", true}} {
		b.Run(mode.name, func(b *testing.B) {
			s, err := Open(StoreConfig{Dir: b.TempDir(), SyncAlways: mode.sync}, zap.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			r, err := s.Queue(QueueConfig{Name: "bench", Forward: &Policy{URL: "http://127.0.0.1:1"}})
			if err != nil {
				b.Fatal(err)
			}
			body := make([]byte, 1024)
			for i := range body {
				body[i] = 'a'
			}
			var n atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(32)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					ev := &Event{Vendor: "bench", Type: "t", Key: "k", ContentType: "application/json", Body: body}
					if _, err := r.Accept(b.Context(), "key"+strconv.FormatInt(i, 10), ev); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "events/s")
		})
	}
}
