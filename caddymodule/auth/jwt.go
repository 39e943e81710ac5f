package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	defaultJWTLeeway = 30 * time.Second
	maxJWTLeeway     = 5 * time.Minute
	// maxTokenLen bounds the size of a bearer JWT before any parsing.
	maxTokenLen = 16 << 10
)

// asymmetricAlgorithms are the algorithms a jwt line may allow. HS* is deliberately absent:
// a JWKS publishes public keys, and accepting HMAC with them is the classic key-confusion bug.
var asymmetricAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// JWTConfig configures the jwt method: "Authorization: Bearer <JWT>" issued by an external
// identity provider and checked against its published keys. Build fetches nothing: discovery
// and the JWKS are fetched on first use, cached for 1h, refreshed on an unknown kid at most
// once per 30s, each fetch bounded by 5s; when no keys can be had, requests are rejected.
type JWTConfig struct {
	// Issuer is the expected "iss" claim. When JWKSURL is empty it is also the OIDC discovery
	// base: the keys are found via <issuer>/.well-known/openid-configuration → jwks_uri, and
	// the document's issuer must equal this value exactly. One of Issuer or JWKSURL is required.
	// Must be https (http only on a loopback host).
	Issuer string `json:"issuer,omitempty"`
	// JWKSURL is the JWK Set URL; when set, no discovery is done ("iss" is still checked when
	// Issuer is set). Must be https (http only on a loopback host). Default: discovered.
	JWKSURL string `json:"jwks_url,omitempty"`
	// Audience lists the accepted "aud" values; the token must carry at least one of them.
	// Required, so that a token the IdP issued for another application is refused.
	Audience []string `json:"audience,omitempty"`
	// Scopes lists scopes that must all be granted, read from the "scope" claim (space-separated
	// string, or array) and the "scp" claim (array, or space-separated string). Default: none.
	Scopes []string `json:"scopes,omitempty"`
	// Algorithms is the allow-list of signature algorithms, from RS256, RS384, RS512, PS256,
	// PS384, PS512, ES256, ES384, ES512 and EdDSA. "none" and HS256/384/512 are refused, which
	// rules out HMAC/RSA key confusion. Default: ["RS256"].
	Algorithms []string `json:"algorithms,omitempty"`
	// Leeway is the clock skew allowed on exp, nbf and iat, at most 5m. JSON: a duration
	// string ("30s") or integer nanoseconds. Default: 30s.
	Leeway Duration `json:"leeway,omitempty"`
}

// jwtVerifier checks bearer JWTs against a JWKS.
type jwtVerifier struct {
	issuer   string
	audience []string
	scopes   []string
	algs     []string
	leeway   time.Duration
	now      func() time.Time
	keys     *jwksSource
}

func newJWT(c JWTConfig, o Options) (*jwtVerifier, error) {
	const m = MethodJWT
	if c.Issuer == "" && c.JWKSURL == "" {
		return nil, errors.New("auth jwt: missing issuer or jwks_url")
	}
	if c.Issuer != "" {
		if err := checkFetchURL(c.Issuer); err != nil {
			return nil, fmt.Errorf("auth jwt: invalid issuer: %v", err)
		}
	}
	if c.JWKSURL != "" {
		if err := checkFetchURL(c.JWKSURL); err != nil {
			return nil, fmt.Errorf("auth jwt: invalid jwks_url: %v", err)
		}
	}
	if len(c.Audience) == 0 {
		return nil, errors.New("auth jwt: missing audience")
	}
	for _, a := range c.Audience {
		if a == "" {
			return nil, errors.New("auth jwt: empty audience")
		}
	}
	for _, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\"\\") {
			return nil, fmt.Errorf("auth jwt: invalid scope %q", s)
		}
	}
	algs := c.Algorithms
	if len(algs) == 0 {
		algs = []string{"RS256"}
	}
	for _, a := range algs {
		switch {
		case strings.EqualFold(a, "none"):
			return nil, errors.New("auth jwt: algorithm none is not allowed")
		case strings.HasPrefix(strings.ToUpper(a), "HS"):
			return nil, fmt.Errorf("auth jwt: algorithm %s is not allowed (use oauth2 or bearer for shared secrets)", a)
		case !contains(asymmetricAlgorithms, a):
			return nil, fmt.Errorf("auth jwt: unknown algorithm %q", a)
		}
	}
	leeway := time.Duration(c.Leeway)
	switch {
	case leeway == 0:
		leeway = defaultJWTLeeway
	case leeway < 0 || leeway > maxJWTLeeway:
		return nil, fmt.Errorf("auth %s: leeway must be between 0 and %s", m, maxJWTLeeway)
	}
	now := o.clock()
	return &jwtVerifier{
		issuer:   c.Issuer,
		audience: append([]string(nil), c.Audience...),
		scopes:   append([]string(nil), c.Scopes...),
		algs:     append([]string(nil), algs...),
		leeway:   leeway,
		now:      now,
		keys:     &jwksSource{issuer: c.Issuer, jwksURL: c.JWKSURL, client: o.httpClient(), now: now},
	}, nil
}

