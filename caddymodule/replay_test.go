package caddymodule

import (
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestReplayableKeyRefused: on a route whose only proof is a body signature, a key template
// that reads an unsigned header is refused with one line naming the route, the directive and
// the template. Signed headers, body fields, the body hash, and routes with a header credential
// are fine.
func TestReplayableKeyRefused(t *testing.T) {
	github := `auth hmac {
			header X-Hub-Signature-256
			secret github-test-secret
			prefix sha256=
		}`
	cases := []struct {
		name, block, wantErr string
	}{
		{"github delivery header", github + "\nidempotency_key {http.request.header.X-GitHub-Delivery}",
			`route "gh": idempotency_key "{http.request.header.X-GitHub-Delivery}" reads {http.request.header.X-GitHub-Delivery}, which no auth line signs`},
		{"query parameter", github + "\nidempotency_key k:{http.request.uri.query.id}", `reads {http.request.uri.query.id}`},
		{"unsigned first, signed fallback", github + "\nidempotency_key {http.request.header.X-Id} {webhook.json.id}", `reads {http.request.header.X-Id}`},
		{"with the body hash", github + "\nidempotency_key {http.request.header.X-GitHub-Delivery}:{webhook.body_sha256}", ""},
		{"body fields", github + "\nidempotency_key gh:{webhook.json.id}", ""},
		{"body hash", github + "\nidempotency_key gh:{webhook.body_sha256}", ""},
		{"standard webhooks id is signed", "auth standard_webhooks whsec_dGVzdC1zZWNyZXQtMDEyMzQ1Njc4OQ==\nidempotency_key {http.request.header.webhook-id}", ""},
		{"hmac timestamp header is signed", `auth hmac {
			header X-Sig
			secret s3cret-s3cret
			timestamp_header X-Ts
			signed_payload {timestamp}.{body}
			tolerance 5m
		}
		idempotency_key {http.request.header.X-Ts}`, ""},
		{"a header credential proves the request", github + "\nauth api_key X-Key key-value-0123456789\nidempotency_key {http.request.header.X-GitHub-Delivery}", ""},
		{"env placeholder is fixed", github + "\nidempotency_key {env.HOME}:{webhook.json.id}", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := new(Handler)
			d := caddyfile.NewTestDispenser("webhook_gateway {\nname gh\n" + tc.block + "\n}")
			if err := h.UnmarshalCaddyfile(d); err != nil {
				t.Fatal(err)
			}
			ctx, err := caddy.ProvisionContext(&caddy.Config{AppsRaw: caddy.ModuleMap{
				"webhook_gateway": []byte(`{"store":{"dir":` + strconv.Quote(t.TempDir()) + `}}`),
			}})
			if err != nil {
				t.Fatal(err)
			}
			err = h.Provision(ctx)
			if tc.wantErr == "" {
				if err != nil && strings.Contains(err.Error(), "idempotency_key") {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line containing %q", err, tc.wantErr)
			}
		})
	}
}
