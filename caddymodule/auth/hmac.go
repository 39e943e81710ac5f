package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	defaultTolerance = 5 * time.Minute
	// maxSignatures bounds how many candidate signatures of one header are checked.
	maxSignatures = 8
	// HMACFormatStripe is the HMACConfig.Format of Stripe-style signature headers.
	HMACFormatStripe = "stripe"
)

// HMACConfig configures the hmac method, a generic body signature carried in a header. The
// MAC is computed over the exact raw body bytes, before any parsing. Examples:
//
//	GitHub:  header X-Hub-Signature-256, prefix "sha256=" (encoding hex, algorithm sha256)
//	Shopify: header X-Shopify-Hmac-Sha256, encoding base64
//	Slack:   header X-Slack-Signature, prefix "v0=", timestamp_header X-Slack-Request-Timestamp,
//	         signed_payload "v0:{timestamp}:{body}"
//	Stripe:  header Stripe-Signature, format "stripe"
type HMACConfig struct {
	// Header is the request header that carries the signature. Required.
	Header string `json:"header,omitempty"`
	// Secrets are the accepted keys, used as raw bytes; a signature made with any of them
	// passes, so a new secret can be added before the sender switches and the old one removed
	// after. At least one is required.
	Secrets []string `json:"secrets,omitempty"`
	// Algorithm is the HMAC hash: "sha1", "sha256" or "sha512". Default: "sha256".
	Algorithm string `json:"algorithm,omitempty"`
	// Encoding is how the signature is written: "hex" (either case) or "base64" (standard
	// alphabet, padding optional). Default: "hex".
	Encoding string `json:"encoding,omitempty"`
	// Prefix precedes the encoded signature in the header value, e.g. "sha256=" for GitHub.
	// It must match exactly. Default: empty.
	Prefix string `json:"prefix,omitempty"`
	// TimestampHeader names a header that carries the send time in Unix seconds. When set,
	// SignedPayload must contain {timestamp} (an unsigned timestamp proves nothing) and the
	// time must be within Tolerance of the gateway's clock. Default: none.
	TimestampHeader string `json:"timestamp_header,omitempty"`
	// Tolerance is the largest accepted difference, either way, between the signed timestamp
	// and the gateway's clock. Only with TimestampHeader or format "stripe". JSON: a duration
	// string ("5m") or integer nanoseconds. Default: 5m.
	Tolerance Duration `json:"tolerance,omitempty"`
	// SignedPayload is a template of the signed bytes: "{body}" is the raw body, "{timestamp}"
	// the timestamp exactly as received, anything else is literal text; any other {...} is an
	// error. Default: "{body}", or "{timestamp}.{body}" with format "stripe".
	SignedPayload string `json:"signed_payload,omitempty"`
	// Format is "" for a header holding one signature (after Prefix), or "stripe" for a
	// Stripe-style header "t=<unix seconds>,v1=<hex>[,v1=<hex>...]": the timestamp comes from
	// t, every v1 entry is a candidate signature (Stripe sends several while a secret rolls),
	// other entries such as v0 are ignored. With "stripe", Prefix and TimestampHeader must be
	// empty and Encoding hex. Default: "".
	Format string `json:"format,omitempty"`
}

// macKey is one HMAC key with a pool of keyed hash states, so that verifying allocates nothing.
type macKey struct {
	pool sync.Pool
}

// macState is a keyed HMAC and the buffer its sum is written to.
type macState struct {
	h   hash.Hash
	sum [sha512.Size]byte
}

func newMACKey(newHash func() hash.Hash, secret []byte) *macKey {
	k := &macKey{}
	k.pool.New = func() any { return &macState{h: hmac.New(newHash, secret)} }
	return k
}

func (k *macKey) get() *macState {
	s := k.pool.Get().(*macState)
	s.h.Reset()
	return s
}

func (k *macKey) put(s *macState) { k.pool.Put(s) }

// segment is a piece of the signed payload template.
type segment struct {
	kind    byte // segLiteral, segBody or segTimestamp
	literal []byte
}

const (
	segLiteral byte = iota
	segBody
	segTimestamp
)

