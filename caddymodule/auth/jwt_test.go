package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// Test keys are generated once per test binary.
var (
	rsaKeyA = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	rsaKeyB = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	ecKey   = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
	edKey = sync.OnceValue(func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

// b64u is the base64url text of a JWT part or a JWK member.
func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// stdClaims are valid claims for issuer iss and audience "gateway".
func stdClaims(iss string, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":   iss,
		"sub":   "incode",
		"aud":   "gateway",
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   now.Add(time.Hour).Unix(),
		"scope": "webhooks:write other",
	}
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func bearerHdr(tok string) http.Header { return hdr("Authorization", "Bearer "+tok) }

func unsignedToken(header, claims any) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return b64u(h) + "." + b64u(c) + "."
}

func TestJWTVerify(t *testing.T) {
	p := testkit.NewIdP(t, testkit.JWK("k1", rsaKeyA()), testkit.JWK("ec1", ecKey()), testkit.JWK("ed1", edKey()))
	clock := newTestClock()
	o := Options{Now: clock.Now, HTTPClient: p.Client()}
	v := mustBuild(t, Config{Method: "jwt", JWT: &JWTConfig{
		Issuer:     p.Issuer(),
		Audience:   []string{"gateway", "gateway-2"},
		Scopes:     []string{"webhooks:write"},
		Algorithms: []string{"RS256", "ES256", "EdDSA"},
	}}, o)
	if p.DiscoveryFetches.Load() != 0 || p.JWKSFetches.Load() != 0 {
		t.Fatal("Build fetched over the network")
	}
	now := clock.Now()
	good := stdClaims(p.Issuer(), now)
	rs := func(c jwt.MapClaims) string { return testkit.SignJWT(t, jwt.SigningMethodRS256, rsaKeyA(), "k1", c) }
	valid := rs(good)
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + b64u([]byte(`{"iss":"`+p.Issuer()+`","aud":"gateway","exp":9999999999,"iat":1,"scope":"webhooks:write","sub":"admin"}`)) + "." + parts[2]
	pubDER, err := x509.MarshalPKIXPublicKey(&rsaKeyA().PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	cases := []verifyCase{
		{name: "valid RS256", header: bearerHdr(valid)},
		{name: "valid ES256", header: bearerHdr(testkit.SignJWT(t, jwt.SigningMethodES256, ecKey(), "ec1", good))},
		{name: "valid EdDSA", header: bearerHdr(testkit.SignJWT(t, jwt.SigningMethodEdDSA, edKey(), "ed1", good))},
		{name: "second audience in array", header: bearerHdr(rs(with(good, "aud", []string{"x", "gateway-2"})))},
		{name: "scp array", header: bearerHdr(rs(with(good, "scope", nil, "scp", []string{"webhooks:write"})))},
		{name: "scp string", header: bearerHdr(rs(with(good, "scope", nil, "scp", "a webhooks:write")))},
		{name: "expired within leeway", header: bearerHdr(rs(with(good, "exp", now.Add(-20*time.Second).Unix())))},
		{name: "expired", header: bearerHdr(rs(with(good, "exp", now.Add(-time.Minute).Unix()))), want: errTokenExpired},
		{name: "not yet valid", header: bearerHdr(rs(with(good, "nbf", now.Add(time.Minute).Unix()))), want: errTokenNotYetValid},
		{name: "issued in the future", header: bearerHdr(rs(with(good, "iat", now.Add(time.Hour).Unix()))), want: errTokenIssuedInFuture},
		{name: "missing exp", header: bearerHdr(rs(with(good, "exp", nil))), want: errTokenMissingClaim},
		{name: "wrong aud", header: bearerHdr(rs(with(good, "aud", "someone-else"))), want: errWrongAudience},
		{name: "missing aud", header: bearerHdr(rs(with(good, "aud", nil))), want: errTokenMissingClaim},
		{name: "wrong iss", header: bearerHdr(rs(with(good, "iss", "https://evil.example"))), want: errWrongIssuer},
		{name: "wrong scope", header: bearerHdr(rs(with(good, "scope", "webhooks:read"))), want: errMissingScope},
		{name: "no scope", header: bearerHdr(rs(with(good, "scope", nil))), want: errMissingScope},
		{name: "bad scope type", header: bearerHdr(rs(with(good, "scope", 42))), want: errMalformedToken},
		{name: "alg none", header: bearerHdr(unsignedToken(map[string]string{"alg": "none", "kid": "k1"}, good)), want: errAlgorithmNotAllowed},
		{name: "HS256 with the RSA public key", header: bearerHdr(testkit.SignJWT(t, jwt.SigningMethodHS256, pubPEM, "k1", good)), want: errAlgorithmNotAllowed},
		{name: "HS256 with the RSA modulus", header: bearerHdr(testkit.SignJWT(t, jwt.SigningMethodHS256, rsaKeyA().N.Bytes(), "k1", good)), want: errAlgorithmNotAllowed},
		{name: "RS384 not allowed", header: bearerHdr(testkit.SignJWT(t, jwt.SigningMethodRS384, rsaKeyA(), "k1", good)), want: errAlgorithmNotAllowed},
		{name: "unknown alg", header: bearerHdr(unsignedToken(map[string]string{"alg": "XX999", "kid": "k1"}, good) + "c2ln"), want: errAlgorithmNotAllowed},
		{name: "RS256 token on the EC key id", header: bearerHdr(testkit.SignJWT(t, jwt.SigningMethodRS256, rsaKeyA(), "ec1", good)), want: errUnknownKeyID},
		{name: "signed by another key", header: bearerHdr(testkit.SignJWT(t, jwt.SigningMethodRS256, rsaKeyB(), "k1", good)), want: errSignatureMismatch},
		{name: "tampered payload", header: bearerHdr(tampered), want: errSignatureMismatch},
		{name: "truncated signature", header: bearerHdr(valid[:len(valid)-8]), want: errSignatureMismatch},
		{name: "truncated to two parts", header: bearerHdr(parts[0] + "." + parts[1]), want: errMalformedToken},
		{name: "garbage", header: bearerHdr("not.a.jwt"), want: errMalformedToken},
		{name: "crit header", header: bearerHdr(critToken(t, good)), want: errMalformedToken},
		{name: "oversized", header: bearerHdr(strings.Repeat("a", maxTokenLen+1)), want: errMalformedToken},
		{name: "missing", header: hdr(), want: errMissingCredentials},
		{name: "basic scheme", header: hdr("Authorization", "Basic "+valid), want: errMissingCredentials},
	}
	runVerifyCases(t, v, cases)
	if n := p.DiscoveryFetches.Load(); n != 1 {
		t.Fatalf("discovery fetched %d times, want 1", n)
	}
}

func critToken(t *testing.T, c jwt.MapClaims) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = "k1"
	tok.Header["crit"] = []string{"exp"}
	s, err := tok.SignedString(rsaKeyA())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWTNoKidAndJWKSURL(t *testing.T) {
	p := testkit.NewIdP(t, testkit.JWK("", rsaKeyA()))
	o := Options{Now: fixedClock, HTTPClient: p.Client()}
	v := mustBuild(t, Config{Method: "jwt", JWT: &JWTConfig{JWKSURL: p.JWKSURL(), Audience: []string{"gateway"}}}, o)
	c := stdClaims("any-issuer", testNow)
	runVerifyCases(t, v, []verifyCase{
		{name: "no kid, single key", header: bearerHdr(testkit.SignJWT(t, jwt.SigningMethodRS256, rsaKeyA(), "", c))},
		{name: "no kid, wrong key", header: bearerHdr(testkit.SignJWT(t, jwt.SigningMethodRS256, rsaKeyB(), "", c)), want: errSignatureMismatch},
	})
	if p.DiscoveryFetches.Load() != 0 {
		t.Fatal("discovery used although jwks_url is set")
	}
}

func TestJWKSRefreshRateLimitAndRotation(t *testing.T) {
	p := testkit.NewIdP(t, testkit.JWK("k1", rsaKeyA()))
	clock := newTestClock()
	v := mustBuild(t, Config{Method: "jwt", JWT: &JWTConfig{Issuer: p.Issuer(), Audience: []string{"gateway"}}}, Options{Now: clock.Now, HTTPClient: p.Client()})
	verify := func(key *rsa.PrivateKey, kid string) error {
		now := clock.Now()
		tok := testkit.SignJWT(t, jwt.SigningMethodRS256, key, kid, stdClaims(p.Issuer(), now))
		return v.Verify(context.Background(), &Request{Header: bearerHdr(tok), Now: now})
	}
	step := func(name string, err, want error, wantHits int64) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			checkVerifyErr(t, err, want)
			if got := p.JWKSFetches.Load(); got != wantHits {
				t.Fatalf("jwks fetched %d times, want %d", got, wantHits)
			}
		})
	}
	step("first use fetches", verify(rsaKeyA(), "k1"), nil, 1)
	step("cached", verify(rsaKeyA(), "k1"), nil, 1)
	step("unknown kid right after the first fetch is rate-limited", verify(rsaKeyB(), "k2"), errUnknownKeyID, 1)
	clock.Advance(jwksRefreshInterval)
	step("unknown kid refreshes once", verify(rsaKeyB(), "k2"), errUnknownKeyID, 2)
	step("second unknown kid is rate-limited", verify(rsaKeyB(), "k3"), errUnknownKeyID, 2)
	clock.Advance(10 * time.Second)
	step("still rate-limited", verify(rsaKeyB(), "k2"), errUnknownKeyID, 2)

	// The provider rotates: k1 is replaced by k2.
	p.SetKeys(testkit.JWK("k2", rsaKeyB()))
	clock.Advance(jwksRefreshInterval)
	step("new kid accepted after refresh", verify(rsaKeyB(), "k2"), nil, 3)
	step("old kid gone, refresh rate-limited", verify(rsaKeyA(), "k1"), errUnknownKeyID, 3)

	// The provider goes down: the cached set keeps serving, within jwksMaxStale.
	p.FailJWKS.Store(true)
	clock.Advance(jwksCacheTTL + time.Second)
	step("stale set serves while refresh fails", verify(rsaKeyB(), "k2"), nil, 4)
	step("failed refresh is rate-limited", verify(rsaKeyB(), "k2"), nil, 4)
	clock.Advance(jwksMaxStale)
	step("too stale: fail closed", verify(rsaKeyB(), "k2"), errKeysUnavailable, 5)
	step("retry after failure is rate-limited", verify(rsaKeyB(), "k2"), errKeysUnavailable, 5)
	p.FailJWKS.Store(false)
	clock.Advance(jwksRetryAfterFailure)
	step("recovers", verify(rsaKeyB(), "k2"), nil, 6)
	if n := p.DiscoveryFetches.Load(); n != 1 {
		t.Fatalf("discovery fetched %d times, want 1", n)
	}
}

