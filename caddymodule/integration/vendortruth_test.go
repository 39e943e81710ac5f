package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// attestrRoute starts a forward-mode Attestr route with the preset's defaults
// (no on_invalid line) in front of up; globals are extra global options.
func attestrRoute(t *testing.T, up *testkit.Upstream, name, globals string) map[string]string {
	t.Helper()
	startCaddy(t, storeOption(t)+globals, fmt.Sprintf(site+` {
	webhook_gateway {
		name %s
		vendor attestr
		auth basic opaque-attestr-token-0001
		forward %s {
			backoff 20ms 200ms
		}
	}
}
`, name, up.URL))
	return map[string]string{"Authorization": "Basic opaque-attestr-token-0001"}
}

type deadLetterEntry struct {
	ID        string `json:"id"`
	Reason    string `json:"reason"`
	LastError string `json:"last_error"`
}

// TestAttestrSchemaFailureIsKept: Attestr makes one attempt, so a body that
// fails the schema is acked inside its 5 s, kept as a dead letter with reason
// "schema", deduplicated, and delivered once replayed.
func TestAttestrSchemaFailureIsKept(t *testing.T) {
	up := testkit.NewUpstream(t, nil)
	auth := attestrRoute(t, up, "attestr_truth", "")
	bad := []byte(`{"event":"flowx.completed","payload":{"tag":"REF-1","result":{"stage":{"ok":true}}}}`)

	start := time.Now()
	resp, body := post(t, nil, "/", auth, bad)
	if took := time.Since(start); resp.StatusCode != http.StatusOK || took > 5*time.Second {
		t.Fatalf("status %d after %v, want Attestr's 200 inside 5 s; body %s", resp.StatusCode, took, body)
	}
	id := resp.Header.Get("X-Webhook-Id")
	if id == "" || resp.Header.Get("X-Webhook-Duplicate") != "" {
		t.Fatalf("headers %v: want an X-Webhook-Id and no duplicate mark", resp.Header)
	}

	// The same bad body again is a duplicate of the dead letter, not a second one.
	resp, _ = post(t, nil, "/", auth, bad)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Webhook-Duplicate") != "true" {
		t.Fatalf("second copy: status %d, duplicate %q; want 200 and true", resp.StatusCode, resp.Header.Get("X-Webhook-Duplicate"))
	}
	var list []deadLetterEntry
	adminJSON(t, http.MethodGet, "/webhook_gateway/routes/attestr_truth/dead_letters", &list)
	if len(list) != 1 || list[0].ID != id || list[0].Reason != "schema" || !strings.Contains(list[0].LastError, "/payload/_id") {
		t.Fatalf("dead letters %+v, want one with id %s, reason schema and the violation", list, id)
	}
	if up.Count() != 0 {
		t.Fatal("a quarantined event was delivered before a replay")
	}
	if !strings.Contains(metricsText(t), `caddy_webhook_gateway_requests_total{outcome="quarantined",route="attestr_truth",vendor="attestr"} 1`) {
		t.Error("the quarantine is not counted once in requests_total")
	}

	// Once the schema (or the application) is fixed, the operator replays it.
	adminJSON(t, http.MethodPost, "/webhook_gateway/routes/attestr_truth/dead_letters/"+id+"/replay", nil)
	testkit.WaitFor(t, 10*time.Second, "the replayed delivery", func() bool { return up.Count() == 1 })
	got := up.Requests()[0]
	if string(got.Body) != string(bad) || got.Header.Get("X-Webhook-Id") != id {
		t.Fatalf("delivered id %q body %s, want id %s and the original body", got.Header.Get("X-Webhook-Id"), got.Body, id)
	}
	time.Sleep(300 * time.Millisecond)
	if n := up.Count(); n != 1 {
		t.Fatalf("%d deliveries, want exactly 1", n)
	}
}

