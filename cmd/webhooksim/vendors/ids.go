package vendors

import (
	"encoding/base64"
	"encoding/binary"
	"strconv"
)

// idSlotBits is the number of low bits of an id that carry the slot index.
const idSlotBits = 4

// IDs identifies one rendered body: Nonce is random per generator (so two runs do not
// collide), Seq counts the bodies of the generator. Every id slot of a template renders
// a value derived from both and from the slot's index, so ids are unique per body and
// per slot.
type IDs struct {
	Nonce uint64
	Seq   uint64
}

// uniqueBits is the width of the unique part of an id: Seq may count up to 2^54 bodies.
const uniqueBits = 58

// unique is the per-slot part of an id: Seq with the slot index in its low bits.
func (ids IDs) unique(slot uint64) uint64 {
	return ids.Seq<<idSlotBits | slot
}

// scrambled is unique(slot) multiplied by an odd constant modulo 2^58: a bijection, so
// ids stay unique, that makes consecutive ids look as random as real ones do.
func (ids IDs) scrambled(slot uint64) uint64 {
	return ids.unique(slot) * 0x9e3779b97f4a7c15 & (1<<uniqueBits - 1)
}

const hexDigits = "0123456789abcdef"

// appendHex appends the n low nibbles of v, most significant first.
func appendHex(dst []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, hexDigits[(v>>(4*uint(i)))&0xf])
	}
	return dst
}

// appendUUID appends a UUID in the version 4 layout: the nonce fills the first half
// (with the version nibble), the 58-bit unique part the second (with the variant bits).
func (ids IDs) appendUUID(dst []byte, slot uint64) []byte {
	hi, lo := ids.Nonce, ids.scrambled(slot)
	hi = hi&^(0xf<<12) | 0x4<<12
	lo |= 0x8 << 60
	dst = appendHex(dst, hi>>32, 8)
	dst = append(dst, '-')
	dst = appendHex(dst, hi>>16, 4)
	dst = append(dst, '-')
	dst = appendHex(dst, hi, 4)
	dst = append(dst, '-')
	dst = appendHex(dst, lo>>48, 4)
	dst = append(dst, '-')
	return appendHex(dst, lo, 12)
}

// appendOID appends 24 hex digits: 32 bits of the nonce, then the unique part.
func (ids IDs) appendOID(dst []byte, slot uint64) []byte {
	dst = appendHex(dst, ids.Nonce>>32, 8)
	return appendHex(dst, ids.scrambled(slot), 16)
}

// appendAID appends an 18-character Attestr-style id: "AQ" and the URL-safe base64 of
// 32 bits of the nonce and the unique part.
func (ids IDs) appendAID(dst []byte, slot uint64) []byte {
	var raw [12]byte
	binary.BigEndian.PutUint32(raw[:4], uint32(ids.Nonce))
	binary.BigEndian.PutUint64(raw[4:], ids.scrambled(slot))
	dst = append(dst, 'A', 'Q')
	return base64.RawURLEncoding.AppendEncode(dst, raw[:])
}

// MessageID is the Standard Webhooks webhook-id of the body with these ids.
func (ids IDs) MessageID() string {
	b := make([]byte, 0, 28)
	b = append(b, "msg_"...)
	b = appendHex(b, ids.Nonce>>32, 8)
	b = appendHex(b, ids.Seq, 16)
	return string(b)
}

// String is a short printable form, for logs.
func (ids IDs) String() string {
	return strconv.FormatUint(ids.Nonce, 16) + "/" + strconv.FormatUint(ids.Seq, 10)
}
