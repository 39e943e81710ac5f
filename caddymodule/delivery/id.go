package delivery

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// crockford is the Crockford base32 alphabet: URL-safe, no padding, and it sorts like the numbers
// it encodes.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var idMu sync.Mutex
var idLastMS uint64
var idSeq uint16

// NewID returns a new event ID: 26 characters of Crockford base32 (ULID layout), a 48-bit
// millisecond timestamp followed by 80 random bits. IDs sort by creation time to the
// millisecond, and IDs made in the same millisecond by this process sort in creation order.
// They are URL-safe and valid NATS subject tokens.
func NewID() string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	_, _ = rand.Read(b[6:])
	idMu.Lock()
	if ms <= idLastMS {
		ms = idLastMS
		idSeq++
	} else {
		idLastMS = ms
		idSeq = binary.BigEndian.Uint16(b[6:8]) >> 1
	}
	seq := idSeq
	idMu.Unlock()
	b[0] = byte(ms >> 40)
	b[1] = byte(ms >> 32)
	b[2] = byte(ms >> 24)
	b[3] = byte(ms >> 16)
	b[4] = byte(ms >> 8)
	b[5] = byte(ms)
	binary.BigEndian.PutUint16(b[6:8], seq)
	return encodeULID(&b)
}

// encodeULID writes 128 bits as 26 base32 characters, most significant first (the first
// character carries the top 3 bits).
func encodeULID(b *[16]byte) string {
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
