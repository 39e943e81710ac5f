package integration

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestGateModeNoNextHandler: a gate-mode route with nothing after it must not
// ack into the void. It answers 502 no_next_handler and records no key, so the
// same event is not a duplicate once the config is fixed.
func TestGateModeNoNextHandler(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs without -short")
	}
	startCaddy(t, storeOption(t), site+" {\n\twebhook_gateway {\n\t\tname lonely\n\t\tvendor idwise\n\t\tauth basic gw {env.WEBHOOK_TEST_SECRET}\n\t}\n}\n")
	auth := map[string]string{"Authorization": basicHeader("gw", "test-secret")}
	body := idwiseEvent("no-next-1")
	for i := range 2 {
		resp, b := post(t, nil, "/webhooks/idwise", auth, body)
		expectProblem(t, resp, b, http.StatusBadGateway, "no_next_handler")
		if resp.Header.Get("X-Webhook-Duplicate") != "" || resp.Header.Get("X-Webhook-Id") != "" {
			t.Fatalf("attempt %d: 502 carries ack headers: %v", i+1, resp.Header)
		}
	}
}

// routeStats is one route of GET /webhook_gateway/routes.
type routeStats struct {
	Route    string `json:"route"`
	Pending  uint64 `json:"pending"`
	InFlight uint64 `json:"in_flight"`
	Dead     uint64 `json:"dead"`
	Orphaned bool   `json:"orphaned"`
}

// TestQueueStatsMoveDuringDrain: while a backlog drains, pending falls with
// the deliveries (it used to stay flat, counting the dedup markers that each
// delivery queues behind the backlog, and then jump to 0).
func TestQueueStatsMoveDuringDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs without -short")
	}
	up := newUpstream(t)
	up.delay = 10 * time.Millisecond
	startCaddy(t, storeOption(t), fmt.Sprintf(site+` {
	webhook_gateway {
		name drain
		vendor idwise
		auth none
		forward %s {
			concurrency 2
		}
	}
}
`, up.URL))
	const events = 300
	for i := range events {
		resp, body := post(t, nil, "/", nil, idwiseEvent(fmt.Sprintf("drain-%d", i)))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("event %d: status %d %s", i, resp.StatusCode, body)
		}
	}
	var seen []uint64
	waitFor(t, 60*time.Second, "the backlog to drain", func() bool {
		before := up.count()
		var st routeStats
		adminJSON(t, http.MethodGet, "/webhook_gateway/routes/drain", &st)
		after := up.count()
		// Pending may not exceed what the application has not received yet
		// (plus the attempts in flight around the two readings).
		if limit := uint64(events - before + 4); st.Pending > limit {
			t.Fatalf("pending %d with %d of %d delivered: the figure does not follow the deliveries", st.Pending, before, events)
		}
		if len(seen) == 0 || seen[len(seen)-1] != st.Pending {
			seen = append(seen, st.Pending)
		}
		return st.Pending == 0 && after == events
	})
	if len(seen) < 4 {
		t.Fatalf("pending took only the values %v while %d events drained", seen, events)
	}
	t.Logf("pending while draining: %v", seen)
}
