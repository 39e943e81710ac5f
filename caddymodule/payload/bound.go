package payload

import (
	"crypto/sha256"
	"encoding/hex"
	"unicode/utf8"
)

// Bounds on the values a sender can make as long as it likes. Keys and event
// names end up in headers (to the application and in the store, whose headers
// may not exceed 64 KiB), in every log line and in the admin API.
const (
	// MaxKeyBytes bounds an idempotency key.
	MaxKeyBytes = 512
	// MaxEventBytes bounds an event name.
	MaxEventBytes = 256
)

// boundSuffix introduces the hash that stands for what Bound cut off.
const boundSuffix = "~sha256:"

// Bound returns s when it has at most max bytes (max must exceed
// len(boundSuffix) + 64); otherwise a prefix of s, cut at a UTF-8 boundary,
// then "~sha256:" and the hex SHA-256 of the whole of s, max bytes at most. Two
// different long values therefore keep two different bound forms, and the
// prefix keeps the form readable in logs.
func Bound(s string, max int) string {
	if len(s) <= max {
		return s
	}
	keep := max - len(boundSuffix) - hex.EncodedLen(sha256.Size)
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	sum := sha256.Sum256([]byte(s))
	b := make([]byte, 0, max)
	b = append(b, s[:keep]...)
	b = append(b, boundSuffix...)
	b = hex.AppendEncode(b, sum[:])
	return string(b)
}
