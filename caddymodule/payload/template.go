package payload

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
)

// The placeholders a template resolves itself; every other {name} is handed
// to the Caddy placeholder callback.
const (
	jsonPrefix    = "webhook.json."
	bodySHA256    = "webhook.body_sha256"
	webhookPrefix = "webhook."
)

// inlineParts is how many template parts Render resolves without allocating.
const inlineParts = 16

// partKind says how one piece of a template is produced.
type partKind uint8

const (
	partLiteral     partKind = iota // fixed text
	partJSON                        // {webhook.json.<path>|<path>...}
	partBodySHA256                  // {webhook.body_sha256}
	partPlaceholder                 // any other {name}: a Caddy placeholder
)

// part is one parsed piece of a template.
type part struct {
	kind partKind
	text string      // the literal text, or the Caddy placeholder name
	alts [][]segment // the alternative JSON paths, split in advance
}

// Template is a parsed idempotency-key template: literal text with
// placeholders in braces.
//
//   - {webhook.json.<path>} is the [Lookup] of path in the decoded body;
//     alternatives separated by '|' take the first one found, as in
//     {webhook.json.payload._id|payload.requestId}. When none is found the
//     template does not resolve.
//   - {webhook.body_sha256} is the lower-case hex SHA-256 of the raw body.
//   - Any other {name} is a Caddy placeholder. An unknown or empty one stops
//     the template from resolving, like a missing JSON field: a key built
//     around a missing delivery-id header ("github:") would otherwise make
//     every such event a duplicate of the first.
//
// As in Caddy, \{ and \} stand for literal braces; a lone } is literal.
//
// Values are joined so that no value can forge another key: in every value
// taken from the body or a placeholder, '%', ':' and every byte of the literal
// text between placeholders become %XX escapes, so "{a}:{b}" renders a="x:y",
// b="z" as "x%3Ay:z", never as the key of a="x", b="y:z". For the same reason
// two such placeholders may not stand side by side without literal text
// between them ({webhook.body_sha256} has a fixed length and may).
//
// A Template is immutable and safe for concurrent use.
type Template struct {
	src      string
	parts    []part
	escape   byteSet // bytes escaped in values: '%', ':' and the separators
	usesJSON bool
	usesBody bool
}

// byteSet is a set of bytes.
type byteSet [256 / 64]uint64

func (b *byteSet) add(c byte)      { b[c>>6] |= 1 << (c & 63) }
func (b *byteSet) has(c byte) bool { return b[c>>6]&(1<<(c&63)) != 0 }
func (b *byteSet) addAll(s string) {
	for i := 0; i < len(s); i++ {
		b.add(s[i])
	}
}
func isVariable(k partKind) bool { return k == partJSON || k == partPlaceholder }

// ParseTemplate parses s. Errors are one lower-case line that quotes s:
// an unclosed brace, an empty placeholder, an empty JSON path or path
// segment, or an unknown {webhook.*} name.
func ParseTemplate(s string) (*Template, error) {
	t := &Template{src: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, part{kind: partLiteral, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\\' && i+1 < len(s) && (s[i+1] == '{' || s[i+1] == '}') {
			lit.WriteByte(s[i+1])
			i += 2
			continue
		}
		if c != '{' {
			lit.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(s[i+1:], '}')
		if end < 0 {
			return nil, templateError(s, "unclosed brace at byte "+strconv.Itoa(i))
		}
		name := s[i+1 : i+1+end]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			return nil, templateError(s, "unclosed brace at byte "+strconv.Itoa(i))
		}
		p, err := parsePlaceholder(name)
		if err != nil {
			return nil, templateError(s, err.Error())
		}
		flush()
		switch p.kind {
		case partJSON:
			t.usesJSON = true
		case partBodySHA256:
			t.usesBody = true
		}
		t.parts = append(t.parts, p)
		i += end + 2
	}
	flush()
	if len(t.parts) == 0 {
		return nil, templateError(s, "empty template")
	}
	if err := t.compileJoin(); err != nil {
		return nil, templateError(s, err.Error())
	}
	return t, nil
}

