// Package caddywebhookgateway is the import path that xcaddy builds with
// (`xcaddy build --with github.com/webhookgw/caddy-webhook-gateway`): importing
// it registers the webhook gateway's Caddy modules, which live in caddymodule/.
package caddywebhookgateway

import (
	// Registers http.handlers.webhook_gateway, the webhook_gateway app and
	// admin.api.webhook_gateway.
	_ "github.com/webhookgw/caddy-webhook-gateway/caddymodule"
)
