package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// TestHistoryGivenUpUnderQuota: a route's delivered history counts against its max_queue and
// is given up, oldest first, before an event is refused. With the application up, many times
// the quota of events are all acked and delivered once, the oldest history is gone from the
// listing and a re-send of a given-up event is still its duplicate. With the application down,
// undelivered events fill the quota, the next one is answered 503 queue_full, and none of the
// undelivered was purged: all are listed pending and delivered once when the application is back.
func TestHistoryGivenUpUnderQuota(t *testing.T) {
	app := testkit.NewUpstream(t, nil)
	startRoute(t, "name giveup", "vendor idwise", "auth none",
		"forward "+app.URL+"/events {", "\tmax_queue 64KB", "\tbackoff 1s 2s", "}")
	pad := strings.Repeat("x", 400) // about 1 KB per stored event
	send := func(id string) (*http.Response, []byte) {
		t.Helper()
		return post(t, nil, "/", nil, idwiseEvent(id))
	}

	const history = 300 // about 5 times the quota
	var delivered []string
	for i := range history {
		id := fmt.Sprintf("h-%04d-%s", i, pad)
		if resp, body := send(id); resp.StatusCode != http.StatusOK {
			t.Fatalf("event %d with the application up: %d %s", i, resp.StatusCode, body)
		}
		delivered = append(delivered, "idwise:"+id)
		if i%10 == 9 { // keep the undelivered well under the quota
			testkit.WaitFor(t, 10*time.Second, "the deliveries so far", func() bool {
				return len(app.Delivered("X-Webhook-Idempotency-Key")) == len(delivered)
			})
		}
	}
	var page historyPage
	adminJSON(t, http.MethodGet, "/webhook_gateway/routes/giveup/events?limit=1000", &page)
	if len(page.Events) == 0 || len(page.Events) >= history || page.Events[0].Key == delivered[0] {
		t.Fatalf("%d events in the history after %d: the oldest history was not given up", len(page.Events), history)
	}
	for _, e := range page.Events {
		if e.Status != "delivered" || e.Attempts != 1 || e.LastStatus != http.StatusOK {
			t.Fatalf("history event %+v, want delivered with 1 attempt and status 200", e)
		}
	}
	t.Logf("after %d delivered events the history keeps %d, from %s", history, len(page.Events), page.Events[0].Key[:14])
	resp, _ := send(strings.TrimPrefix(delivered[0], "idwise:"))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Webhook-Duplicate") != "true" {
		t.Fatalf("re-send of a given-up event: %d, duplicate %q", resp.StatusCode, resp.Header.Get("X-Webhook-Duplicate"))
	}

	app.Down()
	var queued []string
	full := false
	for i := range 2000 {
		id := fmt.Sprintf("q-%04d-%s", i, pad)
		resp, body := send(id)
		if resp.StatusCode == http.StatusOK {
			queued = append(queued, "idwise:"+id)
			continue
		}
		expectProblem(t, resp, body, http.StatusServiceUnavailable, "queue_full")
		full = true
		break
	}
	if !full || len(queued) < 10 {
		t.Fatalf("with the application down: full=%v after %d events", full, len(queued))
	}
	var st struct {
		Pending      uint64 `json:"pending"`
		Bytes        uint64 `json:"bytes"`
		HistoryBytes uint64 `json:"history_bytes"`
		MaxQueue     uint64 `json:"max_queue"`
	}
	adminJSON(t, http.MethodGet, "/webhook_gateway/routes/giveup", &st)
	if st.Pending != uint64(len(queued)) || st.MaxQueue != 64000 {
		t.Fatalf("stats %+v, want all %d undelivered events kept", st, len(queued))
	}
	adminJSON(t, http.MethodGet, "/webhook_gateway/routes/giveup/events?status=pending&limit=1000", &page)
	if len(page.Events) != len(queued) || page.Events[0].Key != queued[0] {
		t.Fatalf("%d pending events listed, want %d from %.14s", len(page.Events), len(queued), queued[0])
	}
	t.Logf("%d events queued with the application down before queue_full; stats %+v", len(queued), st)

	app.Up()
	expectExactlyOnce(t, app, append(delivered, queued...), 60*time.Second)
}
