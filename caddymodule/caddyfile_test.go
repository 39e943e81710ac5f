package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/auth"
	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/delivery"
)

// mustJSON renders v for failure messages.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandlerUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  Handler
	}{
		{
			name:  "empty",
			input: `webhook_gateway`,
			want:  Handler{},
		},
		{
			name:  "empty block",
			input: "webhook_gateway {\n}",
			want:  Handler{},
		},
		{
			name: "every subdirective",
			input: `webhook_gateway {
				name kyc_incode
				vendor incode onboarding_status
				allow_ips 10.0.0.0/8 192.0.2.7
				allow_ips 2001:db8::/32
				auth basic incode {env.SECRET}
				max_body 256KB
				schema incode.onboarding_status
				on_invalid quarantine
				idempotency_key incode:{webhook.json.interviewId} {webhook.body_sha256}
				dedup_window 2d
				ack 202 ` + "`" + `{"ok":true}` + "`" + `
				forward http://127.0.0.1:3000/incode {
					timeout 10s
					max_attempts 5
					max_age 24h
					retain 168h
					backoff 2s 5m
					concurrency 4
					rate 50/s
					dead_letter_on 400 410
					header_up X-Source gateway
					header_up X-Tenant {env.TENANT}
					sign {env.SIGN}
				}
			}`,
			want: Handler{
				Name:           "kyc_incode",
				Vendor:         "incode",
				Family:         "onboarding_status",
				AllowIPs:       []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"},
				Auth:           []auth.Config{{Method: "basic", Username: "incode", Password: "{env.SECRET}"}},
				MaxBody:        256000,
				Schema:         "incode.onboarding_status",
				OnInvalid:      "quarantine",
				IdempotencyKey: []string{"incode:{webhook.json.interviewId}", "{webhook.body_sha256}"},
				DedupWindow:    caddy.Duration(48 * time.Hour),
				Ack:            &AckConfig{Status: 202, Body: `{"ok":true}`},
				Forward: &ForwardConfig{
					URL:          "http://127.0.0.1:3000/incode",
					Timeout:      caddy.Duration(10 * time.Second),
					MaxAttempts:  5,
					MaxAge:       caddy.Duration(24 * time.Hour),
					Retain:       durationPtr(168 * time.Hour),
					BackoffMin:   caddy.Duration(2 * time.Second),
					BackoffMax:   caddy.Duration(5 * time.Minute),
					Concurrency:  4,
					Rate:         "50/s",
					DeadLetterOn: []int{400, 410},
					HeaderUp:     map[string]string{"X-Source": "gateway", "X-Tenant": "{env.TENANT}"},
					Sign:         "{env.SIGN}",
				},
			},
		},
		{
			name:  "vendor without family, ack without body, reject, max_body in MiB",
			input: "webhook_gateway {\n vendor idwise\n ack 200\n on_invalid reject\n max_body 1MiB\n}",
			want:  Handler{Vendor: "idwise", Ack: &AckConfig{Status: 200}, OnInvalid: "reject", MaxBody: 1 << 20},
		},
		{
			name:  "forward without block",
			input: "webhook_gateway {\n forward https://app.internal/hooks\n}",
			want:  Handler{Forward: &ForwardConfig{URL: "https://app.internal/hooks"}},
		},
		{
			name:  "auth none",
			input: "webhook_gateway {\n auth none\n}",
			want:  Handler{Auth: []auth.Config{{Method: "none"}}},
		},
		{
			name:  "auth basic pair and opaque token",
			input: "webhook_gateway {\n auth basic user {env.PASS}\n auth basic {env.ATTESTR_TOKEN}\n}",
			want: Handler{Auth: []auth.Config{
				{Method: "basic", Username: "user", Password: "{env.PASS}"},
				{Method: "basic", Password: "{env.ATTESTR_TOKEN}"},
			}},
		},
		{
			name:  "auth api_key and bearer",
			input: "webhook_gateway {\n auth api_key X-Api-Key {env.KEY}\n auth bearer {file./run/secrets/token}\n}",
			want: Handler{Auth: []auth.Config{
				{Method: "api_key", Header: "X-Api-Key", Value: "{env.KEY}"},
				{Method: "bearer", Token: "{file./run/secrets/token}"},
			}},
		},
		{
			name: "auth jwt",
			input: `webhook_gateway {
				auth jwt {
					issuer https://idp.example.com/
					jwks_url https://idp.example.com/keys
					audience webhooks other
					scopes webhooks:write webhooks:read
					algorithms RS256 ES256
					leeway 1m
				}
			}`,
			want: Handler{Auth: []auth.Config{{Method: "jwt", JWT: &auth.JWTConfig{
				Issuer:     "https://idp.example.com/",
				JWKSURL:    "https://idp.example.com/keys",
				Audience:   []string{"webhooks", "other"},
				Scopes:     []string{"webhooks:write", "webhooks:read"},
				Algorithms: []string{"RS256", "ES256"},
				Leeway:     auth.Duration(time.Minute),
			}}}},
		},
		{
			name:  "auth jwt with jwks_url only",
			input: "webhook_gateway {\n auth jwt {\n jwks_url https://idp/keys\n audience a\n }\n}",
			want:  Handler{Auth: []auth.Config{{Method: "jwt", JWT: &auth.JWTConfig{JWKSURL: "https://idp/keys", Audience: []string{"a"}}}}},
		},
		{
			name: "auth oauth2",
			input: `webhook_gateway {
				auth oauth2 {
					client_id incode
					client_secret {env.INCODE_SECRET}
					client unico {env.UNICO_SECRET} {env.UNICO_OLD}
					client magic {env.ML_SECRET}
					token_path /oauth/token
					token_ttl 30m
					scope webhooks:incode
					audience kyc
					signing_secret {env.SIGN_NEW} {env.SIGN_OLD}
				}
			}`,
			want: Handler{Auth: []auth.Config{{Method: "oauth2", OAuth2: &auth.OAuth2Config{
				Clients: []auth.OAuth2Client{
					{ClientID: "incode", ClientSecret: "{env.INCODE_SECRET}"},
					{ClientID: "unico", ClientSecret: "{env.UNICO_SECRET}", PreviousSecrets: []string{"{env.UNICO_OLD}"}},
					{ClientID: "magic", ClientSecret: "{env.ML_SECRET}", PreviousSecrets: []string{}},
				},
				TokenPath:      "/oauth/token",
				TokenTTL:       auth.Duration(30 * time.Minute),
				Scope:          "webhooks:incode",
				Audience:       "kyc",
				SigningSecrets: []string{"{env.SIGN_NEW}", "{env.SIGN_OLD}"},
			}}}},
		},
		{
			name:  "auth oauth2 with client lines only",
			input: "webhook_gateway {\n auth oauth2 {\n client a {env.A}\n }\n}",
			want: Handler{Auth: []auth.Config{{Method: "oauth2", OAuth2: &auth.OAuth2Config{
				Clients: []auth.OAuth2Client{{ClientID: "a", ClientSecret: "{env.A}", PreviousSecrets: []string{}}},
			}}}},
		},
		{
			name: "auth hmac, every option",
			input: `webhook_gateway {
				auth hmac {
					header X-Slack-Signature
					secret {env.NEW} {env.OLD}
					secret {env.OLDER}
					algorithm sha512
					encoding base64
					prefix v0=
					timestamp_header X-Slack-Request-Timestamp
					tolerance 2m
					signed_payload v0:{timestamp}:{body}
				}
			}`,
			want: Handler{Auth: []auth.Config{{Method: "hmac", HMAC: &auth.HMACConfig{
				Header:          "X-Slack-Signature",
				Secrets:         []string{"{env.NEW}", "{env.OLD}", "{env.OLDER}"},
				Algorithm:       "sha512",
				Encoding:        "base64",
				Prefix:          "v0=",
				TimestampHeader: "X-Slack-Request-Timestamp",
				Tolerance:       auth.Duration(2 * time.Minute),
				SignedPayload:   "v0:{timestamp}:{body}",
			}}}},
		},
		{
			name:  "auth hmac stripe",
			input: "webhook_gateway {\n auth hmac {\n header Stripe-Signature\n secret {env.WHSEC}\n format stripe\n }\n}",
			want: Handler{Auth: []auth.Config{{Method: "hmac", HMAC: &auth.HMACConfig{
				Header: "Stripe-Signature", Secrets: []string{"{env.WHSEC}"}, Format: "stripe",
			}}}},
		},
		{
			name:  "auth standard_webhooks",
			input: "webhook_gateway {\n auth standard_webhooks whsec_new whsec_old\n}",
			want: Handler{Auth: []auth.Config{{Method: "standard_webhooks", StandardWebhooks: &auth.StandardWebhooksConfig{
				Secrets: []string{"whsec_new", "whsec_old"},
			}}}},
		},
		{
			name:  "auth standard_webhooks with tolerance",
			input: "webhook_gateway {\n auth standard_webhooks {env.WHSEC} {\n tolerance 10m\n }\n}",
			want: Handler{Auth: []auth.Config{{Method: "standard_webhooks", StandardWebhooks: &auth.StandardWebhooksConfig{
				Secrets: []string{"{env.WHSEC}"}, Tolerance: auth.Duration(10 * time.Minute),
			}}}},
		},
		{
			name:  "every auth method on one route, in order",
			input: "webhook_gateway {\n auth api_key X-K v\n auth hmac {\n header X-Sig\n secret s\n }\n auth bearer t\n}",
			want: Handler{Auth: []auth.Config{
				{Method: "api_key", Header: "X-K", Value: "v"},
				{Method: "hmac", HMAC: &auth.HMACConfig{Header: "X-Sig", Secrets: []string{"s"}}},
				{Method: "bearer", Token: "t"},
			}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { expectParses(t, tc.input, &tc.want) })
	}
}

