package caddymodule

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/auth"
	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/dedup"
	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/delivery"
	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/payload"
	"github.com/webhookgw/caddy-webhook-gateway/schemas"
)

// Outcomes, as they appear in metrics and logs.
const (
	outcomeAccepted    = "accepted"
	outcomeDuplicate   = "duplicate"
	outcomeQuarantined = "quarantined"
	outcomePassed      = "passed"
	outcomeRejected    = "rejected"
	outcomeUnavailable = "unavailable"
)

// storeTimeout bounds each store operation of a request. A store that does not
// answer in time gets the vendor a 503 well inside its deadline (Attestr
// allows 5 s), never a 2xx for an event that may not be stored.
const storeTimeout = 3 * time.Second

// ServeHTTP runs the pipeline (README "What it does"). It writes the request's
// access-log line itself, with the route's credentials redacted (see accesslog.go).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	al := h.beginAccessLog(w, r)
	if al == nil {
		return h.serve(w, r, next)
	}
	err := h.serve(al.rec, r, next)
	al.write(err)
	return err
}

// serve runs the checks, cheapest first; nothing reaches the store that an earlier step
// rejected.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := time.Now()

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return h.reject(w, r, start, problemMethod)
	}

	// allow_ips comes first, before the token endpoint too: a source that may not send
	// webhooks may not try client secrets either.
	if len(h.allowIPs) > 0 {
		if r.TLS != nil && !r.TLS.HandshakeComplete {
			return h.reject(w, r, start, problemTooEarly)
		}
		h.warnLenientProxies(r)
		if !h.ipAllowed(r) {
			return h.reject(w, r, start, problemForbiddenIP)
		}
	}

	if ts, ok := h.authChain.TokenServer(r.URL.Path); ok {
		h.serveToken(w, r, start, ts)
		return nil
	}

	areq := &auth.Request{Header: r.Header, Now: time.Now()}
	decision := h.authChain.CheckHeaders(r.Context(), areq)
	if decision == auth.Fail {
		return h.unauthorized(w, r, start, problemUnauthorized)
	}

	if r.ContentLength > h.MaxBody {
		return h.reject(w, r, start, problemTooLarge)
	}
	// A compressed body is refused before it is read: the signature covers the bytes as
	// sent, and the schema and the application would need the decoded ones.
	if ce := r.Header.Values("Content-Encoding"); len(ce) > 0 && !identityEncoding(ce) {
		return h.reject(w, r, start, problemEncoding)
	}
	body, perr := h.readBody(w, r)
	if perr != nil {
		return h.reject(w, r, start, *perr)
	}

	if !isJSONContentType(r.Header.Get("Content-Type")) {
		return h.reject(w, r, start, problemMediaType)
	}

	if decision == auth.NeedBody {
		areq.Body = body
		if !h.authChain.CheckBody(r.Context(), areq) {
			return h.unauthorized(w, r, start, problemBadSignature)
		}
	}

	if err := payload.Check(body, h.limits); err != nil {
		p := problemBadJSON
		if h.showDetails {
			p.Detail = "the body is not valid JSON: " + err.Error()
		}
		return h.reject(w, r, start, p)
	}

	var doc any
	var err error
	if h.needsDoc {
		doc, err = payload.Decode(body)
		if err != nil {
			return h.reject(w, r, start, problemBadJSON)
		}
	}

	quarantine := false
	var violations []schemas.Violation
	if h.schema != nil {
		if verr := h.schema.Validate(doc); verr != nil {
			violations = schemas.Violations(verr, 20)
			if h.OnInvalid != onInvalidQuarantine {
				p := problemSchema
				if h.showDetails {
					p.Errors = violations
				}
				return h.reject(w, r, start, p)
			}
			quarantine = true
		}
	}

	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	ph := func(name string) (string, bool) {
		if repl == nil {
			return "", false
		}
		return repl.GetString(name)
	}
	key, _ := h.keys.Render(doc, body, ph) // the last template always resolves; bounded
	keyHash := dedup.Hash(key)
	eventType := ""
	if h.eventName != nil {
		eventType, _ = h.eventName.Render(doc, body, ph)
		eventType = payload.Bound(eventType, payload.MaxEventBytes)
	}

	rt := h.state.get(r.Context(), storeTimeout)
	if rt == nil {
		return h.reject(w, r, start, problemUnavailable)
	}

	if h.Forward == nil {
		return h.gate(w, r, next, start, rt, body, key, keyHash, eventType)
	}

	if int64(len(body)) > rt.maxEvent {
		// The store could never take it: a 503 would make the vendor retry forever.
		p := problemTooLarge
		p.Detail = "the body exceeds the largest event the store takes (" + strconv.FormatInt(rt.maxEvent, 10) + " bytes)"
		return h.reject(w, r, start, p)
	}
	if !quarantine && rt.tier.Cached(keyHash) {
		return h.duplicate(w, r, start, key)
	}
	ev := &delivery.Event{
		ID:          delivery.NewID(),
		Vendor:      h.vendorTag,
		Type:        eventType,
		Key:         key,
		ReceivedAt:  start.UTC(),
		ContentType: r.Header.Get("Content-Type"),
		Header:      h.forwardableHeaders(r.Header),
		Body:        body,
	}
	sctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	if quarantine {
		dup, err := rt.queue.Quarantine(sctx, keyHash, ev, schemas.Text(violations))
		if err != nil {
			return h.storeFailed(w, r, start, err)
		}
		if dup {
			return h.duplicate(w, r, start, key)
		}
		return h.accept(w, r, start, ev.ID, key, outcomeQuarantined)
	}
	dup, err := rt.queue.Accept(sctx, keyHash, ev)
	if err != nil {
		return h.storeFailed(w, r, start, err)
	}
	rt.tier.Remember(keyHash, h.window)
	if dup {
		return h.duplicate(w, r, start, key)
	}
	return h.accept(w, r, start, ev.ID, key, outcomeAccepted)
}

