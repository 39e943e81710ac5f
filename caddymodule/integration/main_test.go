package integration

import (
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/webhookgw/caddy-webhook-gateway/caddymodule"
)
