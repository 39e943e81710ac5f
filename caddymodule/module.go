// Package caddymodule is the Caddy adapter of the webhook gateway: the
// http.handlers.webhook_gateway handler, the webhook_gateway app that owns the
// durable store and the delivery workers, the admin API and the CLI. The logic
// it adapts lives in the Caddy-free sub-packages auth, payload, dedup and delivery.
package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func init() {
	caddy.RegisterModule(Handler{})
	caddy.RegisterModule(new(App))
	caddy.RegisterModule(AdminAPI{})
	httpcaddyfile.RegisterHandlerDirective("webhook_gateway", parseCaddyfileHandler)
	// The handler answers the vendor itself (forward mode) or gates the request
	// for the next handler (gate mode), so it must run before respond and reverse_proxy.
	httpcaddyfile.RegisterDirectiveOrder("webhook_gateway", httpcaddyfile.Before, "respond")
	caddy.RegisterModule(Console{})
	httpcaddyfile.RegisterHandlerDirective("webhook_gateway_console", parseCaddyfileConsole)
	// The console answers every request it gets, like respond; auth directives (basic_auth,
	// forward_auth) come before respond in Caddy's order, so they run first.
	httpcaddyfile.RegisterDirectiveOrder("webhook_gateway_console", httpcaddyfile.Before, "respond")
	httpcaddyfile.RegisterGlobalOption("webhook_gateway", parseGlobalOption)
	registerCommands()
}