// parseTemplate splits a signed_payload template into segments.
func parseTemplate(t string) ([]segment, error) {
	var segs []segment
	for t != "" {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			segs = append(segs, segment{kind: segLiteral, literal: []byte(t)})
			break
		}
		if i > 0 {
			segs = append(segs, segment{kind: segLiteral, literal: []byte(t[:i])})
			t = t[i:]
		}
		switch {
		case strings.HasPrefix(t, "{body}"):
			segs = append(segs, segment{kind: segBody})
			t = t[len("{body}"):]
		case strings.HasPrefix(t, "{timestamp}"):
			segs = append(segs, segment{kind: segTimestamp})
			t = t[len("{timestamp}"):]
		default:
			return nil, errors.New("only {body} and {timestamp} may appear in braces")
		}
	}
	return segs, nil
}

func hasSegment(segs []segment, kind byte) bool {
	for _, s := range segs {
		if s.kind == kind {
			return true
		}
	}
	return false
}

// hmacVerifier checks a generic HMAC signature header.
type hmacVerifier struct {
	header    string
	tsHeader  string
	prefix    string
	stripe    bool
	base64    bool
	size      int
	tolerance time.Duration
	template  []segment
	keys      []*macKey
	strip     []string
	now       func() time.Time
}

func newHMAC(c HMACConfig, o Options) (*hmacVerifier, error) {
	header, err := canonicalHeader(MethodHMAC, "header", c.Header)
	if err != nil {
		return nil, err
	}
	v := &hmacVerifier{header: header, prefix: c.Prefix, now: o.clock(), strip: []string{header}}
	switch c.Format {
	case "":
	case HMACFormatStripe:
		v.stripe = true
		if c.Prefix != "" || c.TimestampHeader != "" {
			return nil, errors.New("auth hmac: format stripe takes neither prefix nor timestamp_header")
		}
		if c.Encoding != "" && c.Encoding != "hex" {
			return nil, errors.New("auth hmac: format stripe requires encoding hex")
		}
	default:
		return nil, fmt.Errorf("auth hmac: unknown format %q", c.Format)
	}
	var newHash func() hash.Hash
	switch c.Algorithm {
	case "sha256", "":
		newHash = sha256.New
	case "sha1":
		newHash = sha1.New
	case "sha512":
		newHash = sha512.New
	default:
		return nil, fmt.Errorf("auth hmac: unknown algorithm %q", c.Algorithm)
	}
	v.size = newHash().Size()
	switch c.Encoding {
	case "hex", "":
	case "base64":
		v.base64 = true
	default:
		return nil, fmt.Errorf("auth hmac: unknown encoding %q", c.Encoding)
	}
	if c.TimestampHeader != "" {
		if v.tsHeader, err = canonicalHeader(MethodHMAC, "timestamp_header", c.TimestampHeader); err != nil {
			return nil, err
		}
		v.strip = append(v.strip, v.tsHeader)
	}
	timestamped := v.stripe || v.tsHeader != ""
	tpl := c.SignedPayload
	if tpl == "" {
		tpl = "{body}"
		if v.stripe {
			tpl = "{timestamp}.{body}"
		}
	}
	if v.template, err = parseTemplate(tpl); err != nil {
		return nil, fmt.Errorf("auth hmac: invalid signed_payload: %v", err)
	}
	switch {
	case !hasSegment(v.template, segBody):
		return nil, errors.New("auth hmac: signed_payload must include {body}")
	case hasSegment(v.template, segTimestamp) && !timestamped:
		return nil, errors.New("auth hmac: signed_payload uses {timestamp} but no timestamp_header is set")
	case timestamped && !hasSegment(v.template, segTimestamp):
		return nil, errors.New("auth hmac: signed_payload must include {timestamp} when the timestamp is checked")
	}
	switch {
	case c.Tolerance < 0:
		return nil, errors.New("auth hmac: negative tolerance")
	case c.Tolerance > 0 && !timestamped:
		return nil, errors.New("auth hmac: tolerance requires timestamp_header or format stripe")
	case c.Tolerance > 0:
		v.tolerance = time.Duration(c.Tolerance)
	case timestamped:
		v.tolerance = defaultTolerance
	}
	if len(c.Secrets) == 0 {
		return nil, errors.New("auth hmac: missing secret")
	}
	for i, s := range c.Secrets {
		if s == "" {
			return nil, fmt.Errorf("auth hmac: secrets[%d] is empty", i)
		}
		v.keys = append(v.keys, newMACKey(newHash, []byte(s)))
	}
	return v, nil
}

