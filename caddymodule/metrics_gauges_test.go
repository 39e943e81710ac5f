package caddymodule

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/delivery"
)

// TestQueueGauges: the sampled route figures reach their gauges, key_index_stuck as 1 or 0.
func TestQueueGauges(t *testing.T) {
	value := func(g prometheus.Gauge) float64 {
		t.Helper()
		var m dto.Metric
		if err := g.Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetGauge().GetValue()
	}
	setQueueGauges("gauges", delivery.Stats{Pending: 3, InFlight: 2, Dead: 1, Bytes: 4096, MaxQueue: 8192, KeyIndexStuck: true})
	for _, c := range []struct {
		name string
		g    prometheus.Gauge
		want float64
	}{
		{"pending", queueDepth.WithLabelValues("gauges", "pending"), 3},
		{"in_flight", queueDepth.WithLabelValues("gauges", "in_flight"), 2},
		{"dead", queueDepth.WithLabelValues("gauges", "dead"), 1},
		{"bytes", queueBytes.WithLabelValues("gauges"), 4096},
		{"max_queue", queueMaxBytes.WithLabelValues("gauges"), 8192},
		{"key_index_stuck", keyIndexStuck.WithLabelValues("gauges"), 1},
	} {
		if got := value(c.g); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	setQueueGauges("gauges", delivery.Stats{})
	if got := value(keyIndexStuck.WithLabelValues("gauges")); got != 0 {
		t.Errorf("key_index_stuck with a sound index = %v, want 0", got)
	}
}
