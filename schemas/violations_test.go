package schemas_test

import (
	"errors"
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
		if !strings.Contains(msg, "does not match pattern") || !strings.Contains(msg, "…") {
			t.Errorf("message = %q, want a truncated pattern failure", msg)
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
