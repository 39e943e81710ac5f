package auth

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token format. The gateway is both the issuer and the only verifier of these tokens, so an
// asymmetric algorithm would buy nothing: no third party needs a public key. HS256 with a key
// derived by HKDF-SHA256 from configured secrets gives every replica, and every restart, the
// same key without storing or distributing a private key, and the derivation separates the
// signing key from the client secret itself (and binds it to the audience, so two routes that
// share a secret still have different keys). Because a token lets an attacker test guesses of
// the secret offline, client and signing secrets must be at least minOAuth2SecretLen bytes:
// use long random values.
const (
	defaultTokenPath     = "/oauth/token"
	defaultTokenTTL      = time.Hour
	minTokenTTL          = time.Minute
	maxTokenTTL          = 24 * time.Hour
	minOAuth2SecretLen   = 16
	oauth2Leeway         = 30 * time.Second
	maxTokenRequestBytes = 16 << 10
	// TokenIssuer is the "iss" of the tokens the gateway issues.
	TokenIssuer     = "caddy-webhook-gateway"
	accessTokenType = "at+jwt" // RFC 9068 §2.1
	hkdfSalt        = "caddy-webhook-gateway oauth2 token key v1"
)

// OAuth2Client is one client of the gateway's token endpoint.
type OAuth2Client struct {
	// ClientID is the client identifier the vendor sends. Required; printable ASCII without
	// spaces or ':'.
	ClientID string `json:"client_id"`
	// ClientSecret is the current client secret. Required, at least 16 bytes; use a long
	// random value.
	ClientSecret string `json:"client_secret"`
	// PreviousSecrets are secrets being rotated out. They still authenticate at the token
	// endpoint, and tokens signed under them keep verifying until they expire; new tokens are
	// always signed under ClientSecret. Remove them when every vendor uses the new secret.
	// Default: none.
	PreviousSecrets []string `json:"previous_secrets,omitempty"`
}

// OAuth2Config configures the oauth2 method: the route serves an RFC 6749 §4.4
// client-credentials token endpoint at TokenPath, and webhooks must carry
// "Authorization: Bearer <token>" with a token it issued (HS256 JWT, typ at+jwt, checked for
// signature, iss, aud, exp, iat and client).
type OAuth2Config struct {
	// Clients are the accepted clients. At least one is required.
	Clients []OAuth2Client `json:"clients,omitempty"`
	// TokenPath is the request path of the token endpoint. Default: "/oauth/token".
	TokenPath string `json:"token_path,omitempty"`
	// TokenTTL is the lifetime of an issued token, between 1m and 24h. JSON: a duration string
	// ("1h") or integer nanoseconds. Default: 1h.
	TokenTTL Duration `json:"token_ttl,omitempty"`
	// Scope is the space-separated scope this route grants, e.g. "webhooks:incode". A client
	// that asks for some of these scopes gets those; one that asks for none of them, or for no
	// scope, gets all of them (unknown scopes are ignored, not refused). When set, webhook
	// tokens must carry only these scopes. Default: empty (tokens carry no scope).
	Scope string `json:"scope,omitempty"`
	// Audience is the "aud" of issued tokens, checked on the webhook path. Default:
	// Options.Audience, the route name.
	Audience string `json:"audience,omitempty"`
	// SigningSecrets, when set, are the key material for token signatures instead of the client
	// secrets: the first one signs and all of them verify, for rotation. Each at least 16
	// bytes. Default: none (each client's tokens are signed with a key derived from its secret).
	SigningSecrets []string `json:"signing_secrets,omitempty"`
}

// signingKey is one HS256 key. clientID is the only client it signs for, or "" for a key
// derived from signing_secrets.
type signingKey struct {
	kid      string
	secret   []byte
	clientID string
}

type oauth2Client struct {
	id      string
	secrets []digest // current first
	signer  *signingKey
}

// matches reports in constant time whether secret is one of the client's secrets.
func (c *oauth2Client) matches(secret string) bool {
	d := digestString(secret)
	ok := 0
	for i := range c.secrets {
		ok |= subtle.ConstantTimeCompare(d[:], c.secrets[i][:])
	}
	return ok == 1
}

