package caddymodule

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/auth"
	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/dedup"
	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/delivery"
	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/payload"
	"github.com/webhookgw/caddy-webhook-gateway/schemas"
)

// The pipeline table: each case builds a handler without Provision (the way
// Caddy's reverseproxy tests build theirs), sends it requests through
// caddyhttp.PrepareRequest, and checks the answer. Cases that reach the store
// share one real embedded store, opened on first use; every case has its own
// route, so no dedup state leaks between cases.

// Secrets of the table's auth lines.
const (
	testUser       = "vendor"
	testPassword   = "pipeline-test-password"
	testToken      = "pipeline-test-bearer-token"
	testAPIKey     = "pipeline-test-api-key"
	testHMACSecret = "pipeline-test-hmac-secret"
	testClientID   = "vendor-client"
	testClientSec  = "pipeline-test-client-secret"
	testTokenPath  = "/oauth/token"
	testHMACHeader = "X-Signature"
)

var (
	authBasic  = auth.Config{Method: auth.MethodBasic, Username: testUser, Password: testPassword}
	authBearer = auth.Config{Method: auth.MethodBearer, Token: testToken}
	authAPIKey = auth.Config{Method: auth.MethodAPIKey, Header: "X-Api-Key", Value: testAPIKey}
	authHMAC   = auth.Config{Method: auth.MethodHMAC, HMAC: &auth.HMACConfig{Header: testHMACHeader, Secrets: []string{testHMACSecret}}}
	authNone   = auth.Config{Method: auth.MethodNone}
	authOAuth2 = auth.Config{Method: auth.MethodOAuth2, OAuth2: &auth.OAuth2Config{
		Clients: []auth.OAuth2Client{{ClientID: testClientID, ClientSecret: testClientSec}},
	}}
)

// A valid IDWise event, and one its schema refuses (no body).
const (
	idwiseEvent    = `{"event":"Finished Journey","body":{"eventId":"e-1","journeyId":"j-1","referenceNo":"r-1","systemDecision":"Complete"}}`
	idwiseNoBody   = `{"event":"Finished Journey"}`
	plainJSON      = `{"id":"a-1","n":1}`
	defaultAckBody = `{"success":true}`
)

// spec is the config of one case's handler.
type spec struct {
	vendor    string // a preset: its schema, keys, event name and ack
	auth      []auth.Config
	allowIPs  []string
	maxBody   int64
	keys      []string // default: the preset's, then the body hash
	onInvalid string
	forward   bool
	ack       *ackResponse
	noStore   bool  // the app never started: the route has no runtime
	maxQueue  int64 // forward max_queue; 0: the default
	maxEvent  int64 // the store's largest event; 0: the store's own
}

// req is one request of a case.
type req struct {
	method   string // default POST
	path     string // default /webhook
	body     string
	ct       string // Content-Type; default application/json, "-" for none
	header   map[string]string
	remote   string // client address; default 203.0.113.7:4711
	tls      *tls.ConnectionState
	chunked  bool // no Content-Length: the bounded reader must stop it
	bodyErr  bool // the body fails half way
	bodyLate bool // the body fails half way as a connection past its read deadline does
	basic    bool // send the basic credentials of authBasic
	sign     bool // sign the body with authHMAC's secret
	bearerOf func(*testing.T, *Handler) string
}

// want is what a case's last answer must be.
type want struct {
	status    int
	code      string            // problem code; "" for a non-problem answer
	detail    string            // substring of the problem's detail
	noDetail  string            // substring the detail must not have
	errors    int               // problem errors: -1 none, n>0 at least n
	header    map[string]string // answer headers, exact ("" means absent)
	challenge []string          // WWW-Authenticate values, in order
	body      string            // exact answer body, for acks
	next      int               // calls of the next handler (gate mode)
	upHeader  map[string]string // request headers the next handler saw ("" absent)
	upKey     string            // prefix of the X-Webhook-Idempotency-Key it saw
	err       bool              // ServeHTTP returns an error
}

type pipelineCase struct {
	name  string
	spec  spec
	prime []req // sent first; their answers are not checked
	req   req
	next  func(w http.ResponseWriter, r *http.Request) error // gate: default 200
	setup func(t *testing.T)                                 // before the handler is built
	want  want
}