func TestHandlerUnmarshalCaddyfileErrors(t *testing.T) {
	// Each input must fail; the value is a substring of the expected error.
	tests := map[string]string{
		"webhook_gateway stray {\n}":                                              "wrong argument count",
		"webhook_gateway {\n bogus x\n}":                                          "unrecognized subdirective 'bogus'",
		"webhook_gateway {\n name\n}":                                             "wrong argument count",
		"webhook_gateway {\n name a b\n}":                                         "name: takes one argument",
		"webhook_gateway {\n name a\n name b\n}":                                  "duplicate subdirective 'name'",
		"webhook_gateway {\n vendor\n}":                                           "wrong argument count",
		"webhook_gateway {\n vendor incode a b\n}":                                "wrong argument count",
		"webhook_gateway {\n vendor idwise\n vendor attestr\n}":                   "duplicate subdirective 'vendor'",
		"webhook_gateway {\n allow_ips\n}":                                        "wrong argument count",
		"webhook_gateway {\n max_body\n}":                                         "wrong argument count",
		"webhook_gateway {\n max_body lots\n}":                                    "max_body: invalid size 'lots'",
		"webhook_gateway {\n max_body 0\n}":                                       "max_body: invalid size '0'",
		"webhook_gateway {\n max_body 1KB 2KB\n}":                                 "max_body: takes one argument",
		"webhook_gateway {\n schema a b\n}":                                       "schema: takes one argument",
		"webhook_gateway {\n on_invalid\n}":                                       "wrong argument count",
		"webhook_gateway {\n idempotency_key\n}":                                  "wrong argument count",
		"webhook_gateway {\n idempotency_key a\n idempotency_key b\n}":            "duplicate subdirective 'idempotency_key'",
		"webhook_gateway {\n dedup_window soon\n}":                                "dedup_window: invalid duration 'soon'",
		"webhook_gateway {\n dedup_window 0s\n}":                                  "dedup_window: invalid duration '0s'",
		"webhook_gateway {\n dedup_window -1h\n}":                                 "dedup_window: invalid duration '-1h'",
		"webhook_gateway {\n ack\n}":                                              "wrong argument count",
		"webhook_gateway {\n ack ok\n}":                                           "ack: invalid status 'ok'",
		"webhook_gateway {\n ack 200 a b\n}":                                      "wrong argument count",
		"webhook_gateway {\n forward\n}":                                          "wrong argument count",
		"webhook_gateway {\n forward http://a extra\n}":                           "wrong argument count",
		"webhook_gateway {\n forward http://a {\n bogus 1\n }\n}":                 "forward: unrecognized subdirective 'bogus'",
		"webhook_gateway {\n forward http://a {\n timeout 0s\n }\n}":              "timeout: invalid duration '0s'",
		"webhook_gateway {\n forward http://a {\n timeout 1s\n timeout 2s\n }\n}": "forward: duplicate subdirective 'timeout'",
		"webhook_gateway {\n forward http://a {\n max_attempts 0\n }\n}":          "max_attempts: invalid number '0'",
		"webhook_gateway {\n forward http://a {\n max_attempts x\n }\n}":          "max_attempts: invalid number 'x'",
		"webhook_gateway {\n forward http://a {\n max_age never\n }\n}":           "max_age: invalid duration 'never'",
		"webhook_gateway {\n forward http://a {\n backoff 1s\n }\n}":              "wrong argument count",
		"webhook_gateway {\n forward http://a {\n backoff 0s 1s\n }\n}":           "forward backoff: invalid durations",
		"webhook_gateway {\n forward http://a {\n concurrency -1\n }\n}":          "concurrency: invalid number '-1'",
		"webhook_gateway {\n forward http://a {\n dead_letter_on\n }\n}":          "wrong argument count",
		"webhook_gateway {\n forward http://a {\n header_up X\n }\n}":             "wrong argument count",
		"webhook_gateway {\n forward http://a {\n sign\n }\n}":                    "wrong argument count",
		"webhook_gateway {\n forward http://a\n forward http://b\n}":              "duplicate subdirective 'forward'",

		"webhook_gateway {\n auth\n}":                                           "auth: missing method",
		"webhook_gateway {\n auth magic\n}":                                     "auth: unknown method 'magic'",
		"webhook_gateway {\n auth none x\n}":                                    "auth none: takes no arguments",
		"webhook_gateway {\n auth none {\n x\n }\n}":                            "auth none: takes no block",
		"webhook_gateway {\n auth basic\n}":                                     "auth basic: want <user> <password> or <opaque-token>",
		"webhook_gateway {\n auth basic a b c\n}":                               "auth basic: want",
		"webhook_gateway {\n auth basic u p {\n realm x\n }\n}":                 "auth basic: takes no block",
		"webhook_gateway {\n auth api_key X-Key\n}":                             "auth api_key: want <header> <value>",
		"webhook_gateway {\n auth bearer\n}":                                    "auth bearer: want <token>",
		"webhook_gateway {\n auth bearer a b\n}":                                "auth bearer: want <token>",
		"webhook_gateway {\n auth jwt https://idp\n}":                           "auth jwt: takes a block, not arguments",
		"webhook_gateway {\n auth jwt {\n issuer\n }\n}":                        "wrong argument count",
		"webhook_gateway {\n auth jwt {\n issuer https://a https://b\n }\n}":    "issuer: takes one argument",
		"webhook_gateway {\n auth jwt {\n issuer https://a\n audience\n }\n}":   "wrong argument count",
		"webhook_gateway {\n auth jwt {\n issuer https://a\n leeway x\n }\n}":   "leeway: invalid duration 'x'",
		"webhook_gateway {\n auth jwt {\n issuer https://a\n kid x\n }\n}":      "auth jwt: unrecognized subdirective 'kid'",
		"webhook_gateway {\n auth oauth2 x\n}":                                  "auth oauth2: takes a block, not arguments",
		"webhook_gateway {\n auth oauth2 {\n client a\n }\n}":                   "auth oauth2 client: want <id> <secret>",
		"webhook_gateway {\n auth oauth2 {\n client_id\n }\n}":                  "wrong argument count",
		"webhook_gateway {\n auth oauth2 {\n token_ttl forever\n }\n}":          "token_ttl: invalid duration 'forever'",
		"webhook_gateway {\n auth oauth2 {\n grant_types x\n }\n}":              "auth oauth2: unrecognized subdirective 'grant_types'",
		"webhook_gateway {\n auth oauth2 {\n signing_secret\n }\n}":             "wrong argument count",
		"webhook_gateway {\n auth hmac X-Sig\n}":                                "auth hmac: takes a block, not arguments",
		"webhook_gateway {\n auth hmac {\n secret\n }\n}":                       "wrong argument count",
		"webhook_gateway {\n auth hmac {\n header a b\n }\n}":                   "header: takes one argument",
		"webhook_gateway {\n auth hmac {\n tolerance 0s\n }\n}":                 "tolerance: invalid duration '0s'",
		"webhook_gateway {\n auth hmac {\n digest sha256\n }\n}":                "auth hmac: unrecognized subdirective 'digest'",
		"webhook_gateway {\n auth standard_webhooks\n}":                         "auth standard_webhooks: want at least one <secret>",
		"webhook_gateway {\n auth standard_webhooks s {\n tolerance\n }\n}":     "wrong argument count",
		"webhook_gateway {\n auth standard_webhooks s {\n window 1m\n }\n}":     "auth standard_webhooks: unrecognized subdirective 'window'",
		"webhook_gateway {\n auth standard_webhooks s {\n tolerance -1m\n }\n}": "tolerance: invalid duration '-1m'",
	}
	for input, want := range tests {
		t.Run(input, func(t *testing.T) { expectParseError[Handler](t, input, want) })
	}
}

