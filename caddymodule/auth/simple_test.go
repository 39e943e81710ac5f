package auth

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
)

func TestBuildErrors(t *testing.T) {
	const secret = "s3cr3t-value-that-must-not-leak"
	cases := []struct {
		name string
		c    Config
		want string
	}{
		{"missing method", Config{}, "auth: missing method"},
		{"unknown method", Config{Method: "kerberos"}, `auth: unknown method "kerberos"`},
		{"basic no password", Config{Method: "basic", Username: "u"}, "auth basic: missing password"},
		{"basic colon user", Config{Method: "basic", Username: "a:b", Password: secret}, "auth basic: username must not contain ':'"},
		{"basic foreign field", Config{Method: "basic", Password: secret, Token: secret}, "auth basic: field token does not apply to this method"},
		{"api_key no header", Config{Method: "api_key", Value: secret}, "auth api_key: missing header"},
		{"api_key bad header", Config{Method: "api_key", Header: "X Key", Value: secret}, `auth api_key: invalid header "X Key"`},
		{"api_key no value", Config{Method: "api_key", Header: "X-Key"}, "auth api_key: missing value"},
		{"bearer no token", Config{Method: "bearer"}, "auth bearer: missing token"},
		{"bearer spaces", Config{Method: "bearer", Token: "a " + secret}, "auth bearer: token must not contain whitespace"},
		{"none with field", Config{Method: "none", Password: secret}, "auth none: field password does not apply to this method"},
		{"jwt no block", Config{Method: "jwt"}, "auth jwt: missing jwt block"},
		{"oauth2 no block", Config{Method: "oauth2"}, "auth oauth2: missing oauth2 block"},
		{"hmac no block", Config{Method: "hmac"}, "auth hmac: missing hmac block"},
		{"sw no block", Config{Method: "standard_webhooks"}, "auth standard_webhooks: missing standard_webhooks block"},
		{"hmac with jwt block", Config{Method: "hmac", HMAC: &HMACConfig{}, JWT: &JWTConfig{}}, "auth hmac: field jwt does not apply to this method"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.c, testOptions())
			if err == nil {
				t.Fatal("Build succeeded")
			}
			if err.Error() != tc.want {
				t.Fatalf("error %q, want %q", err, tc.want)
			}
			assertNoSecret(t, err.Error(), secret)
		})
	}
}