func TestPipeline(t *testing.T) {
	cases := []pipelineCase{
		// Method.
		{name: "GET is 405 with Allow", req: req{method: http.MethodGet},
			want: want{status: 405, code: "method_not_allowed", header: map[string]string{"Allow": "POST"}}},
		{name: "PUT is 405", req: req{method: http.MethodPut, body: plainJSON},
			want: want{status: 405, code: "method_not_allowed"}},
		{name: "method is checked before auth", spec: spec{auth: []auth.Config{authBasic}}, req: req{method: http.MethodGet},
			want: want{status: 405, code: "method_not_allowed", challenge: []string{}}},
		{name: "method is checked before the source IP", spec: spec{allowIPs: []string{"10.0.0.0/8"}}, req: req{method: http.MethodDelete},
			want: want{status: 405, code: "method_not_allowed"}},

		// Token endpoint.
		{name: "token endpoint issues a token", spec: spec{auth: []auth.Config{authOAuth2}},
			req:  req{path: testTokenPath, body: "grant_type=client_credentials", ct: "application/x-www-form-urlencoded", header: map[string]string{"Authorization": basicHeader(testClientID, testClientSec)}},
			want: want{status: 200, header: map[string]string{"Cache-Control": "no-store"}}},
		{name: "token endpoint refuses a wrong client secret", spec: spec{auth: []auth.Config{authOAuth2}},
			req:  req{path: testTokenPath, body: "grant_type=client_credentials", ct: "application/x-www-form-urlencoded", header: map[string]string{"Authorization": basicHeader(testClientID, "wrong-secret-wrong-secret")}},
			want: want{status: 401}},
		{name: "allow_ips is checked before the token endpoint", spec: spec{auth: []auth.Config{authOAuth2}, allowIPs: []string{"10.0.0.0/8"}},
			req:  req{path: testTokenPath, body: "grant_type=client_credentials", ct: "application/x-www-form-urlencoded", header: map[string]string{"Authorization": basicHeader(testClientID, testClientSec)}},
			want: want{status: 403, code: "ip_not_allowed"}},
		{name: "the token endpoint answers an allowed source", spec: spec{auth: []auth.Config{authOAuth2}, allowIPs: []string{"10.0.0.0/8"}},
			req:  req{path: testTokenPath, remote: "10.0.0.1:999", body: "grant_type=client_credentials", ct: "application/x-www-form-urlencoded", header: map[string]string{"Authorization": basicHeader(testClientID, testClientSec)}},
			want: want{status: 200}},
		{name: "GET on the token path is the pipeline's 405", spec: spec{auth: []auth.Config{authOAuth2}}, req: req{method: http.MethodGet, path: testTokenPath},
			want: want{status: 405, code: "method_not_allowed"}},
		{name: "an issued token passes on the webhook path", spec: spec{auth: []auth.Config{authOAuth2}},
			req:  req{body: plainJSON, bearerOf: issueToken},
			want: want{status: 200, next: 1}},
		{name: "a made-up oauth2 token is 401 with the bearer challenge", spec: spec{auth: []auth.Config{authOAuth2}},
			req:  req{body: plainJSON, header: map[string]string{"Authorization": "Bearer not-a-jwt"}},
			want: want{status: 401, code: "unauthorized", challenge: []string{`Bearer realm="webhook", error="invalid_token"`}}},

		// Source IP.
		{name: "a source outside allow_ips is 403", spec: spec{allowIPs: []string{"10.0.0.0/8"}}, req: req{body: plainJSON},
			want: want{status: 403, code: "ip_not_allowed"}},
		{name: "a source inside allow_ips passes", spec: spec{allowIPs: []string{"10.0.0.0/8"}}, req: req{body: plainJSON, remote: "10.1.2.3:5000"},
			want: want{status: 200, next: 1}},
		{name: "a single IP in allow_ips matches", spec: spec{allowIPs: []string{"192.0.2.1"}}, req: req{body: plainJSON, remote: "192.0.2.1:5000"},
			want: want{status: 200, next: 1}},
		{name: "an IPv4-mapped IPv6 source matches its IPv4 range", spec: spec{allowIPs: []string{"10.0.0.0/8"}}, req: req{body: plainJSON, remote: "[::ffff:10.9.9.9]:5000"},
			want: want{status: 200, next: 1}},
		{name: "an IPv6 source outside an IPv6 range is 403", spec: spec{allowIPs: []string{"2001:db8::/32"}}, req: req{body: plainJSON, remote: "[2001:db9::1]:5000"},
			want: want{status: 403, code: "ip_not_allowed"}},
		{name: "an unfinished TLS handshake (0-RTT) is 425", spec: spec{allowIPs: []string{"10.0.0.0/8"}},
			req:  req{body: plainJSON, remote: "10.1.2.3:5000", tls: &tls.ConnectionState{HandshakeComplete: false}},
			want: want{status: 425, code: "too_early"}},
		{name: "0-RTT is not refused without allow_ips", req: req{body: plainJSON, tls: &tls.ConnectionState{HandshakeComplete: false}},
			want: want{status: 200, next: 1}},
		{name: "the source IP is checked before credentials", spec: spec{allowIPs: []string{"10.0.0.0/8"}, auth: []auth.Config{authBasic}}, req: req{body: plainJSON, basic: true},
			want: want{status: 403, code: "ip_not_allowed", challenge: []string{}}},

		// Header credentials.
		{name: "no credentials is 401 with the basic challenge", spec: spec{auth: []auth.Config{authBasic}}, req: req{body: plainJSON},
			want: want{status: 401, code: "unauthorized", challenge: []string{`Basic realm="webhook"`}}},
		{name: "a wrong password is 401", spec: spec{auth: []auth.Config{authBasic}}, req: req{body: plainJSON, header: map[string]string{"Authorization": basicHeader(testUser, "nope")}},
			want: want{status: 401, code: "unauthorized"}},
		{name: "the right password passes", spec: spec{auth: []auth.Config{authBasic}}, req: req{body: plainJSON, basic: true},
			want: want{status: 200, next: 1, upHeader: map[string]string{"Authorization": ""}}},
		{name: "a wrong bearer token gets error=invalid_token", spec: spec{auth: []auth.Config{authBearer}}, req: req{body: plainJSON, header: map[string]string{"Authorization": "Bearer wrong"}},
			want: want{status: 401, code: "unauthorized", challenge: []string{`Bearer realm="webhook", error="invalid_token"`}}},
		{name: "a missing bearer token gets the plain challenge", spec: spec{auth: []auth.Config{authBearer}}, req: req{body: plainJSON},
			want: want{status: 401, code: "unauthorized", challenge: []string{`Bearer realm="webhook"`}}},
		{name: "two schemes give two challenges", spec: spec{auth: []auth.Config{authBasic, authBearer}}, req: req{body: plainJSON},
			want: want{status: 401, code: "unauthorized", challenge: []string{`Basic realm="webhook"`, `Bearer realm="webhook"`}}},
		{name: "any auth line passes: bearer of basic+bearer", spec: spec{auth: []auth.Config{authBasic, authBearer}}, req: req{body: plainJSON, header: map[string]string{"Authorization": "Bearer " + testToken}},
			want: want{status: 200, next: 1}},
		{name: "an api_key line has no challenge", spec: spec{auth: []auth.Config{authAPIKey}}, req: req{body: plainJSON},
			want: want{status: 401, code: "unauthorized", challenge: []string{}}},
		{name: "the api key header is stripped before the next handler", spec: spec{auth: []auth.Config{authAPIKey}}, req: req{body: plainJSON, header: map[string]string{"X-Api-Key": testAPIKey, "X-Other": "kept"}},
			want: want{status: 200, next: 1, upHeader: map[string]string{"X-Api-Key": "", "X-Other": "kept"}}},
		{name: "credentials are checked before the body size", spec: spec{auth: []auth.Config{authBasic}, maxBody: 10}, req: req{body: plainJSON},
			want: want{status: 401, code: "unauthorized"}},

		// Body size and reading.
		{name: "a Content-Length over max_body is 413", spec: spec{maxBody: 10}, req: req{body: plainJSON},
			want: want{status: 413, code: "body_too_large"}},
		{name: "a chunked body over max_body is 413", spec: spec{maxBody: 10}, req: req{body: plainJSON, chunked: true},
			want: want{status: 413, code: "body_too_large"}},
		{name: "a body exactly max_body passes", spec: spec{maxBody: int64(len(plainJSON))}, req: req{body: plainJSON, chunked: true},
			want: want{status: 200, next: 1}},
		{name: "a body that fails to read is 400", req: req{body: plainJSON, bodyErr: true},
			want: want{status: 400, code: "body_unreadable"}},
		{name: "the size is checked before the content type", spec: spec{maxBody: 10}, req: req{body: plainJSON, ct: "text/plain"},
			want: want{status: 413, code: "body_too_large"}},

		{name: "a body that stalls past body_timeout is 408 and closes the connection", req: req{body: plainJSON, bodyLate: true},
			want: want{status: 408, code: "body_timeout", header: map[string]string{"Connection": "close"}}},
		{name: "a gzip body is 415 before it is read", req: req{body: plainJSON, header: map[string]string{"Content-Encoding": "gzip"}},
			want: want{status: 415, code: "unsupported_encoding"}},
		{name: "a listed coding among identity is 415", req: req{body: plainJSON, header: map[string]string{"Content-Encoding": "identity, br"}},
			want: want{status: 415, code: "unsupported_encoding"}},
		{name: "Content-Encoding identity passes", req: req{body: plainJSON, header: map[string]string{"Content-Encoding": "Identity"}},
			want: want{status: 200, next: 1}},
		{name: "credentials are checked before the encoding", spec: spec{auth: []auth.Config{authBasic}}, req: req{body: plainJSON, header: map[string]string{"Content-Encoding": "gzip"}},
			want: want{status: 401, code: "unauthorized"}},

		{name: "a body over the process-wide body budget is 503 busy", req: req{body: plainJSON}, setup: budgetOf(8),
			want: want{status: 503, code: "busy", header: map[string]string{"Retry-After": "5"}}},
		{name: "a body within the body budget passes", req: req{body: plainJSON}, setup: budgetOf(int64(len(plainJSON))),
			want: want{status: 200, next: 1}},

		// Content type.
		{name: "text/plain is 415", req: req{body: plainJSON, ct: "text/plain"},
			want: want{status: 415, code: "unsupported_media_type"}},
		{name: "no Content-Type is 415", req: req{body: plainJSON, ct: "-"},
			want: want{status: 415, code: "unsupported_media_type"}},
		{name: "a malformed Content-Type is 415", req: req{body: plainJSON, ct: "application/json; ="},
			want: want{status: 415, code: "unsupported_media_type"}},
		{name: "application/json with a charset passes", req: req{body: plainJSON, ct: "application/json; charset=utf-8"},
			want: want{status: 200, next: 1}},
		{name: "application/*+json passes", req: req{body: plainJSON, ct: "application/cloudevents+json"},
			want: want{status: 200, next: 1}},

		// Body signature.
		{name: "no signature is 401 invalid_signature", spec: spec{auth: []auth.Config{authHMAC}}, req: req{body: plainJSON},
			want: want{status: 401, code: "invalid_signature", challenge: []string{}}},
		{name: "a wrong signature is 401 invalid_signature", spec: spec{auth: []auth.Config{authHMAC}}, req: req{body: plainJSON, header: map[string]string{testHMACHeader: strings.Repeat("ab", 32)}},
			want: want{status: 401, code: "invalid_signature"}},
		{name: "a right signature passes, its header stripped", spec: spec{auth: []auth.Config{authHMAC}}, req: req{body: plainJSON, sign: true},
			want: want{status: 200, next: 1, upHeader: map[string]string{testHMACHeader: ""}}},
		{name: "the content type is checked before the signature", spec: spec{auth: []auth.Config{authHMAC}}, req: req{body: plainJSON, ct: "text/plain"},
			want: want{status: 415, code: "unsupported_media_type"}},
		{name: "with basic or hmac and no credentials the signature fails, with the basic challenge", spec: spec{auth: []auth.Config{authBasic, authHMAC}}, req: req{body: plainJSON},
			want: want{status: 401, code: "invalid_signature", challenge: []string{`Basic realm="webhook"`}}},

		// JSON and detail hiding.
		{name: "bad JSON after real auth shows the parse error", spec: spec{auth: []auth.Config{authBasic}}, req: req{body: `{"a":`, basic: true},
			want: want{status: 400, code: "invalid_json", detail: "the body is not valid JSON: "}},
		{name: "bad JSON without auth hides the parse error", req: req{body: `{"a":`},
			want: want{status: 400, code: "invalid_json", noDetail: ": "}},
		{name: "an auth none line is not real auth: detail hidden", spec: spec{auth: []auth.Config{authNone}}, req: req{body: `[1,2`},
			want: want{status: 400, code: "invalid_json", noDetail: ": "}},
		{name: "nesting past the depth limit is 400", req: req{body: strings.Repeat("[", payload.DefaultMaxDepth+1) + strings.Repeat("]", payload.DefaultMaxDepth+1)},
			want: want{status: 400, code: "invalid_json"}},
		{name: "a 401-digit number is 400", req: req{body: `{"n":1` + strings.Repeat("0", 400) + `}`},
			want: want{status: 400, code: "invalid_json"}},
		{name: "two members with one name are 400, named after real auth", spec: spec{auth: []auth.Config{authBasic}}, req: req{body: `{"id":"a","ID":"b"}`, basic: true},
			want: want{status: 400, code: "invalid_json", detail: "ID"}},
		{name: "an exact duplicate member is 400", req: req{body: `{"id":"a","id":"b"}`},
			want: want{status: 400, code: "invalid_json", noDetail: `"id"`}},
		{name: "trailing data after the JSON value is 400", req: req{body: plainJSON + `{}`},
			want: want{status: 400, code: "invalid_json"}},

		// Schema and detail hiding.
		{name: "a schema violation after real auth lists the violations", spec: spec{vendor: "idwise", auth: []auth.Config{authBasic}}, req: req{body: idwiseNoBody, basic: true},
			want: want{status: 400, code: "schema_violation", errors: 1}},
		{name: "a schema violation without auth hides the violations", spec: spec{vendor: "idwise"}, req: req{body: idwiseNoBody},
			want: want{status: 400, code: "schema_violation", errors: -1}},
		{name: "a valid preset event passes with its event name", spec: spec{vendor: "idwise"}, req: req{body: idwiseEvent},
			want: want{status: 200, next: 1, upHeader: map[string]string{"X-Webhook-Event": "Finished Journey", "X-Webhook-Vendor": "idwise", "X-Webhook-Idempotency-Key": "idwise:e-1"}}},
		{name: "quarantine acks a schema violation in forward mode", spec: spec{vendor: "idwise", forward: true, onInvalid: onInvalidQuarantine}, req: req{body: idwiseNoBody},
			want: want{status: 200, body: defaultAckBody, header: map[string]string{"X-Webhook-Duplicate": ""}}},
		{name: "the same quarantined body again is a duplicate", spec: spec{vendor: "idwise", forward: true, onInvalid: onInvalidQuarantine},
			prime: []req{{body: idwiseNoBody}}, req: req{body: idwiseNoBody},
			want: want{status: 200, body: defaultAckBody, header: map[string]string{"X-Webhook-Duplicate": "true"}}},

		// Store.
		{name: "a route whose app never started is 503 with Retry-After", spec: spec{forward: true, noStore: true}, req: req{body: plainJSON},
			want: want{status: 503, code: "store_unavailable", header: map[string]string{"Retry-After": "5"}}},
		{name: "gate mode needs the store too", spec: spec{noStore: true}, req: req{body: plainJSON},
			want: want{status: 503, code: "store_unavailable", next: 0}},
		{name: "a body over the store's event limit is 413, not 503", spec: spec{forward: true, maxEvent: 8}, req: req{body: plainJSON},
			want: want{status: 413, code: "body_too_large", detail: "largest event the store takes (8 bytes)", header: map[string]string{"Retry-After": ""}}},

		// Forward mode.
		{name: "forward mode stores and acks", spec: spec{forward: true}, req: req{body: plainJSON},
			want: want{status: 200, body: defaultAckBody, header: map[string]string{"Content-Type": "application/json", "X-Webhook-Duplicate": ""}}},
		{name: "forward mode answers a re-send as a duplicate with the same ack", spec: spec{forward: true},
			prime: []req{{body: plainJSON}}, req: req{body: plainJSON},
			want: want{status: 200, body: defaultAckBody, header: map[string]string{"X-Webhook-Duplicate": "true", "X-Webhook-Id": ""}}},
		{name: "a different body is a new event", spec: spec{forward: true},
			prime: []req{{body: plainJSON}}, req: req{body: `{"id":"a-2"}`},
			want: want{status: 200, header: map[string]string{"X-Webhook-Duplicate": ""}}},
		{name: "a route past its max_queue is 503 queue_full, Retry-After 60", spec: spec{forward: true, maxQueue: 100}, req: req{body: plainJSON},
			want: want{status: 503, code: "queue_full", header: map[string]string{"Retry-After": "60"}}},
		{name: "a custom ack without a body has no Content-Type", spec: spec{forward: true, ack: &ackResponse{status: 202}}, req: req{body: plainJSON},
			want: want{status: 202, body: "", header: map[string]string{"Content-Type": "", "Content-Length": ""}}},
		{name: "a preset's ack is the vendor's", spec: spec{vendor: "attestr", forward: true}, req: req{body: attestrEvent},
			want: want{status: 200, body: mustPreset("attestr").Ack.Body}},

		// Gate mode.
		{name: "gate mode passes body and identity headers on", req: req{body: plainJSON},
			want: want{status: 200, next: 1, upHeader: map[string]string{"X-Webhook-Vendor": "custom", "X-Webhook-Event": ""}, upKey: "sha256:"}},
		{name: "gate mode drops the sender's X-Webhook-* and Webhook-* headers", req: req{body: plainJSON, header: map[string]string{
			"X-Webhook-Duplicate": "true", "X-Webhook-Attempt": "1", "x-webhook-event": "forged", "Webhook-Signature": "v1,forged", "Webhook-Id": "forged"}},
			want: want{status: 200, next: 1, upHeader: map[string]string{"X-Webhook-Duplicate": "", "X-Webhook-Attempt": "", "X-Webhook-Event": "", "Webhook-Signature": "", "Webhook-Id": ""}}},
		{name: "gate mode overwrites a sender's X-Webhook-Id", req: req{body: plainJSON, header: map[string]string{"X-Webhook-Id": "forged"}},
			want: want{status: 200, next: 1}},
		{name: "gate mode escapes control characters in the key", spec: spec{keys: []string{"{webhook.json.id}"}}, req: req{body: `{"id":"a\r\nX-Evil: 1"}`},
			want: want{status: 200, next: 1, upKey: "a%0D%0AX-Evil"}},
		{name: "an unresolved key template falls back to the body hash", spec: spec{keys: []string{"{webhook.json.missing}"}}, req: req{body: plainJSON},
			want: want{status: 200, next: 1, upKey: "sha256:"}},
		{name: "a header placeholder can be the key", spec: spec{keys: []string{"k:{http.request.header.X-Delivery}"}}, req: req{body: plainJSON, header: map[string]string{"X-Delivery": "d-9"}},
			want: want{status: 200, next: 1, upKey: "k:d-9"}},
		{name: "gate mode answers a key the next handler took as a duplicate", prime: []req{{body: plainJSON}}, req: req{body: plainJSON},
			want: want{status: 200, next: 1, body: defaultAckBody, header: map[string]string{"X-Webhook-Duplicate": "true"}}},
		{name: "gate mode forgets a key the next handler refused", prime: []req{{body: plainJSON}}, req: req{body: plainJSON},
			next: func(w http.ResponseWriter, r *http.Request) error { w.WriteHeader(500); return nil },
			want: want{status: 500, next: 2, header: map[string]string{"X-Webhook-Duplicate": ""}}},
		{name: "gate mode with nothing after it is 502, without an event id", req: req{body: plainJSON}, next: writeNothing,
			want: want{status: 502, code: "no_next_handler", next: 1, header: map[string]string{"X-Webhook-Id": ""}}},
		{name: "a 502 no_next_handler records no key", prime: []req{{body: plainJSON}}, req: req{body: plainJSON}, next: writeNothing,
			want: want{status: 502, code: "no_next_handler", next: 2}},
		{name: "a body copied with io.Copy is an implicit 200 and records the key", prime: []req{{body: plainJSON}}, req: req{body: plainJSON},
			next: func(w http.ResponseWriter, r *http.Request) error {
				_, err := io.Copy(w, strings.NewReader("ok"))
				return err
			},
			want: want{status: 200, next: 1, body: defaultAckBody, header: map[string]string{"X-Webhook-Duplicate": "true"}}},
		{name: "gate mode returns the next handler's error", req: req{body: plainJSON},
			next: func(w http.ResponseWriter, r *http.Request) error {
				return caddyhttp.Error(http.StatusBadGateway, errors.New("down"))
			},
			want: want{status: 200, next: 1, err: true}},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Each case has its own route, so the cases run in parallel; those that change the
			// process-wide body budget (setup) run first, one at a time.
			if tc.setup == nil {
				t.Parallel()
			}
			runPipelineCase(t, tc)
		})
	}
}