func TestJWKSConcurrentUnknownKid(t *testing.T) {
	p := testkit.NewIdP(t, testkit.JWK("k1", rsaKeyA()))
	clock := newTestClock()
	v := mustBuild(t, Config{Method: "jwt", JWT: &JWTConfig{JWKSURL: p.JWKSURL(), Audience: []string{"gateway"}}}, Options{Now: clock.Now, HTTPClient: p.Client()})
	now := clock.Now()
	good := testkit.SignJWT(t, jwt.SigningMethodRS256, rsaKeyA(), "k1", stdClaims("x", now))
	forged := testkit.SignJWT(t, jwt.SigningMethodRS256, rsaKeyB(), "forged", stdClaims("x", now))
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := good
			if i%2 == 1 {
				tok = forged
			}
			_ = v.Verify(context.Background(), &Request{Header: bearerHdr(tok), Now: now})
		}()
	}
	wg.Wait()
	// One fetch for the first use, at most one refresh for the forged kid.
	if got := p.JWKSFetches.Load(); got < 1 || got > 2 {
		t.Fatalf("jwks fetched %d times, want 1 or 2", got)
	}
}

func TestJWKSUnavailable(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	down := testkit.NewIdP(t, testkit.JWK("k1", rsaKeyA()))
	down.FailJWKS.Store(true)

	liar := testkit.NewIdP(t, testkit.JWK("k1", rsaKeyA()))
	liar.SetDocIssuer("https://other.example")

	empty := testkit.NewIdP(t)

	weak := testkit.NewIdP(t, testkit.JWK("k1", mustRSA(1024)))

	tok := testkit.SignJWT(t, jwt.SigningMethodRS256, rsaKeyA(), "k1", stdClaims("x", testNow))
	cases := []struct {
		name string
		cfg  JWTConfig
	}{
		{"unreachable jwks_url", JWTConfig{JWKSURL: closedURL + "/jwks"}},
		{"unreachable issuer", JWTConfig{Issuer: closedURL}},
		{"jwks answers 500", JWTConfig{JWKSURL: down.JWKSURL()}},
		{"discovery issuer mismatch", JWTConfig{Issuer: liar.Issuer()}},
		{"empty key set", JWTConfig{JWKSURL: empty.JWKSURL()}},
		{"only a 1024-bit key", JWTConfig{JWKSURL: weak.JWKSURL()}},
		{"not a JWKS", JWTConfig{JWKSURL: down.URL + "/.well-known/openid-configuration"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Audience = []string{"gateway"}
			v := mustBuild(t, Config{Method: "jwt", JWT: &tc.cfg}, Options{Now: fixedClock})
			err := v.Verify(context.Background(), &Request{Header: bearerHdr(tok), Now: testNow})
			checkVerifyErr(t, err, errKeysUnavailable)
		})
	}
}