// decoyClient absorbs the comparison for an unknown client id, so that the answer time does
// not tell which ids exist.
var decoyClient = &oauth2Client{secrets: []digest{digestString("decoy"), digestString("decoy2")}}

type oauth2Verifier struct {
	path     string
	ttl      time.Duration
	scopes   []string
	audience string
	vendor   string
	now      func() time.Time
	clients  map[string]*oauth2Client
	keys     map[string]*signingKey
	signer   *signingKey // set when signing_secrets are configured
	throttle *failureThrottle
}

func newOAuth2(c OAuth2Config, o Options) (*oauth2Verifier, error) {
	v := &oauth2Verifier{
		path:     c.TokenPath,
		ttl:      time.Duration(c.TokenTTL),
		audience: c.Audience,
		vendor:   o.Vendor,
		now:      o.clock(),
		clients:  map[string]*oauth2Client{},
		keys:     map[string]*signingKey{},
		throttle: newFailureThrottle(),
	}
	if v.path == "" {
		v.path = defaultTokenPath
	}
	if !strings.HasPrefix(v.path, "/") || strings.ContainsAny(v.path, "?# ") {
		return nil, fmt.Errorf("auth oauth2: invalid token_path %q", v.path)
	}
	if v.ttl == 0 {
		v.ttl = defaultTokenTTL
	}
	if v.ttl < minTokenTTL || v.ttl > maxTokenTTL {
		return nil, fmt.Errorf("auth oauth2: token_ttl must be between %s and %s", minTokenTTL, maxTokenTTL)
	}
	if v.audience == "" {
		v.audience = o.Audience
	}
	if v.audience == "" {
		return nil, errors.New("auth oauth2: missing audience (set audience, or give the route a name)")
	}
	for _, s := range strings.Fields(c.Scope) {
		if !validScopeToken(s) {
			return nil, fmt.Errorf("auth oauth2: invalid scope %q", s)
		}
		if !contains(v.scopes, s) {
			v.scopes = append(v.scopes, s)
		}
	}
	if len(c.Clients) == 0 {
		return nil, errors.New("auth oauth2: missing client")
	}
	for i, s := range c.SigningSecrets {
		if len(s) < minOAuth2SecretLen {
			return nil, fmt.Errorf("auth oauth2: signing_secrets[%d] is shorter than %d bytes", i, minOAuth2SecretLen)
		}
		k, err := v.addKey(s, "")
		if err != nil {
			return nil, err
		}
		if i == 0 {
			v.signer = k
		}
	}
	owner := map[digest]string{}
	for _, cl := range c.Clients {
		if err := validClientID(cl.ClientID); err != nil {
			return nil, err
		}
		if v.clients[cl.ClientID] != nil {
			return nil, fmt.Errorf("auth oauth2: duplicate client_id %q", cl.ClientID)
		}
		if cl.ClientSecret == "" {
			return nil, fmt.Errorf("auth oauth2: missing client_secret for client %q", cl.ClientID)
		}
		client := &oauth2Client{id: cl.ClientID}
		for j, s := range append([]string{cl.ClientSecret}, cl.PreviousSecrets...) {
			field := "client_secret"
			if j > 0 {
				field = fmt.Sprintf("previous_secrets[%d]", j-1)
			}
			if len(s) < minOAuth2SecretLen {
				return nil, fmt.Errorf("auth oauth2: %s of client %q is shorter than %d bytes", field, cl.ClientID, minOAuth2SecretLen)
			}
			d := digestString(s)
			if other, ok := owner[d]; ok {
				if other == cl.ClientID {
					continue
				}
				return nil, fmt.Errorf("auth oauth2: clients %q and %q share a secret", other, cl.ClientID)
			}
			owner[d] = cl.ClientID
			client.secrets = append(client.secrets, d)
			if v.signer == nil {
				k, err := v.addKey(s, cl.ClientID)
				if err != nil {
					return nil, err
				}
				if j == 0 {
					client.signer = k
				}
			}
		}
		v.clients[cl.ClientID] = client
	}
	return v, nil
}

