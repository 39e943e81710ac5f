package schemas_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/webhookgw/caddy-webhook-gateway/schemas"
)

// rawSchema reads an embedded schema's source document from the package directory.
func rawSchema(t testing.TB, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s.json: %v", name, err)
	}
	return doc
}

// walk calls fn for every (key, value) of every object nested in v.
func walk(v any, fn func(key string, val any)) {
	switch v := v.(type) {
	case map[string]any:
		for k, val := range v {
			fn(k, val)
			walk(val, fn)
		}
	case []any:
		for _, val := range v {
			walk(val, fn)
		}
	}
}

func TestNamesMatchFiles(t *testing.T) {
	files, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range files {
		if !strings.HasPrefix(f, "_") { // shared definitions, not selectable
			want = append(want, strings.TrimSuffix(f, ".json"))
		}
	}
	slices.Sort(want)
	if got := schemas.Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	if len(want) < 12 {
		t.Fatalf("only %d schemas embedded", len(want))
	}
	names := schemas.Names()
	names[0] = "mutated"
	if schemas.Names()[0] == "mutated" {
		t.Fatal("Names returns the package's own slice")
	}
}

func TestEverySchemaCompiles(t *testing.T) {
	for _, name := range schemas.Names() {
		t.Run(name, func(t *testing.T) {
			sch, err := schemas.Compile(name)
			if err != nil {
				t.Fatalf("Compile(%q): %v", name, err)
			}
			again, err := schemas.Compile(name + ".json")
			if err != nil || again != sch {
				t.Fatalf("Compile(%q) = %p, %v; want the cached %p", name+".json", again, err, sch)
			}

			doc := rawSchema(t, name)
			if got := doc["$schema"]; got != "https://json-schema.org/draft/2020-12/schema" {
				t.Errorf("$schema = %v, want draft 2020-12", got)
			}
			if got, want := doc["$id"], schemas.BaseURL+name+".json"; got != want {
				t.Errorf("$id = %v, want %v", got, want)
			}
			if doc["title"] == nil || doc["description"] == nil {
				t.Errorf("missing title or description")
			}
			walk(doc, func(key string, val any) {
				switch {
				case (key == "additionalProperties" || key == "unevaluatedProperties") && val == false:
					t.Errorf("%s: false rejects unknown properties", key)
				case key == "enum":
					t.Errorf("enum closes a vendor vocabulary; use examples or a pattern")
				}
			})
		})
	}
}

func TestCompileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name     string
		arg      string
		contains []string
	}{
		{"unknown name", "incode.nope", []string{`unknown schema "incode.nope"`, "attestr.event", "or the path of a .json file"}},
		{"empty", "", []string{`unknown schema ""`}},
		{"missing file", filepath.Join(dir, "absent.json"), []string{"absent.json", "no such file"}},
		{"missing relative file", "vendor.custom.json", []string{`"vendor.custom.json"`, "no such file"}},
		{"directory", dir + string(filepath.Separator), []string{"is a directory"}},
		{"not JSON", write("broken.json", `{"type": "object",`), []string{"broken.json", "invalid JSON"}},
		{"not a schema", write("bad.json", `{"type": 5, "properties": {"a": {"minLength": "x"}}}`), []string{"bad.json"}},
		{"bad pattern", write("regex.json", `{"pattern": "(["}`), []string{"regex.json"}},
		{"remote ref is not fetched", write("remote.json", `{"$ref": "https://example.com/other.json"}`), []string{"remote.json", "not fetched"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sch, err := schemas.Compile(tc.arg)
			if err == nil {
				t.Fatalf("Compile(%q) = %v, want an error", tc.arg, sch)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			for _, s := range tc.contains {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
		})
	}
}

func TestCompileUserFile(t *testing.T) {
	dir := t.TempDir()
	// A user schema without $schema (read as 2020-12) that reuses an embedded
	// schema by its $id and a sibling file by relative path.
	user := `{
		"allOf": [{"$ref": "` + schemas.BaseURL + `incode.videoselfie.json"}, {"$ref": "extra#/$defs/tenant"}],
		"properties": {"a/b~c": {"type": "string"}}
	}`
	extra := `{"$defs": {"tenant": {"properties": {"tenant": {"type": "string", "minLength": 2}}}}}`
	for name, body := range map[string]string{"my vendor#1.json": user, "extra": extra} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sch, err := schemas.Compile(filepath.Join(dir, "my vendor#1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(decode(t, []byte(`{"interviewId": "abc", "tenant": "acme"}`))); err != nil {
		t.Errorf("valid instance rejected: %v", err)
	}
	err = sch.Validate(decode(t, []byte(`{"tenant": "x", "a/b~c": 1}`)))
	got := paths(schemas.Violations(err, 0))
	if want := []string{"/a~1b~0c", "/interviewId", "/tenant"}; !slices.Equal(got, want) {
		t.Errorf("violation paths = %v, want %v", got, want)
	}

	// A bare file name with a .json suffix that is not embedded is a relative path.
	t.Chdir(dir)
	if _, err := schemas.Compile("my vendor#1.json"); err != nil {
		t.Errorf("relative path: %v", err)
	}
}

func TestCompileConcurrent(t *testing.T) {
	names := schemas.Names()
	want := make(map[string]*jsonschema.Schema)
	for _, n := range names {
		sch, err := schemas.Compile(n)
		if err != nil {
			t.Fatal(err)
		}
		want[n] = sch
	}
	inst := decode(t, []byte(`{"event": "Finished Journey", "body": {"eventId": "e1", "journeyId": "j1"}}`))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, n := range names {
				sch, err := schemas.Compile(n)
				if err != nil || sch != want[n] {
					t.Errorf("Compile(%q) = %p, %v; want %p", n, sch, err, want[n])
				}
			}
			if err := want["idwise.event"].Validate(inst); err != nil {
				t.Errorf("concurrent Validate: %v", err)
			}
		})
	}
	wg.Wait()
}

// decode parses data with jsonschema.UnmarshalJSON, which keeps numbers as json.Number.
func decode(t testing.TB, data []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// decodeStd parses data with encoding/json and UseNumber, as the gateway's payload package may.
func decodeStd(t testing.TB, data []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// paths returns the distinct paths of vs, in order.
func paths(vs []schemas.Violation) []string {
	var out []string
	for _, v := range vs {
		if len(out) == 0 || out[len(out)-1] != v.Path {
			out = append(out, v.Path)
		}
	}
	return out
}
