package integration

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// loadCaddyfileFile loads a Caddyfile the way `caddy run --config <file>`
// does: adapted from a file on disk, so that the default route names come
// from the site and path matchers.
func loadCaddyfileFile(t *testing.T, tester *caddytest.Tester, file, body string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(body), map[string]any{"filename": file})
	if err != nil {
		t.Fatal(err)
	}
	tester.InitServer(string(cfg), "json")
}

// TestForwardURLChangeKeepsQueue: moving the application (a new forward URL,
// no `name`) keeps the route's name, so the events queued for the old URL are
// delivered to the new one. Moving the route to another path does change the
// name: the old queue is reported as orphaned and `attach` moves its events
// into the new route, which delivers them.
func TestForwardURLChangeKeepsQueue(t *testing.T) {
	setTestEnv(t)
	oldApp := newSwitchableApp(t) // never up: events stay queued
	newApp := newSwitchableApp(t)
	newApp.Up()
	logFile := filepath.Join(t.TempDir(), "log.json")
	store := storeOption(t) + "\tlog {\n\t\toutput file " + logFile + "\n\t\tformat json\n\t\tinclude webhook_gateway\n\t}\n"
	file := filepath.Join(t.TempDir(), "Caddyfile")
	cfg := func(path, app string) string {
		return "{" + globalOptions + store + "\n}\n" + site + ` {
	handle ` + path + ` {
		webhook_gateway {
			vendor idwise
			auth none
			forward http://` + app + `/in {
				backoff 100ms 500ms
			}
		}
	}
}
`
	}
	tester := newTester(t)
	loadCaddyfileFile(t, tester, file, cfg("/webhooks/idwise", oldApp.HostPort()))
	const name = "localhost_webhooks_idwise"

	var keys []string
	send := func(prefix string, path string) {
		for i := range 5 {
			id := fmt.Sprintf("%s-%d", prefix, i)
			resp, body := post(t, nil, path, nil, idwiseEvent(id))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: status %d %s", id, resp.StatusCode, body)
			}
			keys = append(keys, "idwise:"+id)
		}
	}
	send("moved", "/webhooks/idwise")
	var st routeStats
	adminJSON(t, http.MethodGet, "/webhook_gateway/routes/"+name, &st)
	if st.Pending != 5 {
		t.Fatalf("route %s: pending %d, want the 5 queued events", name, st.Pending)
	}

	// The application moves: same route, new forward URL.
	loadCaddyfileFile(t, tester, file, cfg("/webhooks/idwise", newApp.HostPort()))
	expectExactlyOnce(t, newApp, keys, 30*time.Second)

	// Events queue again for an application that is away; then the route
	// moves to another path (a new name) in front of the new application.
	loadCaddyfileFile(t, tester, file, cfg("/webhooks/idwise", oldApp.HostPort()))
	send("renamed", "/webhooks/idwise")
	loadCaddyfileFile(t, tester, file, cfg("/hooks/idwise", newApp.HostPort()))
	const newName = "localhost_hooks_idwise"
	var all []routeStats
	adminJSON(t, http.MethodGet, "/webhook_gateway/routes", &all)
	found := false
	for _, r := range all {
		if r.Route == name {
			found = true
			if !r.Orphaned || r.Pending != 5 {
				t.Fatalf("old queue %s: %+v, want orphaned with 5 pending", name, r)
			}
		}
		if r.Route == newName && r.Orphaned {
			t.Fatalf("the configured route %s is listed as orphaned", newName)
		}
	}
	if !found {
		t.Fatalf("the old queue %s is not listed: %+v", name, all)
	}
	testkit.WaitFor(t, 10*time.Second, "the orphaned-queue warning", func() bool {
		for _, l := range readLogLines(t, logFile) {
			if l["level"] == "warn" && strings.HasPrefix(fmt.Sprint(l["msg"]), "orphaned queue") && l["route"] == name && l["pending"] == float64(5) {
				return true
			}
		}
		return false
	})
	var res struct {
		Events int `json:"events"`
	}
	adminJSON(t, http.MethodPost, "/webhook_gateway/routes/"+name+"/attach?to="+newName, &res)
	if res.Events != 5 {
		t.Fatalf("attach moved %d events, want 5", res.Events)
	}
	expectExactlyOnce(t, newApp, keys, 30*time.Second)
	adminJSON(t, http.MethodGet, "/webhook_gateway/routes", &all)
	for _, r := range all {
		if r.Route == name {
			t.Fatalf("the old queue is still listed after attach: %+v", r)
		}
	}
	if s := adminStatus(t, http.MethodGet, "/webhook_gateway/routes/"+name); s != http.StatusNotFound {
		t.Fatalf("old queue after attach: status %d, want 404", s)
	}
}

// TestDrainOrphan: an orphaned queue drained to a URL delivers its events
// there, then disappears from the store.
func TestDrainOrphan(t *testing.T) {
	oldApp := newSwitchableApp(t) // never up
	newApp := newSwitchableApp(t)
	newApp.Up()
	store := storeOption(t)
	cfg := func(name, app string) (string, string) {
		return store, fmt.Sprintf(site+` {
	webhook_gateway {
		name %s
		vendor idwise
		auth none
		forward http://%s/in
	}
}
`, name, app)
	}
	g, s := cfg("before", oldApp.HostPort())
	tester := startCaddy(t, g, s)
	var keys []string
	for i := range 4 {
		id := fmt.Sprintf("drain-orphan-%d", i)
		if resp, body := post(t, nil, "/", nil, idwiseEvent(id)); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", id, resp.StatusCode, body)
		}
		keys = append(keys, "idwise:"+id)
	}
	g, s = cfg("after", newApp.HostPort())
	tester.InitServer("{"+globalOptions+g+"\n}\n"+s, "caddyfile")
	if code := adminStatus(t, http.MethodPost, "/webhook_gateway/routes/before/drain?to=ftp://x"); code != http.StatusBadRequest {
		t.Fatalf("drain to ftp://: %d, want 400", code)
	}
	// The drain runs in the background: 202 Accepted.
	if code := adminStatus(t, http.MethodPost, "/webhook_gateway/routes/before/drain?to=http://"+newApp.HostPort()+"/drained"); code != http.StatusAccepted {
		t.Fatalf("drain: status %d, want 202", code)
	}
	expectExactlyOnce(t, newApp, keys, 30*time.Second)
	testkit.WaitFor(t, 15*time.Second, "the drained queue to be removed", func() bool {
		return adminStatus(t, http.MethodGet, "/webhook_gateway/routes/before") == http.StatusNotFound
	})
}