// compileJoin computes the bytes escaped in values, and refuses two values
// side by side, whose boundary no escape could mark.
func (t *Template) compileJoin() error {
	t.escape.add('%')
	t.escape.add(':')
	first, last := -1, -1
	for k, p := range t.parts {
		if p.kind != partLiteral {
			if first < 0 {
				first = k
			}
			last = k
		}
		if k > 0 && isVariable(p.kind) && isVariable(t.parts[k-1].kind) {
			return errors.New("two placeholders side by side: put literal text (such as ':') between them, or one value could run into the next")
		}
	}
	for k := first + 1; k < last; k++ {
		if t.parts[k].kind == partLiteral {
			t.escape.addAll(t.parts[k].text)
		}
	}
	return nil
}

// templateError formats a parse error that quotes the template.
func templateError(s, why string) error {
	return errors.New("invalid template " + strconv.Quote(s) + ": " + why)
}

// parsePlaceholder parses the name between braces.
func parsePlaceholder(name string) (part, error) {
	switch {
	case name == "":
		return part{}, errors.New("empty placeholder {}")
	case name == bodySHA256:
		return part{kind: partBodySHA256}, nil
	case strings.HasPrefix(name, jsonPrefix):
		alts, err := parsePaths(name[len(jsonPrefix):])
		if err != nil {
			return part{}, err
		}
		return part{kind: partJSON, alts: alts}, nil
	case name == "webhook.json":
		return part{}, errors.New("empty JSON path in {webhook.json}")
	case name == "webhook" || strings.HasPrefix(name, webhookPrefix):
		return part{}, errors.New("unknown placeholder {" + name + "}")
	}
	return part{kind: partPlaceholder, text: name}, nil
}

// parsePaths splits "a.b|c.0" into alternatives of segments.
func parsePaths(s string) ([][]segment, error) {
	alts := make([][]segment, 0, strings.Count(s, "|")+1)
	for alt := range strings.SplitSeq(s, "|") {
		if alt == "" {
			return nil, errors.New("empty JSON path in {" + jsonPrefix + s + "}")
		}
		segs := make([]segment, 0, strings.Count(alt, ".")+1)
		for seg := range strings.SplitSeq(alt, ".") {
			if seg == "" {
				return nil, errors.New("empty path segment in {" + jsonPrefix + s + "}")
			}
			segs = append(segs, segment{key: seg, index: parseIndex(seg)})
		}
		alts = append(alts, segs)
	}
	return alts, nil
}

// String returns the template as written.
func (t *Template) String() string { return t.src }

// UsesJSON reports whether the template reads the decoded body, so the
// caller must [Decode] it before [Template.Render].
func (t *Template) UsesJSON() bool { return t.usesJSON }

// Placeholders lists the Caddy placeholders of the template (names without braces, in
// order), not the {webhook.*} ones.
func (t *Template) Placeholders() []string {
	var out []string
	for _, p := range t.parts {
		if p.kind == partPlaceholder {
			out = append(out, p.text)
		}
	}
	return out
}

// UsesBody reports whether the template hashes the raw body.
func (t *Template) UsesBody() bool { return t.usesBody }

// Render fills the template from doc (the [Decode]d body), the raw body and
// ph, which resolves Caddy placeholders (nil: none resolves). It reports
// false when a {webhook.json.*} or Caddy placeholder finds nothing or the
// result is empty; an empty key would make every event a duplicate of the others.
// Render allocates at most the result, and nothing when the template is one
// JSON or Caddy placeholder alone.
func (t *Template) Render(doc any, body []byte, ph func(name string) (string, bool)) (string, bool) {
	var sum bodyHash
	return t.render(doc, body, ph, &sum)
}

// bodyHash computes the hex SHA-256 of the body at most once.
type bodyHash struct {
	hex  [sha256.Size * 2]byte
	done bool
}

func (h *bodyHash) of(body []byte) []byte {
	if !h.done {
		sum := sha256.Sum256(body)
		hex.Encode(h.hex[:], sum[:])
		h.done = true
	}
	return h.hex[:]
}

