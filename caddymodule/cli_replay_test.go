package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// startGateway runs a real Caddy in this process with one webhook_gateway site
// on the embedded store; block is the handler's block (its lines). It returns
// the admin address and the site's address. It skips the test under -short.
func startGateway(t *testing.T, block string) (adminAddr, gw string) {
	t.Helper()
	testkit.SkipShort(t, "runs a real Caddy")
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	adminAddr = fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	gw = fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	cf := fmt.Sprintf(`{
	admin %s
	skip_install_trust
	grace_period 1ns
	webhook_gateway {
		store embedded %s
		drain_timeout 1s
	}
}
http://%s {
	webhook_gateway {
%s
	}
}
`, adminAddr, t.TempDir(), gw, block)
	cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(cfgJSON, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	return adminAddr, gw
}

// TestDeadLetterPagingAndReplayAll runs a real Caddy in this process with
// 1,051 dead letters (one of them quarantined): the admin API pages past
// 1,000 with a cursor, `caddy webhook dead-letters --all` lists every one, and
// `caddy webhook replay <route> --all` replays all but the quarantined one at
// the route's rate, after which the application has them all.
func TestDeadLetterPagingAndReplayAll(t *testing.T) {
	app := testkit.NewUpstream(t, testkit.Status(http.StatusBadRequest)) // every event a dead letter

	const rate = 1000
	adminAddr, gw := startGateway(t, fmt.Sprintf(`		name replay
		vendor idwise
		auth none
		on_invalid quarantine
		forward %s {
			dead_letter_on 400
			rate %d/s
		}`, app.URL, rate))

	const events = 1050
	client := &http.Client{Timeout: 10 * time.Second}
	postEvent := func(body string) {
		resp, err := client.Post("http://"+gw+"/", "application/json", strings.NewReader(body))
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("status %d", resp.StatusCode)
		}
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < events; i += 8 {
				postEvent(fmt.Sprintf(`{"event":"Finished Journey","body":{"eventId":"r-%d","journeyId":"j","referenceNo":"x","systemDecision":"Complete"}}`, i))
			}
		})
	}
	wg.Wait()
	postEvent(`{"event":"Finished Journey","body":{}}`) // schema violation: quarantined
	if t.Failed() {
		t.FailNow()
	}

	cli := func(o cliOptions, args ...string) (string, string, error) {
		o.addr = adminAddr
		var out, errOut bytes.Buffer
		err := runWebhookCommand(o, args, &out, &errOut)
		return out.String(), errOut.String(), err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _, err := cli(cliOptions{}, "stats", "replay")
		var st routeView
		if err == nil && json.Unmarshal([]byte(out), &st) == nil && st.Dead == events+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead letters did not reach %d: %s %v", events+1, out, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// One page of 1,000, then the rest from the cursor.
	out, errOut, err := cli(cliOptions{limit: 1000}, "dead-letters", "replay")
	var page []json.RawMessage
	if err != nil || json.Unmarshal([]byte(out), &page) != nil || len(page) != 1000 {
		t.Fatalf("first page: %d entries, err %v", len(page), err)
	}
	cursor := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(errOut, "more dead letters: --cursor "), " (or --all)\n"))
	if cursor == "" || strings.Contains(cursor, " ") {
		t.Fatalf("no cursor after a full page: %q", errOut)
	}
	out, errOut, err = cli(cliOptions{limit: 1000, cursor: cursor}, "dead-letters", "replay")
	if err != nil || json.Unmarshal([]byte(out), &page) != nil || len(page) != events+1-1000 || errOut != "" {
		t.Fatalf("second page: %d entries (want %d), more %q, err %v", len(page), events+1-1000, errOut, err)
	}
	out, _, err = cli(cliOptions{all: true}, "dead-letters", "replay")
	if err != nil || json.Unmarshal([]byte(out), &page) != nil || len(page) != events+1 {
		t.Fatalf("dead-letters --all: %d entries, want %d (err %v)", len(page), events+1, err)
	}

	app.SetRespond(testkit.Status(http.StatusOK))
	start := time.Now()
	out, _, err = cli(cliOptions{all: true}, "replay", "replay")
	took := time.Since(start)
	if err != nil || !strings.Contains(out, fmt.Sprintf("replayed %d dead letters", events)) || !strings.Contains(out, "1 quarantined left alone") {
		t.Fatalf("replay --all: %v\n%s", err, out)
	}
	// Paced by the route's rate: events-1 intervals of 1/rate at least.
	if floor := time.Duration(events-1) * time.Second / rate; took < floor {
		t.Fatalf("replay --all of %d took %v, faster than the route's rate allows (%v)", events, took, floor)
	}
	testkit.WaitFor(t, 60*time.Second, fmt.Sprintf("the application to take all %d replayed events", events), func() bool {
		return len(app.Delivered("X-Webhook-Id")) == events
	})
	out, _, _ = cli(cliOptions{}, "stats", "replay")
	var st routeView
	if json.Unmarshal([]byte(out), &st) != nil || st.Dead != 1 {
		t.Fatalf("after replay: %s, want the quarantined dead letter only", out)
	}
	t.Logf("replay --all of %d took %v at rate %d/s", events, took, rate)
}