// gate is the end of the pipeline in gate mode: the request goes on to the
// next handler, and the key is recorded only when that handler answers 2xx.
func (h *Handler) gate(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, start time.Time,
	rt *routeState, body []byte, key, keyHash, eventType string,
) error {
	sctx, cancel := context.WithTimeout(r.Context(), storeTimeout)
	defer cancel()
	dup, done, err := rt.tier.Gate(sctx, rt.queue, keyHash, h.window)
	if err != nil {
		return h.storeFailed(w, r, start, err)
	}
	if dup {
		return h.duplicate(w, r, start, key)
	}

	id := delivery.NewID()
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	for _, name := range h.strip {
		r.Header.Del(name)
	}
	dropGatewayHeaders(r.Header)
	r.Header.Set(delivery.HeaderID, id)
	r.Header.Set(delivery.HeaderVendor, h.vendorTag)
	// Keys and event names come out of the payload: escape control characters
	// so that they can never split a header (or make the proxy refuse it).
	r.Header.Set(delivery.HeaderIdempotencyKey, delivery.HeaderSafe(key))
	if eventType != "" {
		r.Header.Set(delivery.HeaderEvent, delivery.HeaderSafe(eventType))
	}
	w.Header().Set(delivery.HeaderID, id)

	sw := &statusWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
	nextErr := next.ServeHTTP(sw, r)
	if nextErr == nil && sw.status == 0 {
		// Nothing after the gateway answered: Caddy would send its empty 200
		// and the event would go nowhere. Record no key, so the vendor's retry
		// passes once the config is fixed.
		if rerr := done(false); rerr != nil {
			h.logger.Error("releasing idempotency key failed", zap.String("route", h.Name), zap.Error(rerr))
		}
		if h.noNextLogged.CompareAndSwap(false, true) {
			h.logger.Error("gate mode: no handler after webhook_gateway answered the request; add reverse_proxy (or another handler) after it, or a forward block",
				zap.String("route", h.Name))
		}
		w.Header().Del(delivery.HeaderID)
		return h.reject(w, r, start, problemNoNext)
	}
	passed := nextErr == nil && sw.status >= 200 && sw.status < 300
	if rerr := done(passed); rerr != nil {
		h.logger.Error("recording idempotency key failed", zap.String("route", h.Name), zap.Error(rerr))
	}
	h.observe(r, start, outcomePassed, sw.status, id, key, "")
	return nextErr
}

