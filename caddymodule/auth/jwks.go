package auth

// JWKS fetching, caching and JWK → public key conversion.
//
// Library choice: the JWK conversion is written here with the standard library instead of
// pulling in a JOSE library. It is small (RSA n/e, EC x/y, OKP x), every value is checked by
// the standard library (crypto/ecdsa.ParseUncompressedPublicKey refuses points off the curve,
// RSA keys are bounded to 2048–8192 bits with a sane exponent), and it keeps the verification
// path to one well-kept dependency, github.com/golang-jwt/jwt/v5, which already does the JWS
// part. go-jose/v4 (an indirect dependency through Caddy) would also do, but would add a
// second JWS implementation of which we would use only the JWK type.
//
// Cache policy (all constants below):
//   - Build fetches nothing. The first request that needs a key fetches the OIDC discovery
//     document (when only an issuer is configured) and the JWKS, each within jwksFetchTimeout.
//   - The key set is reused for jwksCacheTTL, then refreshed on the next use; requests that
//     arrive while a refresh is in flight keep using the current set.
//   - A token whose kid is not in the set triggers a refresh, at most once per
//     jwksRefreshInterval, so a stream of forged kids cannot turn the gateway into a load
//     generator against the identity provider. Without any usable key the retry interval is
//     the shorter jwksRetryAfterFailure.
//   - Fail closed: no key set, or a set older than jwksMaxStale because refreshes keep failing,
//     rejects the request. A failed refresh keeps a younger set in use, so a short IdP outage
//     does not stop webhooks signed with keys already known.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	jwksFetchTimeout      = 5 * time.Second
	jwksCacheTTL          = time.Hour
	jwksRefreshInterval   = 30 * time.Second
	jwksRetryAfterFailure = 5 * time.Second
	jwksMaxStale          = 24 * time.Hour
	maxJWKSBytes          = 1 << 20
	minRSABits            = 2048
	maxRSABits            = 8192
)

// errFetch is a JWKS or discovery fetch failure. Verify reports it as errKeysUnavailable.
var errFetch = errors.New("fetch failed")

// publicKey is one usable verification key of a JWKS.
type publicKey struct {
	kid string
	alg string // the JWK's "alg", or "" when it does not restrict the algorithm
	kty string
	crv string
	key crypto.PublicKey
}

// fits reports whether the key may verify a token signed with alg: the key type and curve
// must match the algorithm, and the JWK's own "alg", when present, must equal it.
func (k *publicKey) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return k.kty == "RSA"
	case "ES256":
		return k.kty == "EC" && k.crv == "P-256"
	case "ES384":
		return k.kty == "EC" && k.crv == "P-384"
	case "ES512":
		return k.kty == "EC" && k.crv == "P-521"
	case "EdDSA":
		return k.kty == "OKP" && k.crv == "Ed25519"
	}
	return false
}

// keySet is an immutable, parsed JWKS.
type keySet struct {
	byKID   map[string][]*publicKey
	all     []*publicKey
	fetched time.Time
}

// lookup returns the keys that may verify a token with this kid and alg. A token without a
// kid may be verified by any key of the set that fits the algorithm.
func (s *keySet) lookup(kid, alg string) (keys []*publicKey, known bool) {
	cands := s.all
	if kid != "" {
		var ok bool
		if cands, ok = s.byKID[kid]; !ok {
			return nil, false
		}
	}
	for _, k := range cands {
		if k.fits(alg) {
			keys = append(keys, k)
		}
	}
	return keys, true
}

// jwk is the JSON form of a key (RFC 7517, RFC 7518 §6, RFC 8037).
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS parses a JWK Set and keeps the signature keys it can use. Keys of other types,
// for encryption, or with invalid parameters are skipped; a set with no usable key is an error.
func parseJWKS(b []byte, fetched time.Time) (*keySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("jwks is not a JSON key set: %w", err)
	}
	s := &keySet{byKID: map[string][]*publicKey{}, fetched: fetched}
	for _, raw := range doc.Keys {
		var j jwk
		if json.Unmarshal(raw, &j) != nil {
			continue
		}
		k, err := j.publicKey()
		if err != nil {
			continue
		}
		s.all = append(s.all, k)
		if k.kid != "" {
			s.byKID[k.kid] = append(s.byKID[k.kid], k)
		}
	}
	if len(s.all) == 0 {
		return nil, errors.New("jwks has no usable signature key")
	}
	return s, nil
}

// publicKey converts a JWK into a verification key.
func (j *jwk) publicKey() (*publicKey, error) {
	if j.Use != "" && j.Use != "sig" {
		return nil, errors.New("not a signature key")
	}
	k := &publicKey{kid: j.Kid, alg: j.Alg, kty: j.Kty, crv: j.Crv}
	switch j.Kty {
	case "RSA":
		n, err := b64Int(j.N)
		if err != nil {
			return nil, err
		}
		e, err := b64Int(j.E)
		if err != nil {
			return nil, err
		}
		if bits := n.BitLen(); bits < minRSABits || bits > maxRSABits {
			return nil, errors.New("rsa modulus size out of range")
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return nil, errors.New("bad rsa exponent")
		}
		k.key = &rsa.PublicKey{N: n, E: int(e.Int64())}
	case "EC":
		var curve elliptic.Curve
		switch j.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, errors.New("unsupported curve")
		}
		size := (curve.Params().BitSize + 7) / 8
		x, errX := base64.RawURLEncoding.DecodeString(j.X)
		y, errY := base64.RawURLEncoding.DecodeString(j.Y)
		if errX != nil || errY != nil || len(x) != size || len(y) != size {
			return nil, errors.New("bad ec coordinates")
		}
		point := make([]byte, 0, 1+2*size)
		point = append(append(append(point, 4), x...), y...)
		pk, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return nil, err
		}
		k.key = pk
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, errors.New("unsupported curve")
		}
		x, err := base64.RawURLEncoding.DecodeString(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad ed25519 key")
		}
		k.key = ed25519.PublicKey(x)
	default:
		return nil, errors.New("unsupported key type")
	}
	return k, nil
}

