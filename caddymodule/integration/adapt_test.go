package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"
)

// TestCaddyfileAdapt runs the golden files in caddymodule/testdata/caddyfile_adapt:
// a Caddyfile, a line of ten dashes, then the JSON that `caddy adapt --pretty`
// produces, or else a substring of the error that `caddy validate` must give
// (from the adapter, or from provisioning the adapted config).
func TestCaddyfileAdapt(t *testing.T) {
	setTestEnv(t)
	files, err := filepath.Glob("../testdata/caddyfile_adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files found: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			caddyfile, expected, ok := strings.Cut(string(data), "----------")
			if !ok {
				t.Fatal("missing the ---------- separator")
			}
			caddyfile = strings.TrimSpace(caddyfile) + "\n"
			expected = strings.TrimSpace(expected)
			if strings.HasPrefix(expected, "{") {
				if !caddytest.CompareAdapt(t, file, caddyfile, "caddyfile", expected) {
					t.Fatal("adapted JSON differs from the golden file")
				}
				return
			}
			err = adaptAndValidate(caddyfile)
			if err == nil {
				t.Fatalf("expected an error containing %q, got none", expected)
			}
			if !strings.Contains(err.Error(), expected) {
				t.Fatalf("expected an error containing:\n%s\ngot:\n%s", expected, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("config errors must be one line, got:\n%s", err)
			}
		})
	}
}

// adaptAndValidate does what `caddy validate` does: adapt, then provision
// without starting.
func adaptAndValidate(caddyfile string) error {
	adapter := caddyconfig.GetAdapter("caddyfile")
	cfgJSON, _, err := adapter.Adapt([]byte(caddyfile), nil)
	if err != nil {
		return err
	}
	var cfg caddy.Config
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return err
	}
	return caddy.Validate(&cfg)
}

// setTestEnv gives the test its own Caddy config and data dirs and the
// secrets the golden files refer to.
func setTestEnv(t *testing.T) {
	t.Helper()
	if os.Getenv("XDG_DATA_HOME") == "" {
		t.Setenv("XDG_DATA_HOME", t.TempDir())
	}
	if os.Getenv("XDG_CONFIG_HOME") == "" {
		t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	}
	t.Setenv("WEBHOOK_TEST_SECRET", "test-secret")
}

// TestValidateRules: parsing checks syntax and types only; every rule on the values is checked
// once, by Provision or Validate, for the Caddyfile and the JSON config alike. Each mistake must
// fail `caddy validate` with one line naming the route, the directive and the value.
func TestValidateRules(t *testing.T) {
	setTestEnv(t)
	site := func(body string) string {
		return ":0 {\n\troute /hooks {\n\t\twebhook_gateway {\n\t\t\tname hooks\n" + body + "\t\t}\n\t\trespond 404\n\t}\n}\n"
	}
	fwd := func(sub string) string {
		return "\t\t\tforward http://127.0.0.1:3000 {\n\t\t\t\t" + sub + "\n\t\t\t}\n"
	}
	tests := map[string]string{
		site("\t\t\ton_invalid drop\n"):           `on_invalid: invalid value 'drop' (want one of: reject, quarantine)`,
		site("\t\t\tack 302\n"):                   `ack status: value '302' out of range`,
		site("\t\t\tack 200 {not-json\n"):         `ack: the body is not valid JSON`,
		site("\t\t\tallow_ips 10.0.0.0/33\n"):     `allow_ips: invalid IP or CIDR "10.0.0.0/33"`,
		site("\t\t\tallow_ips not-an-ip\n"):       `allow_ips: invalid IP or CIDR "not-an-ip"`,
		site("\t\t\tauth jwt {\n\t\t\t}\n"):       `auth jwt: missing issuer or jwks_url`,
		site(fwd("retain -1h")):                   `forward retain: value '-1h0m0s' out of range (gte 0)`,
		site(fwd("backoff 10s 1s")):               `forward backoff: min '10s' is above max '1s'`,
		site(fwd("rate 5")):                       `forward rate: invalid rate "5"`,
		site(fwd("rate 5/day")):                   `unit must be s, m or h`,
		site(fwd("rate 0/s")):                     `count must be a positive number`,
		site(fwd("dead_letter_on 99")):            `forward dead_letter_on[0]: value '99' out of range (gte 100)`,
		site("\t\t\tforward ftp://example.com\n"): `forward: invalid URL 'ftp://example.com'`,
	}
	for cfg, want := range tests {
		t.Run(want, func(t *testing.T) {
			err := adaptAndValidate(cfg)
			if err == nil {
				t.Fatalf("no error, want one containing %q", want)
			}
			msg := err.Error()
			if !strings.Contains(msg, `webhook_gateway route "hooks": `) || !strings.Contains(msg, want) {
				t.Fatalf("error %q, want it to name the route and contain %q", msg, want)
			}
			if strings.Contains(msg, "\n") {
				t.Fatalf("config errors must be one line, got:\n%s", msg)
			}
		})
	}
	// The store's replica count is the app's, not a route's.
	err := adaptAndValidate("{\n\twebhook_gateway {\n\t\tstore nats nats://127.0.0.1:1 {\n\t\t\treplicas 9\n\t\t}\n\t}\n}\n" + site(""))
	if err == nil || !strings.Contains(err.Error(), "store replicas: value '9' out of range (lte 5)") {
		t.Fatalf("replicas 9: got %v", err)
	}
}
