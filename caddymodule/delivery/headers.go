package delivery

import (
	"strings"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/auth"
)

// The header contract: what both modes promise the application (and, for HeaderID and
// HeaderDuplicate, the vendor). docs/architecture.md, "The header contract", says what each
// carries. Every name lives here, so gate mode and forward mode cannot drift apart.
const (
	HeaderID             = "X-Webhook-Id"              // the gateway's event id, also on the vendor's answer
	HeaderVendor         = "X-Webhook-Vendor"          // the preset name, or custom
	HeaderEvent          = "X-Webhook-Event"           // the preset's event name
	HeaderIdempotencyKey = "X-Webhook-Idempotency-Key" // the key in clear, through HeaderSafe
	HeaderAttempt        = "X-Webhook-Attempt"         // forward mode: the attempt number, from 1
	HeaderReceivedAt     = "X-Webhook-Received-At"     // forward mode: when the gateway took the event
	HeaderReplay         = "X-Webhook-Replay"          // forward mode: "true" on a replayed delivery
	HeaderDuplicate      = "X-Webhook-Duplicate"       // the vendor's answer: "true" for a duplicate

	// Forward mode with sign: Standard Webhooks, the same names the auth line verifies.
	HeaderSignatureID   = auth.HeaderWebhookID
	HeaderSignatureTime = auth.HeaderWebhookTimestamp
	HeaderSignature     = auth.HeaderWebhookSignature
)

// gatewayPrefixes are the gateway's header namespaces: X-Webhook-* and the Standard Webhooks
// Webhook-*.
var gatewayPrefixes = [...]string{"X-Webhook-", "Webhook-"}

// IsGatewayHeader reports whether name is in one of the gateway's namespaces (any case). The
// application must be able to trust those headers as set by the gateway, so a sender's copies
// are dropped before the request goes on.
func IsGatewayHeader(name string) bool {
	for _, p := range gatewayPrefixes {
		if len(name) >= len(p) && strings.EqualFold(name[:len(p)], p) {
			return true
		}
	}
	return false
}

// HeaderSafe makes v usable as an HTTP and NATS header value: control characters other than
// tab become %XX escapes, so a key that came out of a JSON payload can never split a header.
func HeaderSafe(v string) string {
	clean := true
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return v
	}
	var b strings.Builder
	b.Grow(len(v) + 8)
	for i := 0; i < len(v); i++ {
		c := v[i]
		if (c < 0x20 && c != '\t') || c == 0x7f {
			b.WriteByte('%')
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789ABCDEF"[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