// accept writes the ack for an event that the store has taken.
func (h *Handler) accept(w http.ResponseWriter, r *http.Request, start time.Time, id, key, outcome string) error {
	w.Header().Set(delivery.HeaderID, id)
	h.writeAck(w)
	ackSeconds.WithLabelValues(h.Name).Observe(time.Since(start).Seconds())
	h.observe(r, start, outcome, h.ack.status, id, key, "")
	return nil
}

// duplicate answers a key seen in the window with the same ack as the original.
func (h *Handler) duplicate(w http.ResponseWriter, r *http.Request, start time.Time, key string) error {
	w.Header().Set(delivery.HeaderDuplicate, "true")
	h.writeAck(w)
	duplicatesTotal.WithLabelValues(h.Name, h.vendorTag).Inc()
	h.observe(r, start, outcomeDuplicate, h.ack.status, "", key, "")
	return nil
}

func (h *Handler) writeAck(w http.ResponseWriter) {
	if h.ack.contentType != "" {
		w.Header().Set("Content-Type", h.ack.contentType)
	}
	if len(h.ack.body) > 0 {
		w.Header().Set("Content-Length", strconv.Itoa(len(h.ack.body)))
	}
	w.WriteHeader(h.ack.status)
	if len(h.ack.body) > 0 {
		_, _ = w.Write(h.ack.body)
	}
}

// unauthorized writes a 401 with the challenges of the configured schemes.
func (h *Handler) unauthorized(w http.ResponseWriter, r *http.Request, start time.Time, p problem) error {
	for _, c := range h.authChain.ChallengesFor(r.Header) {
		w.Header().Add("WWW-Authenticate", c)
	}
	return h.reject(w, r, start, p)
}

// reject writes a problem+json answer and records the outcome.
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, start time.Time, p problem) error {
	writeProblem(w, p)
	outcome := outcomeRejected
	if p.Status == http.StatusServiceUnavailable {
		outcome = outcomeUnavailable
	}
	rejectionsTotal.WithLabelValues(h.Name, h.vendorTag, p.Code).Inc()
	h.observe(r, start, outcome, p.Status, "", "", p.Code)
	return nil
}

// observe counts the request and writes its one log line (never a body or a secret).
func (h *Handler) observe(r *http.Request, start time.Time, outcome string, status int, id, key, reason string) {
	requestsTotal.WithLabelValues(h.Name, h.vendorTag, outcome).Inc()
	if outcome == outcomeAccepted || outcome == outcomeQuarantined || outcome == outcomePassed {
		countEvent(h.Name, countAccepted) // the console's per-minute counters
	}
	if al, ok := caddyhttp.GetVar(r.Context(), accessLogVar).(*accessLog); ok {
		al.outcome = outcome
	} else if extra, ok := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok {
		extra.Add(zap.String("webhook_outcome", outcome))
	}
	level := zapcore.InfoLevel
	if outcome == outcomeUnavailable {
		level = zapcore.ErrorLevel
	}
	if ce := h.logger.Check(level, "webhook"); ce != nil {
		ce.Write(
			zap.String("route", h.Name),
			zap.String("vendor", h.vendorTag),
			zap.String("outcome", outcome),
			zap.Int("status", status),
			zap.String("id", id),
			zap.String("idempotency_key", key),
			zap.String("reason", reason),
			zap.Duration("duration", time.Since(start)),
		)
	}
}