// attestrEvent is a valid Attestr event.
const attestrEvent = `{"event":"async.completed","payload":{"_id":"AS0c1d2e3f4a5b6c7","requestId":"c0d1e2f3","output":{"valid":true}}}`

func runPipelineCase(t *testing.T, tc pipelineCase) {
	if tc.setup != nil {
		tc.setup(t)
	}
	h := newTestHandler(t, tc.spec)
	var calls atomic.Int32
	var seen http.Header
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		calls.Add(1)
		seen = r.Header.Clone()
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("next handler: reading the body: %v", err)
		}
		if int64(len(b)) != r.ContentLength {
			t.Errorf("next handler: body of %d bytes, Content-Length %d", len(b), r.ContentLength)
		}
		if tc.next != nil {
			return tc.next(w, r)
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
	for _, p := range tc.prime {
		w, _ := serve(t, h, next, p)
		if w.Code >= 300 && tc.next == nil {
			t.Fatalf("priming request got %d: %s", w.Code, w.Body)
		}
	}
	w, err := serve(t, h, next, tc.req)
	checkAnswer(t, tc.want, w, err)
	if got := int(calls.Load()); got != tc.want.next {
		t.Errorf("next handler called %d times, want %d", got, tc.want.next)
	}
	if tc.want.next > 0 && len(tc.prime) == 0 && tc.want.code == "" {
		checkUpstream(t, tc, seen, w)
	}
}