func (v *jwtVerifier) Method() string                    { return MethodJWT }
func (v *jwtVerifier) Phase() Phase                      { return PhaseHeader }
func (v *jwtVerifier) Challenge() string                 { return bearerChallenge }
func (v *jwtVerifier) ChallengeFor(h http.Header) string { return bearerChallengeFor(h) }
func (v *jwtVerifier) StripHeaders() []string            { return []string{headerAuthorization} }

func (v *jwtVerifier) Verify(ctx context.Context, r *Request) error {
	tok, err := bearerToken(r.Header)
	if err != nil {
		return err
	}
	if len(tok) > maxTokenLen {
		return errMalformedToken
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.algs),
		jwt.WithAudience(v.audience...),
		jwt.WithLeeway(v.leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(fixedTime(requestTime(r, v.now))),
	}
	if v.issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.issuer))
	}
	var claims tokenClaims
	t, err := jwt.NewParser(opts...).ParseWithClaims(tok, &claims, func(t *jwt.Token) (any, error) {
		if _, crit := t.Header["crit"]; crit {
			return nil, errMalformedToken // no critical extension is understood (RFC 7515 §4.1.11)
		}
		kid, _ := t.Header["kid"].(string)
		alg := t.Method.Alg()
		keys, err := v.keys.keys(ctx, kid, alg)
		if err != nil {
			return nil, err
		}
		switch len(keys) {
		case 0:
			return nil, errUnknownKeyID // the kid exists, but not for this algorithm
		case 1:
			return keys[0].key, nil
		}
		set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, len(keys))}
		for i, k := range keys {
			set.Keys[i] = k.key
		}
		return set, nil
	})
	if err != nil {
		return tokenFailure(t, err, v.algs)
	}
	if !claims.hasScopes(v.scopes) {
		return errMissingScope
	}
	return nil
}

// fixedTime is a clock that always returns t, for judging one request at one instant.
func fixedTime(t time.Time) func() time.Time { return func() time.Time { return t } }

// tokenClaims are the claims the gateway reads.
type tokenClaims struct {
	jwt.RegisteredClaims
	Scope    scopeClaim `json:"scope,omitempty"`
	Scp      scopeClaim `json:"scp,omitempty"`
	ClientID string     `json:"client_id,omitempty"`
	Vendor   string     `json:"vendor,omitempty"`
}

// hasScopes reports whether every required scope is granted by "scope" or "scp".
func (c *tokenClaims) hasScopes(required []string) bool {
	for _, s := range required {
		if !contains(c.Scope, s) && !contains(c.Scp, s) {
			return false
		}
	}
	return true
}

// scopeClaim decodes a scope list written as a space-separated string (RFC 8693 §4.2) or as an
// array of strings (as some providers do for "scp").
type scopeClaim []string

func (s *scopeClaim) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		*s = strings.Fields(str)
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("scope claim must be a string or an array of strings")
	}
	*s = list
	return nil
}

// tokenFailure maps a golang-jwt error to the failure reported by Verify. Failures returned by
// the key function (unknown kid, keys unavailable) come through unchanged.
func tokenFailure(t *jwt.Token, err error, allowed []string) error {
	var f *failure
	if errors.As(err, &f) {
		return f
	}
	if errors.Is(err, jwt.ErrTokenMalformed) {
		return errMalformedToken
	}
	if t != nil {
		if alg, _ := t.Header["alg"].(string); !contains(allowed, alg) {
			return errAlgorithmNotAllowed
		}
	}
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return errSignatureMismatch
	case errors.Is(err, jwt.ErrTokenExpired):
		return errTokenExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return errTokenNotYetValid
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return errTokenIssuedInFuture
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return errWrongAudience
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return errWrongIssuer
	case errors.Is(err, jwt.ErrTokenInvalidSubject):
		return errWrongSubject
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return errTokenMissingClaim
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return errMalformedToken
	}
	return errInvalidClaims
}

var (
	_ Verifier          = (*jwtVerifier)(nil)
	_ RequestChallenger = (*jwtVerifier)(nil)
)