// TestHandlerUnmarshalCaddyfileAuthBlockDuplicates: like every other
// single-valued option, an option given twice inside an auth block
// is an error, not a silent overwrite of the first value.
func TestHandlerUnmarshalCaddyfileAuthBlockDuplicates(t *testing.T) {
	tests := map[string]string{
		"jwt issuer":                  "auth jwt {\n issuer https://a\n issuer https://b\n audience x\n }",
		"jwt audience":                "auth jwt {\n issuer https://a\n audience x\n audience y\n }",
		"oauth2 client_secret":        "auth oauth2 {\n client_id a\n client_secret s1\n client_secret s2\n }",
		"oauth2 token_path":           "auth oauth2 {\n client a s\n token_path /a\n token_path /b\n }",
		"hmac header":                 "auth hmac {\n header X-A\n header X-B\n secret s\n }",
		"hmac algorithm":              "auth hmac {\n header X-A\n secret s\n algorithm sha1\n algorithm sha256\n }",
		"standard_webhooks tolerance": "auth standard_webhooks s {\n tolerance 1m\n tolerance 1h\n }",
	}
	for name, block := range tests {
		t.Run(name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("webhook_gateway {\n " + block + "\n}"))
			if err == nil || !strings.Contains(err.Error(), "duplicate") {
				t.Fatalf("error %v, want a duplicate-option error; parsed %s", err, mustJSON(t, h.Auth))
			}
		})
	}
}

