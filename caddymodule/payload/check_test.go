package payload

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheck(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	deepObj := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	ok := ErrorKind(0)
	tests := []struct {
		name   string
		body   string
		lim    Limits
		kind   ErrorKind
		offset int // checked when kind != ok
	}{
		{name: "object", body: `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`},
		{name: "surrounding whitespace", body: " \t\r\n{\"a\" : [ 1 , 2 ] }\n\t "},
		{name: "scalar string", body: `"x"`},
		{name: "scalar number", body: `-0.5e+10`},
		{name: "scalar literal", body: `null`},
		{name: "empty containers", body: `[{},[],{"a":[]}]`},
		{name: "escapes", body: `"\" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00"`},
		{name: "lone high surrogate escape allowed", body: `"\ud800"`},
		{name: "lone low surrogate escape allowed", body: `"\udc00x"`},
		{name: "utf8 in string", body: `{"nome":"Conceição 😀"}`},
		{name: "numbers", body: `[0,-0,1,-1,10,0.0,1.25,1e5,1E+5,1e-5,-1.5E-07,123456789012345678901234567890]`},
		{name: "same names in different objects", body: `{"a":{"a":1},"b":[{"a":1},{"a":2}],"A2":{"b":1}}`},
		{name: "names that differ after folding", body: `{"ab":1,"a_b":2,"aß":3,"ass":4}`},
		{name: "many distinct names", body: manyNames(40, false)},

		{name: "duplicate keys", body: `{"a":1,"a":2}`, kind: DuplicateName, offset: 7},
		{name: "the parser differential", body: `{"processId":"4444","state":"PROCESS_STATE_REJECTED","STATE":"PROCESS_STATE_FINISHED","ProcessID":"5555"}`, kind: DuplicateName, offset: 53},
		{name: "escaped duplicate", body: `{"a":1,"\u0061":2}`, kind: DuplicateName, offset: 7},
		{name: "escaped case variant", body: `{"state":1,"\u0053TATE":2}`, kind: DuplicateName, offset: 11},
		{name: "kelvin sign folds to k", body: `{"k":1,"\u212a":2}`, kind: DuplicateName, offset: 7},
		{name: "long s folds to s", body: `{"s":1,"ſ":2}`, kind: DuplicateName, offset: 7},
		{name: "nested duplicate", body: `[1,{"x":{"y":1,"Y":2}}]`, kind: DuplicateName, offset: 15},
		{name: "duplicate among many names", body: manyNames(40, true), kind: DuplicateName, offset: len(manyNames(40, true)) - 8},

		{name: "empty body", body: ``, kind: Empty, offset: 0},
		{name: "whitespace only", body: " \n\t\r ", kind: Empty, offset: 5},
		{name: "two values", body: `{} {}`, kind: Syntax, offset: 3},
		{name: "two scalars", body: `1 2`, kind: Syntax, offset: 2},
		{name: "trailing garbage", body: `{"a":1}x`, kind: Syntax, offset: 7},
		{name: "trailing comma array", body: `[1,2,]`, kind: Syntax, offset: 5},
		{name: "trailing comma object", body: `{"a":1,}`, kind: Syntax, offset: 7},
		{name: "leading comma", body: `[,1]`, kind: Syntax, offset: 1},
		{name: "missing colon", body: `{"a" 1}`, kind: Syntax, offset: 5},
		{name: "unquoted key", body: `{a:1}`, kind: Syntax, offset: 1},
		{name: "single quotes", body: `{'a':1}`, kind: Syntax, offset: 1},
		{name: "mismatched close", body: `[1}`, kind: Syntax, offset: 2},
		{name: "mismatched close object", body: `{"a":1]`, kind: Syntax, offset: 6},
		{name: "unclosed array", body: `[1,2`, kind: Syntax, offset: 4},
		{name: "unclosed object", body: `{"a":`, kind: Syntax, offset: 5},
		{name: "unclosed string", body: `"abc`, kind: Syntax, offset: 4},
		{name: "stray close", body: `]`, kind: Syntax, offset: 0},
		{name: "leading zero", body: `01`, kind: Syntax, offset: 1},
		{name: "leading plus", body: `+1`, kind: Syntax, offset: 0},
		{name: "minus alone", body: `-`, kind: Syntax, offset: 1},
		{name: "minus letter", body: `-a`, kind: Syntax, offset: 1},
		{name: "dot no digits", body: `1.`, kind: Syntax, offset: 2},
		{name: "dot first", body: `.5`, kind: Syntax, offset: 0},
		{name: "exponent no digits", body: `1e+`, kind: Syntax, offset: 3},
		{name: "exponent letter", body: `[1ex]`, kind: Syntax, offset: 3},
		{name: "hex number", body: `0x10`, kind: Syntax, offset: 1},
		{name: "NaN", body: `NaN`, kind: Syntax, offset: 0},
		{name: "bad literal", body: `tru`, kind: Syntax, offset: 3},
		{name: "bad literal byte", body: `nul1`, kind: Syntax, offset: 3},
		{name: "capital literal", body: `True`, kind: Syntax, offset: 0},
		{name: "control char in string", body: "\"a\tb\"", kind: Syntax, offset: 2},
		{name: "newline in string", body: "\"a\nb\"", kind: Syntax, offset: 2},
		{name: "bad escape", body: `"\x"`, kind: Syntax, offset: 2},
		{name: "single quote escape", body: `"\'"`, kind: Syntax, offset: 2},
		{name: "short unicode escape", body: `"\u12"`, kind: Syntax, offset: 5},
		{name: "bad hex", body: `"\u12g4"`, kind: Syntax, offset: 5},
		{name: "comment", body: `{"a":1 /* c */}`, kind: Syntax, offset: 7},
		{name: "byte order mark", body: "\uFEFF{}", kind: Syntax, offset: 0},

		{name: "bad utf8 in string", body: "{\"a\":\"x\xffy\"}", kind: NotUTF8, offset: 7},
		{name: "truncated utf8 in string", body: "\"\xc3\"", kind: NotUTF8, offset: 1},
		{name: "overlong utf8 in string", body: "\"\xc0\xaf\"", kind: NotUTF8, offset: 1},
		{name: "utf8 surrogate bytes in string", body: "\"\xed\xa0\x80\"", kind: NotUTF8, offset: 1},
		{name: "bad utf8 outside string", body: "[1,\xff]", kind: NotUTF8, offset: 3},
		{name: "bad utf8 trailing", body: "{}\xfe", kind: NotUTF8, offset: 2},
		{name: "valid utf8 outside string", body: "[é]", kind: Syntax, offset: 1},

		{name: "depth default at limit", body: deep(64)},
		{name: "depth default over limit", body: deep(65), kind: TooDeep, offset: 64},
		{name: "depth at limit", body: deep(3), lim: Limits{MaxDepth: 3}},
		{name: "depth over limit", body: deep(4), lim: Limits{MaxDepth: 3}, kind: TooDeep, offset: 3},
		{name: "object depth at limit", body: deepObj(3), lim: Limits{MaxDepth: 3}},
		{name: "object depth over limit", body: deepObj(4), lim: Limits{MaxDepth: 3}, kind: TooDeep, offset: 15},
		{name: "scalar depth zero", body: `1`, lim: Limits{MaxDepth: 1}},
		{name: "depth beyond inline stack", body: deep(1000), lim: Limits{MaxDepth: 1000}},
		{name: "depth beyond inline stack over", body: deep(1001), lim: Limits{MaxDepth: 1000}, kind: TooDeep, offset: 1000},

		{name: "string at limit", body: `["abcd"]`, lim: Limits{MaxStringBytes: 4}},
		{name: "string over limit", body: `["abcde"]`, lim: Limits{MaxStringBytes: 4}, kind: TooLarge, offset: 1},
		{name: "key over limit", body: `{"abcde":1}`, lim: Limits{MaxStringBytes: 4}, kind: TooLarge, offset: 1},
		{name: "string limit counts raw bytes", body: `"\n\n\n"`, lim: Limits{MaxStringBytes: 4}, kind: TooLarge, offset: 0},
		{name: "members at limit", body: `[1,2,3]`, lim: Limits{MaxMembers: 3}},
		{name: "members over limit", body: `[1,2,3,4]`, lim: Limits{MaxMembers: 3}, kind: TooLarge, offset: 7},
		{name: "keys at limit", body: `{"a":1,"b":2}`, lim: Limits{MaxMembers: 2}},
		{name: "keys over limit", body: `{"a":1,"b":2, "c":3}`, lim: Limits{MaxMembers: 2}, kind: TooLarge, offset: 14},
		{name: "number at limit", body: `[12345,1e3,1e-1]`, lim: Limits{MaxNumberBytes: 6}},
		{name: "number over limit", body: `[1,1234567]`, lim: Limits{MaxNumberBytes: 6}, kind: TooLarge, offset: 3},
		{name: "number exponent counts", body: `{"n":1e999999}`, lim: Limits{MaxNumberBytes: 400}, kind: TooLarge, offset: 5},
		{name: "negative exponent counts", body: `1E-401`, lim: Limits{MaxNumberBytes: 400}, kind: TooLarge, offset: 0},
		{name: "float64 extremes fit", body: `[-1.7976931348623157e308,5e-324,4.9406564584124654e-324]`, lim: Limits{MaxNumberBytes: 400}},
		{name: "huge exponent saturates", body: `1e99999999999999999999999999999`, lim: Limits{MaxNumberBytes: 400}, kind: TooLarge, offset: 0},
		{name: "members counted per container", body: `[[1,2],[3,4],{"a":[5,6]}]`, lim: Limits{MaxMembers: 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Check([]byte(tc.body), tc.lim)
			if tc.kind == ok {
				if err != nil {
					t.Fatalf("Check() = %v, want nil", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Check() = %v, want *Error kind %v", err, tc.kind)
			}
			if e.Kind != tc.kind || e.Offset != tc.offset {
				t.Fatalf("Check() = {%v %d}, want {%v %d}", e.Kind, e.Offset, tc.kind, tc.offset)
			}
			// The oracle agrees whenever depth is not the reason.
			if e.Kind != TooDeep && e.Kind != TooLarge && e.Kind != DuplicateName && json.Valid([]byte(tc.body)) && utf8.ValidString(tc.body) {
				t.Fatalf("Check() = %v but encoding/json and utf8 accept the body", err)
			}
		})
	}
}

// manyNames is an object of n distinct members, plus one that repeats the first in upper case.
func manyNames(n int, dup bool) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, `"k%02d":%d,`, i, i)
	}
	if dup {
		b.WriteString(`"K00":0,`)
	}
	return strings.TrimSuffix(b.String(), ",") + "}"
}

