// Package auth verifies the credentials a webhook sender presents. It does not import Caddy:
// the Caddy adapter resolves placeholders in the config, builds the verifiers once at
// provision time, and calls them on every request.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"
	"unsafe"
)

// Phase says when a verifier can decide: header methods decide before the body is read,
// body methods (signatures) need the exact raw bytes.
type Phase int

const (
	// PhaseHeader methods look only at headers (basic, api_key, bearer, jwt, oauth2).
	PhaseHeader Phase = iota
	// PhaseBody methods sign the raw body (hmac, standard_webhooks).
	PhaseBody
)

// Request is what a verifier may look at. Body is nil in the header phase.
type Request struct {
	Header http.Header
	Body   []byte
	Now    time.Time
}

// Verifier is one configured auth line. Verify returns nil when the request is authenticated
// by this line, and an error otherwise (never a secret in the error text). A verifier that
// cannot decide (for example a JWKS that cannot be fetched) returns an error: fail closed.
type Verifier interface {
	// Method is the config name of the method ("basic", "api_key", ...).
	Method() string
	// Phase is when the verifier can decide.
	Phase() Phase
	// Verify checks the request.
	Verify(ctx context.Context, r *Request) error
	// Challenge is the WWW-Authenticate value for a 401, or "" when the scheme has none.
	Challenge() string
	// StripHeaders names the request headers that carry this method's credentials, so the
	// forwarder can remove them before delivering the event to the application.
	StripHeaders() []string
}

// ErrUnauthorized is wrapped by every verification failure.
var ErrUnauthorized = errors.New("unauthorized")

// Options carries what the adapter knows about the route when it builds a verifier.
type Options struct {
	// Audience is the route's stable name. It is the default audience of the tokens that an
	// oauth2 line issues and checks.
	Audience string
	// Vendor is the route's vendor preset, if any. When set, oauth2 tokens carry it in a
	// "vendor" claim and the webhook path requires it to match.
	Vendor string
	// HTTPClient fetches OIDC discovery documents and JWKS. Nil means a client with a 5 s
	// timeout that follows at most 5 redirects, none of them to plain http off loopback.
	HTTPClient *http.Client
	// Now is the clock used when Request.Now is zero, and by the token endpoint. Nil means time.Now.
	Now func() time.Time
}

// defaultHTTPTimeout bounds a JWKS or discovery fetch when Options.HTTPClient is nil.
const defaultHTTPTimeout = 5 * time.Second

func (o Options) clock() func() time.Time {
	if o.Now != nil {
		return o.Now
	}
	return time.Now
}

func (o Options) httpClient() *http.Client {
	if o.HTTPClient != nil {
		return o.HTTPClient
	}
	return &http.Client{
		Timeout: defaultHTTPTimeout,
		// Keys must not be fetched over a redirect that downgrades to plain http.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return checkFetchURL(req.URL.String())
		},
	}
}

// requestTime is the time a verifier judges the request at: Request.Now, else the clock.
func requestTime(r *Request, now func() time.Time) time.Time {
	if !r.Now.IsZero() {
		return r.Now
	}
	return now()
}

// failure is a verification error. It names the check that failed in general terms and
// wraps ErrUnauthorized. The values are allocated once, so failing costs no allocation.
type failure struct{ reason string }

func (f *failure) Error() string { return "unauthorized: " + f.reason }
func (f *failure) Unwrap() error { return ErrUnauthorized }

// The failures a verifier reports. None of them carries request data.
var (
	errMissingCredentials   = &failure{"missing credentials"}
	errAmbiguousCredentials = &failure{"credentials header repeated"}
	errMalformedCredentials = &failure{"malformed credentials"}
	errCredentialsMismatch  = &failure{"credentials mismatch"}
	errMalformedToken       = &failure{"malformed token"}
	errTokenTypeMismatch    = &failure{"wrong token type"}
	errAlgorithmNotAllowed  = &failure{"algorithm not allowed"}
	errUnknownKeyID         = &failure{"unknown key id"}
	errKeysUnavailable      = &failure{"signing keys unavailable"}
	errSignatureMismatch    = &failure{"signature mismatch"}
	errTokenExpired         = &failure{"token expired"}
	errTokenNotYetValid     = &failure{"token not yet valid"}
	errTokenIssuedInFuture  = &failure{"token issued in the future"}
	errTokenMissingClaim    = &failure{"token missing a required claim"}
	errWrongAudience        = &failure{"wrong audience"}
	errWrongIssuer          = &failure{"wrong issuer"}
	errWrongSubject         = &failure{"wrong subject"}
	errWrongVendor          = &failure{"wrong vendor"}
	errMissingScope         = &failure{"missing scope"}
	errInvalidClaims        = &failure{"invalid claims"}
	errMissingSignature     = &failure{"missing signature"}
	errMalformedSignature   = &failure{"malformed signature"}
	errMissingTimestamp     = &failure{"missing timestamp"}
	errMalformedTimestamp   = &failure{"malformed timestamp"}
	errTimestampTooOld      = &failure{"timestamp too old"}
	errTimestampInFuture    = &failure{"timestamp in the future"}
	errMissingMessageID     = &failure{"missing message id"}
)

// headerValue returns the single value of a canonical header key. A missing or empty header
// is errMissingCredentials; a repeated one is ambiguous and refused.
func headerValue(h http.Header, key string) (string, error) {
	vals := h[key]
	switch {
	case len(vals) == 0 || vals[0] == "":
		return "", errMissingCredentials
	case len(vals) > 1:
		return "", errAmbiguousCredentials
	}
	return vals[0], nil
}

// authScheme returns the credentials of an Authorization value whose scheme is scheme
// (case-insensitive, RFC 9110 §11.1), with the separating spaces removed. ok is false when
// the scheme differs or the credentials are empty.
func authScheme(v, scheme string) (cred string, ok bool) {
	if len(v) <= len(scheme) || v[len(scheme)] != ' ' || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	cred = strings.TrimLeft(v[len(scheme)+1:], " ")
	return cred, cred != ""
}

// digest is a SHA-256 of a credential. Credentials are compared as digests so that the
// comparison is constant-time and does not leak the length of the configured secret.
type digest [sha256.Size]byte

func digestString(s string) digest { return sha256.Sum256(readOnlyBytes(s)) }

// equal compares two digests in constant time.
func (d *digest) equal(o *digest) bool { return subtle.ConstantTimeCompare(d[:], o[:]) == 1 }

// readOnlyBytes views s as a byte slice without copying, so that hashing a header value does
// not allocate. The slice must never be written to; it is only passed to hash functions.
func readOnlyBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
