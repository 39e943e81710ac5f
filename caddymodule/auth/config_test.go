package auth

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestConfigJSON(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want Config
	}{
		{"basic", `{"method":"basic","username":"u","password":"p"}`, Config{Method: "basic", Username: "u", Password: "p"}},
		{"jwt string leeway", `{"method":"jwt","jwt":{"issuer":"https://idp.example","audience":["a"],"algorithms":["ES256"],"leeway":"45s"}}`,
			Config{Method: "jwt", JWT: &JWTConfig{Issuer: "https://idp.example", Audience: []string{"a"}, Algorithms: []string{"ES256"}, Leeway: Duration(45 * time.Second)}}},
		{"oauth2 ns ttl", `{"method":"oauth2","oauth2":{"clients":[{"client_id":"c","client_secret":"s","previous_secrets":["o"]}],"token_ttl":1800000000000,"scope":"x"}}`,
			Config{Method: "oauth2", OAuth2: &OAuth2Config{Clients: []OAuth2Client{{ClientID: "c", ClientSecret: "s", PreviousSecrets: []string{"o"}}}, TokenTTL: Duration(30 * time.Minute), Scope: "x"}}},
		{"oauth2 days", `{"method":"oauth2","oauth2":{"token_ttl":"1d"}}`, Config{Method: "oauth2", OAuth2: &OAuth2Config{TokenTTL: Duration(24 * time.Hour)}}},
		{"hmac", `{"method":"hmac","hmac":{"header":"Stripe-Signature","secrets":["a","b"],"format":"stripe","tolerance":"10m"}}`,
			Config{Method: "hmac", HMAC: &HMACConfig{Header: "Stripe-Signature", Secrets: []string{"a", "b"}, Format: "stripe", Tolerance: Duration(10 * time.Minute)}}},
		{"standard webhooks", `{"method":"standard_webhooks","standard_webhooks":{"secrets":["whsec_x"],"tolerance":"2m"}}`,
			Config{Method: "standard_webhooks", StandardWebhooks: &StandardWebhooksConfig{Secrets: []string{"whsec_x"}, Tolerance: Duration(2 * time.Minute)}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got Config
			if err := strictDecode(tc.in, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			// Marshalled durations are nanoseconds, which decode back to the same config.
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			var again Config
			if err := strictDecode(string(b), &again); err != nil || !reflect.DeepEqual(again, tc.want) {
				t.Fatalf("round trip %s: %+v, %v", b, again, err)
			}
		})
	}
	for name, in := range map[string]string{
		"unknown field in block": `{"method":"jwt","jwt":{"issuer":"https://x","audiences":["a"]}}`,
		"bad duration":           `{"method":"hmac","hmac":{"tolerance":"soon"}}`,
		"bool duration":          `{"method":"standard_webhooks","standard_webhooks":{"tolerance":true}}`,
		"unknown top-level":      `{"method":"basic","pass":"x"}`,
	} {
		t.Run(name, func(t *testing.T) {
			var c Config
			if err := strictDecode(in, &c); err == nil {
				t.Fatalf("accepted %s", in)
			}
		})
	}
}

// strictDecode decodes like Caddy's StrictUnmarshalJSON.
func strictDecode(s string, v any) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90s": 90 * time.Second, "1h30m": 90 * time.Minute, "2d": 48 * time.Hour, "0.5d": 12 * time.Hour} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Fatalf("parseDuration(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "d", "xd", "5"} {
		if _, err := parseDuration(in); err == nil {
			t.Fatalf("parseDuration(%q) succeeded", in)
		}
	}
}