func TestDuplicateNameMessage(t *testing.T) {
	err := Check([]byte(`{"state":"REJECTED","STATE":"FINISHED"}`), Limits{})
	if err == nil || err.Error() != `duplicate member name "STATE" (the same as "state" under case folding) at byte 20` {
		t.Fatalf("Error() = %v", err)
	}
	long := `{"` + strings.Repeat("é", 100) + `":1,"` + strings.Repeat("É", 100) + `":2}`
	msg := Check([]byte(long), Limits{}).Error()
	if len(msg) > 600 || strings.Count(msg, `\u00c9`) != 32 {
		t.Fatalf("the name is not cut: %q", msg)
	}
}

func TestErrorMessage(t *testing.T) {
	body := []byte(`{"secret":"hunter2"` + "\xff}")
	err := Check(body, Limits{})
	if err == nil {
		t.Fatal("Check() = nil")
	}
	msg := err.Error()
	if msg != "invalid UTF-8 at byte 19" {
		t.Fatalf("Error() = %q", msg)
	}
	for _, k := range []ErrorKind{Syntax, NotUTF8, TooDeep, TooLarge, Empty, 0} {
		m := (&Error{Kind: k, Offset: 3}).Error()
		if !strings.HasSuffix(m, " at byte 3") || strings.Contains(m, "hunter2") {
			t.Errorf("kind %v: Error() = %q", k, m)
		}
		if k.String() == "" {
			t.Errorf("kind %d has no name", k)
		}
	}
}

func TestCheckAllocs(t *testing.T) {
	lim := Limits{MaxStringBytes: 4096, MaxMembers: 1000, MaxNumberBytes: 400}
	deep := []byte(strings.Repeat(`[{"a":`, 32) + "1" + strings.Repeat("}]", 32))
	for name, body := range map[string][]byte{"webhook": webhookBody, "depth 64": deep} {
		if n := testing.AllocsPerRun(100, func() {
			if err := Check(body, lim); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: Check allocates %v times, want 0", name, n)
		}
	}
}
