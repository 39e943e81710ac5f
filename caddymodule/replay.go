package caddymodule

import (
	"fmt"
	"strings"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/payload"
)

// A signature over the body (GitHub's X-Hub-Signature-256, Shopify's HMAC) proves the body, not
// the rest of the request. On a route with no other proof, anyone who captured one signed
// request can send it again with any unsigned header changed. If the idempotency key reads such
// a header (a delivery id), every invented value is a new key, and the same signed event is
// delivered once per value. So a key template on such a route may read only what the signature
// covers (the body through {webhook.json.*}, headers a signature signs), unless the template
// also includes {webhook.body_sha256}: then a replayed body always gives the same key.

// requestPlaceholderPrefix starts every Caddy placeholder that reads the request.
const requestPlaceholderPrefix = "http.request."

// checkReplayableKeys refuses a key template that reads an unsigned part of the request on a
// route whose only proof is a body signature.
func (h *Handler) checkReplayableKeys(templates []string, kt payload.KeyTemplates) error {
	if !h.authChain.BodyProofOnly() {
		return nil
	}
	for i, t := range kt {
		if t.UsesBody() {
			continue
		}
		for _, name := range t.Placeholders() {
			if !strings.HasPrefix(name, requestPlaceholderPrefix) {
				continue // {env.*}, {system.*}: fixed for the process
			}
			if header, ok := strings.CutPrefix(name, requestPlaceholderPrefix+"header."); ok && h.authChain.SignedHeader(header) {
				continue
			}
			src := t.String()
			if i < len(templates) {
				src = templates[i]
			}
			return fmt.Errorf("route %q: idempotency_key %q reads {%s}, which no auth line signs: "+
				"on a route whose only proof is a body signature, a replayed body would get a new key; "+
				"add {webhook.body_sha256} to the template or key on signed fields ({webhook.json.*})", h.Name, src, name)
		}
	}
	return nil
}
