package payload

import "strconv"

// ErrorKind classifies why a body failed [Check] or [Decode].
type ErrorKind uint8

// The kinds of body errors.
const (
	// Syntax means the body is not exactly one well-formed JSON value
	// (RFC 8259), including trailing data after the value.
	Syntax ErrorKind = iota + 1
	// NotUTF8 means the body contains a byte sequence that is not valid UTF-8.
	NotUTF8
	// TooDeep means arrays and objects are nested deeper than [Limits.MaxDepth].
	TooDeep
	// TooLarge means a string is longer than [Limits.MaxStringBytes] or a
	// container has more members than [Limits.MaxMembers].
	TooLarge
	// Empty means the body is empty or only whitespace.
	Empty
	// DuplicateName means an object has two members whose names are equal, or equal under
	// simple Unicode case folding (the way encoding/json matches struct fields).
	DuplicateName
)

// String returns a short lower-case name of the kind, suitable for a metric
// label or a problem type suffix.
func (k ErrorKind) String() string {
	switch k {
	case Syntax:
		return "syntax"
	case NotUTF8:
		return "not_utf8"
	case TooDeep:
		return "too_deep"
	case TooLarge:
		return "too_large"
	case Empty:
		return "empty"
	case DuplicateName:
		return "duplicate_name"
	}
	return "unknown"
}

// Error reports why a body was rejected and at which byte offset. Its message
// never contains body content, except the member names of a [DuplicateName] (cut to 64 bytes
// and quoted as ASCII), so it is safe to log and to return to a sender.
type Error struct {
	// Kind is the class of the failure.
	Kind ErrorKind
	// Offset is the zero-based byte offset in the body at which the failure
	// was detected; for [Empty] and for a body that ends too early it is the
	// body length.
	Offset int
	// Name and Other are, for [DuplicateName], the member's name and the earlier name it
	// clashes with, decoded and cut to at most 64 bytes.
	Name, Other string
}

// Error implements the error interface.
func (e *Error) Error() string {
	var msg string
	switch e.Kind {
	case Syntax:
		msg = "invalid JSON syntax"
	case NotUTF8:
		msg = "invalid UTF-8"
	case TooDeep:
		msg = "JSON nested too deep"
	case TooLarge:
		msg = "JSON value too large"
	case Empty:
		msg = "empty JSON body"
	case DuplicateName:
		msg = "duplicate member name " + strconv.QuoteToASCII(e.Name)
		if e.Other != e.Name {
			msg += " (the same as " + strconv.QuoteToASCII(e.Other) + " under case folding)"
		}
	default:
		msg = "invalid JSON body"
	}
	return msg + " at byte " + strconv.Itoa(e.Offset)
}