// checkAnswer checks the status, the problem body and the headers of an answer.
func checkAnswer(t *testing.T, wt want, w *httptest.ResponseRecorder, err error) {
	t.Helper()
	if (err != nil) != wt.err {
		t.Errorf("ServeHTTP error = %v, want error %v", err, wt.err)
	}
	if w.Code != wt.status {
		t.Fatalf("status = %d, want %d; body %s", w.Code, wt.status, w.Body)
	}
	hdr := w.Result().Header
	for name, v := range wt.header {
		if got := hdr.Get(name); got != v {
			t.Errorf("answer header %s = %q, want %q", name, got, v)
		}
	}
	if wt.challenge != nil {
		got := hdr.Values("WWW-Authenticate")
		if strings.Join(got, "\n") != strings.Join(wt.challenge, "\n") {
			t.Errorf("WWW-Authenticate = %q, want %q", got, wt.challenge)
		}
	}
	if wt.code != "" {
		checkProblem(t, wt, w)
		return
	}
	if ct := hdr.Get("Content-Type"); ct == "application/problem+json" {
		t.Errorf("a non-problem answer has Content-Type %s: %s", ct, w.Body)
	}
	if wt.body != "" || (wt.header != nil && wt.header["Content-Length"] == "" && w.Code != 200) {
		if got := w.Body.String(); got != wt.body {
			t.Errorf("body = %q, want %q", got, wt.body)
		}
	}
}

