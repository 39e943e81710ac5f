package payload

import (
	"encoding/binary"
	"math"
	"unicode/utf8"
)

// DefaultMaxDepth is the nesting limit used when [Limits.MaxDepth] is zero.
const DefaultMaxDepth = 64

// inlineDepth is how many open containers [Check] tracks without allocating.
const inlineDepth = 64

// Limits bounds the shape of a body accepted by [Check]. The zero value
// means: depth at most [DefaultMaxDepth], no other bound.
type Limits struct {
	// MaxDepth is the deepest allowed nesting of arrays and objects; a bare
	// scalar has depth 0 and "[]" has depth 1. Zero or less means
	// [DefaultMaxDepth].
	MaxDepth int
	// MaxStringBytes bounds the length of every string, object keys included,
	// counted in raw bytes between the quotes (escapes not yet decoded).
	// Zero or less means no limit.
	MaxStringBytes int
	// MaxMembers bounds the number of keys of each object and of items of
	// each array. Zero or less means no limit.
	MaxMembers int
	// MaxNumberBytes bounds every number: its length in bytes plus the
	// absolute value of its exponent, about how many digits it has when
	// written out. It guards the schema validator, which parses numbers
	// exactly with math/big (a "type": "integer" check on 1e999999 costs
	// tens of milliseconds). 400 admits every float64. Zero or less means
	// no limit.
	MaxNumberBytes int
}

// Check verifies that body is valid UTF-8 and exactly one JSON value (RFC
// 8259; surrounding whitespace allowed) within lim, and that no object has
// two members whose names are equal after unescaping, or under simple Unicode
// case folding ([DuplicateName]; see names.go for why). It returns nil or an
// [*Error]. The syntax pass does not allocate; the names pass reuses pooled
// scratch space, and allocates only for objects of more than 16 members.
//
// Escaped lone surrogates such as "\ud800" are accepted, as RFC 8259's
// grammar and encoding/json accept them; [Decode] turns them into U+FFFD
// exactly like encoding/json. Raw bytes, however, must be valid UTF-8
// everywhere (encoding/json would silently replace them inside strings).
// A byte order mark is a syntax error, as in encoding/json.
func Check(body []byte, lim Limits) error {
	maxDepth := lim.MaxDepth
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	maxMembers := lim.MaxMembers
	if maxMembers <= 0 {
		maxMembers = math.MaxInt >> 1
	}
	maxString, maxNumber := lim.MaxStringBytes, lim.MaxNumberBytes

	// Each open container is one stack entry: member count << 1 | isObject.
	var inline [inlineDepth]int
	stack := inline[:0]
	n := len(body)
	i := skipSpace(body, 0)
	if i == n {
		return &Error{Kind: Empty, Offset: n}
	}
	var (
		top       int
		err       *Error
		hasObject bool // a non-empty object: its names need the uniqueness pass
	)

value:
	if i >= n {
		return &Error{Kind: Syntax, Offset: n}
	}
	switch c := body[i]; c {
	case '"':
		i, _, err = scanString(body, i+1, maxString)
	case '{':
		if len(stack) >= maxDepth {
			return &Error{Kind: TooDeep, Offset: i}
		}
		i = skipSpace(body, i+1)
		if i < n && body[i] == '}' {
			i++
			goto after
		}
		stack = append(stack, 1<<1|1)
		hasObject = true
		goto key
	case '[':
		if len(stack) >= maxDepth {
			return &Error{Kind: TooDeep, Offset: i}
		}
		i = skipSpace(body, i+1)
		if i < n && body[i] == ']' {
			i++
			goto after
		}
		stack = append(stack, 1<<1)
		goto value
	case 't':
		i, err = scanLiteral(body, i, "true")
	case 'f':
		i, err = scanLiteral(body, i, "false")
	case 'n':
		i, err = scanLiteral(body, i, "null")
	default:
		if c != '-' && (c < '0' || c > '9') {
			return badByte(body, i)
		}
		start := i
		i, err = scanNumber(body, i)
		if err == nil && maxNumber > 0 && numberSize(body[start:i]) > maxNumber {
			return &Error{Kind: TooLarge, Offset: start}
		}
	}
	if err != nil {
		return err
	}

after:
	i = skipSpace(body, i)
	if len(stack) == 0 {
		if i != n {
			return badByte(body, i)
		}
		if hasObject {
			if e := checkNames(body); e != nil {
				return e
			}
		}
		return nil
	}
	if i >= n {
		return &Error{Kind: Syntax, Offset: n}
	}
	top = stack[len(stack)-1]
	switch body[i] {
	case ',':
		i = skipSpace(body, i+1)
		top += 1 << 1
		if top>>1 > maxMembers {
			return &Error{Kind: TooLarge, Offset: i}
		}
		stack[len(stack)-1] = top
		if top&1 != 0 {
			goto key
		}
		goto value
	case '}':
		if top&1 == 0 {
			return badByte(body, i)
		}
	case ']':
		if top&1 != 0 {
			return badByte(body, i)
		}
	default:
		return badByte(body, i)
	}
	stack = stack[:len(stack)-1]
	i++
	goto after

key:
	if i >= n {
		return &Error{Kind: Syntax, Offset: n}
	}
	if body[i] != '"' {
		return badByte(body, i)
	}
	if i, _, err = scanString(body, i+1, maxString); err != nil {
		return err
	}
	i = skipSpace(body, i)
	if i >= n {
		return &Error{Kind: Syntax, Offset: n}
	}
	if body[i] != ':' {
		return badByte(body, i)
	}
	i = skipSpace(body, i+1)
	goto value
}

