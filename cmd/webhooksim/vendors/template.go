package vendors

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// slotKind is what a template slot is filled with.
type slotKind uint8

// The slot kinds. The id kinds (uuid, oid, aid, num) are unique per rendered body and
// per slot; the time kinds (now, ms) carry the render time.
const (
	slotLiteral slotKind = iota
	slotUUID             // {{uuid}}: a version 4 style UUID
	slotOID              // {{oid}}: 24 lower-case hex digits, like a MongoDB ObjectId
	slotAID              // {{aid}}: 18 URL-safe base64 characters, like an Attestr id
	slotNum              // {{num}}: a decimal number
	slotNow              // {{now}}: RFC 3339 UTC time with milliseconds
	slotMillis           // {{ms}}: Unix time in milliseconds
)

// slotNames maps the name written between {{ and }} to its kind.
var slotNames = map[string]slotKind{
	"uuid": slotUUID,
	"oid":  slotOID,
	"aid":  slotAID,
	"num":  slotNum,
	"now":  slotNow,
	"ms":   slotMillis,
}

// maxIDSlots bounds the id slots of one template: the slot index is packed into the low
// bits of each id (see IDs).
const maxIDSlots = 1 << idSlotBits

// segment is one piece of a compiled template: literal text, or a slot.
type segment struct {
	kind    slotKind
	literal string
	index   uint64 // the id slot's index within the template
}

// Template is a compiled event body: literal JSON with {{slot}} markers. It is
// immutable and safe for concurrent use.
type Template struct {
	segments []segment
	size     int // bytes of the literals plus a generous size per slot
}

// CompileTemplate compiles src. A marker is {{name}} with a name of slotNames; any other
// text, including single braces, is literal.
func CompileTemplate(src string) (*Template, error) {
	t := &Template{}
	var idSlots uint64
	rest := src
	for rest != "" {
		i := strings.Index(rest, "{{")
		if i < 0 {
			t.addLiteral(rest)
			break
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			return nil, fmt.Errorf("template: unterminated slot at %q", clip(rest[i:]))
		}
		name := rest[i+2 : i+j]
		kind, ok := slotNames[name]
		if !ok {
			return nil, fmt.Errorf("template: unknown slot {{%s}}", name)
		}
		t.addLiteral(rest[:i])
		seg := segment{kind: kind}
		if kind != slotNow && kind != slotMillis {
			if idSlots == maxIDSlots {
				return nil, fmt.Errorf("template: more than %d id slots", maxIDSlots)
			}
			seg.index = idSlots
			idSlots++
		}
		t.segments = append(t.segments, seg)
		t.size += 40
		rest = rest[i+j+2:]
	}
	return t, nil
}

// MustCompileTemplate is CompileTemplate for the built-in catalog: it panics on an error,
// which a unit test would catch first.
func MustCompileTemplate(src string) *Template {
	t, err := CompileTemplate(src)
	if err != nil {
		panic(err)
	}
	return t
}

func (t *Template) addLiteral(s string) {
	if s == "" {
		return
	}
	t.segments = append(t.segments, segment{kind: slotLiteral, literal: s})
	t.size += len(s)
}

// SizeHint is an upper bound of a rendered body's length.
func (t *Template) SizeHint() int { return t.size }

// AppendTo renders the template for ids at time now and appends it to dst.
func (t *Template) AppendTo(dst []byte, ids IDs, now time.Time) []byte {
	for i := range t.segments {
		s := &t.segments[i]
		switch s.kind {
		case slotLiteral:
			dst = append(dst, s.literal...)
		case slotUUID:
			dst = ids.appendUUID(dst, s.index)
		case slotOID:
			dst = ids.appendOID(dst, s.index)
		case slotAID:
			dst = ids.appendAID(dst, s.index)
		case slotNum:
			dst = strconv.AppendUint(dst, ids.unique(s.index), 10)
		case slotNow:
			dst = now.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
		case slotMillis:
			dst = strconv.AppendInt(dst, now.UnixMilli(), 10)
		}
	}
	return dst
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}