// checkProblem checks that an answer is the RFC 9457 body of the wanted rejection.
func checkProblem(t *testing.T, wt want, w *httptest.ResponseRecorder) {
	t.Helper()
	hdr := w.Result().Header
	if ct := hdr.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	if cc := hdr.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if cl := hdr.Get("Content-Length"); cl != fmt.Sprint(w.Body.Len()) {
		t.Errorf("Content-Length = %q for a body of %d bytes", cl, w.Body.Len())
	}
	if ra := hdr.Get("Retry-After"); (ra != "") != (wt.status == http.StatusServiceUnavailable) {
		t.Errorf("Retry-After = %q on a %d", ra, wt.status)
	}
	var p struct {
		Type   string              `json:"type"`
		Title  string              `json:"title"`
		Status int                 `json:"status"`
		Detail string              `json:"detail"`
		Code   string              `json:"code"`
		Errors []schemas.Violation `json:"errors"`
	}
	dec := json.NewDecoder(w.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem body: %v", err)
	}
	if p.Type != "about:blank" || p.Title != http.StatusText(wt.status) || p.Status != wt.status || p.Code != wt.code {
		t.Errorf("problem = {type %q, title %q, status %d, code %q}, want {about:blank, %q, %d, %q}",
			p.Type, p.Title, p.Status, p.Code, http.StatusText(wt.status), wt.status, wt.code)
	}
	if p.Detail == "" {
		t.Error("problem has no detail")
	}
	if wt.detail != "" && !strings.Contains(p.Detail, wt.detail) {
		t.Errorf("detail = %q, want it to contain %q", p.Detail, wt.detail)
	}
	if wt.noDetail != "" && strings.Contains(p.Detail, wt.noDetail) {
		t.Errorf("detail = %q shows more than it may (%q)", p.Detail, wt.noDetail)
	}
	switch {
	case wt.errors < 0 && len(p.Errors) > 0:
		t.Errorf("problem lists %d violations to a sender that did not authenticate", len(p.Errors))
	case wt.errors > 0 && len(p.Errors) < wt.errors:
		t.Errorf("problem lists %d violations, want at least %d", len(p.Errors), wt.errors)
	}
}

