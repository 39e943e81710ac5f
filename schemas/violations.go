package schemas

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Violation is one reason a payload failed its schema.
type Violation struct {
	// Path is the JSON pointer (RFC 6901) of the failing value: "" for the
	// root, "/payload/_id" for a nested one. For a missing required property it
	// points at the property that should be there.
	Path string `json:"path"`
	// Message says what is wrong, in one short line. It never quotes a value
	// of the payload (only the schema's rules and the payload's member names).
	Message string `json:"message"`
}

// Limits on how much of a payload a message may echo.
const (
	maxValueRunes   = 32  // a quoted payload value (pattern, format)
	maxMessageRunes = 160 // a whole message
)

// printer renders library messages in English.
var printer = message.NewPrinter(language.English)

// Violations flattens err, as returned by (*jsonschema.Schema).Validate, into its
// leaf causes: deduplicated, sorted by path and then message, and capped at max
// entries (max <= 0 means no cap). A missing required property is reported at
// the property's own path, one entry per property; an anyOf whose branches each
// only require a different property becomes one "missing one of" entry. It returns
// nil for a nil err, and a single root entry for an error that is not a
// *jsonschema.ValidationError.
func Violations(err error, max int) []Violation {
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Violation{{Path: "", Message: clip(oneLine(err.Error()), maxMessageRunes)}}
	}
	var out []Violation
	collect(ve, &out)
	slices.SortFunc(out, func(a, b Violation) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	out = slices.Compact(out)
	if max > 0 && len(out) > max {
		out = out[:max:max]
	}
	return out
}

// collect appends the leaf causes of e to out.
func collect(e *jsonschema.ValidationError, out *[]Violation) {
	if alt, ok := missingOneOf(e); ok {
		*out = append(*out, Violation{Path: pointer(e.InstanceLocation), Message: alt})
		return
	}
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collect(c, out)
		}
		return
	}
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		for _, p := range k.Missing {
			*out = append(*out, Violation{Path: pointer(e.InstanceLocation, p), Message: "required property is missing"})
		}
	case *kind.DependentRequired:
		for _, p := range k.Missing {
			*out = append(*out, Violation{
				Path:    pointer(e.InstanceLocation, p),
				Message: clip(fmt.Sprintf("required when %q is present", k.Prop), maxMessageRunes),
			})
		}
	case *kind.Type:
		*out = append(*out, Violation{
			Path:    pointer(e.InstanceLocation),
			Message: fmt.Sprintf("wrong type: got %s, want %s", k.Got, strings.Join(k.Want, " or ")),
		})
	case *kind.MinLength:
		msg := fmt.Sprintf("too short: got %d characters, want at least %d", k.Got, k.Want)
		if k.Got == 0 && k.Want == 1 {
			msg = "must not be empty"
		}
		*out = append(*out, Violation{Path: pointer(e.InstanceLocation), Message: msg})
	case *kind.Pattern:
		*out = append(*out, Violation{
			Path:    pointer(e.InstanceLocation),
			Message: clip(fmt.Sprintf("does not match pattern %q", k.Want), maxMessageRunes),
		})
	case *kind.Format:
		*out = append(*out, Violation{
			Path:    pointer(e.InstanceLocation),
			Message: clip(fmt.Sprintf("not a valid %s", k.Want), maxMessageRunes),
		})
	case *kind.AdditionalProperties:
		quoted := make([]string, len(k.Properties))
		for i, p := range k.Properties {
			quoted[i] = quoteValue(p)
		}
		*out = append(*out, Violation{
			Path:    pointer(e.InstanceLocation),
			Message: clip("properties not allowed: "+strings.Join(quoted, ", "), maxMessageRunes),
		})
	case *kind.PropertyNames:
		*out = append(*out, Violation{Path: pointer(e.InstanceLocation), Message: "invalid property name"})
	default:
		*out = append(*out, Violation{Path: pointer(e.InstanceLocation), Message: clip(oneLine(ruleMessage(e.ErrorKind)), maxMessageRunes)})
	}
}

// ruleMessage describes a failed rule from the schema's side only. The library's own messages
// quote the submitted value ("minimum: got 5, want 10"), and a problem detail or a log line must
// not echo what the sender sent: the value may be a document number or a name.
func ruleMessage(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Enum, *kind.Const:
		return k.LocalizedString(printer) // the allowed values, from the schema
	case *kind.Minimum:
		return "must be at least " + k.Want.FloatString(6)
	case *kind.Maximum:
		return "must be at most " + k.Want.FloatString(6)
	case *kind.ExclusiveMinimum:
		return "must be greater than " + k.Want.FloatString(6)
	case *kind.ExclusiveMaximum:
		return "must be less than " + k.Want.FloatString(6)
	case *kind.MaxLength:
		return fmt.Sprintf("too long: want at most %d characters", k.Want)
	}
	return fmt.Sprintf("fails the schema rule %q", strings.Join(k.KeywordPath(), "/"))
}

// missingOneOf recognises an anyOf or oneOf that failed only because each
// branch requires a different absent property (e.g. "ref" or "search_id"), and
// describes it as one message.
func missingOneOf(e *jsonschema.ValidationError) (string, bool) {
	switch e.ErrorKind.(type) {
	case *kind.AnyOf, *kind.OneOf:
	default:
		return "", false
	}
	if len(e.Causes) < 2 {
		return "", false
	}
	var props []string
	for _, c := range e.Causes {
		r, ok := c.ErrorKind.(*kind.Required)
		if !ok || len(c.Causes) > 0 || len(r.Missing) != 1 || !slices.Equal(c.InstanceLocation, e.InstanceLocation) {
			return "", false
		}
		props = append(props, fmt.Sprintf("%q", r.Missing[0]))
	}
	return clip("missing one of the properties "+strings.Join(props, ", "), maxMessageRunes), true
}

// pointerEscaper escapes a reference token (RFC 6901 §3).
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// pointer builds an RFC 6901 JSON pointer from instance-location tokens.
func pointer(tokens []string, more ...string) string {
	var sb strings.Builder
	for _, t := range slices.Concat(tokens, more) {
		sb.WriteByte('/')
		sb.WriteString(pointerEscaper.Replace(t))
	}
	return sb.String()
}

// quoteValue quotes a payload value for a message, cut to maxValueRunes.
func quoteValue(s string) string {
	return fmt.Sprintf("%q", clip(s, maxValueRunes))
}

// clip cuts s to at most n runes, marking the cut with an ellipsis.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// Text joins violations into one line, "<path>: <message>; ...", the form a quarantined event's
// dead letter records as its error.
func Text(vs []Violation) string {
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(v.Path)
		b.WriteString(": ")
		b.WriteString(v.Message)
	}
	return b.String()
}