// TestOversizedKeyAndHeaders: a 70 KB key, a 70 KB event name and 90 KB of
// vendor headers never make the store refuse the event (which used to be a
// 503 on every retry): the event is acked, delivered once, and its key and
// event name reach the application in their bounded form.
func TestOversizedKeyAndHeaders(t *testing.T) {
	up := testkit.NewUpstream(t, nil)
	// Caddy refuses request headers over 16 KiB by default; an operator may
	// raise that, and the store must still never see more than it takes.
	auth := attestrRoute(t, up, "attestr_big", "\tservers {\n\t\tmax_header_size 1MB\n\t}\n")
	longID := strings.Repeat("A", 70<<10)
	body := []byte(`{"event":"factx.query","payload":{"_id":"` + longID + `","profile":"p","queries":[]}}`)
	headers := map[string]string{"Authorization": auth["Authorization"]}
	for i := range 30 {
		headers[fmt.Sprintf("X-Vendor-Trace-%02d", i)] = strings.Repeat("t", 3<<10)
	}
	resp, b := post(t, nil, "/", headers, body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", resp.StatusCode, b)
	}
	resp, b = post(t, nil, "/", headers, body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Webhook-Duplicate") != "true" {
		t.Fatalf("retry: status %d duplicate %q; body %s", resp.StatusCode, resp.Header.Get("X-Webhook-Duplicate"), b)
	}

	longEvent := []byte(`{"event":"` + strings.Repeat("e", 70<<10) + `","payload":{"_id":"x"}}`)
	if resp, b := post(t, nil, "/", auth, longEvent); resp.StatusCode != http.StatusOK {
		t.Fatalf("long event name: status %d, want 200; body %s", resp.StatusCode, b)
	}

	testkit.WaitFor(t, 10*time.Second, "both deliveries", func() bool { return up.Count() == 2 })
	time.Sleep(300 * time.Millisecond)
	if n := up.Count(); n != 2 {
		t.Fatalf("%d deliveries, want 2 (the retry is a duplicate)", n)
	}
	for _, r := range up.Requests() {
		if k := r.Header.Get("X-Webhook-Idempotency-Key"); len(k) > 512 || !strings.Contains(k, "~sha256:") {
			t.Errorf("forwarded key of %d bytes (%.40q…), want the bounded form of at most 512", len(k), k)
		}
		if e := r.Header.Get("X-Webhook-Event"); len(e) > 256 {
			t.Errorf("forwarded event name of %d bytes, want at most 256", len(e))
		}
	}
}

// TestWindowFollowsRetryHorizon: identical bytes inside the window are a
// retry (a duplicate, not delivered again); outside it (one second of rounding
// later at most) they are a new event and are delivered.
func TestWindowFollowsRetryHorizon(t *testing.T) {
	up := testkit.NewUpstream(t, nil)
	startRoute(t,
		"name window",
		"vendor idwise",
		"auth none",
		"dedup_window 2s",
		"forward "+up.URL,
	)
	ev := idwiseEvent("w-1")
	if resp, b := post(t, nil, "/", nil, ev); resp.StatusCode != http.StatusOK || resp.Header.Get("X-Webhook-Duplicate") != "" {
		t.Fatalf("first: status %d %s", resp.StatusCode, b)
	}
	testkit.WaitFor(t, 10*time.Second, "the first delivery", func() bool { return up.Count() == 1 })
	if resp, _ := post(t, nil, "/", nil, ev); resp.Header.Get("X-Webhook-Duplicate") != "true" {
		t.Fatal("a retry inside the window was not answered as a duplicate")
	}
	// The key index keeps accepted-at to the second, so a key stays a duplicate for the
	// window and at most one second longer.
	time.Sleep(3500 * time.Millisecond)
	if resp, b := post(t, nil, "/", nil, ev); resp.StatusCode != http.StatusOK || resp.Header.Get("X-Webhook-Duplicate") != "" {
		t.Fatalf("after the window: status %d duplicate %q %s, want a new event", resp.StatusCode, resp.Header.Get("X-Webhook-Duplicate"), b)
	}
	testkit.WaitFor(t, 10*time.Second, "the second delivery", func() bool { return up.Count() == 2 })
}
