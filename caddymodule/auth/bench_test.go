package auth

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// benchBody is a typical webhook body of about 1 KiB.
var benchBody = []byte(`{"event":"flowx.completed","payload":{"_id":"` + strings.Repeat("x", 960) + `"}}`)

func benchVerify(b *testing.B, v Verifier, r *Request) {
	b.Helper()
	ctx := context.Background()
	if err := v.Verify(ctx, r); err != nil {
		b.Fatalf("Verify: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyBasic(b *testing.B) {
	v := mustBuild(b, Config{Method: "basic", Username: "vendor", Password: "a-long-enough-password"}, testOptions())
	benchVerify(b, v, &Request{Header: hdr("Authorization", basicValue("vendor", "a-long-enough-password")), Now: testNow})
}

func BenchmarkVerifyBasicOpaque(b *testing.B) {
	v := mustBuild(b, Config{Method: "basic", Password: "atr_0123456789abcdef"}, testOptions())
	benchVerify(b, v, &Request{Header: hdr("Authorization", "Basic atr_0123456789abcdef"), Now: testNow})
}

func BenchmarkVerifyAPIKey(b *testing.B) {
	v := mustBuild(b, Config{Method: "api_key", Header: "X-API-Key", Value: "k-0123456789abcdef0123456789"}, testOptions())
	benchVerify(b, v, &Request{Header: hdr("X-API-Key", "k-0123456789abcdef0123456789"), Now: testNow})
}

func BenchmarkVerifyBearer(b *testing.B) {
	v := mustBuild(b, Config{Method: "bearer", Token: "tok-0123456789abcdef0123456789"}, testOptions())
	benchVerify(b, v, &Request{Header: bearerHdr("tok-0123456789abcdef0123456789"), Now: testNow})
}

// BenchmarkVerifyJWT is an RS256 token verified against a cached JWKS: no network.
func BenchmarkVerifyJWT(b *testing.B) {
	v := offlineJWT(b)
	tok := testkit.SignJWT(b, jwt.SigningMethodRS256, rsaKeyA(), "k1", stdClaims("https://idp.example", testNow))
	benchVerify(b, v, &Request{Header: bearerHdr(tok), Now: testNow})
}

func BenchmarkVerifyJWTES256(b *testing.B) {
	v := offlineJWT(b)
	tok := testkit.SignJWT(b, jwt.SigningMethodES256, ecKey(), "ec1", stdClaims("https://idp.example", testNow))
	benchVerify(b, v, &Request{Header: bearerHdr(tok), Now: testNow})
}

func BenchmarkVerifyOAuth2(b *testing.B) {
	v, ts := buildOAuth2(b, oauth2Config(), testOptions())
	w := postToken(ts, tokenReq{basic: [2]string{incodeID, incodeSecret}, form: "grant_type=client_credentials"})
	benchVerify(b, v, &Request{Header: bearerHdr(decodeTokenF(b, w.Body.Bytes())), Now: testNow})
}

func BenchmarkVerifyHMAC(b *testing.B) {
	v := mustBuild(b, Config{Method: "hmac", HMAC: &HMACConfig{Header: "X-Hub-Signature-256", Prefix: "sha256=", Secrets: []string{"github-secret"}}}, testOptions())
	sig := "sha256=" + hexMAC(sha256.New, "github-secret", string(benchBody))
	benchVerify(b, v, &Request{Header: hdr("X-Hub-Signature-256", sig), Body: benchBody, Now: testNow})
}

func BenchmarkVerifyHMACStripe(b *testing.B) {
	v := mustBuild(b, Config{Method: "hmac", HMAC: &HMACConfig{Header: "Stripe-Signature", Format: "stripe", Secrets: []string{"whsec_old", "whsec_new"}}}, testOptions())
	benchVerify(b, v, &Request{Header: hdr("Stripe-Signature", stripeHeader("whsec_new", testNow, string(benchBody))), Body: benchBody, Now: testNow})
}

func BenchmarkVerifyStandardWebhooks(b *testing.B) {
	v := mustBuild(b, Config{Method: "standard_webhooks", StandardWebhooks: &StandardWebhooksConfig{Secrets: []string{swVectorSecret}}}, testOptions())
	key, err := DecodeStandardWebhookSecret(swVectorSecret)
	if err != nil {
		b.Fatal(err)
	}
	h := hdr("Webhook-Id", "msg_1", "Webhook-Timestamp", unix(testNow), "Webhook-Signature", SignStandardWebhook(key, "msg_1", testNow, benchBody))
	benchVerify(b, v, &Request{Header: h, Body: benchBody, Now: testNow})
}

// BenchmarkChainCheckHeaders is a chain whose second line passes.
func BenchmarkChainCheckHeaders(b *testing.B) {
	o := testOptions()
	c := NewChain([]Verifier{
		mustBuild(b, Config{Method: "basic", Username: "u", Password: "p"}, o),
		mustBuild(b, Config{Method: "api_key", Header: "X-API-Key", Value: "k-0123456789"}, o),
	})
	r := &Request{Header: hdr("X-API-Key", "k-0123456789"), Now: testNow}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if c.CheckHeaders(ctx, r) != Pass {
			b.Fatal("not passed")
		}
	}
}