// skipSpace returns the index of the first non-whitespace byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// badByte reports an unexpected byte at i: NotUTF8 when it starts an invalid
// UTF-8 sequence, Syntax otherwise.
func badByte(b []byte, i int) *Error {
	if b[i] >= utf8.RuneSelf {
		if r, size := utf8.DecodeRune(b[i:]); r == utf8.RuneError && size == 1 {
			return &Error{Kind: NotUTF8, Offset: i}
		}
	}
	return &Error{Kind: Syntax, Offset: i}
}

// strPlain marks the bytes a string may contain without a closer look: ASCII
// other than control characters, the quote and the backslash.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// hexDigit marks the bytes allowed after "\u".
var hexDigit = func() (t [256]bool) {
	for _, c := range "0123456789abcdefABCDEF" {
		t[c] = true
	}
	return t
}()

// scanString checks the string whose opening quote is at i-1. It returns the
// index after the closing quote and whether the string contains escapes.
// maxLen > 0 bounds the raw length between the quotes.
func scanString(b []byte, i, maxLen int) (int, bool, *Error) {
	start := i
	esc := false
	for {
		i = skipPlain(b, i)
		if i >= len(b) {
			return i, esc, &Error{Kind: Syntax, Offset: len(b)}
		}
		switch c := b[i]; {
		case c == '"':
			if maxLen > 0 && i-start > maxLen {
				return i, esc, &Error{Kind: TooLarge, Offset: start - 1}
			}
			return i + 1, esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return i, esc, &Error{Kind: Syntax, Offset: len(b)}
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= len(b) {
						return k, esc, &Error{Kind: Syntax, Offset: len(b)}
					}
					if !hexDigit[b[k]] {
						return k, esc, badByte(b, k)
					}
				}
				i += 6
			default:
				return i + 1, esc, badByte(b, i+1)
			}
		case c < 0x20:
			return i, esc, &Error{Kind: Syntax, Offset: i}
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return i, esc, &Error{Kind: NotUTF8, Offset: i}
			}
			i += size
		}
	}
}

// Constants of the eight-bytes-at-a-time string scan.
const (
	lsb    = 0x0101010101010101
	msb    = 0x8080808080808080
	quote  = '"' * lsb
	bslash = '\\' * lsb
	space  = ' ' * lsb
)

// skipPlain returns the index of the first byte at or after i that strPlain
// does not mark, testing eight bytes per step while it can.
func skipPlain(b []byte, i int) int {
	for i+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:])
		q := x ^ quote
		s := x ^ bslash
		// A byte of the mask has its top bit set when the byte is a quote,
		// a backslash, a control character or non-ASCII.
		mask := ((q - lsb) &^ q) | ((s - lsb) &^ s) | (x - space) | x
		if mask&msb != 0 {
			break
		}
		i += 8
	}
	for i < len(b) && strPlain[b[i]] {
		i++
	}
	return i
}

// scanNumber checks the number starting at i and returns the index after it.
func scanNumber(b []byte, i int) (int, *Error) {
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return i, &Error{Kind: Syntax, Offset: i}
	}
	switch c := b[i]; {
	case c == '0':
		i++
	case c >= '1' && c <= '9':
		i = skipDigits(b, i+1)
	default:
		return i, badByte(b, i)
	}
	if i < len(b) && b[i] == '.' {
		i++
		j := skipDigits(b, i)
		if j == i {
			return i, numberEnd(b, i)
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return i, numberEnd(b, i)
		}
		i = j
	}
	return i, nil
}

// numberSize returns the length of the number literal num plus the absolute
// value of its exponent, saturated well below overflow.
func numberSize(num []byte) int {
	size := len(num)
	for k, c := range num {
		if c != 'e' && c != 'E' {
			continue
		}
		exp := 0
		for _, d := range num[k+1:] {
			if d >= '0' && d <= '9' && exp < 1<<40 {
				exp = exp*10 + int(d-'0')
			}
		}
		return size + exp
	}
	return size
}

// numberEnd reports a missing digit at i.
func numberEnd(b []byte, i int) *Error {
	if i >= len(b) {
		return &Error{Kind: Syntax, Offset: i}
	}
	return badByte(b, i)
}

// skipDigits returns the index of the first non-digit at or after i.
func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// scanLiteral checks that lit (true, false or null) starts at i and returns
// the index after it.
func scanLiteral(b []byte, i int, lit string) (int, *Error) {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(b) {
			return i + k, &Error{Kind: Syntax, Offset: len(b)}
		}
		if b[i+k] != lit[k] {
			return i + k, badByte(b, i+k)
		}
	}
	return i + len(lit), nil
}