// checkUpstream checks the request the next handler saw and the answer's id.
func checkUpstream(t *testing.T, tc pipelineCase, seen http.Header, w *httptest.ResponseRecorder) {
	t.Helper()
	id := seen.Get("X-Webhook-Id")
	if id == "" || id == "forged" || id != w.Result().Header.Get("X-Webhook-Id") {
		t.Errorf("X-Webhook-Id: next handler saw %q, answer has %q", id, w.Result().Header.Get("X-Webhook-Id"))
	}
	if seen.Get("X-Webhook-Vendor") == "" {
		t.Error("the next handler saw no X-Webhook-Vendor")
	}
	for name, v := range tc.want.upHeader {
		if got := seen.Get(name); got != v {
			t.Errorf("next handler saw %s = %q, want %q", name, got, v)
		}
	}
	if key := seen.Get("X-Webhook-Idempotency-Key"); !strings.HasPrefix(key, tc.want.upKey) || key == "" {
		t.Errorf("next handler saw X-Webhook-Idempotency-Key %q, want prefix %q", key, tc.want.upKey)
	}
}

// serve sends one request through PrepareRequest, as Caddy's server does.
func serve(t *testing.T, h *Handler, next caddyhttp.Handler, rq req) (*httptest.ResponseRecorder, error) {
	t.Helper()
	method := rq.method
	if method == "" {
		method = http.MethodPost
	}
	path := rq.path
	if path == "" {
		path = "/webhook"
	}
	var body io.Reader = strings.NewReader(rq.body)
	if rq.bodyErr {
		body = io.MultiReader(strings.NewReader(rq.body[:len(rq.body)/2]), errReader{})
	}
	if rq.bodyLate {
		body = io.MultiReader(strings.NewReader(rq.body[:len(rq.body)/2]), errReader{os.ErrDeadlineExceeded})
	}
	r := httptest.NewRequest(method, path, body)
	if rq.chunked || rq.bodyErr || rq.bodyLate {
		r.ContentLength = -1
	}
	r.RemoteAddr = "203.0.113.7:4711"
	if rq.remote != "" {
		r.RemoteAddr = rq.remote
	}
	r.TLS = rq.tls
	switch rq.ct {
	case "":
		r.Header.Set("Content-Type", "application/json")
	case "-":
	default:
		r.Header.Set("Content-Type", rq.ct)
	}
	for k, v := range rq.header {
		r.Header.Set(k, v)
	}
	if rq.basic {
		r.Header.Set("Authorization", basicHeader(testUser, testPassword))
	}
	if rq.sign {
		m := hmac.New(sha256.New, []byte(testHMACSecret))
		m.Write([]byte(rq.body))
		r.Header.Set(testHMACHeader, hex.EncodeToString(m.Sum(nil)))
	}
	if rq.bearerOf != nil {
		r.Header.Set("Authorization", "Bearer "+rq.bearerOf(t, h))
	}
	w := httptest.NewRecorder()
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, &caddyhttp.Server{})
	err := h.ServeHTTP(w, r, next)
	return w, err
}

