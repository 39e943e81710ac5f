package payload

import (
	"encoding/json"
	"strings"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDecodeDepth bounds the recursion of [Decode]; it equals encoding/json's
// own nesting limit.
const maxDecodeDepth = 10000

// maxPooledScratch is the largest scratch stack kept for reuse.
const maxPooledScratch = 4096

// Decode parses body into the generic tree that
// github.com/santhosh-tekuri/jsonschema/v6 validates: map[string]any,
// []any, json.Number, string, bool and nil, exactly what its UnmarshalJSON
// (encoding/json with UseNumber) returns. Escaped lone surrogates become
// U+FFFD and a repeated object key keeps its last value, as in encoding/json.
//
// Call it after [Check], which enforces the limits. Decode rejects malformed
// JSON and invalid UTF-8 with an [*Error] as well, and nests at most 10000
// levels, but it applies no other limit.
//
// All unescaped strings and numbers of the tree share a single copy of body,
// so the tree stays valid when the caller reuses body.
func Decode(body []byte) (any, error) {
	d := decoders.Get().(*decoder)
	d.body = body
	d.src = string(body)
	v, err := d.decode()
	d.body, d.src = nil, ""
	if cap(d.vals) > maxPooledScratch {
		d.vals = nil
	}
	if cap(d.members) > maxPooledScratch {
		d.members = nil
	}
	decoders.Put(d)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// decoders recycles the scratch stacks of [Decode].
var decoders = sync.Pool{New: func() any { return new(decoder) }}

// member is one key and value of an object being decoded.
type member struct {
	key string
	val any
}

// decoder builds the tree. Items of open arrays and members of open objects
// wait on the scratch stacks until their container closes, so each slice and
// map is allocated once at its final size.
type decoder struct {
	body    []byte
	src     string // one copy of body; strings and numbers are slices of it
	vals    []any
	members []member
}

// decode parses the whole body as one value.
func (d *decoder) decode() (any, *Error) {
	i := skipSpace(d.body, 0)
	if i == len(d.body) {
		return nil, &Error{Kind: Empty, Offset: i}
	}
	v, i, err := d.value(i, 0)
	if err != nil {
		return nil, err
	}
	if i = skipSpace(d.body, i); i != len(d.body) {
		return nil, badByte(d.body, i)
	}
	return v, nil
}

// value decodes the value that starts at i (whitespace already skipped) and
// returns it with the index after it.
func (d *decoder) value(i, depth int) (any, int, *Error) {
	b := d.body
	if i >= len(b) {
		return nil, i, &Error{Kind: Syntax, Offset: i}
	}
	switch c := b[i]; c {
	case '"':
		return d.str(i + 1)
	case '{':
		if depth >= maxDecodeDepth {
			return nil, i, &Error{Kind: TooDeep, Offset: i}
		}
		return d.object(i+1, depth+1)
	case '[':
		if depth >= maxDecodeDepth {
			return nil, i, &Error{Kind: TooDeep, Offset: i}
		}
		return d.array(i+1, depth+1)
	case 't':
		j, err := scanLiteral(b, i, "true")
		return true, j, err
	case 'f':
		j, err := scanLiteral(b, i, "false")
		return false, j, err
	case 'n':
		j, err := scanLiteral(b, i, "null")
		return nil, j, err
	default:
		if c != '-' && (c < '0' || c > '9') {
			return nil, i, badByte(b, i)
		}
		j, err := scanNumber(b, i)
		if err != nil {
			return nil, j, err
		}
		return json.Number(d.src[i:j]), j, nil
	}
}

// str decodes the string whose opening quote is at i-1.
func (d *decoder) str(i int) (any, int, *Error) {
	s, j, err := d.text(i)
	if err != nil {
		return nil, j, err
	}
	return s, j, nil
}

// text decodes the string whose opening quote is at i-1 into a Go string.
func (d *decoder) text(i int) (string, int, *Error) {
	j, esc, err := scanString(d.body, i, 0)
	if err != nil {
		return "", j, err
	}
	if !esc {
		return d.src[i : j-1], j, nil
	}
	return unescape(d.src[i : j-1]), j, nil
}

// array decodes the array whose '[' is at i-1.
func (d *decoder) array(i, depth int) (any, int, *Error) {
	b := d.body
	i = skipSpace(b, i)
	if i < len(b) && b[i] == ']' {
		return make([]any, 0), i + 1, nil
	}
	mark := len(d.vals)
	for {
		v, j, err := d.value(i, depth)
		if err != nil {
			d.dropVals(mark)
			return nil, j, err
		}
		d.vals = append(d.vals, v)
		i = skipSpace(b, j)
		if i >= len(b) {
			d.dropVals(mark)
			return nil, i, &Error{Kind: Syntax, Offset: i}
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
			continue
		case ']':
			out := make([]any, len(d.vals)-mark)
			copy(out, d.vals[mark:])
			d.dropVals(mark)
			return out, i + 1, nil
		}
		d.dropVals(mark)
		return nil, i, badByte(b, i)
	}
}

// dropVals pops the scratch values above mark and clears them for the GC.
func (d *decoder) dropVals(mark int) {
	clear(d.vals[mark:])
	d.vals = d.vals[:mark]
}

// object decodes the object whose '{' is at i-1.
func (d *decoder) object(i, depth int) (any, int, *Error) {
	b := d.body
	i = skipSpace(b, i)
	if i < len(b) && b[i] == '}' {
		return make(map[string]any), i + 1, nil
	}
	mark := len(d.members)
	for {
		if i >= len(b) {
			d.dropMembers(mark)
			return nil, i, &Error{Kind: Syntax, Offset: i}
		}
		if b[i] != '"' {
			d.dropMembers(mark)
			return nil, i, badByte(b, i)
		}
		k, j, err := d.text(i + 1)
		if err != nil {
			d.dropMembers(mark)
			return nil, j, err
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			d.dropMembers(mark)
			if i >= len(b) {
				return nil, i, &Error{Kind: Syntax, Offset: i}
			}
			return nil, i, badByte(b, i)
		}
		v, j, err := d.value(skipSpace(b, i+1), depth)
		if err != nil {
			d.dropMembers(mark)
			return nil, j, err
		}
		d.members = append(d.members, member{key: k, val: v})
		i = skipSpace(b, j)
		if i >= len(b) {
			d.dropMembers(mark)
			return nil, i, &Error{Kind: Syntax, Offset: i}
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
			continue
		case '}':
			ms := d.members[mark:]
			out := make(map[string]any, len(ms))
			for _, m := range ms {
				out[m.key] = m.val
			}
			d.dropMembers(mark)
			return out, i + 1, nil
		}
		d.dropMembers(mark)
		return nil, i, badByte(b, i)
	}
}

// dropMembers pops the scratch members above mark and clears them for the GC.
func (d *decoder) dropMembers(mark int) {
	clear(d.members[mark:])
	d.members = d.members[:mark]
}

// unescape decodes the body of a string that scanString accepted and found to
// contain escapes, with the same results as encoding/json.
func unescape(s string) string {
	var sb strings.Builder
	sb.Grow(len(s))
	start := 0
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			i++
			continue
		}
		sb.WriteString(s[start:i])
		switch c := s[i+1]; c {
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			r := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(s[i+2:])); dec != unicode.ReplacementChar {
						r = dec
						i += 6
					} else {
						r = unicode.ReplacementChar
					}
				} else {
					r = unicode.ReplacementChar
				}
			}
			if r < utf8.RuneSelf {
				sb.WriteByte(byte(r))
			} else {
				sb.WriteRune(r)
			}
			start = i
			continue
		default: // '"', '\\', '/'
			sb.WriteByte(c)
		}
		i += 2
		start = i
	}
	sb.WriteString(s[start:])
	return sb.String()
}

// hex4 decodes the four hex digits that scanString has checked.
func hex4(s string) rune {
	var r rune
	for _, c := range []byte(s[:4]) {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}
