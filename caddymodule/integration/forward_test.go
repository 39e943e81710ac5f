package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/auth"
	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// idwiseEvent is a realistic IDWise webhook with a unique eventId.
func idwiseEvent(id string) []byte {
	return []byte(`{"event":"Finished Journey","body":{"eventId":"` + id +
		`","journeyId":"6720a1b2c3d4e5f60718293a","referenceNo":"ref-` + id + `","systemDecision":"Complete"}}`)
}

// newSwitchableApp is an application that is down until a test brings it
// Up; it keeps its port while down.
func newSwitchableApp(t *testing.T) *testkit.Upstream {
	t.Helper()
	app := testkit.NewUpstream(t, nil)
	app.Down()
	return app
}

// expectExactlyOnce checks that every key was delivered exactly once.
func expectExactlyOnce(t *testing.T, app *testkit.Upstream, keys []string, timeout time.Duration) {
	t.Helper()
	testkit.WaitFor(t, timeout, fmt.Sprintf("%d deliveries", len(keys)), func() bool {
		got := app.Delivered("X-Webhook-Idempotency-Key")
		for _, k := range keys {
			if len(got[k]) == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(300 * time.Millisecond) // let any stray second delivery arrive before counting
	got := app.Delivered("X-Webhook-Idempotency-Key")
	for _, k := range keys {
		if len(got[k]) != 1 {
			t.Fatalf("key %s delivered %d times, want exactly once", k, len(got[k]))
		}
	}
}

// TestForwardAckIndependentOfApp: whatever the application does (sleeps 10 s,
// is down, answers 500), every event is acked in well under a second; once the
// application is back, every event is delivered exactly once.
func TestForwardAckIndependentOfApp(t *testing.T) {
	sleepy := testkit.NewUpstream(t, nil)
	sleepy.SetDelay(10 * time.Second)
	failing := testkit.NewUpstream(t, testkit.Status(http.StatusInternalServerError))
	app := newSwitchableApp(t) // down until brought up

	startCaddy(t, storeOption(t), fmt.Sprintf(site+` {
	handle /sleepy {
		webhook_gateway {
			name sleepy
			vendor idwise
			auth none
			forward %s {
				timeout 20s
			}
		}
	}
	handle /down {
		webhook_gateway {
			name down
			vendor idwise
			auth none
			forward http://%s/events {
				backoff 50ms 300ms
			}
		}
	}
	handle /failing {
		webhook_gateway {
			name failing
			vendor idwise
			auth none
			forward %s {
				backoff 50ms 300ms
			}
		}
	}
}
`, sleepy.URL, app.HostPort(), failing.URL))

	client := loopbackClient("127.0.0.1")
	var keys []string
	for _, path := range []string{"/sleepy", "/down", "/failing"} {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			var worst time.Duration
			for i := range 20 {
				id := fmt.Sprintf("%s-%d", strings.TrimPrefix(path, "/"), i)
				start := time.Now()
				resp, body := post(t, client, path, nil, idwiseEvent(id))
				took := time.Since(start)
				if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Webhook-Id") == "" {
					t.Fatalf("event %s: status %d %s", id, resp.StatusCode, body)
				}
				worst = max(worst, took)
				if path == "/down" {
					keys = append(keys, "idwise:"+id)
				}
			}
			if worst >= time.Second {
				t.Fatalf("slowest ack took %v, want well under 1s", worst)
			}
			t.Logf("slowest of 20 acks: %v", worst)
		})
	}

	// The application comes back: everything queued for it is delivered once.
	app.Up()
	expectExactlyOnce(t, app, keys, 30*time.Second)
}

