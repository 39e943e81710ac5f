package auth

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// The published Standard Webhooks test vector (also used by the Svix libraries' tests).
const (
	swVectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	swVectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	swVectorTS     = 1614265330
	swVectorBody   = `{"test": 2432232314}`
	swVectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignStandardWebhookVector(t *testing.T) {
	key, err := DecodeStandardWebhookSecret(swVectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := SignStandardWebhook(key, swVectorID, time.Unix(swVectorTS, 0), []byte(swVectorBody)); got != swVectorSig {
		t.Fatalf("SignStandardWebhook = %q, want %q", got, swVectorSig)
	}
	v := mustBuild(t, Config{Method: "standard_webhooks", StandardWebhooks: &StandardWebhooksConfig{Secrets: []string{swVectorSecret}}}, testOptions())
	runVerifyCases(t, v, []verifyCase{{
		name:   "vector verifies",
		header: hdr("webhook-id", swVectorID, "webhook-timestamp", "1614265330", "webhook-signature", swVectorSig),
		body:   swVectorBody,
		now:    time.Unix(swVectorTS+10, 0),
	}})
}

func TestDecodeStandardWebhookSecret(t *testing.T) {
	raw := []byte("0123456789abcdef0123")
	enc := base64.StdEncoding.EncodeToString(raw)
	for _, s := range []string{"whsec_" + enc, enc, "whsec_" + strings.TrimRight(enc, "=")} {
		got, err := DecodeStandardWebhookSecret(s)
		if err != nil || string(got) != string(raw) {
			t.Fatalf("decode %q = %q, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "whsec_", "whsec_!!!notbase64!!!"} {
		_, err := DecodeStandardWebhookSecret(s)
		if err == nil {
			t.Fatalf("decode %q succeeded", s)
		}
		assertNoSecret(t, err.Error(), "!!!notbase64!!!")
	}
}

func TestStandardWebhooks(t *testing.T) {
	newKey := []byte("new-key-0123456789abcdef")
	oldKey := []byte("old-key-0123456789abcdef")
	otherKey := []byte("other-key-0123456789abcd")
	secret := func(k []byte) string { return "whsec_" + base64.StdEncoding.EncodeToString(k) }
	v := mustBuild(t, Config{Method: "standard_webhooks", StandardWebhooks: &StandardWebhooksConfig{Secrets: []string{secret(newKey), secret(oldKey)}}}, testOptions())
	if v.Phase() != PhaseBody {
		t.Fatal("standard_webhooks must be a body method")
	}
	const id = "msg_2Lh8"
	h := func(key []byte, ts time.Time, body string) pairs {
		return pairs{"webhook-id", id, "webhook-timestamp", unix(ts), "webhook-signature", SignStandardWebhook(key, id, ts, []byte(body))}
	}
	good := h(newKey, testNow, payload)
	runVerifyCases(t, v, []verifyCase{
		{name: "right", header: hdr(good...), body: payload},
		{name: "rotated (old) secret", header: hdr(h(oldKey, testNow, payload)...), body: payload},
		{name: "several signatures, one valid", header: hdr("webhook-id", id, "webhook-timestamp", unix(testNow), "webhook-signature", SignStandardWebhook(otherKey, id, testNow, []byte(payload))+" v1a,abcd "+good[5]), body: payload},
		{name: "4 minutes old", header: hdr(h(newKey, testNow.Add(-4*time.Minute), payload)...), body: payload},
		{name: "tampered body", header: hdr(good...), body: payload + "\n", want: errSignatureMismatch},
		{name: "wrong secret", header: hdr(h(otherKey, testNow, payload)...), body: payload, want: errSignatureMismatch},
		{name: "id swapped", header: hdr("webhook-id", "msg_other", "webhook-timestamp", good[3], "webhook-signature", good[5]), body: payload, want: errSignatureMismatch},
		{name: "old timestamp", header: hdr(h(newKey, testNow.Add(-6*time.Minute), payload)...), body: payload, want: errTimestampTooOld},
		{name: "future timestamp", header: hdr(h(newKey, testNow.Add(6*time.Minute), payload)...), body: payload, want: errTimestampInFuture},
		{name: "missing id", header: hdr(good[2:]...), body: payload, want: errMissingMessageID},
		{name: "missing timestamp", header: hdr(good[0], good[1], good[4], good[5]), body: payload, want: errMissingTimestamp},
		{name: "missing signature", header: hdr(good[:4]...), body: payload, want: errMissingSignature},
		{name: "malformed timestamp", header: hdr(good[0], good[1], good[2], "1e9", good[4], good[5]), body: payload, want: errMalformedTimestamp},
		{name: "malformed signature", header: hdr(good[0], good[1], good[2], good[3], good[4], "v1,not-base64"), body: payload, want: errMalformedSignature},
		{name: "no version", header: hdr(good[0], good[1], good[2], good[3], good[4], strings.TrimPrefix(good[5], "v1,")), body: payload, want: errMalformedSignature},
		{name: "only other versions", header: hdr(good[0], good[1], good[2], good[3], good[4], "v2,"+strings.TrimPrefix(good[5], "v1,")), body: payload, want: errMalformedSignature},
		{name: "blank signature", header: hdr(good[0], good[1], good[2], good[3], good[4], "   "), body: payload, want: errMissingSignature},
	})
	after := mustBuild(t, Config{Method: "standard_webhooks", StandardWebhooks: &StandardWebhooksConfig{Secrets: []string{secret(newKey)}, Tolerance: Duration(time.Hour)}}, testOptions())
	runVerifyCases(t, after, []verifyCase{
		{name: "expired secret", header: hdr(h(oldKey, testNow, payload)...), body: payload, want: errSignatureMismatch},
		{name: "custom tolerance", header: hdr(h(newKey, testNow.Add(-50*time.Minute), payload)...), body: payload},
	})
}

func TestStandardWebhooksBuildErrors(t *testing.T) {
	cases := []struct {
		name string
		c    StandardWebhooksConfig
		want string
	}{
		{"no secret", StandardWebhooksConfig{}, "auth standard_webhooks: missing secret"},
		{"not base64", StandardWebhooksConfig{Secrets: []string{"whsec_***"}}, "auth standard_webhooks: secrets[0]: standard webhooks secret is not base64"},
		{"too short", StandardWebhooksConfig{Secrets: []string{"whsec_c2hvcnQ="}}, "auth standard_webhooks: secrets[0] is shorter than 16 bytes"},
		{"negative tolerance", StandardWebhooksConfig{Secrets: []string{swVectorSecret}, Tolerance: Duration(-1)}, "auth standard_webhooks: negative tolerance"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(Config{Method: "standard_webhooks", StandardWebhooks: &tc.c}, testOptions())
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