func TestJWTBuildErrors(t *testing.T) {
	cases := []struct {
		name string
		c    JWTConfig
		want string
	}{
		{"no source", JWTConfig{Audience: []string{"a"}}, "auth jwt: missing issuer or jwks_url"},
		{"http issuer", JWTConfig{Issuer: "http://idp.example", Audience: []string{"a"}}, "auth jwt: invalid issuer: must use https (http is allowed only on a loopback host)"},
		{"relative jwks", JWTConfig{JWKSURL: "/jwks", Audience: []string{"a"}}, "auth jwt: invalid jwks_url: must be an absolute URL without credentials or fragment"},
		{"no audience", JWTConfig{Issuer: "https://idp.example"}, "auth jwt: missing audience"},
		{"empty audience", JWTConfig{Issuer: "https://idp.example", Audience: []string{""}}, "auth jwt: empty audience"},
		{"alg none", JWTConfig{Issuer: "https://idp.example", Audience: []string{"a"}, Algorithms: []string{"none"}}, "auth jwt: algorithm none is not allowed"},
		{"alg HS256", JWTConfig{Issuer: "https://idp.example", Audience: []string{"a"}, Algorithms: []string{"RS256", "HS256"}}, "auth jwt: algorithm HS256 is not allowed (use oauth2 or bearer for shared secrets)"},
		{"alg unknown", JWTConfig{Issuer: "https://idp.example", Audience: []string{"a"}, Algorithms: []string{"RS1"}}, `auth jwt: unknown algorithm "RS1"`},
		{"bad scope", JWTConfig{Issuer: "https://idp.example", Audience: []string{"a"}, Scopes: []string{"a b"}}, `auth jwt: invalid scope "a b"`},
		{"leeway", JWTConfig{Issuer: "https://idp.example", Audience: []string{"a"}, Leeway: Duration(time.Hour)}, "auth jwt: leeway must be between 0 and 5m0s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(Config{Method: "jwt", JWT: &tc.c}, testOptions())
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseJWKSSkipsBadKeys(t *testing.T) {
	good := testkit.JWK("good", rsaKeyA())
	offCurve := testkit.JWK("off", ecKey())
	offCurve["y"] = offCurve["x"]
	enc := testkit.JWK("enc", rsaKeyB())
	enc["use"] = "enc"
	evenE := testkit.JWK("even", rsaKeyB())
	evenE["e"] = b64u([]byte{2})
	set, err := parseJWKS(testkit.JWKS(good, offCurve, enc, evenE,
		map[string]string{"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
		map[string]string{"kty": "EC", "kid": "k", "crv": "P-192", "x": "AA", "y": "AA"},
		map[string]string{"kty": "OKP", "kid": "x", "crv": "X25519", "x": b64u(make([]byte, 32))},
	), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.all) != 1 || set.all[0].kid != "good" {
		t.Fatalf("kept %d keys", len(set.all))
	}
	if _, err := parseJWKS([]byte(`{"keys":"nope"}`), testNow); err == nil {
		t.Fatal("bad JWKS accepted")
	}
}

func TestDefaultClientRefusesDowngrade(t *testing.T) {
	target := "http://idp.example/jwks"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target, http.StatusFound)
	}))
	defer srv.Close()
	resp, err := Options{}.httpClient().Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("redirect to plain http off loopback followed")
	}
	if !strings.Contains(err.Error(), "must use https") {
		t.Fatalf("unexpected error %v", err)
	}
}
