package payload

import (
	"encoding/json"
	"strings"
)

// Lookup finds the scalar at path in a tree built by [Decode]. The path is a
// dot-separated list of object keys and, for arrays, decimal indices
// ("payload.documents.0.type"). Strings are returned as they are, numbers as
// their JSON text and booleans as "true" or "false". A null, an object, an
// array, an empty string, an absent key, an index out of range and an empty
// path segment are all reported as not found. Keys that contain a dot cannot
// be addressed.
func Lookup(doc any, path string) (string, bool) {
	if path == "" {
		return "", false
	}
	cur := doc
	for {
		seg, rest, more := strings.Cut(path, ".")
		next, ok := step(cur, seg, parseIndex(seg))
		if !ok {
			return "", false
		}
		cur = next
		if !more {
			return scalarText(cur)
		}
		path = rest
	}
}

// segment is one pre-split step of a path: a key, and the same text as an
// array index or -1 when it is not one.
type segment struct {
	key   string
	index int
}

// lookupSegments is [Lookup] over a path split in advance.
func lookupSegments(doc any, segs []segment) (string, bool) {
	cur := doc
	for _, s := range segs {
		next, ok := step(cur, s.key, s.index)
		if !ok {
			return "", false
		}
		cur = next
	}
	return scalarText(cur)
}

// step descends one level from cur by key (objects) or index (arrays).
func step(cur any, key string, index int) (any, bool) {
	if key == "" {
		return nil, false
	}
	switch v := cur.(type) {
	case map[string]any:
		next, ok := v[key]
		return next, ok
	case []any:
		if index < 0 || index >= len(v) {
			return nil, false
		}
		return v[index], true
	}
	return nil, false
}

// scalarText renders a leaf of the tree, or reports it as not found.
func scalarText(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, s != ""
	case json.Number:
		return string(s), s != ""
	case bool:
		if s {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

// parseIndex reads a canonical array index ("0", "17"; no sign, no leading
// zero, at most nine digits) or returns -1.
func parseIndex(s string) int {
	if s == "" || len(s) > 9 || (s[0] == '0' && len(s) > 1) {
		return -1
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}
