package caddymodule

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/auth"
)

func TestResolvePlaceholders(t *testing.T) {
	t.Setenv("WG_TEST_SECRET", "s3cret")
	t.Setenv("WG_TEST_ISSUER", "https://idp.example.com")
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("from-file"), 0o600); err != nil {
		t.Fatal(err)
	}
	repl := caddy.NewReplacer()

	t.Run("nested auth config", func(t *testing.T) {
		in := auth.Config{
			Method: "oauth2",
			OAuth2: &auth.OAuth2Config{
				Clients: []auth.OAuth2Client{{
					ClientID:        "incode",
					ClientSecret:    "{env.WG_TEST_SECRET}",
					PreviousSecrets: []string{"old-{env.WG_TEST_SECRET}", "{file." + secretFile + "}"},
				}},
				SigningSecrets: []string{"{env.WG_TEST_SECRET}"},
				TokenTTL:       auth.Duration(time.Hour),
			},
		}
		got := resolvePlaceholders(repl, in)
		want := auth.Config{
			Method: "oauth2",
			OAuth2: &auth.OAuth2Config{
				Clients: []auth.OAuth2Client{{
					ClientID:        "incode",
					ClientSecret:    "s3cret",
					PreviousSecrets: []string{"old-s3cret", "from-file"},
				}},
				SigningSecrets: []string{"s3cret"},
				TokenTTL:       auth.Duration(time.Hour),
			},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got\n%s\nwant\n%s", mustJSON(t, got), mustJSON(t, want))
		}
		// The input is not modified: the config keeps its placeholders.
		if in.OAuth2.Clients[0].ClientSecret != "{env.WG_TEST_SECRET}" || in.OAuth2.SigningSecrets[0] != "{env.WG_TEST_SECRET}" ||
			in.OAuth2.Clients[0].PreviousSecrets[1] != "{file."+secretFile+"}" {
			t.Fatalf("input was modified: %s", mustJSON(t, in))
		}
	})

	t.Run("unknown placeholders left alone", func(t *testing.T) {
		in := auth.Config{Method: "hmac", HMAC: &auth.HMACConfig{
			Header:        "X-Sig",
			Secrets:       []string{"{env.WG_TEST_SECRET}"},
			SignedPayload: "{timestamp}.{body}",
		}}
		got := resolvePlaceholders(repl, in)
		if got.HMAC.SignedPayload != "{timestamp}.{body}" {
			t.Fatalf("signed_payload %q, want it unchanged", got.HMAC.SignedPayload)
		}
		if got.HMAC.Secrets[0] != "s3cret" {
			t.Fatalf("secret %q, want it resolved", got.HMAC.Secrets[0])
		}
	})

	t.Run("maps, pointers and slices of structs", func(t *testing.T) {
		in := Handler{
			Name: "r",
			Auth: []auth.Config{{Method: "jwt", JWT: &auth.JWTConfig{Issuer: "{env.WG_TEST_ISSUER}", Audience: []string{"{env.WG_TEST_SECRET}"}}}},
			Forward: &ForwardConfig{
				URL:      "http://127.0.0.1/{env.WG_TEST_SECRET}",
				HeaderUp: map[string]string{"X-Key": "{env.WG_TEST_SECRET}", "X-Event": "{webhook.json.event}"},
			},
		}
		got := resolvePlaceholders(repl, in)
		if got.Auth[0].JWT.Issuer != "https://idp.example.com" || got.Auth[0].JWT.Audience[0] != "s3cret" {
			t.Fatalf("jwt not resolved: %s", mustJSON(t, got.Auth[0]))
		}
		if got.Forward.URL != "http://127.0.0.1/s3cret" || got.Forward.HeaderUp["X-Key"] != "s3cret" || got.Forward.HeaderUp["X-Event"] != "{webhook.json.event}" {
			t.Fatalf("forward not resolved as expected: %s", mustJSON(t, got.Forward))
		}
		if in.Auth[0].JWT.Issuer != "{env.WG_TEST_ISSUER}" || in.Forward.HeaderUp["X-Key"] != "{env.WG_TEST_SECRET}" {
			t.Fatal("input was modified")
		}
	})

	t.Run("unset env var resolves to empty", func(t *testing.T) {
		got := resolvePlaceholders(repl, auth.Config{Method: "bearer", Token: "{env.WG_TEST_SURELY_UNSET_VAR}"})
		if got.Token != "" {
			t.Fatalf("token %q, want empty (so that Build reports a missing secret)", got.Token)
		}
	})

	t.Run("zero values", func(t *testing.T) {
		var in Handler
		if got := resolvePlaceholders(repl, in); !reflect.DeepEqual(got, in) {
			t.Fatalf("got %s", mustJSON(t, got))
		}
	})
}
