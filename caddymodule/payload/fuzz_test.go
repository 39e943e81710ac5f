package payload

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// The fuzz targets run their committed seeds (testdata/fuzz/) as normal
// tests; explore with e.g. go test -fuzz FuzzCheck -fuzztime 30s.

// FuzzCheck compares Check with encoding/json.Valid plus utf8.Valid.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"a":[1,2.5e-3,"x\u00e9",true,null]}`))
	f.Add(webhookBody)
	f.Fuzz(func(t *testing.T, body []byte) {
		want := json.Valid(body) && utf8.Valid(body)
		err := Check(body, Limits{MaxDepth: 10000}) // encoding/json's own limit
		if (err == nil) != want {
			t.Fatalf("Check() = %v, oracle valid = %v", err, want)
		}
		if err != nil {
			assertError(t, err, body)
		}
		// Tight limits only add TooDeep and TooLarge; any other verdict is real.
		err = Check(body, Limits{MaxDepth: 2, MaxStringBytes: 4, MaxMembers: 2, MaxNumberBytes: 4})
		if err == nil && !want {
			t.Fatalf("Check() with limits accepted an invalid body")
		}
		if err != nil {
			e := assertError(t, err, body)
			if e.Kind != TooDeep && e.Kind != TooLarge && want {
				t.Fatalf("Check() with limits = %v on a valid body", err)
			}
		}
	})
}

// assertError checks the shape of a Check or Decode error.
func assertError(t *testing.T, err error, body []byte) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not an *Error", err)
	}
	if e.Offset < 0 || e.Offset > len(body) {
		t.Fatalf("error offset %d outside the body of %d bytes", e.Offset, len(body))
	}
	if (e.Kind == Empty) != (strings.TrimLeft(string(body), " \t\r\n") == "") {
		t.Fatalf("kind %v for body %q", e.Kind, body)
	}
	return e
}

// FuzzDecode compares Decode with Check for acceptance and with
// encoding/json (UseNumber) for the tree.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"a":{"b":["\ud800",-0.0,{}]},"a":[]}`))
	f.Add(webhookBody)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkErr := Check(body, Limits{MaxDepth: 10000})
		doc, err := Decode(body)
		if (err == nil) != (checkErr == nil) {
			t.Fatalf("Decode() error = %v, Check() = %v", err, checkErr)
		}
		if err != nil {
			if e := assertError(t, err, body); *e != *checkErr.(*Error) {
				t.Fatalf("Decode() error = %v, Check() = %v", err, checkErr)
			}
			return
		}
		want, err := stdDecode(body)
		if err != nil {
			t.Fatalf("encoding/json rejects a checked body: %v", err)
		}
		if !reflect.DeepEqual(doc, want) {
			t.Fatalf("Decode() = %#v, encoding/json = %#v", doc, want)
		}
	})
}

// FuzzTemplate parses a template and renders it over a random body; nothing
// may panic and the results must be consistent.
func FuzzTemplate(f *testing.F) {
	f.Add("attestr:{webhook.json.event}:{webhook.json.payload._id|payload.requestId}", webhookBody)
	f.Add("idwise:{webhook.json.event}:{webhook.body_sha256}:{http.request.header.X}", []byte(`{"event":"e"}`))
	f.Fuzz(func(t *testing.T, tpl string, body []byte) {
		doc, _ := Decode(body)
		Lookup(doc, tpl)
		ph := func(name string) (string, bool) {
			if strings.HasPrefix(name, "http.") {
				return name[len("http."):], true
			}
			return "", false
		}
		tm, err := ParseTemplate(tpl)
		if err != nil {
			msg := err.Error()
			if strings.ContainsAny(msg, "\n") && !strings.Contains(tpl, "\n") {
				t.Fatalf("error spans lines: %q", msg)
			}
			if !strings.HasPrefix(msg, "invalid template "+strconv.Quote(tpl)+": ") {
				t.Fatalf("error does not quote the template: %q", msg)
			}
			return
		}
		got, ok := tm.Render(doc, body, ph)
		if ok == (got == "") {
			t.Fatalf("Render() = %q, %v", got, ok)
		}
		again, ok2 := tm.Render(doc, body, ph)
		if again != got || ok2 != ok {
			t.Fatalf("Render() is not deterministic: %q, %q", got, again)
		}
		if ok && tm.UsesBody() && !strings.Contains(got, sha256Hex(string(body))) {
			t.Fatalf("Render() = %q lacks the body hash", got)
		}
		if !tm.UsesJSON() {
			if nodoc, ok3 := tm.Render(nil, body, ph); nodoc != got || ok3 != ok {
				t.Fatalf("Render() without JSON placeholders depends on the doc")
			}
		}
		kt := KeyTemplates{tm, tm}
		if k, kok := kt.Render(doc, body, ph); k != got || kok != ok {
			t.Fatalf("KeyTemplates.Render() = %q, %v; Template.Render() = %q, %v", k, kok, got, ok)
		}
	})
}
