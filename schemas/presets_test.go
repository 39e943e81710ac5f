package schemas_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/webhookgw/caddy-webhook-gateway/schemas"
)

// allPresets returns every preset of the table, through the public API.
func allPresets(t testing.TB) []schemas.Preset {
	t.Helper()
	var out []schemas.Preset
	for _, v := range schemas.Vendors() {
		families := schemas.Families(v)
		if len(families) == 0 || v == "unico_magiclink" {
			families = append([]string{""}, families...)
		}
		for _, f := range families {
			p, err := schemas.Lookup(v, f)
			if err != nil {
				t.Fatalf("Lookup(%q, %q): %v", v, f, err)
			}
			out = append(out, p)
		}
	}
	return out
}

// compiledPreset looks up a preset and compiles its schema.
func compiledPreset(t testing.TB, vendor, family string) (schemas.Preset, *jsonschema.Schema) {
	t.Helper()
	p, err := schemas.Lookup(vendor, family)
	if err != nil {
		t.Fatal(err)
	}
	sch, err := schemas.Compile(p.Schema)
	if err != nil {
		t.Fatal(err)
	}
	return p, sch
}

func presetName(p schemas.Preset) string {
	if p.Family == "" {
		return p.Vendor
	}
	return p.Vendor + "/" + p.Family
}

