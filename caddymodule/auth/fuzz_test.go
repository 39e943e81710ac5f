package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// checkFuzzErr fails when a verifier returns an error that does not wrap ErrUnauthorized.
func checkFuzzErr(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("error %v does not wrap ErrUnauthorized", err)
	}
}

func FuzzBasicHeader(f *testing.F) {
	f.Add(basicValue("vendor", "secret"))
	f.Add("Basic atr_opaque_token")
	f.Add("Basic ")
	f.Add("basic dmVuZG9yOnNlY3JldA")
	pair := mustBuild(f, Config{Method: "basic", Username: "vendor", Password: "secret"}, testOptions())
	opaque := mustBuild(f, Config{Method: "basic", Password: "atr_opaque_token"}, testOptions())
	f.Fuzz(func(t *testing.T, value string) {
		r := &Request{Header: hdr("Authorization", value), Now: testNow}
		err := pair.Verify(context.Background(), r)
		checkFuzzErr(t, err)
		if err == nil {
			cred, _ := authScheme(value, "Basic")
			u, p, ok := decodeBasic(cred, make([]byte, 16))
			if !ok || string(u) != "vendor" || string(p) != "secret" {
				t.Fatalf("accepted %q", value)
			}
		}
		err = opaque.Verify(context.Background(), r)
		checkFuzzErr(t, err)
		if cred, _ := authScheme(value, "Basic"); err == nil && cred != "atr_opaque_token" {
			t.Fatalf("opaque accepted %q", value)
		}
	})
}

func FuzzBearerHeader(f *testing.F) {
	f.Add("Bearer tok-123")
	f.Add("Bearer  tok-123 x")
	f.Add("bearer")
	v := mustBuild(f, Config{Method: "bearer", Token: "tok-123"}, testOptions())
	f.Fuzz(func(t *testing.T, value string) {
		r := &Request{Header: hdr("Authorization", value), Now: testNow}
		err := v.Verify(context.Background(), r)
		checkFuzzErr(t, err)
		if tok, _ := bearerToken(r.Header); err == nil && tok != "tok-123" {
			t.Fatalf("accepted %q", value)
		}
		_ = bearerChallengeFor(r.Header)
	})
}

func FuzzStandardWebhooksHeader(f *testing.F) {
	key, err := DecodeStandardWebhookSecret(swVectorSecret)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(swVectorID, unix(testNow), SignStandardWebhook(key, swVectorID, testNow, []byte(swVectorBody)), []byte(swVectorBody))
	f.Add("id", "0", "v1,", []byte{})
	f.Add("id", "+1", "v1a,abc v2,=== v1,"+strings.Repeat("A", 44), []byte("{}"))
	v := mustBuild(f, Config{Method: "standard_webhooks", StandardWebhooks: &StandardWebhooksConfig{Secrets: []string{swVectorSecret}}}, testOptions())
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		r := &Request{Header: hdr("Webhook-Id", id, "Webhook-Timestamp", ts, "Webhook-Signature", sig), Body: body, Now: testNow}
		checkFuzzErr(t, v.Verify(context.Background(), r))
		var sigs [maxSignatures][sha256.Size]byte
		_, _ = parseStandardSignatures(sig, &sigs)
	})
}

func FuzzHMACHeader(f *testing.F) {
	f.Add("sha256="+hexMAC(sha256.New, "s", "{}"), unix(testNow), []byte("{}"))
	f.Add(stripeHeader("s", testNow, "{}"), "", []byte("{}"))
	f.Add("t=1,v1=,v1=zz,v0=1,=,,", "1", []byte(nil))
	f.Add("t=,t=", "-0", []byte("x"))
	o := testOptions()
	github := mustBuild(f, Config{Method: "hmac", HMAC: &HMACConfig{Header: "X-Sig", Prefix: "sha256=", Secrets: []string{"s"}}}, o)
	shopify := mustBuild(f, Config{Method: "hmac", HMAC: &HMACConfig{Header: "X-Sig", Encoding: "base64", Algorithm: "sha512", Secrets: []string{"s"}}}, o)
	slack := mustBuild(f, Config{Method: "hmac", HMAC: &HMACConfig{Header: "X-Sig", Prefix: "v0=", TimestampHeader: "X-Ts", SignedPayload: "v0:{timestamp}:{body}", Secrets: []string{"s"}}}, o)
	stripe := mustBuild(f, Config{Method: "hmac", HMAC: &HMACConfig{Header: "X-Sig", Format: "stripe", Secrets: []string{"s"}}}, o)
	f.Fuzz(func(t *testing.T, sig, ts string, body []byte) {
		r := &Request{Header: hdr("X-Sig", sig, "X-Ts", ts), Body: body, Now: testNow}
		for _, v := range []Verifier{github, shopify, slack, stripe} {
			checkFuzzErr(t, v.Verify(context.Background(), r))
		}
		var cands [maxSignatures]string
		_, _, _ = parseStripeHeader(sig, &cands)
	})
}

// offlineJWT is a jwt verifier whose key set is already cached and whose refreshes are
// rate-limited, so it never touches the network.
func offlineJWT(tb testing.TB) *jwtVerifier {
	tb.Helper()
	v := mustBuild(tb, Config{Method: "jwt", JWT: &JWTConfig{
		JWKSURL:    "http://127.0.0.1:1/jwks",
		Issuer:     "https://idp.example",
		Audience:   []string{"gateway"},
		Algorithms: []string{"RS256", "ES256"},
		Scopes:     []string{"webhooks:write"},
	}}, Options{Now: fixedClock}).(*jwtVerifier)
	set, err := parseJWKS(testkit.JWKS(testkit.JWK("k1", rsaKeyA()), testkit.JWK("ec1", ecKey())), testNow)
	if err != nil {
		tb.Fatal(err)
	}
	v.keys.set.Store(set)
	v.keys.lastAttempt = testNow
	return v
}

func FuzzJWTVerify(f *testing.F) {
	jv := offlineJWT(f)
	ov, ts := buildOAuth2(f, oauth2Config(), testOptions())
	good := stdClaims("https://idp.example", testNow)
	f.Add(testkit.SignJWT(f, jwt.SigningMethodRS256, rsaKeyA(), "k1", good))
	f.Add(testkit.SignJWT(f, jwt.SigningMethodES256, ecKey(), "ec1", good))
	f.Add(testkit.SignJWT(f, jwt.SigningMethodHS256, []byte("k"), "k1", good))
	f.Add(unsignedToken(map[string]string{"alg": "none"}, good))
	w := postToken(ts, tokenReq{basic: [2]string{incodeID, incodeSecret}, form: "grant_type=client_credentials"})
	f.Add(decodeTokenF(f, w.Body.Bytes()))
	f.Fuzz(func(t *testing.T, tok string) {
		r := &Request{Header: bearerHdr(tok), Now: testNow}
		checkFuzzErr(t, jv.Verify(context.Background(), r))
		checkFuzzErr(t, ov.Verify(context.Background(), r))
	})
}

func decodeTokenF(tb testing.TB, body []byte) string {
	tb.Helper()
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		tb.Fatalf("no token in %s", body)
	}
	return tr.AccessToken
}
