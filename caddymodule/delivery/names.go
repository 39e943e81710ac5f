package delivery

import (
	"errors"
	"fmt"
	"strconv"
)

// Names and subjects. A route name is one subject token and part of two stream names, so
// ValidRouteName keeps it to characters that are safe in both and on case-insensitive file
// systems.
const (
	maxRouteName   = 64
	maxToken       = 128 // key hashes and event IDs given to Accept
	maxDeadToken   = 256 // dead-letter IDs, which may carry a suffix (see publishDeadLetter)
	eventStreamPfx = "WHGW-EV-"
	deadStreamPfx  = "WHGW-DL-"
	outcomeStrPfx  = "WHGW-OC-"
	subjectPfx     = "whgw."
	consumerName   = "deliver"
)

// ErrInvalidName is wrapped by the errors of ValidRouteName and of the methods that take a key
// hash or an event ID that cannot be a subject token.
var ErrInvalidName = errors.New("invalid name")

// ValidRouteName reports whether name can identify a route: 1 to 64 characters among lower-case
// ASCII letters, digits, '-' and '_'. The name becomes part of NATS stream names and subjects, so
// renaming a route starts a new queue and a new dedup window.
func ValidRouteName(name string) error {
	if name == "" || len(name) > maxRouteName {
		return fmt.Errorf("%w: route name must have 1 to %d characters", ErrInvalidName, maxRouteName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' {
			continue
		}
		return fmt.Errorf("%w: route name %q may contain only a-z, 0-9, '-' and '_'", ErrInvalidName, name)
	}
	return nil
}

// validToken reports whether s can be the last token of a subject: a key hash or an event ID.
// It accepts hex, base32 and unpadded or padded base64url text up to 128 characters.
func validToken(what, s string) error {
	return validTokenN(what, s, maxToken)
}

func validTokenN(what, s string, maxLen int) error {
	if s == "" || len(s) > maxLen {
		return fmt.Errorf("%w: %s must have 1 to %d characters", ErrInvalidName, what, maxLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '=' {
			continue
		}
		return fmt.Errorf("%w: %s may contain only letters, digits, '-', '_' and '='", ErrInvalidName, what)
	}
	return nil
}

// names holds the stream names and subject prefixes of one route.
type names struct {
	route    string
	evStream string
	dlStream string
	evPfx    string // whgw.<r>.ev. then the bucket: 000 to fff
	rpPfx    string // whgw.<r>.rp.
	dlPfx    string // whgw.<r>.dl.
	ocStream string
	ocPfx    string // whgw.<r>.oc. then the event's block: its sequence >> outcomeBlockBits, in hex
}

func routeNames(route string) names {
	base := subjectPfx + route + "."
	return names{
		route:    route,
		evStream: eventStreamPfx + route,
		dlStream: deadStreamPfx + route,
		evPfx:    base + "ev.",
		rpPfx:    base + "rp.",
		dlPfx:    base + "dl.",
		ocStream: outcomeStrPfx + route,
		ocPfx:    base + "oc.",
	}
}

// bucketSubject is the subject of one of the event stream's bucket subjects: every event and key
// record of a key lives on its key's bucket (keyindex.Key.Bucket), three hex digits.
func (n *names) bucketSubject(bucket int) string {
	const hex = "0123456789abcdef"
	return n.evPfx + string([]byte{hex[bucket>>8&15], hex[bucket>>4&15], hex[bucket&15]})
}

// outcomeBlockBits groups the outcome records of 1024 consecutive events on one subject of the
// outcome stream. A subject per event would cost the store an index entry per event kept as
// history (about 100 bytes of memory each); a block costs one per 1024 events, and finding an
// event's records reads its block only.
const outcomeBlockBits = 10

// outcomeSubject is the subject of the outcome records of the event at stream sequence seq.
func (n *names) outcomeSubject(seq uint64) string {
	return n.ocPfx + strconv.FormatUint(seq>>outcomeBlockBits, 16)
}
