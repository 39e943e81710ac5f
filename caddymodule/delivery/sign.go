package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// SignStandardWebhook returns the Standard Webhooks signature header value for one message:
// "v1," followed by the base64 HMAC-SHA256, keyed with secret, of "<id>.<unix seconds>.<body>".
func SignStandardWebhook(secret []byte, id string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, ts.Unix(), 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	sum := mac.Sum(nil)
	out := make([]byte, 3+base64.StdEncoding.EncodedLen(len(sum)))
	copy(out, "v1,")
	base64.StdEncoding.Encode(out[3:], sum)
	return string(out)
}

// DecodeSigningSecret turns a configured signing secret into the HMAC key: a "whsec_" secret is
// the base64 of the key (Standard Webhooks); any other value is used as its bytes.
func DecodeSigningSecret(s string) []byte {
	if rest, ok := strings.CutPrefix(s, "whsec_"); ok {
		if key, err := base64.StdEncoding.DecodeString(rest); err == nil {
			return key
		}
	}
	return []byte(s)
}