func TestBasic(t *testing.T) {
	v := mustBuild(t, Config{Method: "basic", Username: "vendor", Password: "p@ss:word"}, testOptions())
	if v.Phase() != PhaseHeader || v.Method() != "basic" || v.Challenge() != `Basic realm="webhook"` {
		t.Fatalf("unexpected metadata %v %q %q", v.Phase(), v.Method(), v.Challenge())
	}
	long := strings.Repeat("x", 2000)
	runVerifyCases(t, v, []verifyCase{
		{name: "right", header: hdr("Authorization", basicValue("vendor", "p@ss:word"))},
		{name: "right unpadded", header: hdr("Authorization", "Basic "+base64.RawStdEncoding.EncodeToString([]byte("vendor:p@ss:word")))},
		{name: "scheme case-insensitive", header: hdr("Authorization", "bAsIc  "+base64.StdEncoding.EncodeToString([]byte("vendor:p@ss:word")))},
		{name: "wrong password", header: hdr("Authorization", basicValue("vendor", "nope")), want: errCredentialsMismatch},
		{name: "wrong user", header: hdr("Authorization", basicValue("other", "p@ss:word")), want: errCredentialsMismatch},
		{name: "password prefix", header: hdr("Authorization", basicValue("vendor", "p@ss")), want: errCredentialsMismatch},
		{name: "missing", header: hdr(), want: errMissingCredentials},
		{name: "empty", header: hdr("Authorization", ""), want: errMissingCredentials},
		{name: "bearer scheme", header: hdr("Authorization", "Bearer abc"), want: errMissingCredentials},
		{name: "scheme only", header: hdr("Authorization", "Basic"), want: errMissingCredentials},
		{name: "not base64", header: hdr("Authorization", "Basic !!!"), want: errMalformedCredentials},
		{name: "no colon", header: hdr("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("vendor"))), want: errMalformedCredentials},
		{name: "long credential", header: hdr("Authorization", basicValue("vendor", long)), want: errCredentialsMismatch},
		{name: "repeated header", header: hdr("Authorization", basicValue("vendor", "p@ss:word"), "Authorization", basicValue("vendor", "p@ss:word")), want: errAmbiguousCredentials},
	})
}

func TestBasicLongPassword(t *testing.T) {
	long := strings.Repeat("y", 3000)
	v := mustBuild(t, Config{Method: "basic", Username: "u", Password: long}, testOptions())
	runVerifyCases(t, v, []verifyCase{
		{name: "right", header: hdr("Authorization", basicValue("u", long))},
		{name: "wrong", header: hdr("Authorization", basicValue("u", long[1:])), want: errCredentialsMismatch},
	})
}

func TestBasicOpaqueAttestr(t *testing.T) {
	const token = "atr_9f8e7d6c5b4a"
	v := mustBuild(t, Config{Method: "basic", Password: token}, testOptions())
	runVerifyCases(t, v, []verifyCase{
		{name: "right", header: hdr("Authorization", "Basic "+token)},
		{name: "wrong", header: hdr("Authorization", "Basic atr_0000"), want: errCredentialsMismatch},
		{name: "base64 of token is not the token", header: hdr("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(token))), want: errCredentialsMismatch},
		{name: "missing", header: hdr(), want: errMissingCredentials},
		{name: "other scheme", header: hdr("Authorization", token), want: errMissingCredentials},
	})
}

func TestAPIKey(t *testing.T) {
	v := mustBuild(t, Config{Method: "api_key", Header: "x-api-key", Value: "abc123"}, testOptions())
	if got := v.StripHeaders(); len(got) != 1 || got[0] != "X-Api-Key" {
		t.Fatalf("StripHeaders = %v", got)
	}
	if v.Challenge() != "" {
		t.Fatalf("api_key has a challenge %q", v.Challenge())
	}
	runVerifyCases(t, v, []verifyCase{
		{name: "right", header: hdr("X-API-Key", "abc123")},
		{name: "wrong", header: hdr("X-API-Key", "abc124"), want: errCredentialsMismatch},
		{name: "prefix", header: hdr("X-API-Key", "abc"), want: errCredentialsMismatch},
		{name: "case matters", header: hdr("X-API-Key", "ABC123"), want: errCredentialsMismatch},
		{name: "missing", header: hdr("X-Other", "abc123"), want: errMissingCredentials},
		{name: "repeated", header: hdr("X-API-Key", "abc123", "X-API-Key", "abc123"), want: errAmbiguousCredentials},
	})
}

func TestAPIKeyRawAuthorization(t *testing.T) {
	// Unico with no colon in the configured string sends "Authorization: abc123".
	raw := mustBuild(t, Config{Method: "api_key", Header: "Authorization", Value: "abc123"}, testOptions())
	runVerifyCases(t, raw, []verifyCase{
		{name: "bare key", header: hdr("Authorization", "abc123")},
		{name: "with scheme", header: hdr("Authorization", "Bearer abc123"), want: errCredentialsMismatch},
	})
	// "Authorization:Bearer abc123" in Unico's config sends the scheme too.
	scheme := mustBuild(t, Config{Method: "api_key", Header: "Authorization", Value: "Bearer abc123"}, testOptions())
	runVerifyCases(t, scheme, []verifyCase{
		{name: "with scheme", header: hdr("Authorization", "Bearer abc123")},
		{name: "bare key", header: hdr("Authorization", "abc123"), want: errCredentialsMismatch},
	})
}

func TestBearer(t *testing.T) {
	v := mustBuild(t, Config{Method: "bearer", Token: "tok-123"}, testOptions())
	runVerifyCases(t, v, []verifyCase{
		{name: "right", header: hdr("Authorization", "Bearer tok-123")},
		{name: "scheme case", header: hdr("Authorization", "bearer tok-123")},
		{name: "wrong", header: hdr("Authorization", "Bearer tok-124"), want: errCredentialsMismatch},
		{name: "missing", header: hdr(), want: errMissingCredentials},
		{name: "basic scheme", header: hdr("Authorization", "Basic tok-123"), want: errMissingCredentials},
		{name: "no token", header: hdr("Authorization", "Bearer "), want: errMissingCredentials},
		{name: "two tokens", header: hdr("Authorization", "Bearer tok-123 tok-123"), want: errMalformedToken},
	})
	rc := v.(RequestChallenger)
	if got := rc.ChallengeFor(hdr()); got != `Bearer realm="webhook"` {
		t.Fatalf("challenge without token = %q", got)
	}
	if got := rc.ChallengeFor(hdr("Authorization", "Bearer x")); got != `Bearer realm="webhook", error="invalid_token"` {
		t.Fatalf("challenge with token = %q", got)
	}
}

func TestNone(t *testing.T) {
	v := mustBuild(t, Config{Method: "none"}, testOptions())
	runVerifyCases(t, v, []verifyCase{{name: "anything", header: hdr()}})
}

func TestVerifyErrorsCarryNoSecret(t *testing.T) {
	const pw = "hunter2-hunter2"
	v := mustBuild(t, Config{Method: "basic", Username: "u", Password: pw}, testOptions())
	err := v.Verify(context.Background(), &Request{Header: hdr("Authorization", basicValue("u", pw+"x"))})
	assertNoSecret(t, err.Error(), pw, pw+"x")
}

func TestVerifierMetadata(t *testing.T) {
	o := testOptions()
	cases := []struct {
		c         Config
		phase     Phase
		challenge string
		strip     []string
	}{
		{Config{Method: "none"}, PhaseHeader, "", nil},
		{Config{Method: "basic", Password: "p"}, PhaseHeader, `Basic realm="webhook"`, []string{"Authorization"}},
		{Config{Method: "api_key", Header: "x-key", Value: "v"}, PhaseHeader, "", []string{"X-Key"}},
		{Config{Method: "bearer", Token: "t"}, PhaseHeader, `Bearer realm="webhook"`, []string{"Authorization"}},
		{Config{Method: "jwt", JWT: &JWTConfig{Issuer: "https://idp.example", Audience: []string{"a"}}}, PhaseHeader, `Bearer realm="webhook"`, []string{"Authorization"}},
		{Config{Method: "oauth2", OAuth2: oauth2Config()}, PhaseHeader, `Bearer realm="webhook"`, []string{"Authorization"}},
		{Config{Method: "hmac", HMAC: &HMACConfig{Header: "x-sig", Secrets: []string{"s"}}}, PhaseBody, "", []string{"X-Sig"}},
		{Config{Method: "standard_webhooks", StandardWebhooks: &StandardWebhooksConfig{Secrets: []string{swVectorSecret}}}, PhaseBody, "", []string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"}},
	}
	for _, tc := range cases {
		t.Run(tc.c.Method, func(t *testing.T) {
			v := mustBuild(t, tc.c, o)
			if v.Method() != tc.c.Method || v.Phase() != tc.phase || v.Challenge() != tc.challenge || !slices.Equal(v.StripHeaders(), tc.strip) {
				t.Fatalf("got %s %v %q %v", v.Method(), v.Phase(), v.Challenge(), v.StripHeaders())
			}
			if rc, ok := v.(RequestChallenger); ok {
				if got := rc.ChallengeFor(bearerHdr("x")); got != bearerInvalidChallenge {
					t.Fatalf("ChallengeFor = %q", got)
				}
			}
		})
	}
}
