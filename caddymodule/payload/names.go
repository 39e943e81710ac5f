package payload

import (
	"sync"
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
	first    int                 // index into spans of the object's first name
	set      map[string]struct{} // folded names, once the object has more than maxLinearNames
}

// nameSpan is one folded name in nameScratch.buf, and where its raw form is in the body.
type nameSpan struct {
	start, end int // folded bytes, buf[start:end]
	raw        int // offset of the name's opening quote in the body
}

type nameScratch struct {
	frames []nameFrame
	spans  []nameSpan
	buf    []byte // folded names of the open objects
	tmp    []byte // the name being folded, unescaped
}

var nameScratches = sync.Pool{New: func() any { return new(nameScratch) }}

// checkNames reports the first object member whose name equals an earlier one of the same object
// after unescaping and case folding. body must have passed the syntax checks of [Check].
func checkNames(body []byte) *Error {
	sc := nameScratches.Get().(*nameScratch)
	defer func() {
		clear(sc.frames[:cap(sc.frames)]) // drop the maps
		sc.frames, sc.spans, sc.buf = sc.frames[:0], sc.spans[:0], sc.buf[:0]
		if cap(sc.buf) > maxPooledScratch*16 || cap(sc.spans) > maxPooledScratch || cap(sc.frames) > maxPooledScratch {
			sc.frames, sc.spans, sc.buf, sc.tmp = nil, nil, nil, nil
		}
		nameScratches.Put(sc)
	}()
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '"':
			end := skipString(body, i+1)
			if n := len(sc.frames); n > 0 && sc.frames[n-1].isObject && isKey(body, end) {
				if err := sc.add(body, i, end); err != nil {
					return err
				}
			}
			i = end - 1
		case '{', '[':
			sc.frames = append(sc.frames, nameFrame{isObject: body[i] == '{', first: len(sc.spans)})
		case '}', ']':
			f := sc.frames[len(sc.frames)-1]
			sc.frames = sc.frames[:len(sc.frames)-1]
			if f.isObject && f.first < len(sc.spans) {
				sc.buf = sc.buf[:sc.spans[f.first].start]
				sc.spans = sc.spans[:f.first]
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

// add folds the name at body[q:end] (quotes included) into the current object and reports a
// clash with an earlier name.
func (sc *nameScratch) add(body []byte, q, end int) *Error {
	start := len(sc.buf)
	sc.tmp = unescapeName(sc.tmp[:0], body[q+1:end-1])
	sc.buf = appendFolded(sc.buf, sc.tmp)
	name := sc.buf[start:]
	f := &sc.frames[len(sc.frames)-1]
	first := f.first
	if f.set == nil {
		for _, sp := range sc.spans[first:] {
			if string(sc.buf[sp.start:sp.end]) == string(name) {
				return duplicateError(body, q, sp.raw)
			}
		}
		if len(sc.spans)-first >= maxLinearNames {
			f.set = make(map[string]struct{}, 2*maxLinearNames)
			for _, sp := range sc.spans[first:] {
				f.set[string(sc.buf[sp.start:sp.end])] = struct{}{}
			}
		}
	}
	if f.set != nil {
		if _, dup := f.set[string(name)]; dup {
			for _, sp := range sc.spans[first:] {
				if string(sc.buf[sp.start:sp.end]) == string(name) {
					return duplicateError(body, q, sp.raw)
				}
			}
		}
		f.set[string(name)] = struct{}{}
	}
	sc.spans = append(sc.spans, nameSpan{start: start, end: len(sc.buf), raw: q})
	return nil
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
