package payload

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// stdDecode is the reference: what jsonschema.UnmarshalJSON returns.
func stdDecode(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		body string
		want any // nil: compare with encoding/json only
	}{
		{name: "webhook", body: string(webhookBody)},
		{name: "scalar string", body: ` "x" `, want: "x"},
		{name: "scalar number", body: `-1.5e3`, want: json.Number("-1.5e3")},
		{name: "true", body: `true`, want: true},
		{name: "false", body: `false`},
		{name: "null", body: `null`},
		{name: "empty array", body: `[]`, want: []any{}},
		{name: "empty object", body: `{}`, want: map[string]any{}},
		{name: "nested empties", body: `{"a":[],"b":{},"c":[[],{}]}`},
		{name: "duplicate key keeps last", body: `{"a":1,"a":2}`, want: map[string]any{"a": json.Number("2")}},
		{name: "escapes", body: `"\" \\ \/ \b \f \n \r \t \u00e9 \u20AC \uD83D\uDE00 \u0000"`},
		{name: "escaped key", body: `{"a\nb":1,"\u00e9":2}`},
		{name: "lone high surrogate", body: `"a\ud800b"`, want: "a\uFFFDb"},
		{name: "lone low surrogate", body: `"\udc00"`, want: "\uFFFD"},
		{name: "two high surrogates", body: `"\ud800\ud800\udc00"`, want: "\uFFFD\U00010000"},
		{name: "high surrogate then escape", body: `"\ud800\n"`, want: "\uFFFD\n"},
		{name: "high surrogate at end", body: `"\ud800"`, want: "\uFFFD"},
		{name: "numbers kept as text", body: `[0,-0,1.0,1e400,123456789012345678901234567890]`},
		{name: "utf8", body: `{"nome":"Conceição 😀"}`},
		{name: "big array", body: "[" + strings.Repeat(`{"k":"v","n":[1,2]},`, 200) + "null]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode([]byte(tc.body))
			if err != nil {
				t.Fatalf("Decode() error = %v", err)
			}
			want, err := stdDecode([]byte(tc.body))
			if err != nil {
				t.Fatalf("encoding/json error = %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Decode() = %#v, encoding/json = %#v", got, want)
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Decode() = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		kind ErrorKind
	}{
		{name: "empty", body: "", kind: Empty},
		{name: "whitespace", body: "  ", kind: Empty},
		{name: "trailing data", body: `{}1`, kind: Syntax},
		{name: "trailing comma", body: `[1,]`, kind: Syntax},
		{name: "unclosed", body: `{"a":[1`, kind: Syntax},
		{name: "missing colon", body: `{"a"}`, kind: Syntax},
		{name: "bad key", body: `{1:2}`, kind: Syntax},
		{name: "bad number", body: `[01]`, kind: Syntax},
		{name: "bad literal", body: `[nul]`, kind: Syntax},
		{name: "bad utf8", body: "\"\xff\"", kind: NotUTF8},
		{name: "too deep", body: strings.Repeat("[", 10001) + strings.Repeat("]", 10001), kind: TooDeep},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Decode([]byte(tc.body))
			var e *Error
			if !errors.As(err, &e) || e.Kind != tc.kind {
				t.Fatalf("Decode() = %v, %v; want kind %v", v, err, tc.kind)
			}
			if v != nil {
				t.Fatalf("Decode() value = %v on error", v)
			}
		})
	}
}

func TestDecodeDoesNotAliasBody(t *testing.T) {
	body := []byte(`{"id":"abc","n":12}`)
	doc, err := Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 'x'
	}
	want := map[string]any{"id": "abc", "n": json.Number("12")}
	if !reflect.DeepEqual(doc, want) {
		t.Fatalf("after reusing body, doc = %#v", doc)
	}
}

func TestLookup(t *testing.T) {
	doc, err := Decode([]byte(`{
		"event": "verification.completed",
		"processId": "d3b1",
		"score": 0.98,
		"attempts": 2,
		"ok": true,
		"bad": false,
		"none": null,
		"empty": "",
		"obj": {"a": {"b": "deep"}},
		"list": ["x", {"id": "y"}, [1, 2]],
		"10": "numeric key",
		"a.b": "dotted key"
	}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path  string
		want  string
		found bool
	}{
		{"event", "verification.completed", true},
		{"processId", "d3b1", true},
		{"score", "0.98", true},
		{"attempts", "2", true},
		{"ok", "true", true},
		{"bad", "false", true},
		{"obj.a.b", "deep", true},
		{"list.0", "x", true},
		{"list.1.id", "y", true},
		{"list.2.1", "2", true},
		{"10", "numeric key", true},
		{"none", "", false},
		{"empty", "", false},
		{"obj", "", false},
		{"obj.a", "", false},
		{"list", "", false},
		{"missing", "", false},
		{"obj.missing.b", "", false},
		{"list.3", "", false},
		{"list.-1", "", false},
		{"list.01", "", false},
		{"list.x", "", false},
		{"list.99999999999999999999", "", false},
		{"event.x", "", false},
		{"a.b", "", false},
		{"", "", false},
		{".event", "", false},
		{"event.", "", false},
		{"obj..a", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			got, found := Lookup(doc, tc.path)
			if got != tc.want || found != tc.found {
				t.Fatalf("Lookup(%q) = %q, %v; want %q, %v", tc.path, got, found, tc.want, tc.found)
			}
		})
	}
	if _, found := Lookup(nil, "a"); found {
		t.Error("Lookup(nil) found a value")
	}
	if got, found := Lookup([]any{"a", "b"}, "1"); !found || got != "b" {
		t.Errorf("Lookup on a top-level array = %q, %v", got, found)
	}
}