// b64Int decodes an unpadded base64url big-endian integer (RFC 7518 §2 Base64urlUInt).
func b64Int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("bad integer")
	}
	return new(big.Int).SetBytes(b), nil
}

// jwksSource fetches and caches the key set of one jwt auth line.
type jwksSource struct {
	issuer string // discovery base, used when jwksURL is empty
	client *http.Client
	now    func() time.Time

	set atomic.Pointer[keySet]

	mu          sync.Mutex // serializes fetches; guards the fields below
	jwksURL     string     // configured, or discovered once
	lastAttempt time.Time
}

// keys returns the keys that may verify a token with kid and alg, fetching or refreshing the
// set when needed (see the cache policy at the top of this file).
func (s *jwksSource) keys(ctx context.Context, kid, alg string) ([]*publicKey, error) {
	now := s.now()
	set := s.set.Load()
	if set != nil && now.Sub(set.fetched) < jwksCacheTTL {
		if keys, known := set.lookup(kid, alg); known {
			return keys, nil
		}
	}
	// The set is missing, old, or lacks the kid: refresh. While another request refreshes a
	// set that is old but still usable, that set serves the kids it knows.
	usable := set != nil && now.Sub(set.fetched) < jwksMaxStale
	if !usable {
		s.mu.Lock()
	} else if !s.mu.TryLock() {
		if keys, known := set.lookup(kid, alg); known {
			return keys, nil
		}
		s.mu.Lock()
	}
	set = s.refreshLocked(ctx, set)
	s.mu.Unlock()

	if set == nil || now.Sub(set.fetched) >= jwksMaxStale {
		return nil, errKeysUnavailable
	}
	keys, known := set.lookup(kid, alg)
	if !known {
		return nil, errUnknownKeyID
	}
	return keys, nil
}

// refreshLocked fetches a new set unless another request already replaced seen, or the rate
// limit forbids it. It returns the set to use. s.mu must be held.
func (s *jwksSource) refreshLocked(ctx context.Context, seen *keySet) *keySet {
	if cur := s.set.Load(); cur != seen {
		return cur // refreshed while this request waited for the lock
	}
	now := s.now()
	interval := jwksRefreshInterval
	if seen == nil || now.Sub(seen.fetched) >= jwksMaxStale {
		interval = jwksRetryAfterFailure
	}
	if !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < interval {
		return seen
	}
	s.lastAttempt = now
	// The fetch outlives a caller that hangs up, so one impatient sender cannot fail the
	// refresh for everybody, but it is bounded by its own timeout.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchTimeout)
	defer cancel()
	set, err := s.fetch(fctx)
	if err != nil {
		return seen
	}
	s.set.Store(set)
	return set
}

// fetch resolves the JWKS URL (OIDC discovery when needed) and downloads the set.
func (s *jwksSource) fetch(ctx context.Context) (*keySet, error) {
	if s.jwksURL == "" {
		u, err := s.discover(ctx)
		if err != nil {
			return nil, err
		}
		s.jwksURL = u
	}
	b, err := s.get(ctx, s.jwksURL)
	if err != nil {
		return nil, err
	}
	set, err := parseJWKS(b, s.now())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errFetch, err)
	}
	return set, nil
}

// discover reads the issuer's OpenID Provider metadata (OpenID Connect Discovery 1.0 §4) and
// returns its jwks_uri. The document's issuer must equal the configured one (§4.3).
func (s *jwksSource) discover(ctx context.Context) (string, error) {
	b, err := s.get(ctx, strings.TrimSuffix(s.issuer, "/")+"/.well-known/openid-configuration")
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return "", fmt.Errorf("%w: discovery document is not JSON", errFetch)
	}
	if doc.Issuer != s.issuer {
		return "", fmt.Errorf("%w: discovery issuer mismatch", errFetch)
	}
	if err := checkFetchURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("%w: jwks_uri: %v", errFetch, err)
	}
	return doc.JWKSURI, nil
}

// get downloads a JSON document of bounded size.
func (s *jwksSource) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errFetch, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errFetch, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: status %d", errFetch, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errFetch, err)
	}
	if len(b) > maxJWKSBytes {
		return nil, fmt.Errorf("%w: document too large", errFetch)
	}
	return b, nil
}

// checkFetchURL accepts an absolute https URL, or http on a loopback host (local identity
// providers and tests). Keys fetched over plain http from elsewhere could be swapped in transit.
func checkFetchURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Fragment != "" || u.User != nil {
		return errors.New("must be an absolute URL without credentials or fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return errors.New("must use https (http is allowed only on a loopback host)")
	}
	return errors.New("must use https")
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
