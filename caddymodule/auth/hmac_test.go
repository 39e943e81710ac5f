package auth

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"strconv"
	"strings"
	"testing"
	"time"
)

func macOf(h func() hash.Hash, secret, msg string) []byte {
	m := hmac.New(h, []byte(secret))
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func hexMAC(h func() hash.Hash, secret, msg string) string {
	return hex.EncodeToString(macOf(h, secret, msg))
}
func b64MAC(h func() hash.Hash, secret, msg string) string {
	return base64.StdEncoding.EncodeToString(macOf(h, secret, msg))
}

const payload = `{"event":"flowx.completed","payload":{"_id":"abc"}}`

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func TestHMACGitHub(t *testing.T) {
	v := mustBuild(t, Config{Method: "hmac", HMAC: &HMACConfig{Header: "X-Hub-Signature-256", Prefix: "sha256=", Secrets: []string{"new-secret", "old-secret"}}}, testOptions())
	if v.Phase() != PhaseBody || v.Challenge() != "" {
		t.Fatal("hmac must be a body method without challenge")
	}
	sig := "sha256=" + hexMAC(sha256.New, "old-secret", payload)
	runVerifyCases(t, v, []verifyCase{
		{name: "new secret", header: hdr("X-Hub-Signature-256", "sha256="+hexMAC(sha256.New, "new-secret", payload)), body: payload},
		{name: "rotated (old) secret", header: hdr("X-Hub-Signature-256", sig), body: payload},
		{name: "upper-case hex", header: hdr("X-Hub-Signature-256", "sha256="+strings.ToUpper(hexMAC(sha256.New, "new-secret", payload))), body: payload},
		{name: "tampered body", header: hdr("X-Hub-Signature-256", sig), body: payload + " ", want: errSignatureMismatch},
		{name: "wrong secret", header: hdr("X-Hub-Signature-256", "sha256="+hexMAC(sha256.New, "guess", payload)), body: payload, want: errSignatureMismatch},
		{name: "missing header", header: hdr(), body: payload, want: errMissingSignature},
		{name: "repeated header", header: hdr("X-Hub-Signature-256", sig, "X-Hub-Signature-256", sig), body: payload, want: errAmbiguousCredentials},
		{name: "missing prefix", header: hdr("X-Hub-Signature-256", hexMAC(sha256.New, "new-secret", payload)), body: payload, want: errMalformedSignature},
		{name: "prefix only", header: hdr("X-Hub-Signature-256", "sha256="), body: payload, want: errMalformedSignature},
		{name: "sha1 signature", header: hdr("X-Hub-Signature-256", "sha256="+hexMAC(sha1.New, "new-secret", payload)), body: payload, want: errSignatureMismatch},
		{name: "not hex", header: hdr("X-Hub-Signature-256", "sha256="+strings.Repeat("zz", 32)), body: payload, want: errSignatureMismatch},
	})
	// After the rotation completes, the old secret no longer passes.
	after := mustBuild(t, Config{Method: "hmac", HMAC: &HMACConfig{Header: "X-Hub-Signature-256", Prefix: "sha256=", Secrets: []string{"new-secret"}}}, testOptions())
	runVerifyCases(t, after, []verifyCase{{name: "expired secret", header: hdr("X-Hub-Signature-256", sig), body: payload, want: errSignatureMismatch}})
}

func TestHMACShopifyAndVariants(t *testing.T) {
	shopify := mustBuild(t, Config{Method: "hmac", HMAC: &HMACConfig{Header: "X-Shopify-Hmac-Sha256", Encoding: "base64", Secrets: []string{"shpss"}}}, testOptions())
	good := b64MAC(sha256.New, "shpss", payload)
	runVerifyCases(t, shopify, []verifyCase{
		{name: "shopify", header: hdr("X-Shopify-Hmac-Sha256", good), body: payload},
		{name: "shopify unpadded", header: hdr("X-Shopify-Hmac-Sha256", strings.TrimRight(good, "=")), body: payload},
		{name: "shopify tampered", header: hdr("X-Shopify-Hmac-Sha256", good), body: `{}`, want: errSignatureMismatch},
		{name: "shopify hex is not base64", header: hdr("X-Shopify-Hmac-Sha256", hexMAC(sha256.New, "shpss", payload)), body: payload, want: errSignatureMismatch},
		{name: "shopify malformed base64", header: hdr("X-Shopify-Hmac-Sha256", "!!!!"+good[4:]), body: payload, want: errSignatureMismatch},
	})
	sha1v := mustBuild(t, Config{Method: "hmac", HMAC: &HMACConfig{Header: "X-Hub-Signature", Prefix: "sha1=", Algorithm: "sha1", Secrets: []string{"k"}}}, testOptions())
	runVerifyCases(t, sha1v, []verifyCase{{name: "sha1", header: hdr("X-Hub-Signature", "sha1="+hexMAC(sha1.New, "k", payload)), body: payload}})
	sha512v := mustBuild(t, Config{Method: "hmac", HMAC: &HMACConfig{Header: "X-Sig", Algorithm: "sha512", Encoding: "base64", Secrets: []string{"k"}}}, testOptions())
	runVerifyCases(t, sha512v, []verifyCase{{name: "sha512", header: hdr("X-Sig", b64MAC(sha512.New, "k", payload)), body: payload}})
}

func TestHMACTimestampHeader(t *testing.T) {
	// Slack: v0=hex(HMAC("v0:" + ts + ":" + body)), timestamp in its own header.
	v := mustBuild(t, Config{Method: "hmac", HMAC: &HMACConfig{
		Header: "X-Slack-Signature", Prefix: "v0=", TimestampHeader: "X-Slack-Request-Timestamp",
		SignedPayload: "v0:{timestamp}:{body}", Secrets: []string{"slack"},
	}}, testOptions())
	if got := v.StripHeaders(); len(got) != 2 || got[1] != "X-Slack-Request-Timestamp" {
		t.Fatalf("StripHeaders = %v", got)
	}
	sign := func(ts time.Time) pairs {
		return pairs{"X-Slack-Signature", "v0=" + hexMAC(sha256.New, "slack", "v0:"+unix(ts)+":"+payload), "X-Slack-Request-Timestamp", unix(ts)}
	}
	runVerifyCases(t, v, []verifyCase{
		{name: "now", header: hdr(sign(testNow)...), body: payload},
		{name: "4 minutes old", header: hdr(sign(testNow.Add(-4 * time.Minute))...), body: payload},
		{name: "old timestamp", header: hdr(sign(testNow.Add(-6 * time.Minute))...), body: payload, want: errTimestampTooOld},
		{name: "future timestamp", header: hdr(sign(testNow.Add(6 * time.Minute))...), body: payload, want: errTimestampInFuture},
		{name: "timestamp swapped after signing", header: hdr("X-Slack-Signature", sign(testNow.Add(-time.Hour))[1], "X-Slack-Request-Timestamp", unix(testNow)), body: payload, want: errSignatureMismatch},
		{name: "missing timestamp", header: hdr("X-Slack-Signature", sign(testNow)[1]), body: payload, want: errMissingTimestamp},
		{name: "malformed timestamp", header: hdr("X-Slack-Signature", sign(testNow)[1], "X-Slack-Request-Timestamp", "-1"), body: payload, want: errMalformedTimestamp},
		{name: "huge timestamp", header: hdr("X-Slack-Signature", sign(testNow)[1], "X-Slack-Request-Timestamp", "99999999999999999999"), body: payload, want: errMalformedTimestamp},
	})
}

// pairs is a flat list of header key/value pairs.
type pairs = []string

func stripeHeader(secret string, ts time.Time, body string, extra ...string) string {
	parts := append([]string{"t=" + unix(ts), "v1=" + hexMAC(sha256.New, secret, unix(ts)+"."+body)}, extra...)
	return strings.Join(parts, ",")
}

func TestHMACStripe(t *testing.T) {
	v := mustBuild(t, Config{Method: "hmac", HMAC: &HMACConfig{Header: "Stripe-Signature", Format: "stripe", Secrets: []string{"whsec_stripe"}}}, testOptions())
	good := stripeHeader("whsec_stripe", testNow, payload)
	other := "v1=" + hexMAC(sha256.New, "whsec_other", unix(testNow)+"."+payload)
	runVerifyCases(t, v, []verifyCase{
		{name: "stripe", header: hdr("Stripe-Signature", good), body: payload},
		{name: "several v1 while the sender rolls its secret", header: hdr("Stripe-Signature", "t="+unix(testNow)+","+other+",v1="+hexMAC(sha256.New, "whsec_stripe", unix(testNow)+"."+payload)+",v0=deadbeef"), body: payload},
		{name: "spaces around items", header: hdr("Stripe-Signature", strings.ReplaceAll(good, ",", ", ")), body: payload},
		{name: "tampered body", header: hdr("Stripe-Signature", good), body: payload + "x", want: errSignatureMismatch},
		{name: "wrong secret", header: hdr("Stripe-Signature", stripeHeader("whsec_other", testNow, payload)), body: payload, want: errSignatureMismatch},
		{name: "old", header: hdr("Stripe-Signature", stripeHeader("whsec_stripe", testNow.Add(-10*time.Minute), payload)), body: payload, want: errTimestampTooOld},
		{name: "future", header: hdr("Stripe-Signature", stripeHeader("whsec_stripe", testNow.Add(10*time.Minute), payload)), body: payload, want: errTimestampInFuture},
		{name: "no t", header: hdr("Stripe-Signature", other), body: payload, want: errMissingTimestamp},
		{name: "no v1", header: hdr("Stripe-Signature", "t="+unix(testNow)+",v0=abc"), body: payload, want: errMissingSignature},
		{name: "two t", header: hdr("Stripe-Signature", "t=1,"+good), body: payload, want: errMalformedSignature},
		{name: "item without =", header: hdr("Stripe-Signature", good+",junk"), body: payload, want: errMalformedSignature},
		{name: "missing header", header: hdr(), body: payload, want: errMissingSignature},
	})
}

func TestHMACBuildErrors(t *testing.T) {
	cases := []struct {
		name string
		c    HMACConfig
		want string
	}{
		{"no header", HMACConfig{Secrets: []string{"s"}}, "auth hmac: missing header"},
		{"no secret", HMACConfig{Header: "X-Sig"}, "auth hmac: missing secret"},
		{"empty secret", HMACConfig{Header: "X-Sig", Secrets: []string{"a", ""}}, "auth hmac: secrets[1] is empty"},
		{"algorithm", HMACConfig{Header: "X-Sig", Secrets: []string{"s"}, Algorithm: "md5"}, `auth hmac: unknown algorithm "md5"`},
		{"encoding", HMACConfig{Header: "X-Sig", Secrets: []string{"s"}, Encoding: "base32"}, `auth hmac: unknown encoding "base32"`},
		{"format", HMACConfig{Header: "X-Sig", Secrets: []string{"s"}, Format: "github"}, `auth hmac: unknown format "github"`},
		{"stripe prefix", HMACConfig{Header: "X-Sig", Secrets: []string{"s"}, Format: "stripe", Prefix: "v1="}, "auth hmac: format stripe takes neither prefix nor timestamp_header"},
		{"stripe base64", HMACConfig{Header: "X-Sig", Secrets: []string{"s"}, Format: "stripe", Encoding: "base64"}, "auth hmac: format stripe requires encoding hex"},
		{"unknown placeholder", HMACConfig{Header: "X-Sig", Secrets: []string{"s"}, SignedPayload: "{id}.{body}"}, "auth hmac: invalid signed_payload: only {body} and {timestamp} may appear in braces"},
		{"no body", HMACConfig{Header: "X-Sig", Secrets: []string{"s"}, SignedPayload: "static"}, "auth hmac: signed_payload must include {body}"},
		{"timestamp without header", HMACConfig{Header: "X-Sig", Secrets: []string{"s"}, SignedPayload: "{timestamp}.{body}"}, "auth hmac: signed_payload uses {timestamp} but no timestamp_header is set"},
		{"unsigned timestamp", HMACConfig{Header: "X-Sig", Secrets: []string{"s"}, TimestampHeader: "X-Ts"}, "auth hmac: signed_payload must include {timestamp} when the timestamp is checked"},
		{"tolerance without timestamp", HMACConfig{Header: "X-Sig", Secrets: []string{"s"}, Tolerance: Duration(time.Minute)}, "auth hmac: tolerance requires timestamp_header or format stripe"},
		{"negative tolerance", HMACConfig{Header: "X-Sig", Secrets: []string{"s"}, Format: "stripe", Tolerance: Duration(-time.Minute)}, "auth hmac: negative tolerance"},
		{"bad timestamp header", HMACConfig{Header: "X-Sig", Secrets: []string{"s"}, TimestampHeader: "X Ts", SignedPayload: "{timestamp}{body}"}, `auth hmac: invalid timestamp_header "X Ts"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(Config{Method: "hmac", HMAC: &tc.c}, testOptions())
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
