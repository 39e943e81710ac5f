package caddymodule

import (
	"net/http"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/auth"
)

// serveToken answers a request on the route's OAuth2 token path, then counts it and writes
// one log line: the result, the status, the configured client it named (never an id the
// sender invented) and never a secret.
func (h *Handler) serveToken(w http.ResponseWriter, r *http.Request, start time.Time, ts auth.TokenServer) {
	source := clientIP(r)
	res := ts.ServeToken(w, r, source)
	tokenRequestsTotal.WithLabelValues(h.Name, res.Result).Inc()
	level := zapcore.InfoLevel
	if res.Result != auth.TokenIssued {
		level = zapcore.WarnLevel
	}
	if ce := h.logger.Check(level, "token request"); ce != nil {
		ce.Write(
			zap.String("route", h.Name),
			zap.String("result", res.Result),
			zap.Int("status", res.Status),
			zap.String("client_id", res.ClientID),
			zap.String("reason", res.Reason),
			zap.String("client_ip", source),
			zap.Duration("duration", time.Since(start)),
		)
	}
}
