package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

type historyEvent struct {
	ID         string    `json:"id"`
	Key        string    `json:"key"`
	Type       string    `json:"type"`
	ReceivedAt time.Time `json:"received_at"`
	Status     string    `json:"status"`
	Attempts   int       `json:"attempts"`
	LastStatus int       `json:"last_status"`
}

type historyPage struct {
	Events     []historyEvent `json:"events"`
	NextCursor string         `json:"next_cursor"`
}

// TestEventHistoryAndReplay: the admin API lists a forward route's events by time, key and
// status, shows one with its body and forwarded headers, and replays one by ID and a range by
// time and status: only those are delivered again, with their ID and key, marked as replays and
// with attempts counted afresh. Bad input gets a 400, an unknown ID a 404.
func TestEventHistoryAndReplay(t *testing.T) {
	up := testkit.NewUpstream(t, nil)
	up.SetRespond(testkit.StatusBy(func(_ int, r *http.Request) int {
		key := r.Header.Get("X-Webhook-Idempotency-Key")
		switch {
		case strings.HasSuffix(key, "dead"):
			return http.StatusGone
		case strings.HasSuffix(key, "wait") && r.Header.Get("X-Webhook-Replay") == "":
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}))
	startRoute(t,
		"name hist",
		"vendor idwise",
		"auth none",
		"forward http://"+up.HostPort()+"/events {",
		"\tbackoff 1h 1h",
		"\tdead_letter_on 410",
		"}",
	)
	ids := map[string]string{}
	send := func(name string) {
		t.Helper()
		resp, _ := post(t, nil, "/", map[string]string{"X-Vendor-Trace": "trace-" + name}, idwiseEvent(name))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", name, resp.StatusCode)
		}
		ids[name] = resp.Header.Get("X-Webhook-Id")
	}
	send("h-ok1")
	send("h-ok2")
	testkit.WaitFor(t, 10*time.Second, "two deliveries", func() bool { return up.Count() == 2 })
	time.Sleep(50 * time.Millisecond)
	mid := time.Now().UTC()
	time.Sleep(50 * time.Millisecond)
	send("h-ok3")
	send("h-dead")
	send("h-wait")
	testkit.WaitFor(t, 10*time.Second, "five attempts", func() bool { return up.Count() == 5 })

	list := func(query string) historyPage {
		t.Helper()
		var p historyPage
		adminJSON(t, http.MethodGet, "/webhook_gateway/routes/hist/events"+query, &p)
		return p
	}
	var all historyPage
	testkit.WaitFor(t, 10*time.Second, "the statuses", func() bool {
		all = list("")
		st := map[string]string{}
		recorded := 0
		for _, e := range all.Events {
			st[e.Key] = e.Status
			if e.Attempts > 0 {
				recorded++
			}
		}
		// Every attempt's outcome record is written off the delivery path, a moment later.
		return st["idwise:h-ok3"] == "delivered" && st["idwise:h-dead"] == "dead" && recorded == 5
	})
	var order, statuses []string
	for _, e := range all.Events {
		order = append(order, strings.TrimPrefix(e.Key, "idwise:"))
		statuses = append(statuses, e.Status)
	}
	if strings.Join(order, ",") != "h-ok1,h-ok2,h-ok3,h-dead,h-wait" ||
		strings.Join(statuses, ",") != "delivered,delivered,delivered,dead,pending" || all.NextCursor != "" {
		t.Fatalf("history %v %v next %q", order, statuses, all.NextCursor)
	}
	if e := all.Events[0]; e.ID != ids["h-ok1"] || e.Type == "" || e.ReceivedAt.IsZero() {
		t.Fatalf("first event %+v, want id %s with a type and received_at", e, ids["h-ok1"])
	}
	for i, want := range []int{200, 200, 200, http.StatusGone, http.StatusServiceUnavailable} {
		if e := all.Events[i]; e.Attempts != 1 || e.LastStatus != want {
			t.Fatalf("event %d %+v, want 1 attempt, last status %d", i, e, want)
		}
	}
	if p := list("?since=" + mid.Format(time.RFC3339Nano)); len(p.Events) != 3 || p.Events[0].Key != "idwise:h-ok3" {
		t.Fatalf("since: %+v", p.Events)
	}
	if p := list("?until=" + mid.Format(time.RFC3339Nano)); len(p.Events) != 2 || p.Events[1].Key != "idwise:h-ok2" {
		t.Fatalf("until: %+v", p.Events)
	}
	if p := list("?key=idwise:h-ok2"); len(p.Events) != 1 || p.Events[0].ID != ids["h-ok2"] {
		t.Fatalf("by key: %+v", p.Events)
	}
	for status, key := range map[string]string{"dead": "idwise:h-dead", "pending": "idwise:h-wait"} {
		if p := list("?status=" + status); len(p.Events) != 1 || p.Events[0].Key != key {
			t.Fatalf("status %s: %+v", status, p.Events)
		}
	}
	p1 := list("?limit=2")
	if len(p1.Events) != 2 || p1.NextCursor == "" {
		t.Fatalf("page 1: %+v", p1)
	}
	if p2 := list("?limit=2&cursor=" + p1.NextCursor); len(p2.Events) != 2 || p2.Events[0].Key != "idwise:h-ok3" {
		t.Fatalf("page 2: %+v", p2)
	}
	for _, bad := range []string{"?since=yesterday", "?status=lost", "?limit=0", "?limit=1001", "?cursor=x",
		"?since=" + mid.Format(time.RFC3339Nano) + "&until=" + mid.Format(time.RFC3339Nano)} {
		if code := adminStatus(t, http.MethodGet, "/webhook_gateway/routes/hist/events"+bad); code != http.StatusBadRequest {
			t.Errorf("events%s: status %d, want 400", bad, code)
		}
	}

	var one struct {
		ID         string              `json:"id"`
		Key        string              `json:"key"`
		Headers    map[string][]string `json:"headers"`
		Body       json.RawMessage     `json:"body"`
		AttemptLog []struct {
			N      int  `json:"n"`
			Status int  `json:"status"`
			Replay bool `json:"replay"`
		} `json:"attempt_log"`
		DeliveredAt *time.Time `json:"delivered_at"`
	}
	adminJSON(t, http.MethodGet, "/webhook_gateway/routes/hist/events/"+ids["h-ok2"], &one)
	if one.Key != "idwise:h-ok2" || !strings.Contains(string(one.Body), `"h-ok2"`) ||
		len(one.Headers["X-Vendor-Trace"]) != 1 || one.Headers["X-Vendor-Trace"][0] != "trace-h-ok2" {
		t.Fatalf("one event: %+v body %s", one, one.Body)
	}
	if len(one.AttemptLog) != 1 || one.AttemptLog[0].N != 1 || one.AttemptLog[0].Status != 200 || one.AttemptLog[0].Replay || one.DeliveredAt == nil {
		t.Fatalf("one event's attempts %+v, delivered at %v", one.AttemptLog, one.DeliveredAt)
	}
	if code := adminStatus(t, http.MethodGet, "/webhook_gateway/routes/hist/events/01ARZ3NDEKTSV4RRFFQ69G5FAV"); code != http.StatusNotFound {
		t.Fatalf("unknown event: status %d, want 404", code)
	}

	before := up.Count()
	var ans map[string]int
	adminJSON(t, http.MethodPost, "/webhook_gateway/routes/hist/events/"+ids["h-ok1"]+"/replay", &ans)
	if ans["replayed"] != 1 {
		t.Fatalf("replay by id answered %v", ans)
	}
	testkit.WaitFor(t, 10*time.Second, "the replay", func() bool { return up.Count() == before+1 })
	h := up.Requests()[before].Header
	if h.Get("X-Webhook-Id") != ids["h-ok1"] || h.Get("X-Webhook-Idempotency-Key") != "idwise:h-ok1" ||
		h.Get("X-Webhook-Replay") != "true" || h.Get("X-Webhook-Attempt") != "1" {
		t.Fatalf("replayed delivery headers %v", h)
	}
	for _, r := range up.Requests()[:before] {
		if r.Header.Get("X-Webhook-Replay") != "" {
			t.Fatalf("a first delivery is marked as a replay: %v", r.Header)
		}
	}

	before = up.Count()
	body := fmt.Sprintf(`{"since":%q,"status":"delivered"}`, mid.Format(time.RFC3339Nano))
	code, b := adminPost(t, "/webhook_gateway/routes/hist/replay", body)
	if code != http.StatusOK || !strings.Contains(b, `"replayed": 1`) {
		t.Fatalf("range replay: %d %s", code, b)
	}
	testkit.WaitFor(t, 10*time.Second, "the range replay", func() bool { return up.Count() == before+1 })
	time.Sleep(500 * time.Millisecond)
	got := up.Requests()[before:]
	if len(got) != 1 || got[0].Header.Get("X-Webhook-Idempotency-Key") != "idwise:h-ok3" || got[0].Header.Get("X-Webhook-Replay") != "true" {
		t.Fatalf("range replay delivered %d events (want only h-ok3)", len(got))
	}
	for _, bad := range []string{``, `{"until":"2026-01-01T00:00:00Z"}`, `{"since":"soon"}`, `{"since":"2026-01-01T00:00:00Z","status":"lost"}`,
		`{"since":"2026-01-02T00:00:00Z","until":"2026-01-01T00:00:00Z"}`, `{"since":"2026-01-01T00:00:00Z","extra":1}`} {
		if code, b := adminPost(t, "/webhook_gateway/routes/hist/replay", bad); code != http.StatusBadRequest {
			t.Errorf("replay %s: status %d %s, want 400", bad, code, b)
		}
	}
	if text := metricsText(t); !strings.Contains(text, `caddy_webhook_gateway_replays_total{route="hist"} 2`) {
		t.Error("the replays are not counted in replays_total")
	}
}

