package caddymodule

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/webhookgw/caddy-webhook-gateway/schemas"
)

// problem is an RFC 9457 problem details object. The handler writes it itself,
// rather than leaving the body to handle_errors, because the sender is a
// machine whose operators read its delivery log.
type problem struct {
	Type   string              `json:"type"`
	Title  string              `json:"title"`
	Status int                 `json:"status"`
	Detail string              `json:"detail,omitempty"`
	Code   string              `json:"code"`
	Errors []schemas.Violation `json:"errors,omitempty"`

	retryAfter int // seconds; 0 means retryAfterSeconds on a 503 and none otherwise
}

func newProblem(status int, code, detail string) problem {
	return problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Code: code, Detail: detail}
}

// The rejections of the pipeline, one per step.
var (
	problemMethod       = newProblem(http.StatusMethodNotAllowed, "method_not_allowed", "webhooks are delivered with POST")
	problemTooEarly     = newProblem(http.StatusTooEarly, "too_early", "the TLS handshake is not complete")
	problemForbiddenIP  = newProblem(http.StatusForbidden, "ip_not_allowed", "the source address is not allowed")
	problemUnauthorized = newProblem(http.StatusUnauthorized, "unauthorized", "missing or invalid credentials")
	problemTooLarge     = newProblem(http.StatusRequestEntityTooLarge, "body_too_large", "the body exceeds the limit of this endpoint")
	problemBodyTimeout  = newProblem(http.StatusRequestTimeout, "body_timeout", "the body did not arrive in time")
	problemBodyBudget   = newProblem(http.StatusServiceUnavailable, "busy", "too many bodies are being received at once; retry later")
	problemBadBody      = newProblem(http.StatusBadRequest, "body_unreadable", "the body could not be read")
	problemMediaType    = newProblem(http.StatusUnsupportedMediaType, "unsupported_media_type", "the body must be JSON (Content-Type: application/json)")
	problemEncoding     = newProblem(http.StatusUnsupportedMediaType, "unsupported_encoding", "compressed bodies are not accepted; send the JSON without Content-Encoding")
	problemBadSignature = newProblem(http.StatusUnauthorized, "invalid_signature", "missing or invalid signature")
	problemBadJSON      = newProblem(http.StatusBadRequest, "invalid_json", "the body is not valid JSON")
	problemSchema       = newProblem(http.StatusBadRequest, "schema_violation", "the body does not match the event schema")
	problemUnavailable  = newProblem(http.StatusServiceUnavailable, "store_unavailable", "the event could not be stored; retry later")
	problemQueueFull    = withRetryAfter(newProblem(http.StatusServiceUnavailable, "queue_full", "this endpoint's queue is full; retry later"), queueFullRetryAfter)
	problemNoNext       = newProblem(http.StatusBadGateway, "no_next_handler", "the gateway has nowhere to pass the event (configuration error); retry later")
	// problemStoreRejected is a refusal by the store that a retry cannot
	// change: the operator must look, so it is not a 503 with Retry-After.
	problemStoreRejected = newProblem(http.StatusInternalServerError, "store_rejected", "the store refused this event; the gateway's operator has been alerted in its log")
)

// queueFullRetryAfter is the Retry-After of a full route: its queue drains only as fast as the
// application takes events, so an early retry would only be refused again.
const queueFullRetryAfter = 60

func withRetryAfter(p problem, secs int) problem {
	p.retryAfter = secs
	return p
}

// retryAfterSeconds is the Retry-After sent with a 503.
const retryAfterSeconds = 5

// writeProblem writes p as application/problem+json.
func writeProblem(w http.ResponseWriter, p problem) {
	body, err := json.Marshal(p)
	if err != nil {
		body = []byte(`{"type":"about:blank","status":500}`)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/problem+json")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	hdr.Set("Cache-Control", "no-store")
	switch {
	case p.retryAfter > 0:
		hdr.Set("Retry-After", strconv.Itoa(p.retryAfter))
	case p.Status == http.StatusServiceUnavailable:
		hdr.Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}