// TestForwardedRequest checks the request the application receives (docs/architecture.md,
// "The header contract").
func TestForwardedRequest(t *testing.T) {
	up := testkit.NewUpstream(t, nil)
	secret := "whsec_" + "dGVzdC1zaWduaW5nLXNlY3JldC0wMTIzNDU2Nzg5"
	startRoute(t,
		"vendor idwise",
		"auth basic idwise {env.WEBHOOK_TEST_SECRET}",
		"forward "+up.URL+"/events {",
		"\theader_up X-Tenant acme",
		"\tsign "+secret,
		"}",
	)
	body := idwiseEvent("fwd-1")
	resp, _ := post(t, nil, "/", map[string]string{
		"Authorization": basicHeader("idwise", "test-secret"),
		"X-Trace":       "trace-1",
	}, body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	testkit.WaitFor(t, 10*time.Second, "the delivery", func() bool { return up.Count() == 1 })
	got := up.Requests()[0]
	if string(got.Body) != string(body) || got.Path != "/events" {
		t.Fatalf("path %s body %s", got.Path, got.Body)
	}
	h := got.Header
	want := map[string]string{
		"Content-Type":              "application/json",
		"X-Webhook-Id":              resp.Header.Get("X-Webhook-Id"),
		"X-Webhook-Vendor":          "idwise",
		"X-Webhook-Event":           "Finished Journey",
		"X-Webhook-Idempotency-Key": "idwise:fwd-1",
		"X-Webhook-Attempt":         "1",
		"X-Tenant":                  "acme",
		"X-Trace":                   "trace-1",
	}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), v)
		}
	}
	if h.Get("Authorization") != "" {
		t.Error("the vendor's credentials were forwarded")
	}
	if _, err := time.Parse(time.RFC3339, h.Get("X-Webhook-Received-At")); err != nil {
		t.Errorf("X-Webhook-Received-At %q: %v", h.Get("X-Webhook-Received-At"), err)
	}
	key, _ := auth.DecodeStandardWebhookSecret(secret)
	ts, err := parseUnix(h.Get("Webhook-Timestamp"))
	if err != nil {
		t.Fatal(err)
	}
	wantSig := auth.SignStandardWebhook(key, h.Get("Webhook-Id"), ts, body)
	if h.Get("Webhook-Signature") != wantSig {
		t.Fatalf("webhook-signature %q, want %q", h.Get("Webhook-Signature"), wantSig)
	}
}

func parseUnix(s string) (time.Time, error) {
	var sec int64
	if _, err := fmt.Sscan(s, &sec); err != nil {
		return time.Time{}, err
	}
	return time.Unix(sec, 0), nil
}

// TestDeadLetterAndReplay: an application that always answers 500 with
// max_attempts 3 gets the event dead-lettered; once it is fixed, a replay
// through the admin API delivers it.
func TestDeadLetterAndReplay(t *testing.T) {
	app := newSwitchableApp(t)
	app.SetRespond(testkit.Status(http.StatusInternalServerError))
	app.Up()
	startRoute(t,
		"name dlq",
		"vendor idwise",
		"auth none",
		"forward http://"+app.HostPort()+"/events {",
		"\tmax_attempts 3",
		"\tbackoff 20ms 100ms",
		"}",
	)
	resp, _ := post(t, nil, "/", nil, idwiseEvent("dead-1"))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	id := resp.Header.Get("X-Webhook-Id")

	var list []struct {
		ID         string `json:"id"`
		Attempts   int    `json:"attempts"`
		LastStatus int    `json:"last_status"`
		Key        string `json:"key"`
	}
	testkit.WaitFor(t, 15*time.Second, "the dead letter", func() bool {
		list = nil
		adminJSON(t, http.MethodGet, "/webhook_gateway/routes/dlq/dead_letters", &list)
		return len(list) == 1
	})
	if list[0].ID != id || list[0].Attempts != 3 || list[0].LastStatus != 500 || list[0].Key != "idwise:dead-1" {
		t.Fatalf("dead letter %+v, want id %s after 3 attempts with status 500", list[0], id)
	}
	var one struct {
		ID   string          `json:"id"`
		Body json.RawMessage `json:"body"`
	}
	adminJSON(t, http.MethodGet, "/webhook_gateway/routes/dlq/dead_letters/"+id, &one)
	if !strings.Contains(string(one.Body), "dead-1") {
		t.Fatalf("dead letter body %s", one.Body)
	}
	var stats struct {
		Dead uint64 `json:"dead"`
	}
	adminJSON(t, http.MethodGet, "/webhook_gateway/routes/dlq", &stats)
	if stats.Dead != 1 {
		t.Fatalf("stats report %d dead, want 1", stats.Dead)
	}

	if text := metricsText(t); !strings.Contains(text, `caddy_webhook_gateway_dead_letters_total{route="dlq"} 1`) ||
		!strings.Contains(text, `caddy_webhook_gateway_deliveries_total{result="dead_letter",route="dlq"} 1`) {
		t.Fatal("the dead letter is not in the metrics")
	}

	app.SetRespond(testkit.Status(http.StatusOK))
	adminJSON(t, http.MethodPost, "/webhook_gateway/routes/dlq/dead_letters/"+id+"/replay", nil)
	expectExactlyOnce(t, app, []string{"idwise:dead-1"}, 10*time.Second)
	list = nil
	adminJSON(t, http.MethodGet, "/webhook_gateway/routes/dlq/dead_letters", &list)
	if len(list) != 0 {
		t.Fatalf("%d dead letters after the replay, want 0", len(list))
	}
	if code := adminStatus(t, http.MethodDelete, "/webhook_gateway/routes/dlq/dead_letters/"+id); code != http.StatusNotFound {
		t.Fatalf("deleting a replayed dead letter: status %d, want 404", code)
	}
}

