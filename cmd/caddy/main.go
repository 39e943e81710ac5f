// Command caddy is a Caddy binary with the standard modules plus the webhook gateway.
// It is the same binary that xcaddy.sh builds; `go run ./cmd/caddy run` serves ./Caddyfile.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/webhookgw/caddy-webhook-gateway/caddymodule"
)

func main() {
	caddycmd.Main()
}