func TestVendorsAndFamilies(t *testing.T) {
	if got, want := schemas.Vendors(), []string{"attestr", "idwise", "incode", "unico_idcloud", "unico_magiclink"}; !slices.Equal(got, want) {
		t.Errorf("Vendors() = %v, want %v", got, want)
	}
	tests := []struct {
		vendor string
		want   []string
	}{
		{"attestr", nil},
		{"idwise", nil},
		{"unico_idcloud", nil},
		{"unico_magiclink", []string{"document_recapture", "results", "step"}},
		{"incode", []string{
			"face_authentication", "identity_enrolled", "onboarding_status", "session_failed", "session_pending_review",
			"session_progress", "session_started", "session_succeeded", "videoselfie", "watchlist",
		}},
		{"nope", nil},
	}
	for _, tc := range tests {
		t.Run(tc.vendor, func(t *testing.T) {
			if got := schemas.Families(tc.vendor); !slices.Equal(got, tc.want) {
				t.Errorf("Families(%q) = %v, want %v", tc.vendor, got, tc.want)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	incodeSession := []string{"session_started", "session_progress", "session_failed", "session_succeeded", "session_pending_review", "identity_enrolled"}
	tests := []struct {
		vendor, family string
		schema, event  string
	}{
		{"unico_idcloud", "", "unico.idcloud.process", "process"},
		{"unico_magiclink", "", "unico.magiclink.v2", "magiclink"},
		{"unico_magiclink", "step", "unico.magiclink.v2.step", "step"},
		{"unico_magiclink", "document_recapture", "unico.magiclink.v2.document_recapture", "document_recapture"},
		{"unico_magiclink", "results", "unico.magiclink.v2.results", "results"},
		{"incode", "onboarding_status", "incode.onboarding_status", "onboarding_status"},
		{"incode", "videoselfie", "incode.videoselfie", "videoselfie"},
		{"incode", "watchlist", "incode.watchlist", "watchlist"},
		{"incode", "face_authentication", "incode.face_authentication", "face_authentication"},
		{"attestr", "", "attestr.event", "{webhook.json.event}"},
		{"idwise", "", "idwise.event", "{webhook.json.event}"},
	}
	for _, f := range incodeSession {
		tests = append(tests, struct{ vendor, family, schema, event string }{"incode", f, "incode.session", f})
	}
	for _, tc := range tests {
		t.Run(tc.vendor+"/"+tc.family, func(t *testing.T) {
			p, err := schemas.Lookup(tc.vendor, tc.family)
			if err != nil {
				t.Fatal(err)
			}
			if p.Vendor != tc.vendor || p.Family != tc.family || p.Schema != tc.schema || p.Event != tc.event {
				t.Errorf("Lookup = {Vendor:%q Family:%q Schema:%q Event:%q}, want {%q %q %q %q}",
					p.Vendor, p.Family, p.Schema, p.Event, tc.vendor, tc.family, tc.schema, tc.event)
			}
			// Each vendor's retry horizon with margin (docs/vendors.md).
			wantWindow := map[string]time.Duration{
				"unico_idcloud": 24 * time.Hour, "unico_magiclink": 24 * time.Hour,
				"incode": time.Hour, "attestr": 10 * time.Minute, "idwise": time.Hour,
			}[tc.vendor]
			if p.DedupWindow != wantWindow {
				t.Errorf("DedupWindow = %v, want %v", p.DedupWindow, wantWindow)
			}
		})
	}
	if n := len(allPresets(t)); n != len(tests) {
		t.Errorf("the table has %d presets, the test covers %d", n, len(tests))
	}

	p, _ := schemas.Lookup("idwise", "")
	p.Keys[0] = "mutated"
	if again, _ := schemas.Lookup("idwise", ""); again.Keys[0] == "mutated" {
		t.Error("Lookup shares its Keys slice with the table")
	}
}

func TestLookupErrors(t *testing.T) {
	tests := []struct {
		vendor, family string
		want           string
	}{
		{"foo", "", `unknown vendor preset "foo" (want one of: attestr, idwise, incode, unico_idcloud, unico_magiclink)`},
		{"", "", `unknown vendor preset "" (want one of: attestr, idwise, incode, unico_idcloud, unico_magiclink)`},
		{"IDWise", "", `unknown vendor preset "IDWise" (want one of: attestr, idwise, incode, unico_idcloud, unico_magiclink)`},
		{"incode", "", `vendor preset "incode" needs an event family (want one of: face_authentication, identity_enrolled, onboarding_status, session_failed, session_pending_review, session_progress, session_started, session_succeeded, videoselfie, watchlist)`},
		{"incode", "onboarding-status", `unknown incode event family "onboarding-status" (want one of: face_authentication, identity_enrolled, onboarding_status, session_failed, session_pending_review, session_progress, session_started, session_succeeded, videoselfie, watchlist)`},
		{"unico_magiclink", "recapture", `unknown unico_magiclink event family "recapture" (want one of: document_recapture, results, step; or none)`},
		{"attestr", "flowx.completed", `vendor preset "attestr" takes no event family, got "flowx.completed"`},
		{"idwise", "journey", `vendor preset "idwise" takes no event family, got "journey"`},
		{"unico_idcloud", "process", `vendor preset "unico_idcloud" takes no event family, got "process"`},
	}
	for _, tc := range tests {
		t.Run(tc.vendor+"/"+tc.family, func(t *testing.T) {
			p, err := schemas.Lookup(tc.vendor, tc.family)
			if err == nil {
				t.Fatalf("Lookup = %+v, want an error", p)
			}
			if err.Error() != tc.want {
				t.Errorf("error = %q\nwant    %q", err, tc.want)
			}
		})
	}
}

func TestPresetSchemasExist(t *testing.T) {
	for _, p := range allPresets(t) {
		t.Run(presetName(p), func(t *testing.T) {
			if !slices.Contains(schemas.Names(), p.Schema) {
				t.Fatalf("schema %q is not embedded", p.Schema)
			}
			if _, err := schemas.Compile(p.Schema); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// placeholderRE matches one placeholder of a key template.
var placeholderRE = regexp.MustCompile(`\{([^{}]*)\}`)

// jsonPathRE matches the path list of a {webhook.json.…} placeholder.
var jsonPathRE = regexp.MustCompile(`^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*(\|[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*)*$`)

// jsonPaths returns the alternative paths of every {webhook.json.…} placeholder in tmpl.
func jsonPaths(tmpl string) [][]string {
	var out [][]string
	for _, m := range placeholderRE.FindAllStringSubmatch(tmpl, -1) {
		if rest, ok := strings.CutPrefix(m[1], "webhook.json."); ok {
			out = append(out, strings.Split(rest, "|"))
		}
	}
	return out
}

// requiredBySchema reports whether the schema's unconditional required and
// properties keywords guarantee that the dotted path is present and, being a
// string with minLength >= 1, non-empty (an empty string does not resolve).
func requiredBySchema(doc map[string]any, path string) bool {
	node := doc
	for _, seg := range strings.Split(path, ".") {
		req, _ := node["required"].([]any)
		if !slices.Contains(req, any(seg)) {
			return false
		}
		props, _ := node["properties"].(map[string]any)
		next, ok := props[seg].(map[string]any)
		if !ok {
			return false
		}
		node = next
	}
	if node["$ref"] == "_defs.json#/$defs/id" { // a non-empty string, or a number
		return true
	}
	minLength, _ := node["minLength"].(float64)
	return node["type"] == "string" && minLength >= 1
}

func TestPresetKeys(t *testing.T) {
	prefixes := map[string]string{
		"unico_idcloud": "unico:idcloud:", "unico_magiclink": "unico:ml:", "incode": "incode:",
		"attestr": "attestr:", "idwise": "idwise:",
	}
	for _, p := range allPresets(t) {
		t.Run(presetName(p), func(t *testing.T) {
			if len(p.Keys) == 0 {
				t.Fatal("no idempotency key")
			}
			for _, k := range p.Keys {
				if strings.Count(k, "{") != strings.Count(k, "}") {
					t.Errorf("%q: unbalanced braces", k)
				}
				if !strings.HasPrefix(k, prefixes[p.Vendor]) {
					t.Errorf("%q: want prefix %q", k, prefixes[p.Vendor])
				}
				if p.Vendor == "incode" && !strings.HasPrefix(k, "incode:"+p.Family+":") {
					t.Errorf("%q: the Incode key must name the family %q", k, p.Family)
				}
				for _, m := range placeholderRE.FindAllStringSubmatch(k, -1) {
					rest, isJSON := strings.CutPrefix(m[1], "webhook.json.")
					switch {
					case isJSON && !jsonPathRE.MatchString(rest):
						t.Errorf("%q: bad path list %q", k, rest)
					case !isJSON && m[1] != "webhook.body_sha256":
						t.Errorf("%q: unexpected placeholder %q", k, m[0])
					}
				}
			}
			doc := rawSchema(t, p.Schema)
			last := p.Keys[len(p.Keys)-1]
			for _, alts := range jsonPaths(last) {
				if !slices.ContainsFunc(alts, func(path string) bool { return requiredBySchema(doc, path) }) {
					t.Errorf("last key %q uses %q, which schema %s does not require", last, strings.Join(alts, "|"), p.Schema)
				}
			}
			if strings.HasPrefix(p.Event, "{") {
				for _, alts := range jsonPaths(p.Event) {
					if !slices.ContainsFunc(alts, func(path string) bool { return requiredBySchema(doc, path) }) {
						t.Errorf("event %q uses %q, which schema %s does not require", p.Event, strings.Join(alts, "|"), p.Schema)
					}
				}
			} else if p.Event == "" || strings.ContainsAny(p.Event, "{} ") {
				t.Errorf("event = %q, want a template or a bare constant", p.Event)
			}
		})
	}
}

func TestPresetAcks(t *testing.T) {
	for _, p := range allPresets(t) {
		t.Run(presetName(p), func(t *testing.T) {
			a := p.Ack
			// IDWise wants exactly 200; Incode wants 200 with application/json (or 204);
			// Unico takes any 2xx and Attestr a 200: one ack satisfies them all.
			if a.Status != 200 {
				t.Errorf("status = %d, want 200", a.Status)
			}
			if a.ContentType != "application/json" {
				t.Errorf("content type = %q, want application/json", a.ContentType)
			}
			if a.Body != `{"success":true}` {
				t.Errorf("body = %q, want {\"success\":true}", a.Body)
			}
			var body struct{ Success bool }
			if err := json.Unmarshal([]byte(a.Body), &body); err != nil || !body.Success {
				t.Errorf("body %q is not a JSON success: %v", a.Body, err)
			}
		})
	}
}

// lookupJSON follows a dotted path (numeric segments index arrays) and returns
// the scalar there, if present and non-empty. It mirrors the key-template
// semantics the payload package implements, for these tests only.
func lookupJSON(v any, path string) (string, bool) {
	for _, seg := range strings.Split(path, ".") {
		switch c := v.(type) {
		case map[string]any:
			v = c[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return "", false
			}
			v = c[i]
		default:
			return "", false
		}
	}
	switch s := v.(type) {
	case string:
		return s, s != ""
	case json.Number:
		return s.String(), true
	case bool:
		return strconv.FormatBool(s), true
	}
	return "", false
}

// renderKey expands the {webhook.json.…} placeholders of tmpl and shows the body hash as <sha256>.
func renderKey(t testing.TB, tmpl string, v any) string {
	t.Helper()
	return placeholderRE.ReplaceAllStringFunc(tmpl, func(ph string) string {
		inner := ph[1 : len(ph)-1]
		if inner == "webhook.body_sha256" {
			return "<sha256>"
		}
		rest, ok := strings.CutPrefix(inner, "webhook.json.")
		if !ok {
			return ph
		}
		for _, alt := range strings.Split(rest, "|") {
			if s, ok := lookupJSON(v, alt); ok {
				return s
			}
		}
		t.Errorf("%s does not resolve", ph)
		return ph
	})
}

// resolveKey returns the index of the first key template whose JSON placeholders all resolve.
func resolveKey(t testing.TB, keys []string, v any) (int, bool) {
	t.Helper()
next:
	for i, k := range keys {
		for _, alts := range jsonPaths(k) {
			if !slices.ContainsFunc(alts, func(p string) bool { _, ok := lookupJSON(v, p); return ok }) {
				continue next
			}
		}
		return i, true
	}
	return -1, false
}