// storeFailed answers a request whose event the store did not take. A full route
// (max_queue) is a 503 queue_full: a warning, not a store error, since the store is fine.
// A refusal that retrying cannot change (delivery.IsPermanent) gets a 500 without
// Retry-After, never a 503 the vendor would retry forever; anything else is a
// 503 + Retry-After: the event is not stored, so the vendor must send it again.
func (h *Handler) storeFailed(w http.ResponseWriter, r *http.Request, start time.Time, err error) error {
	if errors.Is(err, delivery.ErrQueueFull) {
		queueFullTotal.WithLabelValues(h.Name).Inc()
		h.logger.Warn("route queue full", zap.String("route", h.Name))
		return h.reject(w, r, start, problemQueueFull)
	}
	storeErrorsTotal.WithLabelValues(h.Name).Inc()
	if delivery.IsPermanent(err) {
		h.logger.Error("store refused the event", zap.String("route", h.Name), zap.Error(err))
		return h.reject(w, r, start, problemStoreRejected)
	}
	h.logger.Error("store unavailable", zap.String("route", h.Name), zap.Error(err))
	return h.reject(w, r, start, problemUnavailable)
}

// ipAllowed matches Caddy's client IP (trusted_proxies aware) against allow_ips.
func (h *Handler) ipAllowed(r *http.Request) bool {
	addr, err := netip.ParseAddr(clientIP(r))
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range h.allowIPs {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// identityEncoding reports whether every Content-Encoding value is "identity" (no coding).
func identityEncoding(values []string) bool {
	for _, v := range values {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return false
			}
		}
	}
	return true
}

// clientIP is Caddy's client IP of the request (trusted_proxies aware), "" if unknown.
func clientIP(r *http.Request) string {
	s, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	return s
}

// isJSONContentType accepts application/json and any application/*+json.
func isJSONContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if mt == "application/json" {
		return true
	}
	return len(mt) > len("application/+json") && mt[:12] == "application/" && mt[len(mt)-5:] == "+json"
}

// forwardableHeaders keeps the vendor's headers that the application may want,
// without credentials, hop-by-hop fields, or fields the forwarder sets itself.
func (h *Handler) forwardableHeaders(in http.Header) http.Header {
	out := make(http.Header, len(in))
	for name, values := range in {
		if dropOnForward[name] {
			continue
		}
		out[name] = append([]string(nil), values...)
	}
	for _, name := range h.strip {
		out.Del(name)
	}
	dropGatewayHeaders(out)
	return out
}

// dropGatewayHeaders removes every header of the gateway's own namespaces (X-Webhook-* and
// the Standard Webhooks Webhook-*) that the sender sent. The application must be able to trust
// them as set by the gateway: a sender's X-Webhook-Duplicate or Webhook-Signature would
// otherwise arrive looking verified. The Standard Webhooks headers an auth line verified are
// credentials and are stripped with the others; the gateway sets its own afterwards.
func dropGatewayHeaders(hdr http.Header) {
	for name := range hdr {
		if delivery.IsGatewayHeader(name) {
			delete(hdr, name)
		}
	}
}

// dropOnForward lists canonical header names never forwarded to the application.
var dropOnForward = map[string]bool{
	"Authorization": true, "Proxy-Authorization": true, "Cookie": true,
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true, "Trailer": true,
	"Transfer-Encoding": true, "Upgrade": true, "Host": true, "Content-Length": true,
	"Content-Type": true, "Accept-Encoding": true, "Expect": true,
	delivery.HeaderSignatureID: true, delivery.HeaderSignatureTime: true, delivery.HeaderSignature: true,
}

// statusWriter remembers the status the next handler wrote.
type statusWriter struct {
	*caddyhttp.ResponseWriterWrapper
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriterWrapper.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriterWrapper.Write(b)
}

// ReadFrom is the wrapper's io.ReaderFrom, which would otherwise bypass Write
// (io.Copy prefers it): a body written that way is an implicit 200 too.
func (s *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriterWrapper.ReadFrom(r)
}
