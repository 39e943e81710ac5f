package schemas_test

import (
	"errors"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/webhookgw/caddy-webhook-gateway/schemas"
)

// Test-only schemas with the constructs the formatter renders (the vendor
// schemas no longer use most of them).
const (
	strictSchema = "testdata/formatter/strict.json"
	anyOfSchema  = "testdata/formatter/any_of.json"
)

func TestViolations(t *testing.T) {
	long := strings.Repeat("EVENT_TYPE_", 1000) + "lower"
	tests := []struct {
		name   string
		schema string
		body   string
		max    int
		want   []schemas.Violation
	}{
		{
			name:   "root type",
			schema: "idwise.event",
			body:   `["Finished Journey"]`,
			want:   []schemas.Violation{{Path: "", Message: "wrong type: got array, want object"}},
		},
		{
			name:   "missing properties point at the property",
			schema: strictSchema,
			body:   `{"event": "flowx.completed", "payload": {"number": "HS-1"}}`,
			want: []schemas.Violation{
				{Path: "/payload/_id", Message: "required property is missing"},
				{Path: "/payload/result", Message: "required property is missing"},
				{Path: "/payload/tag", Message: "required property is missing"},
			},
		},
		{
			name:   "sorted by path, capped",
			schema: strictSchema,
			body:   `{"event": "flowx.completed", "payload": {"number": "HS-1"}}`,
			max:    2,
			want: []schemas.Violation{
				{Path: "/payload/_id", Message: "required property is missing"},
				{Path: "/payload/result", Message: "required property is missing"},
			},
		},
		{
			name:   "dependent required",
			schema: strictSchema,
			body:   `{"lastEvent": "EVENT_TYPE_SESSION_ENDED"}`,
			want:   []schemas.Violation{{Path: "/lastEventDescription", Message: `required when "lastEvent" is present`}},
		},
		{
			name:   "one of several properties",
			schema: anyOfSchema,
			body:   `{"interviewId": "i"}`,
			want:   []schemas.Violation{{Path: "", Message: `missing one of the properties "ref", "search_id"`}},
		},
		{
			name:   "array index in path",
			schema: strictSchema,
			body:   `{"payload": {"_id": "a", "result": {}, "tag": "t", "queries": [{"_id": "q"}, 7]}}`,
			want:   []schemas.Violation{{Path: "/payload/queries/1", Message: "wrong type: got number, want object"}},
		},
		{
			name:   "type with several choices",
			schema: strictSchema,
			body:   `{"user_id": 5}`,
			want:   []schemas.Violation{{Path: "/user_id", Message: "wrong type: got number, want null or string"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sch, err := schemas.Compile(tc.schema)
			if err != nil {
				t.Fatal(err)
			}
			got := schemas.Violations(sch.Validate(decode(t, []byte(tc.body))), tc.max)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Violations =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}

	t.Run("long values are truncated", func(t *testing.T) {
		sch, err := schemas.Compile(strictSchema)
		if err != nil {
			t.Fatal(err)
		}
		body := `{"lastEvent": "` + long + `", "lastEventDescription": "d"}`
		got := schemas.Violations(sch.Validate(decode(t, []byte(body))), 10)
		if len(got) != 1 || got[0].Path != "/lastEvent" {
			t.Fatalf("Violations = %q", got)
		}
		msg := got[0].Message
		if n := utf8.RuneCountInString(msg); n > 160 || strings.Contains(msg, long[:100]) {
			t.Errorf("message echoes the payload (%d runes): %q", n, msg)
		}
		if !strings.Contains(msg, "does not match pattern") || strings.Contains(msg, "lower") {
			t.Errorf("message = %q, want the pattern failure without the value", msg)
		}
	})

	t.Run("submitted values are never echoed", func(t *testing.T) {
		const secret = "SUBMITTED-4111111111111111"
		for _, tc := range []struct{ schema, value string }{
			{`{"type":"string","pattern":"^[a-z]+$"}`, `"` + secret + `"`},
			{`{"type":"number","minimum":5000000000000000}`, "4111111111111111"},
			{`{"type":"number","maximum":1}`, "4111111111111111"},
			{`{"type":"number","multipleOf":7}`, "4111111111111111"},
			{`{"type":"string","maxLength":3}`, `"` + secret + `"`},
			{`{"enum":["a","b"]}`, `"` + secret + `"`},
			{`{"const":"a"}`, `"` + secret + `"`},
			{`{"type":"string","format":"email"}`, `"` + secret + `"`},
			{`{"not":{"type":"string"}}`, `"` + secret + `"`},
		} {
			sch := compileInline(t, tc.schema)
			for _, v := range schemas.Violations(sch.Validate(decode(t, []byte(tc.value))), 10) {
				if strings.Contains(v.Message, "4111111111111111") || strings.Contains(v.Message, "SUBMITTED") {
					t.Errorf("schema %s: message %q echoes the value", tc.schema, v.Message)
				}
			}
		}
	})

	t.Run("nil error", func(t *testing.T) {
		if got := schemas.Violations(nil, 5); got != nil {
			t.Errorf("Violations(nil) = %q, want nil", got)
		}
	})

	t.Run("not a validation error", func(t *testing.T) {
		got := schemas.Violations(errors.New("boom\nsecond line"), 5)
		want := []schemas.Violation{{Path: "", Message: "boom; second line"}}
		if !slices.Equal(got, want) {
			t.Errorf("Violations = %q, want %q", got, want)
		}
	})

	t.Run("deduplicated", func(t *testing.T) {
		// Both the anyOf branch and the properties keyword report /ref.
		sch, err := schemas.Compile(anyOfSchema)
		if err != nil {
			t.Fatal(err)
		}
		got := schemas.Violations(sch.Validate(decode(t, []byte(`{"ref": "", "search_id": ""}`))), 0)
		for i := 1; i < len(got); i++ {
			if got[i] == got[i-1] {
				t.Errorf("duplicate %q", got[i])
			}
		}
		if len(got) != 2 {
			t.Errorf("Violations = %q, want one per property", got)
		}
	})
}

// compileInline compiles a schema given as JSON text, with format assertions on.
func compileInline(t *testing.T, src string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("inline.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("inline.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func TestText(t *testing.T) {
	got := schemas.Text([]schemas.Violation{{Path: "/event", Message: "missing property"}, {Path: "", Message: "want object"}})
	if want := "/event: missing property; : want object"; got != want {
		t.Fatalf("Text = %q, want %q", got, want)
	}
	if got := schemas.Text(nil); got != "" {
		t.Fatalf("Text(nil) = %q, want empty", got)
	}
}
