package payload

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
)

func mustDecode(t testing.TB, body string) any {
	t.Helper()
	doc, err := Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// caddyPlaceholders stands in for the request's replacer.
func caddyPlaceholders(name string) (string, bool) {
	switch name {
	case "http.request.header.X-Vendor":
		return "acme", true
	case "http.request.uri.path":
		return "/hooks/unico", true
	}
	return "", false
}

func TestRender(t *testing.T) {
	const (
		unico     = `{"processId":"9f1c-77","state":"finished","score":97.5}`
		attestrID = `{"event":"kyc.done","payload":{"_id":"66f2a1","requestId":"req-1"}}`
		attestrRq = `{"event":"kyc.done","payload":{"requestId":"req-1"}}`
		list      = `{"items":[{"id":7},{"id":8,"ok":true}],"n":-0.5e3}`
	)
	tests := []struct {
		name     string
		template string
		body     string
		want     string
		resolved bool
	}{
		{"unico", "unico:idcloud:{webhook.json.processId}:{webhook.json.state}", unico, "unico:idcloud:9f1c-77:finished", true},
		{"unico missing field", "unico:idcloud:{webhook.json.processId}:{webhook.json.status}", unico, "", false},
		{"attestr first alternative", "attestr:{webhook.json.event}:{webhook.json.payload._id|payload.requestId}", attestrID, "attestr:kyc.done:66f2a1", true},
		{"attestr second alternative", "attestr:{webhook.json.event}:{webhook.json.payload._id|payload.requestId}", attestrRq, "attestr:kyc.done:req-1", true},
		{"no alternative found", "attestr:{webhook.json.payload._id|payload.other}", attestrRq, "", false},
		{"numeric value", "k:{webhook.json.score}", unico, "k:97.5", true},
		{"number text kept", "{webhook.json.n}", list, "-0.5e3", true},
		{"array index", "k:{webhook.json.items.1.id}:{webhook.json.items.1.ok}", list, "k:8:true", true},
		{"array index out of range", "k:{webhook.json.items.2.id}", list, "", false},
		{"object is not a value", "k:{webhook.json.items}", list, "", false},
		{"body sha256", "h:{webhook.body_sha256}", unico, "h:" + sha256Hex(unico), true},
		{"body sha256 twice", "{webhook.body_sha256}/{webhook.body_sha256}", unico, sha256Hex(unico) + "/" + sha256Hex(unico), true},
		{"body sha256 alone", "{webhook.body_sha256}", unico, sha256Hex(unico), true},
		{"caddy placeholder", "{http.request.header.X-Vendor}:{webhook.json.processId}", unico, "acme:9f1c-77", true},
		{"missing caddy placeholder does not resolve", "x{http.request.header.Missing}:{webhook.json.processId}", unico, "", false},
		{"only empty placeholder does not resolve", "{http.request.header.Missing}", unico, "", false},
		{"literal only", "static", unico, "static", true},
		{"escaped braces", `\{x\}:{webhook.json.state}`, unico, "{x}:finished", true},
		{"lone closing brace is literal", "a}b:{webhook.json.state}", unico, "a}b:finished", true},
		{"backslash kept", `a\b`, unico, `a\b`, true},
		{"json on a scalar body", "{webhook.json.a}", `"str"`, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tpl, err := ParseTemplate(tc.template)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := tpl.Render(mustDecode(t, tc.body), []byte(tc.body), caddyPlaceholders)
			if got != tc.want || ok != tc.resolved {
				t.Fatalf("Render() = %q, %v; want %q, %v", got, ok, tc.want, tc.resolved)
			}
		})
	}
}

func TestRenderNilInputs(t *testing.T) {
	tpl, err := ParseTemplate("a:{http.request.uri.path}:{webhook.body_sha256}")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := tpl.Render(nil, nil, nil); ok {
		t.Fatalf("Render(nil, nil, nil) = %q; a Caddy placeholder without a replacer must not resolve", got)
	}
	tpl, err = ParseTemplate("a:{webhook.body_sha256}")
	if err != nil {
		t.Fatal(err)
	}
	got, ok := tpl.Render(nil, nil, nil)
	if want := "a:" + sha256Hex(""); !ok || got != want {
		t.Fatalf("Render(nil, nil, nil) = %q, %v; want %q", got, ok, want)
	}
	tpl, err = ParseTemplate("{webhook.json.a}")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := tpl.Render(nil, nil, nil); ok {
		t.Fatalf("Render without a doc = %q, want unresolved", got)
	}
}

func TestRenderHashesOnce(t *testing.T) {
	tpl, err := ParseTemplate("{webhook.body_sha256}.{webhook.body_sha256}")
	if err != nil {
		t.Fatal(err)
	}
	h := bodyHash{done: true}
	copy(h.hex[:], strings.Repeat("z", len(h.hex)))
	got, ok := tpl.render(nil, []byte("body"), nil, &h)
	if want := strings.Repeat("z", 64) + "." + strings.Repeat("z", 64); !ok || got != want {
		t.Fatalf("render with a computed hash = %q, want the cached one", got)
	}
}

