package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// Behind a load balancer, allow_ips reads Caddy's client IP, which comes from X-Forwarded-For
// when the peer is in trusted_proxies. Without trusted_proxies_strict Caddy takes the leftmost
// address of that header, which the sender writes: a balancer that appends to the header turns
// "X-Forwarded-For: 10.1.2.3" from anywhere into "10.1.2.3, <real address>", and the sender
// passes allow_ips 10.0.0.0/8. With trusted_proxies_strict Caddy takes the rightmost address
// that is not a trusted proxy, the one the balancer itself saw.

// warnLenientProxies logs once per handler when allow_ips is read behind trusted_proxies
// without trusted_proxies_strict.
func (h *Handler) warnLenientProxies(r *http.Request) {
	srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if !ok || srv == nil || len(srv.TrustedProxiesRaw) == 0 || srv.TrustedProxiesStrict > 0 {
		return
	}
	if h.proxyWarned == nil || h.proxyWarned.Swap(true) {
		return
	}
	h.logger.Warn("allow_ips behind trusted_proxies without trusted_proxies_strict: a sender can choose the leftmost X-Forwarded-For address; add trusted_proxies_strict to the servers option",
		zap.String("route", h.Name))
}
