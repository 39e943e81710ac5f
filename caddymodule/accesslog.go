package caddymodule

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Caddy's access log records every request header, and redacts only Authorization, Cookie,
// Set-Cookie and Proxy-Authorization. On a webhook route an api_key header, a signature header
// or a client_secret in the query would be written whole. Caddy takes its copy of the request
// before any handler runs, so a handler cannot redact that copy. Instead, on a request Caddy
// would log, the handler marks it log_skip (Caddy then writes nothing) and writes the same line
// itself, to the same loggers and with the same fields, from a copy in which every credential
// an auth line of the route reads is "REDACTED".
//
// Two differences remain: fields other handlers add with log_append are not on the line (Caddy
// does not expose them; the gateway's own webhook_outcome is), and when a gate-mode next
// handler fails with an error, the status is that error's (Caddy's error routes write the
// answer after this handler returns).

// accessLogVar is the request variable holding the request's *accessLog.
const accessLogVar = "webhook_gateway.access_log"

// redacted replaces a credential in the access log.
const redacted = "REDACTED"

// redactedQueryParams are query parameters redacted in the logged URI: a client secret or a
// token must never be sent there (the token endpoint refuses it), but if a sender does, the
// log must not keep it.
var redactedQueryParams = []string{"client_secret", "access_token", "token", "api_key", "apikey"}

// httpAppModule stands for the http app when asking Caddy for a logger: the access log's
// loggers are the http app's (http.log.access[.<name>]).
type httpAppModule struct{}

func (httpAppModule) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http", New: func() caddy.Module { return httpAppModule{} }}
}

// accessLog is the access-log line of one request, written by the handler in Caddy's place.
type accessLog struct {
	h       *Handler
	logs    *caddyhttp.ServerLogConfig
	req     *http.Request // the logged copy: original method and URI, redacted headers
	rec     caddyhttp.ResponseRecorder
	start   time.Time
	outcome string
	read    int
}

// beginAccessLog takes over the access-log line of r when Caddy would write one. It returns
// nil when there is nothing to take over. The returned recorder must be used as the response
// writer from then on.
func (h *Handler) beginAccessLog(w http.ResponseWriter, r *http.Request) *accessLog {
	srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if !ok || srv == nil || srv.Logs == nil || h.accessLogger == nil {
		return nil
	}
	if skip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.LogSkipVar).(bool); skip {
		return nil
	}
	if !logsHost(srv.Logs, r.Host) {
		return nil
	}
	// Like Caddy's line: the method and URI as received (a rewrite may have changed r's), the
	// rest from the request itself.
	cp := r.WithContext(r.Context())
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok {
		cp.Method, cp.RequestURI = orig.Method, orig.RequestURI
	}
	cp.Header = redactHeaders(r.Header, h.strip)
	cp.RequestURI = redactQuery(cp.RequestURI)
	al := &accessLog{
		h:     h,
		logs:  srv.Logs,
		req:   cp,
		rec:   caddyhttp.NewResponseRecorder(w, nil, nil),
		start: time.Now(),
	}
	caddyhttp.SetVar(r.Context(), caddyhttp.LogSkipVar, true)
	caddyhttp.SetVar(r.Context(), accessLogVar, al)
	return al
}

// logsHost is Caddy's choice of whether a request to host is logged (Server.shouldLogRequest).
func logsHost(logs *caddyhttp.ServerLogConfig, host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	for name := range logs.LoggerNames {
		if certmagic.MatchWildcard(host, name) {
			return true
		}
	}
	for _, skip := range logs.SkipHosts {
		if certmagic.MatchWildcard(host, skip) {
			return false
		}
	}
	return !logs.SkipUnmappedHosts
}

// loggerNames is Caddy's choice of access loggers for the request (ServerLogConfig.wrapLogger).
func (al *accessLog) loggerNames() []string {
	if names, ok := caddyhttp.GetVar(al.req.Context(), caddyhttp.AccessLoggerNameVarKey).([]any); ok {
		out := make([]string, 0, len(names))
		for _, n := range names {
			s, _ := n.(string)
			out = append(out, s)
		}
		return out
	}
	host := al.req.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	if names, ok := al.logs.LoggerNames[host]; ok {
		return names
	}
	labels := strings.Split(host, ".")
	for i := range labels {
		if labels[i] == "" {
			continue
		}
		labels[i] = "*"
		if names, ok := al.logs.LoggerNames[strings.Join(labels, ".")]; ok {
			return names
		}
	}
	return []string{al.logs.DefaultLoggerName}
}

// write writes the line once the response is complete. nextErr is the error a gate-mode next
// handler returned, if any.
func (al *accessLog) write(nextErr error) {
	status := al.rec.Status()
	if status == 0 && nextErr != nil {
		status = http.StatusInternalServerError
		if he, ok := errors.AsType[caddyhttp.HandlerError](nextErr); ok && he.StatusCode != 0 {
			status = he.StatusCode
		}
	}
	level := zapcore.InfoLevel
	if status >= 500 {
		level = zapcore.ErrorLevel
	}
	if name, ok := caddyhttp.GetVar(al.req.Context(), caddyhttp.LogLevelVar).(string); ok {
		if l, err := zapcore.ParseLevel(name); err == nil && l >= zapcore.DebugLevel && l <= zapcore.ErrorLevel {
			level = l
		}
	}
	userID := ""
	if repl, ok := al.req.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		userID, _ = repl.GetString("http.auth.user.id")
	}
	fields := []zapcore.Field{
		zap.Object("request", caddyhttp.LoggableHTTPRequest{Request: al.req, ShouldLogCredentials: al.logs.ShouldLogCredentials}),
		zap.Int("bytes_read", al.read),
		zap.String("user_id", userID),
		zap.Duration("duration", time.Since(al.start)),
		zap.Int("size", al.rec.Size()),
		zap.Int("status", status),
		zap.Object("resp_headers", caddyhttp.LoggableHTTPHeader{Header: al.rec.Header(), ShouldLogCredentials: al.logs.ShouldLogCredentials}),
	}
	if al.outcome != "" {
		fields = append(fields, zap.String("webhook_outcome", al.outcome))
	}
	for _, name := range al.loggerNames() {
		logger := al.h.accessLogger
		if name != "" {
			logger = logger.Named(name)
		}
		if ce := logger.Check(level, "handled request"); ce != nil {
			ce.Write(fields...)
		}
	}
}

// redactHeaders copies hdr with the values of the named (canonical) headers replaced.
func redactHeaders(hdr http.Header, names []string) http.Header {
	out := hdr.Clone()
	for _, name := range names {
		if _, ok := out[name]; ok {
			out[name] = []string{redacted}
		}
	}
	return out
}

// redactQuery replaces the values of redactedQueryParams in a request URI.
func redactQuery(uri string) string {
	path, query, ok := strings.Cut(uri, "?")
	if !ok {
		return uri
	}
	parts := strings.Split(query, "&")
	changed := false
	for i, p := range parts {
		key, _, _ := strings.Cut(p, "=")
		for _, secret := range redactedQueryParams {
			if strings.EqualFold(unescapeQuery(key), secret) {
				parts[i] = key + "=" + redacted
				changed = true
			}
		}
	}
	if !changed {
		return uri
	}
	return path + "?" + strings.Join(parts, "&")
}

func unescapeQuery(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}
