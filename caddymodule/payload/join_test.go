package payload

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// renderWith renders template with a body of the given top-level fields.
func renderWith(t testing.TB, template string, fields map[string]any) (string, bool) {
	t.Helper()
	tm, err := ParseTemplate(template)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return tm.Render(doc, b, nil)
}

// TestJoinSeparatorInjection: values that move a separator from one field to
// the next must give different keys.
func TestJoinSeparatorInjection(t *testing.T) {
	tests := []struct {
		name     string
		template string
		a, b     map[string]any
	}{
		{"colon moved", "k:{webhook.json.a}:{webhook.json.b}", map[string]any{"a": "x:y", "b": "z"}, map[string]any{"a": "x", "b": "y:z"}},
		{"custom separator", "{webhook.json.a}/{webhook.json.b}", map[string]any{"a": "x/y", "b": "z"}, map[string]any{"a": "x", "b": "y/z"}},
		{"multi-byte separator", "{webhook.json.a}--{webhook.json.b}", map[string]any{"a": "x--y", "b": "z"}, map[string]any{"a": "x", "b": "y--z"}},
		{"escape char itself", "{webhook.json.a}:{webhook.json.b}", map[string]any{"a": "x%3A", "b": "y"}, map[string]any{"a": "x:", "b": "y"}},
		{"number vs string", "{webhook.json.a}:{webhook.json.b}", map[string]any{"a": 1, "b": "2:3"}, map[string]any{"a": "1:2", "b": 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ka, oka := renderWith(t, tc.template, tc.a)
			kb, okb := renderWith(t, tc.template, tc.b)
			if !oka || !okb {
				t.Fatalf("did not resolve: %v %v", oka, okb)
			}
			if ka == kb {
				t.Fatalf("%v and %v share the key %q", tc.a, tc.b, ka)
			}
		})
	}
}

// TestJoinReadable: values without separators render as written.
func TestJoinReadable(t *testing.T) {
	got, ok := renderWith(t, "unico:idcloud:{webhook.json.p}:{webhook.json.s}", map[string]any{"p": "8263a268-5388", "s": "PROCESS_STATE_FINISHED"})
	if want := "unico:idcloud:8263a268-5388:PROCESS_STATE_FINISHED"; !ok || got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	got, _ = renderWith(t, "t:{webhook.json.at}", map[string]any{"at": "2025-03-02T17:01:09Z"})
	if want := "t:2025-03-02T17%3A01%3A09Z"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestJoinSideBySideRefused(t *testing.T) {
	for _, s := range []string{"{webhook.json.a}{webhook.json.b}", "k:{webhook.json.a}{http.request.header.X}"} {
		if _, err := ParseTemplate(s); err == nil || !strings.Contains(err.Error(), "side by side") {
			t.Errorf("ParseTemplate(%q) = %v, want a side-by-side error", s, err)
		}
	}
	for _, s := range []string{"{webhook.json.a}{webhook.body_sha256}", "{webhook.body_sha256}{webhook.json.a}"} {
		if _, err := ParseTemplate(s); err != nil {
			t.Errorf("ParseTemplate(%q) = %v, want ok (the hash has a fixed length)", s, err)
		}
	}
}

func TestBound(t *testing.T) {
	short := strings.Repeat("a", MaxKeyBytes)
	if Bound(short, MaxKeyBytes) != short {
		t.Fatal("a key at the bound was changed")
	}
	long1 := strings.Repeat("a", 70<<10) + "1"
	long2 := strings.Repeat("a", 70<<10) + "2"
	b1, b2 := Bound(long1, MaxKeyBytes), Bound(long2, MaxKeyBytes)
	if len(b1) > MaxKeyBytes || len(b2) > MaxKeyBytes {
		t.Fatalf("bound forms of %d and %d bytes, want ≤ %d", len(b1), len(b2), MaxKeyBytes)
	}
	if b1 == b2 {
		t.Fatal("two different long keys share a bound form")
	}
	if Bound(long1, MaxKeyBytes) != b1 {
		t.Fatal("Bound is not deterministic")
	}
	if !strings.HasPrefix(b1, "aaaa") || !strings.Contains(b1, "~sha256:") {
		t.Fatalf("bound form %q lacks the readable prefix or the hash", b1)
	}
	multi := strings.Repeat("é", 1000) // 2 bytes each: the cut must not split one
	if b := Bound(multi, MaxKeyBytes); !utf8.ValidString(b) {
		t.Fatalf("bound form is not valid UTF-8: %q", b)
	}
}

func TestKeyTemplatesRenderBounds(t *testing.T) {
	kt, err := ParseKeyTemplates([]string{"k:{webhook.json.ref}"})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"ref":"` + strings.Repeat("r", 70<<10) + `"}`)
	doc, err := Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	key, ok := kt.Render(doc, body, nil)
	if !ok || len(key) > MaxKeyBytes {
		t.Fatalf("key of %d bytes (ok=%v), want ≤ %d", len(key), ok, MaxKeyBytes)
	}
}

// FuzzKeyJoin: two different pairs of values never render to the same key.
func FuzzKeyJoin(f *testing.F) {
	f.Add("x:y", "z", "x", "y:z")
	f.Add("a%3A", "b", "a:", "b")
	f.Add("", "", "a", "")
	f.Fuzz(func(t *testing.T, a1, b1, a2, b2 string) {
		if !utf8.ValidString(a1) || !utf8.ValidString(b1) || !utf8.ValidString(a2) || !utf8.ValidString(b2) {
			return // the JSON checker refuses such bodies before any key is made
		}
		for _, tmpl := range []string{"k:{webhook.json.a}:{webhook.json.b}", "{webhook.json.a}|{webhook.json.b}"} {
			k1, ok1 := renderWith(t, tmpl, map[string]any{"a": a1, "b": b1})
			k2, ok2 := renderWith(t, tmpl, map[string]any{"a": a2, "b": b2})
			if ok1 && ok2 && k1 == k2 && (a1 != a2 || b1 != b2) {
				t.Fatalf("%q: (%q,%q) and (%q,%q) share the key %q", tmpl, a1, b1, a2, b2, k1)
			}
		}
	})
}
