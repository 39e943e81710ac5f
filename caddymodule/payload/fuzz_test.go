package payload

import (
	"bytes"
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

// FuzzCheck compares Check with encoding/json.Valid plus utf8.Valid plus unique names under
// bytes.EqualFold (simple Unicode case folding, what encoding/json matches fields by).
func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"a":[1,2.5e-3,"x\u00e9",true,null]}`))
	f.Add([]byte(`{"state":"R","STATE":"F"}`))
	f.Add(webhookBody)
	f.Fuzz(func(t *testing.T, body []byte) {
		want := json.Valid(body) && utf8.Valid(body) && uniqueFoldedNames(body)
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
		if e, ok := checkErr.(*Error); ok && e.Kind == DuplicateName {
			checkErr = nil // Decode takes repeated names (the last wins); Check refuses them
		}
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

// uniqueFoldedNames is the oracle of the names rule: encoding/json's tokenizer gives the decoded
// names of each object, compared pairwise with bytes.EqualFold.
func uniqueFoldedNames(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		object bool
		names  [][]byte
		isKey  bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return true // io.EOF, or a syntax error the other checks report
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.isKey {
			if name, ok := tok.(string); ok {
				for _, n := range top.names {
					if bytes.EqualFold(n, []byte(name)) {
						return false
					}
				}
				top.names = append(top.names, []byte(name))
				top.isKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			if top != nil && top.object {
				top.isKey = true
			}
			stack = append(stack, &frame{object: true, isKey: true})
			continue
		case json.Delim('['):
			if top != nil && top.object {
				top.isKey = true
			}
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			continue
		}
		if top != nil && top.object {
			top.isKey = true // a scalar value: the next token is a name
		}
	}
}

// FuzzOneReading: whatever Check accepts, encoding/json reads exactly as the schema does. The
// generic tree equals Decode's, and a Go struct (whose fields encoding/json matches without
// regard to case) gets the values of the only names that fold to its fields.
func FuzzOneReading(f *testing.F) {
	f.Add([]byte(`{"processId":"4444","state":"PROCESS_STATE_REJECTED","STATE":"PROCESS_STATE_FINISHED","ProcessID":"5555"}`))
	f.Add([]byte(`{"State":"x","\u0070rocessid":1,"nested":{"K":true,"\u212a":false}}`))
	f.Add(webhookBody)
	f.Fuzz(func(t *testing.T, body []byte) {
		if Check(body, Limits{MaxDepth: 10000}) != nil {
			return
		}
		doc, err := Decode(body)
		if err != nil {
			t.Fatalf("Decode() rejects a checked body: %v", err)
		}
		want, err := stdDecode(body)
		if err != nil {
			t.Fatalf("encoding/json rejects a checked body: %v", err)
		}
		if !reflect.DeepEqual(doc, want) {
			t.Fatalf("Decode() = %#v, encoding/json = %#v", doc, want)
		}
		obj, ok := doc.(map[string]any)
		if !ok {
			return
		}
		var st struct {
			State     any `json:"state"`
			ProcessID any `json:"processId"`
			Nested    *struct {
				K any `json:"k"`
			} `json:"nested"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&st); err != nil {
			return // a type mismatch (e.g. "nested" is a string) is the application's error
		}
		if got, want := st.State, foldedMember(obj, "state"); !reflect.DeepEqual(got, want) {
			t.Fatalf("struct field state = %#v, the schema saw %#v", got, want)
		}
		if got, want := st.ProcessID, foldedMember(obj, "processId"); !reflect.DeepEqual(got, want) {
			t.Fatalf("struct field processId = %#v, the schema saw %#v", got, want)
		}
		if nested, ok := foldedMember(obj, "nested").(map[string]any); ok && st.Nested != nil {
			if got, want := st.Nested.K, foldedMember(nested, "k"); !reflect.DeepEqual(got, want) {
				t.Fatalf("struct field nested.k = %#v, the schema saw %#v", got, want)
			}
		}
	})
}

// foldedMember is the value of the member whose name equals name under case folding; Check
// guarantees there is at most one.
func foldedMember(obj map[string]any, name string) any {
	for k, v := range obj {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
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
