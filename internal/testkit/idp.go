package testkit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// IdP is an OpenID provider on loopback, as the "auth jwt" line of a route
// uses one: the discovery document at /.well-known/openid-configuration names
// its issuer (its URL) and its key set at /jwks. A test replaces the
// published keys (rotation), makes the key set fail, or makes the discovery
// document name another issuer, and reads how often each was fetched (the
// gateway must cache them and not let unknown kids hammer the provider).
type IdP struct {
	*httptest.Server // its URL is the issuer

	JWKSFetches      atomic.Int64
	DiscoveryFetches atomic.Int64
	FailJWKS         atomic.Bool // the key set answers 500 while set

	mu        sync.Mutex
	jwks      []byte
	docIssuer string
}

// NewIdP starts a provider that publishes keys (see JWK); it stops when the
// test ends.
func NewIdP(t testing.TB, keys ...map[string]string) *IdP {
	t.Helper()
	p := &IdP{jwks: JWKS(keys...)}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Close)
	return p
}

// Issuer is the issuer the provider names (its URL, unless SetDocIssuer).
func (p *IdP) Issuer() string { return p.URL }

// JWKSURL is the address of the key set, for a jwks_url line.
func (p *IdP) JWKSURL() string { return p.URL + "/jwks" }

// SetKeys replaces the published keys.
func (p *IdP) SetKeys(keys ...map[string]string) {
	b := JWKS(keys...)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.jwks = b
}

// SetDocIssuer makes the discovery document name iss instead of the
// provider's URL (a provider that does not match the configured issuer).
func (p *IdP) SetDocIssuer(iss string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.docIssuer = iss
}

func (p *IdP) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	jwks, iss := p.jwks, p.docIssuer
	p.mu.Unlock()
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		p.DiscoveryFetches.Add(1)
		if iss == "" {
			iss = p.URL
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": p.JWKSURL()})
	case "/jwks":
		p.JWKSFetches.Add(1)
		if p.FailJWKS.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	default:
		http.NotFound(w, r)
	}
}

// JWK is the public JWK of key (RSA, ECDSA or Ed25519) under kid ("" for
// none), as a provider publishes it. It is a map so that a test can add,
// change or drop a member to build a bad key.
func JWK(kid string, key crypto.Signer) map[string]string {
	b64u := base64.RawURLEncoding.EncodeToString
	var k map[string]string
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		k = map[string]string{"kty": "RSA", "use": "sig", "n": b64u(pub.N.Bytes()), "e": b64u(big.NewInt(int64(pub.E)).Bytes())}
	case *ecdsa.PublicKey:
		b, err := pub.Bytes()
		if err != nil {
			panic(err)
		}
		size := (pub.Curve.Params().BitSize + 7) / 8
		k = map[string]string{"kty": "EC", "crv": pub.Curve.Params().Name, "x": b64u(b[1 : 1+size]), "y": b64u(b[1+size:])}
	case ed25519.PublicKey:
		k = map[string]string{"kty": "OKP", "crv": "Ed25519", "x": b64u(pub)}
	default:
		panic("testkit.JWK: unsupported key type")
	}
	k["kid"] = kid
	return k
}

// JWKS is the key set document {"keys": [...]}.
func JWKS(keys ...map[string]string) []byte {
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	return b
}

// SignJWT signs claims with key by method, with kid in the header unless it
// is "".
func SignJWT(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}