// addKey derives a signing key and registers it under its kid.
func (v *oauth2Verifier) addKey(secret, clientID string) (*signingKey, error) {
	key, kid, err := deriveSigningKey(secret, v.audience)
	if err != nil {
		return nil, fmt.Errorf("auth oauth2: deriving the signing key: %v", err)
	}
	k := &signingKey{kid: kid, secret: key, clientID: clientID}
	v.keys[kid] = k
	return k, nil
}

// deriveSigningKey derives the HS256 key and its key id from a configured secret with
// HKDF-SHA256 (RFC 5869), bound to the audience. The kid is a separate HKDF output, so it
// reveals nothing about the key.
func deriveSigningKey(secret, audience string) (key []byte, kid string, err error) {
	prk, err := hkdf.Extract(sha256.New, []byte(secret), []byte(hkdfSalt))
	if err != nil {
		return nil, "", err
	}
	if key, err = hkdf.Expand(sha256.New, prk, "hs256 signing key\x00"+audience, 32); err != nil {
		return nil, "", err
	}
	id, err := hkdf.Expand(sha256.New, prk, "key id\x00"+audience, 9)
	if err != nil {
		return nil, "", err
	}
	return key, base64.RawURLEncoding.EncodeToString(id), nil
}

func validClientID(id string) error {
	if id == "" {
		return errors.New("auth oauth2: missing client_id")
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return fmt.Errorf("auth oauth2: invalid client_id %q (printable ASCII without spaces or ':')", id)
		}
	}
	return nil
}

// validScopeToken checks the RFC 6749 §3.3 scope-token syntax: 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func (v *oauth2Verifier) Method() string                    { return MethodOAuth2 }
func (v *oauth2Verifier) Phase() Phase                      { return PhaseHeader }
func (v *oauth2Verifier) Challenge() string                 { return bearerChallenge }
func (v *oauth2Verifier) ChallengeFor(h http.Header) string { return bearerChallengeFor(h) }
func (v *oauth2Verifier) StripHeaders() []string            { return []string{headerAuthorization} }
func (v *oauth2Verifier) TokenPath() string                 { return v.path }

var hs256Only = []string{jwt.SigningMethodHS256.Alg()}

// Verify checks a token issued by this line's token endpoint.
func (v *oauth2Verifier) Verify(_ context.Context, r *Request) error {
	tok, err := bearerToken(r.Header)
	if err != nil {
		return err
	}
	if len(tok) > maxTokenLen {
		return errMalformedToken
	}
	var (
		claims tokenClaims
		key    *signingKey
	)
	t, err := jwt.NewParser(
		jwt.WithValidMethods(hs256Only),
		jwt.WithAudience(v.audience),
		jwt.WithIssuer(TokenIssuer),
		jwt.WithLeeway(oauth2Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(fixedTime(requestTime(r, v.now))),
	).ParseWithClaims(tok, &claims, func(t *jwt.Token) (any, error) {
		if _, crit := t.Header["crit"]; crit {
			return nil, errMalformedToken
		}
		typ, _ := t.Header["typ"].(string)
		if !strings.EqualFold(typ, accessTokenType) && !strings.EqualFold(typ, "application/"+accessTokenType) {
			return nil, errTokenTypeMismatch
		}
		kid, _ := t.Header["kid"].(string)
		k, ok := v.keys[kid]
		if !ok {
			return nil, errUnknownKeyID
		}
		key = k
		return k.secret, nil
	})
	if err != nil {
		return tokenFailure(t, err, hs256Only)
	}
	if claims.Subject == "" || v.clients[claims.Subject] == nil || key.clientID != "" && claims.Subject != key.clientID {
		return errWrongSubject
	}
	if v.vendor != "" && claims.Vendor != v.vendor {
		return errWrongVendor
	}
	if len(v.scopes) > 0 {
		if len(claims.Scope) == 0 {
			return errMissingScope
		}
		for _, s := range claims.Scope {
			if !contains(v.scopes, s) {
				return errMissingScope
			}
		}
	}
	return nil
}
