package payload

import (
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// One reading of the JSON. The schema and the idempotency key see the tree of [Decode], where a
// repeated name keeps its last value and names match exactly. An application decoding into a Go
// struct with encoding/json matches names case-insensitively (simple Unicode case folding), and
// other parsers keep the first duplicate. So {"state":"REJECTED","STATE":"FINISHED"} is read two
// ways. I-JSON (RFC 7493 §2.3) asks for unique names; [Check] enforces it, and more strictly, with
// names compared after unescaping and folding the way encoding/json folds them, so that every
// reader agrees on which member a name means.

// maxLinearNames is how many names of one object are compared pairwise before a map is used.
const maxLinearNames = 16

// maxReportedName bounds a name quoted in an [Error].
const maxReportedName = 64

// nameFrame is one open object (or array, with set unused) of the name walk.
type nameFrame struct {
	isObject bool
	first    int            // index into spans of the object's first name
	set      map[string]int // folded name -> body offset, once the object has maxLinearNames names
}

// nameSpan is one folded name in nameScratch.buf, and where its raw form is in the body.
type nameSpan struct {
	start, end int // folded bytes, buf[start:end]
	raw        int // offset of the name's opening quote in the body
}

// checkNames reports the first object member whose name equals an earlier one of the same object
// after unescaping and case folding. body must have passed the syntax checks of [Check]. The
// scratch slices start on arrays on this function's stack, so a body with ordinary nesting and
// names is checked without allocating; deeper or longer ones grow them.
func checkNames(body []byte) *Error {
	var (
		framesArr [inlineDepth]nameFrame
		spansArr  [64]nameSpan
		bufArr    [1024]byte
		tmpArr    [128]byte
	)
	frames, spans := framesArr[:0], spansArr[:0]
	buf, tmp := bufArr[:0], tmpArr[:0] // folded names of the open objects; the name being folded
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '"':
			end := skipString(body, i+1)
			if n := len(frames); n > 0 && frames[n-1].isObject && isKey(body, end) {
				f := &frames[n-1]
				start := len(buf)
				tmp = unescapeName(tmp[:0], body[i+1:end-1])
				buf = appendFolded(buf, tmp)
				if other, dup := f.seen(spans, buf, start, i); dup {
					return duplicateError(body, i, other)
				}
				spans = append(spans, nameSpan{start: start, end: len(buf), raw: i})
			}
			i = end - 1
		case '{', '[':
			frames = append(frames, nameFrame{isObject: body[i] == '{', first: len(spans)})
		case '}', ']':
			f := frames[len(frames)-1]
			frames = frames[:len(frames)-1]
			if f.isObject && f.first < len(spans) {
				buf = buf[:spans[f.first].start]
				spans = spans[:f.first]
			}
		}
	}
	return nil
}

// isKey reports whether the string that ended at end is followed by ':' (it is a member name).
func isKey(body []byte, end int) bool {
	j := skipSpace(body, end)
	return j < len(body) && body[j] == ':'
}

// skipString returns the index after the closing quote of the string whose opening quote is at
// i-1. The string is known to be well formed.
func skipString(b []byte, i int) int {
	for {
		i = skipPlain(b, i)
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			if b[i+1] == 'u' {
				i += 6
			} else {
				i += 2
			}
		default:
			i++
		}
	}
}

// seen reports whether the folded name buf[start:] (whose quote is at body offset raw) equals
// an earlier name of the object f, and the body offset of that name. spans[f.first:] are the object's earlier names. Past
// maxLinearNames names it keeps them in a map, so a huge object costs linear time.
func (f *nameFrame) seen(spans []nameSpan, buf []byte, start, raw int) (int, bool) {
	name := buf[start:]
	earlier := spans[f.first:]
	if f.set == nil && len(earlier) >= maxLinearNames {
		f.set = make(map[string]int, 2*maxLinearNames)
		for _, sp := range earlier {
			f.set[string(buf[sp.start:sp.end])] = sp.raw
		}
	}
	if f.set != nil {
		if other, dup := f.set[string(name)]; dup {
			return other, true
		}
		f.set[string(name)] = raw
		return 0, false
	}
	for _, sp := range earlier {
		if string(buf[sp.start:sp.end]) == string(name) {
			return sp.raw, true
		}
	}
	return 0, false
}

// duplicateError reports the name at q clashing with the earlier name at other.
func duplicateError(body []byte, q, other int) *Error {
	return &Error{Kind: DuplicateName, Offset: q, Name: reportedName(body, q), Other: reportedName(body, other)}
}

// reportedName is the decoded name whose opening quote is at q, cut to maxReportedName bytes.
func reportedName(body []byte, q int) string {
	end := skipString(body, q+1)
	s := unescapeName(nil, body[q+1:end-1])
	if len(s) > maxReportedName {
		cut := maxReportedName
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = append(s[:cut:cut], "..."...)
	}
	return string(s)
}

// appendFolded appends name, a decoded member name, folded the way encoding/json folds field
// names: every rune is replaced by the smallest rune of its simple case-folding orbit (so "k",
// "K" and the Kelvin sign fold alike).
func appendFolded(out, name []byte) []byte {
	for i := 0; i < len(name); {
		c := name[i]
		if c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(name[i:])
		out = utf8.AppendRune(out, foldRune(r))
		i += n
	}
	return out
}

// foldRune returns the smallest rune of r's simple case-folding orbit.
func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

// unescapeName appends the decoded form of a well-formed raw JSON string (without its quotes).
// Lone surrogates become U+FFFD, as in encoding/json.
func unescapeName(out, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(string(raw[i+2 : i+6]))
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(string(raw[i+2:i+6]))); dec != utf8.RuneError {
						out = utf8.AppendRune(out, dec)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
			continue
		default: // '"', '\\', '/'
			out = append(out, raw[i+1])
		}
		i += 2
	}
	return out
}
