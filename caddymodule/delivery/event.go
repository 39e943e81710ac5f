package delivery

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/net/http/httpguts"
)

// Event is one accepted webhook, as the adapter hands it over and as the worker forwards it.
type Event struct {
	// ID is the gateway's event ID (X-Webhook-Id, webhook-id). Empty means NewID() at Accept.
	ID string
	// Vendor is the vendor preset name (X-Webhook-Vendor).
	Vendor string
	// Type is the vendor's event type (X-Webhook-Event).
	Type string
	// Key is the idempotency key in clear (X-Webhook-Idempotency-Key).
	Key string
	// ReceivedAt is when the gateway received the request (X-Webhook-Received-At). Zero means now.
	ReceivedAt time.Time
	// ContentType is the Content-Type of the original request.
	ContentType string
	// Header holds extra vendor headers to forward; the adapter has stripped credentials. Fields
	// with names or values that are not valid in HTTP/1.1 are dropped at Accept.
	Header http.Header
	// Body is the original request body, forwarded byte for byte.
	Body []byte
	// Replay marks a delivery queued again by a replay (X-Webhook-Replay: true). It is not
	// stored: the worker sets it from the replay subject.
	Replay bool
}

// Headers of the stored messages. They use canonical MIME form so that they survive any header
// normalisation on the way through NATS.
const (
	hdrID          = "Whgw-Id"
	hdrVendor      = "Whgw-Vendor"
	hdrType        = "Whgw-Type"
	hdrKey         = "Whgw-Key"
	hdrReceived    = "Whgw-Received-At"
	hdrContentType = "Whgw-Content-Type"
	hdrFwdPfx      = "Whgw-H-"
	hdrMark        = "Whgw-Mark"        // marker: the key's event was delivered or dead-lettered
	hdrAcceptedAt  = "Whgw-Accepted-At" // marker: when the key was first accepted (Unix ns)
	hdrKeyHash     = "Whgw-Key-Hash"
	hdrDeadAt      = "Whgw-Dead-At"
	hdrAttempts    = "Whgw-Attempts"
	hdrLastStatus  = "Whgw-Last-Status"
	hdrLastError   = "Whgw-Last-Error"
	hdrReason      = "Whgw-Reason"
	hdrSource      = "Whgw-Source" // dead letter: which stored message it came from

	hdrExpectSubjSeq = "Nats-Expected-Last-Subject-Sequence"
	hdrTTL           = "Nats-TTL"
)

var errUndecodable = errors.New("stored message is not an event")

// Bounds on the vendor headers an event carries to the application. The store refuses a message
// whose headers exceed 64 KiB, and a sender controls these, so they are capped well below that:
// an event is never refused (or answered 503 forever) because of its headers. Fields past the
// budget, in name order, are not forwarded.
const (
	maxForwardedHeaderBytes = 16 << 10
	maxForwardedValueBytes  = 4 << 10
)

// encodeEvent returns the NATS headers that carry ev beside its body. extra reserves room for
// headers the caller adds.
func encodeEvent(ev *Event, extra int) nats.Header {
	h := make(nats.Header, 6+len(ev.Header)+extra)
	h[hdrID] = []string{ev.ID}
	setIf(h, hdrVendor, ev.Vendor)
	setIf(h, hdrType, ev.Type)
	setIf(h, hdrKey, ev.Key)
	h[hdrReceived] = []string{ev.ReceivedAt.UTC().Format(time.RFC3339Nano)}
	setIf(h, hdrContentType, ev.ContentType)
	budget := maxForwardedHeaderBytes
	for _, k := range slices.Sorted(maps.Keys(ev.Header)) {
		if !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		name := hdrFwdPfx + http.CanonicalHeaderKey(k)
		var kept []string
		for _, v := range ev.Header[k] {
			size := len(name) + len(v) + 4 // "name: value\r\n"
			if len(v) > maxForwardedValueBytes || size > budget || !httpguts.ValidHeaderFieldValue(v) {
				continue
			}
			budget -= size
			kept = append(kept, v)
		}
		if len(kept) > 0 {
			h[name] = kept
		}
	}
	return h
}

func setIf(h nats.Header, k, v string) {
	if v != "" {
		h[k] = []string{HeaderSafe(v)}
	}
}

// decodeEvent rebuilds an Event from the headers and body of a stored message.
func decodeEvent(h nats.Header, body []byte) (*Event, error) {
	id := first(h, hdrID)
	if id == "" {
		return nil, errUndecodable
	}
	ev := &Event{
		ID:          id,
		Vendor:      first(h, hdrVendor),
		Type:        first(h, hdrType),
		Key:         first(h, hdrKey),
		ContentType: first(h, hdrContentType),
		Body:        body,
	}
	if t, err := time.Parse(time.RFC3339Nano, first(h, hdrReceived)); err == nil {
		ev.ReceivedAt = t
	}
	for k, vs := range h {
		if name, ok := cutPrefixFold(k, hdrFwdPfx); ok && name != "" {
			if ev.Header == nil {
				ev.Header = make(http.Header)
			}
			ev.Header[http.CanonicalHeaderKey(name)] = vs
		}
	}
	return ev, nil
}

// first returns the first value of k, looking the key up case-insensitively if needed.
func first(h nats.Header, k string) string {
	if vs := h[k]; len(vs) > 0 {
		return vs[0]
	}
	for hk, vs := range h {
		if len(vs) > 0 && strings.EqualFold(hk, k) {
			return vs[0]
		}
	}
	return ""
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}

func atoiHeader(h nats.Header, k string) int {
	n, _ := strconv.Atoi(first(h, k))
	return n
}