func TestKeyTemplates(t *testing.T) {
	kt, err := ParseKeyTemplates([]string{
		"idwise:{webhook.json.body.eventId}",
		"idwise:{webhook.json.event}:{webhook.body_sha256}",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !kt.UsesJSON() || !kt.UsesBody() {
		t.Fatalf("UsesJSON, UsesBody = %v, %v", kt.UsesJSON(), kt.UsesBody())
	}
	tests := []struct {
		name     string
		body     string
		want     string
		resolved bool
	}{
		{"first template", `{"event":"x","body":{"eventId":"e-1"}}`, "idwise:e-1", true},
		{"fallback", `{"event":"journey.completed","body":{}}`, "idwise:journey.completed:" + sha256Hex(`{"event":"journey.completed","body":{}}`), true},
		{"none resolves", `{"body":{}}`, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := kt.Render(mustDecode(t, tc.body), []byte(tc.body), nil)
			if got != tc.want || ok != tc.resolved {
				t.Fatalf("Render() = %q, %v; want %q, %v", got, ok, tc.want, tc.resolved)
			}
		})
	}
	if _, err := ParseKeyTemplates(nil); err == nil {
		t.Error("ParseKeyTemplates(nil) succeeded")
	}
	if _, err := ParseKeyTemplates([]string{"ok", "{bad"}); err == nil || !strings.Contains(err.Error(), `"{bad"`) {
		t.Errorf("ParseKeyTemplates with a bad template: %v", err)
	}
	plain := KeyTemplates{}
	if plain.UsesJSON() || plain.UsesBody() {
		t.Error("an empty list uses the body")
	}
}

func TestTemplateUses(t *testing.T) {
	tests := []struct {
		template       string
		usesJSON, body bool
	}{
		{"static", false, false},
		{"{http.request.uri}", false, false},
		{"{webhook.json.a}", true, false},
		{"{webhook.body_sha256}", false, true},
		{"{webhook.json.a}{webhook.body_sha256}", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.template, func(t *testing.T) {
			tpl, err := ParseTemplate(tc.template)
			if err != nil {
				t.Fatal(err)
			}
			if tpl.UsesJSON() != tc.usesJSON || tpl.UsesBody() != tc.body {
				t.Fatalf("UsesJSON, UsesBody = %v, %v", tpl.UsesJSON(), tpl.UsesBody())
			}
			if tpl.String() != tc.template {
				t.Fatalf("String() = %q", tpl.String())
			}
		})
	}
}

func TestParseTemplateErrors(t *testing.T) {
	tests := []struct {
		template string
		why      string
	}{
		{"", "empty template"},
		{"abc:{webhook.json.id", "unclosed brace at byte 4"},
		{"{", "unclosed brace at byte 0"},
		{"a{b{c}", "unclosed brace at byte 1"},
		{"a:{}", "empty placeholder {}"},
		{"{webhook.json}", "empty JSON path in {webhook.json}"},
		{"{webhook.json.}", "empty JSON path in {webhook.json.}"},
		{"{webhook.json.a..b}", "empty path segment in {webhook.json.a..b}"},
		{"{webhook.json.a.}", "empty path segment in {webhook.json.a.}"},
		{"{webhook.json.a||b}", "empty JSON path in {webhook.json.a||b}"},
		{"{webhook.json.a|}", "empty JSON path in {webhook.json.a|}"},
		{"{webhook.unknown}", "unknown placeholder {webhook.unknown}"},
		{"{webhook.body_sha1}", "unknown placeholder {webhook.body_sha1}"},
		{"{webhook}", "unknown placeholder {webhook}"},
	}
	for _, tc := range tests {
		t.Run(tc.template, func(t *testing.T) {
			_, err := ParseTemplate(tc.template)
			if err == nil {
				t.Fatal("ParseTemplate() succeeded")
			}
			want := "invalid template " + strconv.Quote(tc.template) + ": " + tc.why
			if err.Error() != want {
				t.Fatalf("error = %q, want %q", err, want)
			}
		})
	}
}

func TestRenderAllocs(t *testing.T) {
	doc := mustDecode(t, string(webhookBody))
	ph := func(string) (string, bool) { return "acme", true }
	tests := []struct {
		template string
		allocs   float64
	}{
		{"{webhook.json.payload.requestId}", 0},
		{"{http.request.header.X}", 0},
		{"attestr:{webhook.json.event}:{webhook.json.payload._id|payload.requestId}", 1},
		{"idwise:{webhook.json.event}:{webhook.body_sha256}:{http.request.header.X}", 1},
		{strings.Repeat("{webhook.json.event}:", 20), 2}, // more parts than the inline array
		{"{webhook.json.missing}:{webhook.body_sha256}", 0},
	}
	for _, tc := range tests {
		t.Run(tc.template, func(t *testing.T) {
			tpl, err := ParseTemplate(tc.template)
			if err != nil {
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(100, func() { tpl.Render(doc, webhookBody, ph) }); n != tc.allocs {
				t.Fatalf("Render allocates %v times, want %v", n, tc.allocs)
			}
		})
	}
}