func adminPost(t *testing.T, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(adminBase+path, "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRetainNoneKeepsNoHistory: a route with `retain 0` lists its delivered event while it is in
// the dedup window and no longer after the janitor's next purge past it (the janitor runs once a
// minute, so this test waits for it), while a route with a retention still lists its own.
func TestRetainNoneKeepsNoHistory(t *testing.T) {
	up := testkit.NewUpstream(t, nil)
	route := func(name, retain string) string {
		return fmt.Sprintf(`	handle /%s {
		webhook_gateway {
			name %s
			vendor idwise
			auth none
			dedup_window 2s
			forward http://%s/events {
				retain %s
			}
		}
	}
`, name, name, up.HostPort(), retain)
	}
	startCaddy(t, storeOption(t), site+" {\n"+route("rnone", "0")+route("rkeep", "1h")+"}\n")
	for _, name := range []string{"rnone", "rkeep"} {
		if resp, _ := post(t, nil, "/"+name, nil, idwiseEvent("ret-"+name)); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", name, resp.StatusCode)
		}
	}
	testkit.WaitFor(t, 10*time.Second, "two deliveries", func() bool { return up.Count() == 2 })
	count := func(name string) int {
		var p historyPage
		adminJSON(t, http.MethodGet, "/webhook_gateway/routes/"+name+"/events", &p)
		return len(p.Events)
	}
	if n := count("rnone"); n != 1 {
		t.Fatalf("retain 0: %d events listed inside the window, want 1", n)
	}
	testkit.WaitFor(t, 90*time.Second, "the purge of the retain-0 history", func() bool { return count("rnone") == 0 })
	if n := count("rkeep"); n != 1 {
		t.Fatalf("retain 1h: %d events listed after the purge, want 1", n)
	}
}
