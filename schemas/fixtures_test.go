package schemas_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/webhookgw/caddy-webhook-gateway/schemas"
)

// The fixtures live in testdata/<vendor>/<family-or-default>/{valid,invalid}/*.json;
// "default" stands for the preset without a family. The expected violation paths
// of every invalid fixture are in testdata/expected_violations.json, keyed by the
// fixture's path below testdata.

// fixtureDir is one <vendor>/<family> directory.
type fixtureDir struct {
	vendor, family string // family is "" for "default"
	rel            string // <vendor>/<family-or-default>
}

func fixtureDirs(t *testing.T) []fixtureDir {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join("testdata", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []fixtureDir
	for _, m := range matches {
		if fi, err := os.Stat(m); err != nil || !fi.IsDir() {
			continue
		}
		rel := filepath.ToSlash(strings.TrimPrefix(m, "testdata"+string(filepath.Separator)))
		vendor, family, _ := strings.Cut(rel, "/")
		if family == "default" {
			family = ""
		}
		out = append(out, fixtureDir{vendor, family, rel})
	}
	return out
}

func fixtureFiles(t *testing.T, dir fixtureDir, kind string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", filepath.FromSlash(dir.rel), kind, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func loadExpected(t *testing.T) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "expected_violations.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string][]string
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEveryPresetHasFixtures makes sure no preset goes untested.
func TestEveryPresetHasFixtures(t *testing.T) {
	have := make(map[string]bool)
	for _, d := range fixtureDirs(t) {
		have[d.rel] = true
		if _, err := schemas.Lookup(d.vendor, d.family); err != nil {
			t.Errorf("fixture directory %s matches no preset: %v", d.rel, err)
		}
		if n := len(fixtureFiles(t, d, "valid")); n < 2 {
			t.Errorf("%s: %d valid fixtures, want at least 2", d.rel, n)
		}
		if n := len(fixtureFiles(t, d, "invalid")); n < 1 {
			t.Errorf("%s: no invalid fixture", d.rel)
		}
	}
	for _, p := range allPresets(t) {
		rel := p.Vendor + "/" + p.Family
		if p.Family == "" {
			rel = p.Vendor + "/default"
		}
		if !have[rel] {
			t.Errorf("preset %s has no fixtures (want testdata/%s)", rel, rel)
		}
	}
}

func TestFixtures(t *testing.T) {
	expected := loadExpected(t)
	seen := make(map[string]bool)
	for _, dir := range fixtureDirs(t) {
		t.Run(dir.rel, func(t *testing.T) {
			p, err := schemas.Lookup(dir.vendor, dir.family)
			if err != nil {
				t.Fatal(err)
			}
			sch, err := schemas.Compile(p.Schema)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fixtureFiles(t, dir, "valid") {
				t.Run("valid/"+filepath.Base(f), func(t *testing.T) {
					data, err := os.ReadFile(f)
					if err != nil {
						t.Fatal(err)
					}
					for decoder, v := range map[string]any{"jsonschema": decode(t, data), "encoding/json": decodeStd(t, data)} {
						if err := sch.Validate(v); err != nil {
							t.Errorf("%s: rejected: %v", decoder, schemas.Violations(err, 10))
						}
					}
					if _, ok := resolveKey(t, p.Keys, decodeStd(t, data)); !ok {
						t.Errorf("no key of %q resolves", p.Keys)
					}
				})
			}
			for _, f := range fixtureFiles(t, dir, "invalid") {
				rel := dir.rel + "/invalid/" + filepath.Base(f)
				seen[rel] = true
				t.Run("invalid/"+filepath.Base(f), func(t *testing.T) {
					want, ok := expected[rel]
					if !ok {
						t.Fatalf("no entry for %s in testdata/expected_violations.json", rel)
					}
					data, err := os.ReadFile(f)
					if err != nil {
						t.Fatal(err)
					}
					for decoder, v := range map[string]any{"jsonschema": decode(t, data), "encoding/json": decodeStd(t, data)} {
						err := sch.Validate(v)
						if err == nil {
							t.Fatalf("%s: accepted", decoder)
						}
						vs := schemas.Violations(err, 0)
						if got := paths(vs); !slices.Equal(got, want) {
							t.Errorf("%s: violation paths = %q, want %q (%v)", decoder, got, want, vs)
						}
					}
				})
			}
		})
	}
	for rel := range expected {
		if !seen[rel] {
			t.Errorf("testdata/expected_violations.json: %s has no fixture", rel)
		}
	}
}

// TestKeyChoice checks which key template wins for payloads that exercise the
// fallbacks (the first key that resolves, counting from 0).
func TestKeyChoice(t *testing.T) {
	tests := []struct {
		fixture string
		want    int
		key     string // expected rendering, body hash shown as <sha256>
	}{
		{"unico_idcloud/default/valid/lowercase_finished.json", 0, "unico:idcloud:0b7e5c1a-41f2-4d7e-9c55-3f1e2d9a6b10:finished:<sha256>"},
		{"unico_magiclink/step/valid/form_start.json", 0, "unico:ml:step:form_start:<sha256>"},
		{"unico_magiclink/step/valid/null_user_id.json", 0, "unico:ml:step:form_selfie:<sha256>"},
		{"unico_magiclink/default/valid/step_null_user_id.json", 0, "unico:ml:step:form_document_back:<sha256>"},
		{"unico_magiclink/default/valid/recapture_back.json", 1, "unico:ml:<sha256>"},
		{"incode/onboarding_status/valid/onboarding_finished.json", 0, "incode:onboarding_status:64f1c2a9e4b0c5d8a1b2c3d4:ONBOARDING_FINISHED:<sha256>"},
		{"incode/watchlist/valid/ref_only.json", 0, "incode:watchlist:<sha256>"},
		{"incode/face_authentication/valid/legacy_success.json", 0, "incode:face_authentication:66b2c3d4e5f6a7b8c9d0e1f2:<sha256>"},
		{"incode/face_authentication/valid/lens_failure_without_ids.json", 1, "incode:face_authentication:<sha256>"},
		{"incode/session_started/valid/with_ids.json", 0, "incode:session_started:64f1c2a9e4b0c5d8a1b2c3d4:<sha256>"},
		{"incode/session_progress/valid/with_ids.json", 0, "incode:session_progress:64f1c2a9e4b0c5d8a1b2c3d4:<sha256>"},
		{"incode/session_failed/valid/no_interview_id.json", 1, "incode:session_failed:<sha256>"},
		{"attestr/default/valid/flowx_completed.json", 0, "attestr:flowx.completed:AQ0jPe2Y_J_09hiBEo:<sha256>"},
		{"attestr/default/valid/async_errored_request_id_only.json", 0, "attestr:async.errored:c0d1e2f4:<sha256>"},
		{"idwise/default/valid/finished_spot_check_no_journey_id.json", 0, "idwise:90617283-a4b5-4c6d-af70-8192a3b4c5dc"},
		{"idwise/default/valid/aml_monior_update_typo.json", 0, "idwise:7e4f5061-8293-4a4b-8d5e-6f708192a3ba"},
		{"idwise/default/valid/legacy_step_submitted_without_event_id.json", 1, "idwise:Step Submitted:6720f1a2b3c4d5e6f7a8b22e:<sha256>"},
		{"idwise/default/valid/event_id_number.json", 0, "idwise:4711"},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			parts := strings.Split(tc.fixture, "/")
			family := parts[1]
			if family == "default" {
				family = ""
			}
			p, err := schemas.Lookup(parts[0], family)
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(tc.fixture)))
			if err != nil {
				t.Fatal(err)
			}
			i, ok := resolveKey(t, p.Keys, decodeStd(t, data))
			if !ok || i != tc.want {
				t.Fatalf("key %d resolved (ok=%v), want key %d of %q", i, ok, tc.want, p.Keys)
			}
			if got := renderKey(t, p.Keys[i], decodeStd(t, data)); got != tc.key {
				t.Errorf("key = %q, want %q", got, tc.key)
			}
		})
	}
}