// TestHardeningSubdirectives parses the bounds of the hardening issue: body_timeout,
// forward max_queue, and the global max_store and body_memory.
func TestHardeningSubdirectives(t *testing.T) {
	h := new(Handler)
	d := caddyfile.NewTestDispenser(`webhook_gateway {
		body_timeout 5s
		forward http://127.0.0.1:3000 {
			max_queue 256MB
		}
	}`)
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if h.BodyTimeout != caddy.Duration(5*time.Second) || h.Forward.MaxQueue != 256_000_000 {
		t.Fatalf("body_timeout %v, max_queue %d", h.BodyTimeout, h.Forward.MaxQueue)
	}
	a := new(App)
	if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`webhook_gateway {
		max_store 10GiB
		body_memory 32MiB
	}`)); err != nil {
		t.Fatal(err)
	}
	if a.MaxStore != 10<<30 || a.BodyMemory != 32<<20 {
		t.Fatalf("max_store %d, body_memory %d", a.MaxStore, a.BodyMemory)
	}
	for _, bad := range []string{
		`webhook_gateway { body_timeout 0s }`,
		`webhook_gateway { body_timeout soon }`,
		`webhook_gateway { forward http://x { max_queue 0 } }`,
		`webhook_gateway { forward http://x { max_queue lots } }`,
	} {
		if err := new(Handler).UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	for _, bad := range []string{`webhook_gateway { max_store 0 }`, `webhook_gateway { body_memory x }`} {
		if err := new(App).UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func durationPtr(d time.Duration) *caddy.Duration {
	v := caddy.Duration(d)
	return &v
}

// TestRetainToPolicy: an absent retain takes the default, retain 0 keeps only the window.
func TestRetainToPolicy(t *testing.T) {
	for _, tc := range []struct {
		retain *caddy.Duration
		want   time.Duration
	}{
		{nil, 0},
		{durationPtr(0), delivery.RetainNone},
		{durationPtr(time.Hour), time.Hour},
	} {
		h := &Handler{Name: "r", Forward: &ForwardConfig{URL: "http://a", Retain: tc.retain}}
		cfg, err := h.routeConfig()
		if err != nil || cfg.Forward.Retain != tc.want {
			t.Errorf("retain %v: policy %v (%v), want %v", tc.retain, cfg.Forward.Retain, err, tc.want)
		}
	}
}