func (v *hmacVerifier) Method() string         { return MethodHMAC }
func (v *hmacVerifier) Phase() Phase           { return PhaseBody }
func (v *hmacVerifier) Challenge() string      { return "" }
func (v *hmacVerifier) StripHeaders() []string { return v.strip }

func (v *hmacVerifier) Verify(_ context.Context, r *Request) error {
	val, err := headerValue(r.Header, v.header)
	if err != nil {
		return signatureHeaderFailure(err)
	}
	var (
		cands [maxSignatures]string
		n     int
		ts    string
	)
	if v.stripe {
		if ts, n, err = parseStripeHeader(val, &cands); err != nil {
			return err
		}
	} else {
		sig, ok := strings.CutPrefix(val, v.prefix)
		if !ok || sig == "" {
			return errMalformedSignature
		}
		cands[0], n = sig, 1
	}
	if v.tsHeader != "" {
		if ts, err = headerValue(r.Header, v.tsHeader); err != nil {
			if errors.Is(err, errMissingCredentials) {
				return errMissingTimestamp
			}
			return err
		}
	}
	if v.tolerance > 0 {
		if err := checkTimestamp(ts, requestTime(r, v.now), v.tolerance); err != nil {
			return err
		}
	}
	// Decode the candidates once; a candidate of the wrong length cannot match.
	var decoded [maxSignatures][sha512.Size]byte
	var usable [maxSignatures]bool
	for i := 0; i < n; i++ {
		usable[i] = v.decode(cands[i], &decoded[i])
	}
	for _, k := range v.keys {
		s := k.get()
		for _, seg := range v.template {
			switch seg.kind {
			case segLiteral:
				s.h.Write(seg.literal)
			case segBody:
				s.h.Write(r.Body)
			case segTimestamp:
				s.h.Write(readOnlyBytes(ts))
			}
		}
		sum := s.h.Sum(s.sum[:0])
		ok := false
		for i := 0; i < n; i++ {
			if usable[i] && hmac.Equal(sum, decoded[i][:v.size]) {
				ok = true
			}
		}
		k.put(s)
		if ok {
			return nil
		}
	}
	return errSignatureMismatch
}

// decode decodes one encoded signature into dst and reports whether it has the MAC's length.
func (v *hmacVerifier) decode(sig string, dst *[sha512.Size]byte) bool {
	src := readOnlyBytes(sig)
	if !v.base64 {
		if len(src) != 2*v.size {
			return false
		}
		_, err := hex.Decode(dst[:], src)
		return err == nil
	}
	src = src[:len(strings.TrimRight(sig, "="))]
	if base64.RawStdEncoding.DecodedLen(len(src)) != v.size {
		return false
	}
	n, err := base64.RawStdEncoding.Decode(dst[:], src)
	return err == nil && n == v.size
}

// parseStripeHeader parses "t=<ts>,v1=<sig>,..." into the timestamp and up to
// maxSignatures v1 candidates.
func parseStripeHeader(val string, cands *[maxSignatures]string) (ts string, n int, err error) {
	for val != "" {
		var item string
		item, val, _ = strings.Cut(val, ",")
		k, x, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return "", 0, errMalformedSignature
		}
		switch k {
		case "t":
			if ts != "" {
				return "", 0, errMalformedSignature
			}
			ts = x
		case "v1":
			if n < maxSignatures && x != "" {
				cands[n] = x
				n++
			}
		}
	}
	switch {
	case ts == "":
		return "", 0, errMissingTimestamp
	case n == 0:
		return "", 0, errMissingSignature
	}
	return ts, n, nil
}

// checkTimestamp checks a Unix-seconds timestamp against now, in both directions.
func checkTimestamp(ts string, now time.Time, tolerance time.Duration) error {
	if ts == "" {
		return errMissingTimestamp
	}
	if len(ts) > 12 || ts[0] < '0' || ts[0] > '9' {
		return errMalformedTimestamp
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errMalformedTimestamp
	}
	d := now.Sub(time.Unix(sec, 0))
	switch {
	case d > tolerance:
		return errTimestampTooOld
	case d < -tolerance:
		return errTimestampInFuture
	}
	return nil
}

// signatureHeaderFailure renames a missing header to a missing signature.
func signatureHeaderFailure(err error) error {
	if errors.Is(err, errMissingCredentials) {
		return errMissingSignature
	}
	return err
}

var _ Verifier = (*hmacVerifier)(nil)