// render is [Template.Render] with a hash shared between templates.
func (t *Template) render(doc any, body []byte, ph func(string) (string, bool), h *bodyHash) (string, bool) {
	var inline [inlineParts]string
	var vals []string
	if len(t.parts) <= len(inline) {
		vals = inline[:len(t.parts)]
	} else {
		vals = make([]string, len(t.parts))
	}
	// JSON lookups first: they are cheap and decide whether to go on.
	for k := range t.parts {
		p := &t.parts[k]
		if p.kind != partJSON {
			continue
		}
		v, ok := lookupAlternatives(doc, p.alts)
		if !ok {
			return "", false
		}
		vals[k] = t.escapeValue(v)
	}
	size := 0
	for k := range t.parts {
		p := &t.parts[k]
		switch p.kind {
		case partLiteral:
			vals[k] = p.text
		case partPlaceholder:
			if ph != nil {
				vals[k], _ = ph(p.text)
			}
			if vals[k] == "" {
				return "", false
			}
			vals[k] = t.escapeValue(vals[k])
		case partBodySHA256:
			h.of(body)
			size += len(h.hex)
		}
		size += len(vals[k])
	}
	if size == 0 {
		return "", false
	}
	if len(t.parts) == 1 && t.parts[0].kind != partBodySHA256 {
		return vals[0], true
	}
	var sb strings.Builder
	sb.Grow(size)
	for k := range t.parts {
		if t.parts[k].kind == partBodySHA256 {
			sb.Write(h.hex[:])
			continue
		}
		sb.WriteString(vals[k])
	}
	return sb.String(), true
}

// escapeValue writes every byte of v that is in t.escape as %XX. It
// allocates only when v has such a byte.
func (t *Template) escapeValue(v string) string {
	n := 0
	for i := 0; i < len(v); i++ {
		if t.escape.has(v[i]) {
			n++
		}
	}
	if n == 0 {
		return v
	}
	const hexDigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(v)+2*n)
	for i := 0; i < len(v); i++ {
		c := v[i]
		if t.escape.has(c) {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
			continue
		}
		b = append(b, c)
	}
	return string(b)
}

// lookupAlternatives returns the first path of alts that is found in doc.
func lookupAlternatives(doc any, alts [][]segment) (string, bool) {
	for _, segs := range alts {
		if v, ok := lookupSegments(doc, segs); ok {
			return v, true
		}
	}
	return "", false
}

// KeyTemplates is an ordered list of templates: the key is the first one
// that resolves.
type KeyTemplates []*Template

// ParseKeyTemplates parses each template of ss, in order. An empty list is
// an error, since it could never produce a key.
func ParseKeyTemplates(ss []string) (KeyTemplates, error) {
	if len(ss) == 0 {
		return nil, errors.New("no idempotency key template")
	}
	kt := make(KeyTemplates, 0, len(ss))
	for _, s := range ss {
		t, err := ParseTemplate(s)
		if err != nil {
			return nil, err
		}
		kt = append(kt, t)
	}
	return kt, nil
}

// Render returns the first template of kt that resolves (see
// [Template.Render]), in its [Bound] form of at most [MaxKeyBytes]; the body is
// hashed at most once across them.
func (kt KeyTemplates) Render(doc any, body []byte, ph func(name string) (string, bool)) (string, bool) {
	var sum bodyHash
	for _, t := range kt {
		if s, ok := t.render(doc, body, ph, &sum); ok {
			return Bound(s, MaxKeyBytes), true
		}
	}
	return "", false
}

// UsesJSON reports whether any template reads the decoded body.
func (kt KeyTemplates) UsesJSON() bool {
	for _, t := range kt {
		if t.usesJSON {
			return true
		}
	}
	return false
}

// UsesBody reports whether any template hashes the raw body.
func (kt KeyTemplates) UsesBody() bool {
	for _, t := range kt {
		if t.usesBody {
			return true
		}
	}
	return false
}
