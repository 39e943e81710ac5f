package caddymodule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// adaptedNames adapts a Caddyfile (from path when given, else from memory)
// and returns the route names in the JSON, sorted.
func adaptedNames(t *testing.T, body, path string) []string {
	t.Helper()
	opts := map[string]any{}
	if path != "" {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		opts["filename"] = path
	}
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(body), opts)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range regexp.MustCompile(`"name":"([^"]*)"`).FindAllSubmatch(out, -1) {
		names = append(names, string(m[1]))
	}
	slices.Sort(names)
	return names
}

// TestDefaultRouteNameFromSite: without `name`, a Caddyfile route is named
// after its site and path matcher, and changing the forward URL keeps the name.
func TestDefaultRouteNameFromSite(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "Caddyfile")
	const tmpl = `http://Hooks.Example.com:8080, http://localhost:8080 {
	handle /webhooks/idwise {
		webhook_gateway {
			vendor idwise
			forward %s
		}
	}
	route /webhooks/unico* {
		webhook_gateway {
			vendor unico_idcloud
		}
		respond 200
	}
	webhook_gateway /webhooks/direct {
		forward %s
	}
	handle /named {
		webhook_gateway {
			name chosen
			forward %s
		}
	}
}
:9090 {
	handle /webhooks/attestr {
		webhook_gateway {
			vendor attestr
			forward %s
		}
	}
}
`
	want := []string{"chosen", "hooks_example_com_webhooks_direct", "hooks_example_com_webhooks_idwise", "hooks_example_com_webhooks_unico", "webhooks_attestr"}
	for _, app := range []string{"http://127.0.0.1:3000/in", "http://app:4000/moved"} {
		body := fmtAll(tmpl, app)
		if got := adaptedNames(t, body, file); !slices.Equal(got, want) {
			t.Fatalf("forward %s: names %v, want %v", app, got, want)
		}
	}
	// A Caddyfile that is not on disk (POSTed to /load) gets no derived name:
	// the handler then falls back to vendor and family at provision time.
	if got := adaptedNames(t, fmtAll(tmpl, "http://127.0.0.1:3000/in"), ""); !slices.Equal(got, []string{"chosen"}) {
		t.Fatalf("in-memory Caddyfile: names %v, want only the explicit one", got)
	}
	// Another file on disk under the same name must not lend its names.
	other := filepath.Join(dir, "Other")
	if err := os.WriteFile(other, []byte(":1 {\n\trespond 200\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(fmtAll(tmpl, "http://a/b")), map[string]any{"filename": other})
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(out) {
		t.Fatalf("adapted JSON is not valid: %s", out)
	}
	if n := regexp.MustCompile(`"name":"`).FindAll(out, -1); len(n) != 1 {
		t.Fatalf("a mismatching file on disk lent names: %s", out)
	}
}

// TestDefaultRouteNameWithImport: a site that imports a fragment from another
// file gets the JSON default (vendor), never a name read from the fragment.
func TestDefaultRouteNameWithImport(t *testing.T) {
	dir := t.TempDir()
	frag := filepath.Join(dir, "idwise.caddy")
	if err := os.WriteFile(frag, []byte("handle /webhooks/idwise {\n\twebhook_gateway {\n\t\tvendor idwise\n\t\tforward http://127.0.0.1:3000/in\n\t}\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	body := ":8080 {\n\timport " + frag + "\n}\n"
	if got := adaptedNames(t, body, filepath.Join(dir, "Caddyfile")); len(got) != 0 {
		t.Fatalf("names %v, want none derived (the handler falls back to the vendor)", got)
	}
}

func fmtAll(tmpl, v string) string {
	return regexp.MustCompile(`%s`).ReplaceAllLiteralString(tmpl, v)
}

func TestSanitizeRouteName(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1//webhooks/idwise": "127_0_0_1_webhooks_idwise",
		"/webhooks/unico-ml/":        "webhooks_unico-ml",
		"":                           "",
	} {
		if got := sanitizeRouteName(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
	long := sanitizeRouteName("hooks.example.com/webhooks/a-very-long-path-segment-that-goes-on-and-on-and-on-forever")
	if len(long) > 64 {
		t.Errorf("long name has %d characters: %s", len(long), long)
	}
}
