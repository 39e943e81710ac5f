package caddymodule

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func TestAppUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  *App
	}{
		{"empty", "webhook_gateway", &App{}},
		{"embedded default dir", "webhook_gateway {\n store embedded\n}", &App{Store: &StoreConfig{Mode: "embedded"}}},
		{
			name:  "embedded, every option",
			input: "webhook_gateway {\n store embedded /var/lib/wg {\n listen 127.0.0.1:4222\n }\n sync interval 30s\n drain_timeout 5s\n}",
			want: &App{
				Store:        &StoreConfig{Mode: "embedded", Dir: "/var/lib/wg", Listen: "127.0.0.1:4222"},
				Sync:         "interval",
				SyncInterval: caddy.Duration(30 * time.Second),
				DrainTimeout: caddy.Duration(5 * time.Second),
			},
		},
		{
			name:  "nats cluster",
			input: "webhook_gateway {\n store nats nats://a:4222 nats://b:4222 {\n creds /etc/nats.creds\n replicas 3\n }\n sync always\n ready_timeout 2m\n}",
			want: &App{
				Store:        &StoreConfig{Mode: "nats", URLs: []string{"nats://a:4222", "nats://b:4222"}, Creds: "/etc/nats.creds", Replicas: 3},
				Sync:         "always",
				ReadyTimeout: caddy.Duration(2 * time.Minute),
			},
		},
		{"sync interval without duration", "webhook_gateway {\n sync interval\n}", &App{Sync: "interval"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { expectParses(t, tc.input, tc.want) })
	}
}

func TestAppUnmarshalCaddyfileErrors(t *testing.T) {
	tests := map[string]string{
		"webhook_gateway x":                                               "wrong argument count",
		"webhook_gateway {\n bogus\n}":                                    "webhook_gateway: unrecognized option 'bogus'",
		"webhook_gateway {\n store\n}":                                    "wrong argument count",
		"webhook_gateway {\n store s3\n}":                                 "store: unknown store 's3'",
		"webhook_gateway {\n store embedded /a /b\n}":                     "wrong argument count",
		"webhook_gateway {\n store nats\n}":                               "store nats: at least one URL is required",
		"webhook_gateway {\n store nats nats://a {\n replicas x\n }\n}":   "store nats replicas: invalid count 'x'",
		"webhook_gateway {\n store nats nats://a {\n listen :4222\n }\n}": "store nats: unrecognized subdirective 'listen'",
		"webhook_gateway {\n store embedded {\n creds /c\n }\n}":          "store embedded: unrecognized subdirective 'creds'",
		"webhook_gateway {\n store embedded {\n listen\n }\n}":            "wrong argument count",
		"webhook_gateway {\n store embedded\n store embedded\n}":          "webhook_gateway: duplicate option 'store'",
		"webhook_gateway {\n sync\n}":                                     "wrong argument count",
		"webhook_gateway {\n sync sometimes\n}":                           "sync: invalid policy 'sometimes'",
		"webhook_gateway {\n sync always 1s\n}":                           "sync: 'always' takes no duration",
		"webhook_gateway {\n sync interval 0s\n}":                         "sync: invalid interval '0s'",
		"webhook_gateway {\n sync interval 1s 2s\n}":                      "wrong argument count",
		"webhook_gateway {\n drain_timeout\n}":                            "wrong argument count",
		"webhook_gateway {\n drain_timeout later\n}":                      "drain_timeout: invalid duration 'later'",
		"webhook_gateway {\n drain_timeout 1s\n drain_timeout 2s\n}":      "webhook_gateway: duplicate option 'drain_timeout'",
		"webhook_gateway {\n ready_timeout 0s\n}":                         "ready_timeout: invalid duration '0s'",
	}
	for input, want := range tests {
		t.Run(input, func(t *testing.T) { expectParseError[App](t, input, want) })
	}
}

func TestParseGlobalOption(t *testing.T) {
	t.Run("app JSON", func(t *testing.T) {
		v, err := parseGlobalOption(caddyfile.NewTestDispenser("webhook_gateway {\n sync always\n}"), nil)
		if err != nil {
			t.Fatal(err)
		}
		app, ok := v.(httpcaddyfile.App)
		if !ok || app.Name != "webhook_gateway" {
			t.Fatalf("got %#v, want an httpcaddyfile.App named webhook_gateway", v)
		}
		if string(app.Value) != `{"sync":"always"}` {
			t.Fatalf("app JSON %s", app.Value)
		}
	})
	t.Run("given twice", func(t *testing.T) {
		_, err := parseGlobalOption(caddyfile.NewTestDispenser("webhook_gateway"), httpcaddyfile.App{})
		if err == nil || !strings.Contains(err.Error(), "global option given twice") {
			t.Fatalf("error %v, want 'global option given twice'", err)
		}
	})
}
