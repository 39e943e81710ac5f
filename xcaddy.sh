#!/usr/bin/env bash
# Builds a Caddy v2.11.9 with this module from the local checkout, with xcaddy.
# Usage: ./xcaddy.sh [output-path]   (default: ./caddy)
set -euo pipefail
cd "$(dirname "$0")"
out="${1:-./caddy}"
command -v xcaddy >/dev/null 2>&1 || go install github.com/caddyserver/xcaddy/cmd/xcaddy@v0.4.5
xcaddy_bin="$(command -v xcaddy || echo "$(go env GOPATH)/bin/xcaddy")"
# The module path is not published, and xcaddy runs `go get` on it even though it
# is replaced by ./: let the first proxy answer, then fall back to "off" so that
# go uses the local replacement instead of failing.
GOPROXY="$(go env GOPROXY | cut -d, -f1)|off" \
	"$xcaddy_bin" build v2.11.9 --output "$out" \
	--with github.com/webhookgw/caddy-webhook-gateway=./
"$out" list-modules --skip-standard