// TestQuarantine: with on_invalid quarantine, a schema violation is acked,
// kept with the dead letters, and never delivered.
func TestQuarantine(t *testing.T) {
	up := testkit.NewUpstream(t, nil)
	startRoute(t,
		"name quarantine",
		"vendor attestr",
		"auth none",
		"on_invalid quarantine",
		"forward "+up.URL,
	)
	resp, _ := post(t, nil, "/", nil, []byte(`{"event":"flowx.completed","payload":{"tag":"no-id"}}`))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want the ack", resp.StatusCode)
	}
	var list []struct {
		ID     string `json:"id"`
		Reason string `json:"reason"`
	}
	adminJSON(t, http.MethodGet, "/webhook_gateway/routes/quarantine/dead_letters", &list)
	if len(list) != 1 || list[0].ID != resp.Header.Get("X-Webhook-Id") {
		t.Fatalf("dead letters %+v, want the quarantined event", list)
	}
	time.Sleep(300 * time.Millisecond)
	if up.Count() != 0 {
		t.Fatal("a quarantined event was delivered")
	}
	adminJSON(t, http.MethodDelete, "/webhook_gateway/routes/quarantine/dead_letters/"+list[0].ID, nil)
}

// TestReloadKeepsQueueAndDedup: while senders post, the config is reloaded
// several times; every acked event is delivered exactly once and the dedup
// window survives the reloads.
func TestReloadKeepsQueueAndDedup(t *testing.T) {
	app := newSwitchableApp(t)
	app.Up()
	store := storeOption(t)
	cfg := func(concurrency int) string {
		return fmt.Sprintf(site+` {
	webhook_gateway {
		name reload
		vendor idwise
		auth none
		forward http://%s/events {
			concurrency %d
			backoff 20ms 200ms
		}
	}
}
`, app.HostPort(), concurrency)
	}
	tester := startCaddy(t, store, cfg(4))

	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := loopbackClient("127.0.0.1")
	for s := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("reload-%d-%d", s, i)
				req, _ := http.NewRequest(http.MethodPost, gatewayBase+"/", strings.NewReader(string(idwiseEvent(id))))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					continue // a connection cut by the reload: the vendor would retry
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					acked = append(acked, "idwise:"+id)
					mu.Unlock()
				}
			}
		}()
	}
	for i := range 4 {
		time.Sleep(300 * time.Millisecond)
		tester.InitServer("{"+globalOptions+store+"\n}\n"+cfg(2+i), "caddyfile")
	}
	close(stop)
	wg.Wait()
	mu.Lock()
	keys := append([]string(nil), acked...)
	mu.Unlock()
	if len(keys) == 0 {
		t.Fatal("no event was acked")
	}
	t.Logf("%d events acked across 4 reloads", len(keys))
	expectExactlyOnce(t, app, keys, 60*time.Second)

	// The dedup window survived the reloads. A new client (nil): a kept-alive
	// connection of the senders' may belong to a server a reload just closed,
	// and a POST on it fails with EOF (seen once under -race), which a vendor
	// would retry but this check must not mistake for an answer.
	resp, _ := post(t, nil, "/", nil, idwiseEvent(strings.TrimPrefix(keys[0], "idwise:")))
	if resp.Header.Get("X-Webhook-Duplicate") != "true" {
		t.Fatal("an event acked before the reloads is not a duplicate after them")
	}
}

