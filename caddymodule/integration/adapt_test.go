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
