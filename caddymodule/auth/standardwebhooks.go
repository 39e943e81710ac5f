package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
// the sender signs "<webhook-id>.<webhook-timestamp>.<body>" with HMAC-SHA256 and sends
// "webhook-signature: v1,<base64> [v1,<base64> ...]".
const (
	HeaderWebhookID        = "Webhook-Id"
	HeaderWebhookTimestamp = "Webhook-Timestamp"
	HeaderWebhookSignature = "Webhook-Signature"
	standardWebhooksPrefix = "whsec_"
	minStandardSecretLen   = 16
)

// StandardWebhooksConfig configures the standard_webhooks method: headers webhook-id,
// webhook-timestamp and webhook-signature, HMAC-SHA256 over "id.timestamp.body" (the exact raw
// body), the timestamp checked in both directions.
type StandardWebhooksConfig struct {
	// Secrets are the accepted keys, each "whsec_" followed by base64 (the prefix is optional),
	// of at least 16 decoded bytes. Several may be configured for rotation; a signature made
	// with any of them passes. At least one is required.
	Secrets []string `json:"secrets,omitempty"`
	// Tolerance is the largest accepted difference, either way, between webhook-timestamp and
	// the gateway's clock. JSON: a duration string ("5m") or integer nanoseconds. Default: 5m.
	Tolerance Duration `json:"tolerance,omitempty"`
}

// DecodeStandardWebhookSecret decodes a Standard Webhooks secret, "whsec_" followed by base64
// (the prefix is optional), into the HMAC key. The error never contains the secret.
func DecodeStandardWebhookSecret(s string) ([]byte, error) {
	b64 := strings.TrimPrefix(s, standardWebhooksPrefix)
	if b64 == "" {
		return nil, errors.New("standard webhooks secret is empty")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		if key, err = base64.RawStdEncoding.DecodeString(b64); err != nil {
			return nil, errors.New("standard webhooks secret is not base64")
		}
	}
	if len(key) == 0 {
		return nil, errors.New("standard webhooks secret is empty")
	}
	return key, nil
}

// SignStandardWebhook returns the webhook-signature value ("v1,<base64>") for a message, as a
// Standard Webhooks sender computes it. ts is sent as webhook-timestamp in Unix seconds.
func SignStandardWebhook(secret []byte, id string, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, ts.Unix(), 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// standardWebhooksVerifier checks Standard Webhooks signatures.
type standardWebhooksVerifier struct {
	keys      []*macKey
	tolerance time.Duration
	now       func() time.Time
}

var dot = []byte{'.'}

func newStandardWebhooks(c StandardWebhooksConfig, o Options) (*standardWebhooksVerifier, error) {
	if len(c.Secrets) == 0 {
		return nil, errors.New("auth standard_webhooks: missing secret")
	}
	v := &standardWebhooksVerifier{tolerance: time.Duration(c.Tolerance), now: o.clock()}
	switch {
	case v.tolerance < 0:
		return nil, errors.New("auth standard_webhooks: negative tolerance")
	case v.tolerance == 0:
		v.tolerance = defaultTolerance
	}
	for i, s := range c.Secrets {
		key, err := DecodeStandardWebhookSecret(s)
		if err != nil {
			return nil, fmt.Errorf("auth standard_webhooks: secrets[%d]: %v", i, err)
		}
		if len(key) < minStandardSecretLen {
			return nil, fmt.Errorf("auth standard_webhooks: secrets[%d] is shorter than %d bytes", i, minStandardSecretLen)
		}
		v.keys = append(v.keys, newMACKey(sha256.New, key))
	}
	return v, nil
}

func (v *standardWebhooksVerifier) Method() string    { return MethodStandardWebhooks }
func (v *standardWebhooksVerifier) Phase() Phase      { return PhaseBody }
func (v *standardWebhooksVerifier) Challenge() string { return "" }
func (v *standardWebhooksVerifier) StripHeaders() []string {
	return []string{HeaderWebhookID, HeaderWebhookTimestamp, HeaderWebhookSignature}
}

func (v *standardWebhooksVerifier) Verify(_ context.Context, r *Request) error {
	id, err := headerValue(r.Header, HeaderWebhookID)
	if err != nil {
		if errors.Is(err, errMissingCredentials) {
			return errMissingMessageID
		}
		return err
	}
	ts, err := headerValue(r.Header, HeaderWebhookTimestamp)
	if err != nil {
		if errors.Is(err, errMissingCredentials) {
			return errMissingTimestamp
		}
		return err
	}
	sigHeader, err := headerValue(r.Header, HeaderWebhookSignature)
	if err != nil {
		return signatureHeaderFailure(err)
	}
	if err := checkTimestamp(ts, requestTime(r, v.now), v.tolerance); err != nil {
		return err
	}
	var sigs [maxSignatures][sha256.Size]byte
	n, err := parseStandardSignatures(sigHeader, &sigs)
	if err != nil {
		return err
	}
	for _, k := range v.keys {
		s := k.get()
		s.h.Write(readOnlyBytes(id))
		s.h.Write(dot)
		s.h.Write(readOnlyBytes(ts))
		s.h.Write(dot)
		s.h.Write(r.Body)
		sum := s.h.Sum(s.sum[:0])
		ok := false
		for i := 0; i < n; i++ {
			if hmac.Equal(sum, sigs[i][:]) {
				ok = true
			}
		}
		k.put(s)
		if ok {
			return nil
		}
	}
	return errSignatureMismatch
}

// parseStandardSignatures decodes up to maxSignatures "v1,<base64>" entries of a space
// separated webhook-signature value. Like the reference libraries it skips entries of other
// versions (such as v1a) and entries it cannot decode; with no usable v1 entry the header is
// malformed (or missing, when it holds no entry at all).
func parseStandardSignatures(h string, sigs *[maxSignatures][sha256.Size]byte) (int, error) {
	n, entries := 0, 0
	for h != "" && n < maxSignatures {
		var entry string
		entry, h, _ = strings.Cut(h, " ")
		if entry == "" {
			continue
		}
		entries++
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" || len(sig) != base64.StdEncoding.EncodedLen(sha256.Size) {
			continue
		}
		var buf [sha256.Size + 1]byte
		m, err := base64.StdEncoding.Decode(buf[:], readOnlyBytes(sig))
		if err != nil || m != sha256.Size {
			continue
		}
		copy(sigs[n][:], buf[:m])
		n++
	}
	switch {
	case n > 0:
		return n, nil
	case entries == 0:
		return 0, errMissingSignature
	}
	return 0, errMalformedSignature
}

var _ Verifier = (*standardWebhooksVerifier)(nil)