// TestStoreUnavailable: when the store cannot take an event the vendor gets a
// 503 with Retry-After, never a 2xx.
func TestStoreUnavailable(t *testing.T) {
	ns, store := natsStore(t, nil)
	up := testkit.NewUpstream(t, nil)
	startCaddy(t, store, fmt.Sprintf(site+` {
	webhook_gateway {
		name unavailable
		vendor idwise
		auth none
		forward %s
	}
}
`, up.URL))
	resp, _ := post(t, nil, "/", nil, idwiseEvent("before-outage"))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d with the store up", resp.StatusCode)
	}
	if code := adminStatus(t, http.MethodGet, "/webhook_gateway/health"); code != http.StatusOK {
		t.Fatalf("health with the store up: %d, want 200", code)
	}
	ns.Shutdown()
	start := time.Now()
	resp, body := post(t, nil, "/", nil, idwiseEvent("during-outage"))
	expectProblem(t, resp, body, http.StatusServiceUnavailable, "store_unavailable")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the 503 took %v; a vendor like Attestr gives up after 5 s", took)
	}
	// The readiness endpoint reports the outage.
	if code := adminStatus(t, http.MethodGet, "/webhook_gateway/health"); code != http.StatusServiceUnavailable {
		t.Fatalf("health with the store down: %d, want 503", code)
	}
}

// TestMetrics: the collectors are in Caddy's registry at the admin endpoint.
func TestMetrics(t *testing.T) {
	up := testkit.NewUpstream(t, nil)
	startRoute(t,
		"name metrics",
		"vendor idwise",
		"auth none",
		"forward "+up.URL,
	)
	post(t, nil, "/", nil, idwiseEvent("m-1"))
	post(t, nil, "/", nil, idwiseEvent("m-1"))
	post(t, nil, "/", map[string]string{"Content-Type": "text/plain"}, idwiseEvent("m-2"))
	testkit.WaitFor(t, 10*time.Second, "the delivery", func() bool { return up.Count() == 1 })
	var text string
	testkit.WaitFor(t, 10*time.Second, "delivery metrics", func() bool {
		text = metricsText(t)
		return strings.Contains(text, `caddy_webhook_gateway_deliveries_total{result="success",route="metrics"} 1`)
	})
	// The queue depth is sampled every 5 s.
	testkit.WaitFor(t, 15*time.Second, "the queue depth gauge", func() bool {
		return strings.Contains(metricsText(t), `caddy_webhook_gateway_queue_depth{route="metrics",state="pending"}`)
	})
	for _, want := range []string{
		`caddy_webhook_gateway_requests_total{outcome="accepted",route="metrics",vendor="idwise"}`,
		`caddy_webhook_gateway_requests_total{outcome="duplicate",route="metrics",vendor="idwise"}`,
		`caddy_webhook_gateway_requests_total{outcome="rejected",route="metrics",vendor="idwise"}`,
		`caddy_webhook_gateway_duplicates_total{route="metrics",vendor="idwise"}`,
		`caddy_webhook_gateway_rejections_total{reason="unsupported_media_type",route="metrics",vendor="idwise"} 1`,
		`caddy_webhook_gateway_ack_duration_seconds_bucket{route="metrics"`,
		`caddy_webhook_gateway_delivery_duration_seconds_bucket{result="success",route="metrics"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// adminJSON calls the admin API and decodes the JSON answer into out.
func adminJSON(t *testing.T, method, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, adminBase+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: status %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

func adminStatus(t *testing.T, method, path string) int {
	t.Helper()
	req, _ := http.NewRequest(method, adminBase+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestBodyOverStoreLimit: an event larger than the store can take as one
// message gets a 413 naming the limit, not a 503 the vendor would retry forever.
func TestBodyOverStoreLimit(t *testing.T) {
	_, store := natsStore(t, func(o *server.Options) { o.MaxPayload = 128 << 10 })
	up := testkit.NewUpstream(t, nil)
	startCaddy(t, store, fmt.Sprintf(site+` {
	webhook_gateway {
		name storelimit
		auth none
		max_body 1MB
		forward %s
	}
}
`, up.URL))
	small := []byte(`{"id":"small","pad":"` + strings.Repeat("x", 10<<10) + `"}`)
	resp, body := post(t, nil, "/", nil, small)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("10 KB event: status %d %s", resp.StatusCode, body)
	}
	big := []byte(`{"id":"big","pad":"` + strings.Repeat("x", 100<<10) + `"}`)
	resp, body = post(t, nil, "/", nil, big)
	p := expectProblem(t, resp, body, http.StatusRequestEntityTooLarge, "body_too_large")
	if !strings.Contains(p.Detail, "largest event the store takes") {
		t.Fatalf("detail %q does not name the store's limit", p.Detail)
	}
}

// metricsText reads Caddy's metrics from the admin endpoint.
func metricsText(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(adminBase + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
