package proc

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// TestCLI runs `caddy webhook …` against a running gateway's admin endpoint.
func TestCLI(t *testing.T) {
	app := newApp(t)
	app.Up()
	gw := newGateway(t, "gateway")
	gw.start(embeddedConfig(t, app))
	led := newLedger()
	snd := newSender(1, led)
	defer snd.close()
	if r := snd.send(gw, "cli-1"); !r.ok() {
		t.Fatalf("send: status %d err %v", r.status, r.err)
	}
	address := fmt.Sprintf("127.0.0.1:%d", gw.adminPort)
	cli := func(args ...string) (string, error) {
		cmd := exec.Command(gatewayBin, append(append([]string{"webhook"}, args...), "--address", address)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := cli("stats")
	if err != nil {
		t.Fatalf("webhook stats: %v\n%s", err, out)
	}
	var all []routeStats
	if err := json.Unmarshal([]byte(out), &all); err != nil || len(all) != 1 || all[0].Stored < 1 {
		t.Fatalf("webhook stats printed %q (%v), want one route with the stored event", out, err)
	}

	out, err = cli("stats", routeName)
	var one routeStats
	if err != nil || json.Unmarshal([]byte(out), &one) != nil || one.Stored < 1 {
		t.Fatalf("webhook stats %s: %v\n%s", routeName, err, out)
	}

	out, err = cli("dead-letters", routeName)
	if err != nil || strings.TrimSpace(out) != "[]" {
		t.Fatalf("webhook dead-letters: %v\n%s", err, out)
	}

	for _, args := range [][]string{
		{"show", routeName, "no-such-id"},
		{"replay", routeName, "no-such-id"},
		{"delete", routeName, "no-such-id"},
		{"dead-letters", "no-such-route"},
		{"bogus"},
		{"show", routeName},
	} {
		out, err := cli(args...)
		if err == nil {
			t.Errorf("webhook %s succeeded, want an error; printed %s", strings.Join(args, " "), out)
		}
	}
}
