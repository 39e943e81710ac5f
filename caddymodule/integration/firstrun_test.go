package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// TestGateModeNoNextHandler: a gate-mode route with nothing after it must not
// ack into the void. It answers 502 no_next_handler and records no key, so the
// same event is not a duplicate once the config is fixed.
func TestGateModeNoNextHandler(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "log.json")
	logOpt := "\tlog {\n\t\toutput file " + logFile + "\n\t\tformat json\n\t\tinclude http.handlers.webhook_gateway\n\t}\n"
	startCaddy(t, storeOption(t)+logOpt, site+" {\n\twebhook_gateway {\n\t\tname lonely\n\t\tvendor idwise\n\t\tauth basic gw {env.WEBHOOK_TEST_SECRET}\n\t}\n}\n")
	auth := map[string]string{"Authorization": basicHeader("gw", "test-secret")}
	body := idwiseEvent("no-next-1")
	for i := range 3 {
		resp, b := post(t, nil, "/webhooks/idwise", auth, body)
		expectProblem(t, resp, b, http.StatusBadGateway, "no_next_handler")
		if resp.Header.Get("X-Webhook-Duplicate") != "" || resp.Header.Get("X-Webhook-Id") != "" {
			t.Fatalf("attempt %d: 502 carries ack headers: %v", i+1, resp.Header)
		}
	}
	var misconfig, rejected int
	testkit.WaitFor(t, 5*time.Second, "three request log lines", func() bool {
		misconfig, rejected = 0, 0
		for _, l := range readLogLines(t, logFile) {
			if strings.HasPrefix(fmt.Sprint(l["msg"]), "gate mode: no handler after webhook_gateway") {
				misconfig++
			}
			if l["msg"] == "webhook" && l["reason"] == "no_next_handler" {
				rejected++
			}
		}
		return rejected == 3
	})
	if misconfig != 1 {
		t.Fatalf("the misconfiguration was logged %d times for 3 requests, want once", misconfig)
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
	up := testkit.NewUpstream(t, nil)
	up.SetDelay(10 * time.Millisecond)
	startRoute(t,
		"name drain",
		"vendor idwise",
		"auth none",
		"forward "+up.URL+" {",
		"\tconcurrency 2",
		"}",
	)
	const events = 300
	for i := range events {
		resp, body := post(t, nil, "/", nil, idwiseEvent(fmt.Sprintf("drain-%d", i)))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("event %d: status %d %s", i, resp.StatusCode, body)
		}
	}
	var seen []uint64
	testkit.WaitFor(t, 60*time.Second, "the backlog to drain", func() bool {
		before := up.Count()
		var st routeStats
		adminJSON(t, http.MethodGet, "/webhook_gateway/routes/drain", &st)
		after := up.Count()
		// Pending may not exceed what the application has not received yet,
		// plus the attempts in flight around the two readings and the ones
		// whose dedup marker the worker is still writing (under -race on a
		// loaded machine that took a few more than the concurrency).
		if limit := uint64(events - before + 8); st.Pending > limit {
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

// TestHealthAndDeliveryLog: the readiness endpoint reports the store and the
// routes; the first log line names the store's location and the routes; each
// delivery is logged at info with route, id, attempt, status and latency.
func TestHealthAndDeliveryLog(t *testing.T) {
	up := testkit.NewUpstream(t, nil)
	logFile := filepath.Join(t.TempDir(), "log.json")
	logOpt := "\tlog {\n\t\toutput file " + logFile + "\n\t\tformat json\n\t\tinclude webhook_gateway http.handlers.webhook_gateway\n\t}\n"
	startCaddy(t, storeOption(t)+logOpt, fmt.Sprintf(site+` {
	handle /fwd {
		webhook_gateway {
			name fwd
			vendor idwise
			auth none
			forward %s
		}
	}
	handle /gate {
		webhook_gateway {
			name gate
			vendor idwise
			auth none
		}
		reverse_proxy %s
	}
}
`, up.URL, up.HostPort()))

	var hv struct {
		Status string `json:"status"`
		Routes []struct {
			Route   string `json:"route"`
			Mode    string `json:"mode"`
			Running bool   `json:"running"`
		} `json:"routes"`
	}
	adminJSON(t, http.MethodGet, "/webhook_gateway/health", &hv)
	if hv.Status != "ready" || len(hv.Routes) != 2 || !hv.Routes[0].Running || hv.Routes[0].Mode != "forward" || hv.Routes[1].Mode != "gate" {
		t.Fatalf("health: %+v", hv)
	}

	resp, body := post(t, nil, "/fwd", nil, idwiseEvent("log-1"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	id := resp.Header.Get("X-Webhook-Id")
	var lines []map[string]any
	testkit.WaitFor(t, 10*time.Second, "the delivery log line", func() bool {
		lines = readLogLines(t, logFile)
		for _, l := range lines {
			if l["msg"] == "delivered" && l["id"] == id {
				return l["route"] == "fwd" && l["attempt"] == float64(1) && l["status"] == float64(200) && l["latency"] != nil && l["level"] == "info"
			}
		}
		return false
	})
	started := false
	for _, l := range lines {
		if l["msg"] == "webhook gateway started" {
			started = true
			loc, _ := l["location"].(string)
			routes := fmt.Sprint(l["routes"])
			if !strings.HasSuffix(loc, "store") || !strings.Contains(routes, "fwd (forward)") || !strings.Contains(routes, "gate (gate)") {
				t.Fatalf("start line: %v", l)
			}
		}
	}
	if !started {
		t.Fatal("no \"webhook gateway started\" line")
	}
}

func readLogLines(t *testing.T, file string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var out []map[string]any
	for _, line := range bytes.Split(b, []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// TestStartupErrorNamesVariable: loading a config whose secret comes from an
// unset variable fails, and the error names the route, the directive and the
// variable.
func TestStartupErrorNamesVariable(t *testing.T) {
	testkit.SkipShort(t, "loads a config into the in-process Caddy")
	setTestEnv(t)
	cfg := "{" + globalOptions + storeOption(t) + "\n}\n" + site + ` {
	handle /webhooks/idwise {
		webhook_gateway {
			vendor idwise
			auth basic idwise {env.WHGW_SURELY_UNSET_PASSWORD}
			forward {env.WHGW_SURELY_UNSET_APP_URL}/in
		}
	}
}
`
	adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(adminBase+"/load", "application/json", bytes.NewReader(adapted))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var answer struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(raw, &answer)
	msg := answer.Error
	if resp.StatusCode < 400 {
		t.Fatalf("a config with an unset secret loaded (status %d)", resp.StatusCode)
	}
	for _, want := range []string{`webhook_gateway route "idwise"`, "auth basic password", "WHGW_SURELY_UNSET_PASSWORD is not set"} {
		if !strings.Contains(msg, want) {
			t.Errorf("load error lacks %q:\n%s", want, msg)
		}
	}
}
