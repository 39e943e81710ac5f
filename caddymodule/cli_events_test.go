package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// TestCLIEventsAndReplay runs a real Caddy in this process: `caddy webhook events` lists the
// history (by key too), `caddy webhook replay <route> <id>` replays an event of the history (no
// dead letter has that id), and `replay <route> --since T` replays only the range.
func TestCLIEventsAndReplay(t *testing.T) {
	app := testkit.NewUpstream(t, nil)
	adminAddr, gw := startGateway(t, fmt.Sprintf(`		name hist
		vendor idwise
		auth none
		forward %s`, app.URL))

	ids := map[string]string{}
	send := func(name string) {
		t.Helper()
		resp, err := http.Post("http://"+gw+"/", "application/json", strings.NewReader(
			`{"event":"Finished Journey","body":{"eventId":"`+name+`","journeyId":"j","referenceNo":"x","systemDecision":"Complete"}}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", name, resp.StatusCode)
		}
		ids[name] = resp.Header.Get("X-Webhook-Id")
	}
	waitCount := func(n int) {
		t.Helper()
		testkit.WaitFor(t, 10*time.Second, fmt.Sprintf("%d deliveries", n), func() bool { return app.Count() >= n })
	}
	send("c-1")
	send("c-2")
	waitCount(2)
	time.Sleep(50 * time.Millisecond)
	mid := time.Now().UTC().Format(time.RFC3339Nano)
	time.Sleep(50 * time.Millisecond)
	send("c-3")
	waitCount(3)

	cli := func(o cliOptions, args ...string) string {
		t.Helper()
		o.addr = adminAddr
		var out, errOut bytes.Buffer
		if err := runWebhookCommand(o, args, &out, &errOut); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.String()
	}
	keys := func(out string) []string {
		t.Helper()
		var page struct {
			Events []struct {
				Key string `json:"key"`
			} `json:"events"`
		}
		if err := json.Unmarshal([]byte(out), &page); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		var k []string
		for _, e := range page.Events {
			k = append(k, e.Key)
		}
		return k
	}
	if k := keys(cli(cliOptions{}, "events", "hist")); strings.Join(k, ",") != "idwise:c-1,idwise:c-2,idwise:c-3" {
		t.Fatalf("events: %v", k)
	}
	if k := keys(cli(cliOptions{key: "idwise:c-2"}, "events", "hist")); strings.Join(k, ",") != "idwise:c-2" {
		t.Fatalf("events --key: %v", k)
	}
	if k := keys(cli(cliOptions{since: mid}, "events", "hist")); strings.Join(k, ",") != "idwise:c-3" {
		t.Fatalf("events --since: %v", k)
	}

	if out := cli(cliOptions{}, "replay", "hist", ids["c-1"]); !strings.Contains(out, `"replayed": 1`) {
		t.Fatalf("replay by id: %s", out)
	}
	waitCount(4)
	if h := app.Requests()[3].Header; h.Get("X-Webhook-Id") != ids["c-1"] || h.Get("X-Webhook-Replay") != "true" {
		t.Fatalf("replayed delivery: %v", h)
	}
	if out := cli(cliOptions{since: mid}, "replay", "hist"); !strings.Contains(out, `"replayed": 1`) {
		t.Fatalf("replay --since: %s", out)
	}
	waitCount(5)
	time.Sleep(300 * time.Millisecond)
	if d := app.Requests(); len(d) != 5 || d[4].Header.Get("X-Webhook-Id") != ids["c-3"] {
		t.Fatalf("after replay --since: %d deliveries, last %v", len(d), d[len(d)-1].Header.Get("X-Webhook-Id"))
	}
	var out, errOut bytes.Buffer
	if err := runWebhookCommand(cliOptions{addr: adminAddr, until: mid}, []string{"replay", "hist"}, &out, &errOut); err == nil {
		t.Fatal("replay --until without --since was accepted")
	}
}
