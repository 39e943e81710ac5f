// Package keyindex is the exact in-process index of the idempotency keys in a route's
// dedup window: for every key hash, a 96-bit fingerprint and the second it was
// accepted, in an open-addressing table of 16-byte slots allocated outside the Go
// heap. It answers "is this key in the window?" without a store round trip, and keeps
// the last stream sequence seen per bucket subject, so that an insert can be published
// as a compare-and-set against the store: a stale index then fails the publish
// instead of answering a false "new".
//
// The index is a cache of the event stream, never the record: it is rebuilt from the
// stream (or from a checksummed snapshot plus the stream after it) at start, and kept
// current by an ordered consumer. It imports nothing from Caddy.
package keyindex

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// Key is a 128-bit idempotency key hash: the first 16 bytes of the key's SHA-256, the
// value dedup.Hash encodes.
type Key [16]byte

// ParseKey decodes the 22-character unpadded base64url form that dedup.Hash returns
// and that events carry in a header.
func ParseKey(s string) (Key, error) {
	var k Key
	if len(s) != base64.RawURLEncoding.EncodedLen(len(k)) {
		return k, fmt.Errorf("key hash has %d characters, want %d", len(s), base64.RawURLEncoding.EncodedLen(len(k)))
	}
	if _, err := base64.RawURLEncoding.Strict().Decode(k[:], []byte(s)); err != nil {
		return Key{}, fmt.Errorf("key hash is not base64url: %v", err)
	}
	return k, nil
}

// String is the base64url form ParseKey reads.
func (k Key) String() string { return base64.RawURLEncoding.EncodeToString(k[:]) }

// Bucket is the key's bucket among 1<<bits: the top bits of the hash, so that the
// bucket subject of an event can be found from its key alone.
func (k Key) Bucket(bits int) int {
	return int(binary.BigEndian.Uint32(k[:4]) >> (32 - bits))
}

// words splits the key into what a slot stores: a, bytes 0–7 (it also picks the home
// slot), and fp, bytes 8–11 (it also picks the shard). Bytes 12–15 are not kept: two
// keys are the same to the index when their first 96 bits agree, a chance of about
// n²/2⁹⁷ among n keys in the window (10⁻¹⁶ at five million).
func (k Key) words() (a uint64, fp uint32) {
	return binary.LittleEndian.Uint64(k[:8]), binary.LittleEndian.Uint32(k[8:12])
}