// writeNothing is a next handler that answers nothing, as Caddy's end of a
// route without another handler does.
func writeNothing(http.ResponseWriter, *http.Request) error { return nil }

// budgetOf sets the process-wide body budget to n bytes for one case.
func budgetOf(n int64) func(*testing.T) {
	return func(t *testing.T) {
		old := bodyBudget.limit.Swap(n)
		t.Cleanup(func() { bodyBudget.limit.Store(old) })
	}
}

// errReader fails every read with err, or with a connection reset.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, fmt.Errorf("read tcp: %w", e.err)
	}
	return 0, errors.New("connection reset")
}

func basicHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// issueToken gets a token from h's own token endpoint.
func issueToken(t *testing.T, h *Handler) string {
	t.Helper()
	ts, ok := h.authChain.TokenServer(testTokenPath)
	if !ok {
		t.Fatal("no token endpoint")
	}
	r := httptest.NewRequest(http.MethodPost, testTokenPath, strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Authorization", basicHeader(testClientID, testClientSec))
	w := httptest.NewRecorder()
	ts.ServeToken(w, r, "203.0.113.7")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(w.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token endpoint: %d %v", w.Code, err)
	}
	return tok.AccessToken
}

func mustPreset(vendor string) schemas.Preset {
	p, err := schemas.Lookup(vendor, "")
	if err != nil {
		panic(err)
	}
	return p
}

var routeSeq atomic.Int64

// newTestHandler builds the handler of s the way Provision would, without a
// caddy.Context: the compiled checks are set directly, and the route gets a
// runtime on the shared test store (or none, with s.noStore).
func newTestHandler(t *testing.T, s spec) *Handler {
	t.Helper()
	h := &Handler{
		Name:         fmt.Sprintf("pipeline-%d", routeSeq.Add(1)),
		Vendor:       s.vendor,
		MaxBody:      s.maxBody,
		OnInvalid:    s.onInvalid,
		Auth:         s.auth,
		logger:       zap.NewNop(),
		vendorTag:    "custom",
		limits:       bodyLimits,
		bodyTimeout:  defaultBodyTimeout,
		noNextLogged: new(atomic.Bool),
		proxyWarned:  new(atomic.Bool),
		window:       time.Hour,
		ack:          ackResponse{status: http.StatusOK, contentType: "application/json", body: []byte(defaultAckBody)},
	}
	if h.MaxBody == 0 {
		h.MaxBody = defaultMaxBody
	}
	if s.forward {
		h.Forward = &ForwardConfig{URL: "http://127.0.0.1:1/unused", MaxQueue: s.maxQueue}
	}
	for _, ip := range s.allowIPs {
		p, err := caddyhttp.CIDRExpressionToPrefix(ip)
		if err != nil {
			t.Fatal(err)
		}
		h.allowIPs = append(h.allowIPs, p)
	}
	if err := h.provisionAuth(); err != nil {
		t.Fatalf("auth: %v", err)
	}
	keys := s.keys
	if s.vendor != "" {
		p := mustPreset(s.vendor)
		h.vendorTag = s.vendor
		sch, err := schemas.Compile(p.Schema)
		if err != nil {
			t.Fatal(err)
		}
		h.schema = sch
		if keys == nil {
			keys = p.Keys
		}
		if p.Event != "" {
			if h.eventName, err = payload.ParseTemplate(p.Event); err != nil {
				t.Fatal(err)
			}
		}
		h.ack = ackResponse{status: p.Ack.Status, contentType: p.Ack.ContentType, body: []byte(p.Ack.Body)}
	}
	if s.ack != nil {
		h.ack = *s.ack
	}
	kt, err := payload.ParseKeyTemplates(append(append([]string(nil), keys...), bodyHashKey))
	if err != nil {
		t.Fatal(err)
	}
	h.keys = kt
	h.needsDoc = h.schema != nil || h.keys.UsesJSON() || (h.eventName != nil && h.eventName.UsesJSON())

	cfg, err := h.routeConfig()
	if err != nil {
		t.Fatal(err)
	}
	h.state = newStateRef(cfg)
	if s.noStore {
		h.state.set(nil) // started, but the route has no runtime: what a failed start leaves
		return h
	}
	store := testStore(t)
	r, err := store.Queue(cfg)
	if err != nil {
		t.Fatalf("route: %v", err)
	}
	tier, err := dedup.New(1000)
	if err != nil {
		t.Fatal(err)
	}
	rt := &routeState{name: h.Name, queue: r, tier: tier, maxEvent: store.MaxEventBody()}
	if s.maxEvent > 0 {
		rt.maxEvent = s.maxEvent
	}
	t.Cleanup(func() { _ = rt.Destruct() })
	h.state.set(rt)
	return h
}

var (
	storeOnce sync.Once
	store     *delivery.Store
	storeErr  error
	storeDir  string
)

// testStore is one embedded store for the whole test binary, opened on first use.
func testStore(t *testing.T) *delivery.Store {
	t.Helper()
	storeOnce.Do(func() {
		storeDir, storeErr = os.MkdirTemp("", "whgw-pipeline-")
		if storeErr == nil {
			store, storeErr = delivery.Open(delivery.StoreConfig{Dir: storeDir, ReadyTimeout: 20 * time.Second}, zap.NewNop())
		}
	})
	if storeErr != nil {
		t.Fatalf("test store: %v", storeErr)
	}
	return store
}

// TestMain closes the shared store and removes its directory.
func TestMain(m *testing.M) {
	code := m.Run()
	if store != nil {
		_ = store.Close()
	}
	if storeDir != "" {
		_ = os.RemoveAll(storeDir)
	}
	os.Exit(code)
}

// TestForwardableHeaders: forward mode keeps the vendor's own headers for the
// application, and drops credentials (the chain's and the standard ones),
// hop-by-hop fields, the fields the forwarder sets itself and anything in the
// gateway's own X-Webhook-* and Webhook-* namespaces.
func TestForwardableHeaders(t *testing.T) {
	h := newTestHandler(t, spec{auth: []auth.Config{authAPIKey, authHMAC}, noStore: true})
	in := http.Header{}
	for _, name := range []string{
		"X-Api-Key", testHMACHeader, "Authorization", "Proxy-Authorization", "Cookie",
		"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Host", "Content-Length", "Content-Type", "Accept-Encoding", "Expect",
		"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature",
	} {
		in.Set(name, "dropped")
	}
	in.Add("X-Vendor-Trace", "t-1")
	in.Add("X-Vendor-Trace", "t-2")
	in.Set("User-Agent", "vendor/1.0")
	in.Set("X-Webhook-Id", "forged")
	in.Set("X-Webhook-Duplicate", "true")

	out := h.forwardableHeaders(in)
	want := http.Header{"X-Vendor-Trace": {"t-1", "t-2"}, "User-Agent": {"vendor/1.0"}}
	if fmt.Sprint(out) != fmt.Sprint(want) {
		t.Errorf("forwardable headers = %v, want %v", out, want)
	}
	out["X-Vendor-Trace"][0] = "changed"
	if in.Get("X-Vendor-Trace") != "t-1" {
		t.Error("forwardableHeaders shares its value slices with the request")
	}
}

func TestIsJSONContentType(t *testing.T) {
	tests := map[string]bool{
		"application/json":                  true,
		"application/json; charset=utf-8":   true,
		"Application/JSON":                  true,
		"application/json ; charset=UTF-8":  true,
		"application/cloudevents+json":      true,
		"application/vnd.api+json":          true,
		"application/problem+json":          true,
		"application/x+json":                true,
		"":                                  false,
		"application/+json":                 false,
		"application/jsonx":                 false,
		"application/json+xml":              false,
		"text/json":                         false,
		"text/plain":                        false,
		"application/x-www-form-urlencoded": false,
		"multipart/form-data; boundary=x":   false,
		"json":                              false,
		"image/svg+json":                    false,
	}
	for ct, want := range tests {
		t.Run(ct, func(t *testing.T) {
			if got := isJSONContentType(ct); got != want {
				t.Fatalf("isJSONContentType(%q) = %v, want %v", ct, got, want)
			}
		})
	}
}
