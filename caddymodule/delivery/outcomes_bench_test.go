package delivery

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// BenchmarkDeliverOutcomes measures deliveries per second of a route whose application answers
// at once (in-process upstream, 1 KiB bodies, the events stored beforehand), with outcome records
// written and without them, so that what the records cost the delivery path can be read side by
// side. It measures and prints; it asserts nothing about time.
func BenchmarkDeliverOutcomes(b *testing.B) {
	for _, records := range []bool{true, false} {
		b.Run(fmt.Sprintf("records=%v", records), func(b *testing.B) {
			s := openStore(b, b.TempDir())
			up := testkit.NewUpstream(b, testkit.Status(http.StatusOK))
			r := newRoute(b, s, QueueConfig{Name: "benchdeliver", DedupWindow: time.Hour, Forward: policy(up.URL)})
			w := r.outw
			if !records {
				r.outw = nil // noteAttempt writes nothing
				defer func() { r.outw = w }()
			}
			for i := range b.N {
				if _, err := r.Accept(b.Context(), fmt.Sprintf("k%09d", i), paddedEvent(fmt.Sprintf("B%09d", i), 1000)); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			start := time.Now()
			r.Start()
			testkit.WaitFor(b, 5*time.Minute, "every delivery", func() bool { return up.Count() >= b.N })
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
			b.StopTimer()
			_ = r.Stop(time.Second)
		})
	}
}
