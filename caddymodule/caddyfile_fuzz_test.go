package caddymodule

import (
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// FuzzUnmarshalCaddyfile feeds arbitrary Caddyfile text to the handler and
// global-option parsers: whatever the tokens, they return (an error or not)
// and never panic. The seed corpus is in testdata/fuzz/FuzzUnmarshalCaddyfile.
func FuzzUnmarshalCaddyfile(f *testing.F) {
	f.Add("webhook_gateway {\n\tvendor incode onboarding_status\n\tauth basic u p\n}")
	f.Add("webhook_gateway {\n\tstore nats nats://a {\n\t\treplicas 3\n\t}\n}")
	f.Fuzz(func(t *testing.T, input string) {
		tokens, err := caddyfile.Tokenize([]byte(input), "Caddyfile")
		if err != nil {
			return
		}
		_ = (&Handler{}).UnmarshalCaddyfile(caddyfile.NewDispenser(tokens))
		_ = (&App{}).UnmarshalCaddyfile(caddyfile.NewDispenser(tokens))
	})
}
