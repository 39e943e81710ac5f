package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.uber.org/zap"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/auth"
	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/delivery"
	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/payload"
	"github.com/webhookgw/caddy-webhook-gateway/schemas"
)

// Defaults of the handler's config.
const (
	defaultMaxBody = 1 << 20
	// bodyHashKey is the idempotency key of last resort.
	bodyHashKey = "sha256:{webhook.body_sha256}"
	// onInvalidQuarantine is the on_invalid value that keeps a body that failed
	// its schema with the dead letters.
	onInvalidQuarantine = "quarantine"
)

// bodyLimits bound the JSON of every body. MaxNumberBytes stops numbers like
// 1e999999, which cost the schema library tens of milliseconds each to parse
// exactly; 400 admits every float64.
var bodyLimits = payload.Limits{MaxDepth: payload.DefaultMaxDepth, MaxNumberBytes: 400}

// Handler is the webhook_gateway HTTP handler. It checks an inbound webhook
// (method, source IP, credentials, body size, content type, signature, JSON,
// schema, idempotency key) and then either stores it durably and answers the
// vendor (forward mode, when Forward is set) or passes it on to the next
// handler (gate mode).
//
// Exported fields are the JSON config; unexported fields are runtime state
// filled by Provision.
type Handler struct {
	// Name is the stable identity of this route: its queue, its dead letters and
	// its dedup window are keyed by it, so renaming it resets that state.
	// Default in a Caddyfile: the first site address's host and the route's
	// path matcher (site http://gw.example.com, handle /webhooks/idwise:
	// gw_example_com_webhooks_idwise); in JSON: the vendor and family. Never
	// derived from the forward URL, so moving the application keeps the
	// queue. Two routes in one config may not share a name. Lower-case letters,
	// digits, '-' and '_' only, at most 64.
	Name string `json:"name,omitempty" validate:"omitempty,max=64"`

	// Vendor selects a preset (schema, idempotency key, ack): unico_idcloud,
	// unico_magiclink, incode, attestr or idwise. Empty: describe the vendor with
	// Schema and IdempotencyKey yourself.
	Vendor string `json:"vendor,omitempty"`

	// Family is the vendor's event family, e.g. onboarding_status for incode.
	// Required for incode, optional for unico_magiclink, absent otherwise.
	Family string `json:"family,omitempty"`

	// AllowIPs lists the IPs or CIDR ranges the sender may come from, matched
	// against Caddy's client IP (which honours the server's trusted_proxies).
	// Empty: any source.
	AllowIPs []string `json:"allow_ips,omitempty"`

	// Auth lists the accepted credentials. A request passes if ANY line passes.
	// Secrets may be placeholders such as {env.NAME} or {file./path}; they are
	// resolved at provision time and never logged.
	Auth []auth.Config `json:"auth,omitempty"`

	// MaxBody is the largest accepted body in bytes. Default: 1 MiB.
	MaxBody int64 `json:"max_body,omitempty" validate:"gte=0"`

	// BodyTimeout bounds the time to receive the whole body, from the moment the handler
	// starts reading it. A body not complete in time gets 408 and the connection is closed.
	// Default: 10s.
	BodyTimeout caddy.Duration `json:"body_timeout,omitempty" validate:"gte=0"`

	// Schema is an embedded schema name or a path to a JSON Schema (draft
	// 2020-12) file. Default: the vendor preset's schema; none without a preset.
	Schema string `json:"schema,omitempty"`

	// OnInvalid says what a schema violation gets: "reject" (400) or
	// "quarantine" (forward mode only: the vendor gets its ack, the event is kept
	// with the dead letters, reason "schema", until it is replayed or deleted;
	// the same body again is a duplicate of it). Default: "quarantine" for a
	// vendor preset in forward mode, so that no authenticated event is lost to
	// a schema that is stricter than the vendor; "reject" otherwise.
	OnInvalid string `json:"on_invalid,omitempty" validate:"omitempty,oneof=reject quarantine"`

	// IdempotencyKey holds key templates; the first that resolves is the key.
	// Templates take Caddy placeholders plus {webhook.json.<path>} and
	// {webhook.body_sha256}. Default: the preset's keys. The last resort is always sha256:{webhook.body_sha256}.
	IdempotencyKey []string `json:"idempotency_key,omitempty"`

	// DedupWindow is how long a key is remembered. Default: the preset's, else 24h.
	DedupWindow caddy.Duration `json:"dedup_window,omitempty" validate:"gte=0"`

	// Ack is the answer to an accepted event. Default: the preset's, else
	// 200 with {"success":true}.
	Ack *AckConfig `json:"ack,omitempty"`

	// Forward, when set, makes the handler a durable forwarder: an accepted
	// event is stored, acknowledged, and delivered to Forward.URL with retries.
	// When absent (gate mode) the request continues to the next handler.
	Forward *ForwardConfig `json:"forward,omitempty"`

	logger       *zap.Logger
	accessLogger *zap.Logger  // Caddy\'s http.log.access, for the line written in Caddy\'s place
	proxyWarned  *atomic.Bool // set by Provision; a pointer keeps Handler copyable
	allowIPs     []netip.Prefix
	authChain    auth.Chain
	strip        []string
	showDetails  bool // a real auth line exists: a request that passed it may see parse and schema details
	schema       *jsonschema.Schema
	keys         payload.KeyTemplates
	eventName    *payload.Template // the preset's event name template, nil if it has none
	ack          ackResponse
	needsDoc     bool // the schema, a key or the event name reads the decoded body
	window       time.Duration
	limits       payload.Limits
	bodyTimeout  time.Duration
	state        *stateRef
	vendorTag    string
	// forwardURL is Forward.URL with its placeholders resolved.
	forwardURL string
	// noNextLogged makes the gate-mode misconfiguration (no handler after
	// this one) logged once per config, not once per request.
	noNextLogged *atomic.Bool
}

// AckConfig is the response to an accepted event.
type AckConfig struct {
	// Status is the HTTP status, 200 to 299.
	Status int `json:"status,omitempty" validate:"omitempty,gte=200,lte=299"`
	// Body is the JSON body; empty for none.
	Body string `json:"body,omitempty"`
}

// ForwardConfig is the forward block: where and how accepted events are delivered.
type ForwardConfig struct {
	// URL receives every accepted event as a POST: an http or https URL. It
	// may use placeholders resolved at provision time, e.g. {env.APP_URL}/hooks.
	URL string `json:"url" validate:"required"`
	// Timeout bounds one delivery attempt. Default: 30s.
	Timeout caddy.Duration `json:"timeout,omitempty" validate:"gte=0"`
	// MaxAttempts is the number of attempts before the event is dead-lettered. Default: 20.
	MaxAttempts int `json:"max_attempts,omitempty" validate:"gte=0"`
	// MaxAge is how long an event is retried before it is dead-lettered. Default: 72h.
	MaxAge caddy.Duration `json:"max_age,omitempty" validate:"gte=0"`
	// Retain is how long delivered events are kept in the store, as history, after they were
	// accepted; at least the dedup window is kept whatever this says, because the window's
	// keys live in the events. Default: 72h; 0 keeps no more than the window.
	Retain *caddy.Duration `json:"retain,omitempty" validate:"omitempty,gte=0"`
	// BackoffMin is the first retry delay (exponential, full jitter). Default: 1s.
	BackoffMin caddy.Duration `json:"backoff_min,omitempty" validate:"gte=0"`
	// BackoffMax caps the retry delay. Default: 10m.
	BackoffMax caddy.Duration `json:"backoff_max,omitempty" validate:"gte=0"`
	// Concurrency is the number of parallel deliveries for this route. Default: 16.
	Concurrency int `json:"concurrency,omitempty" validate:"gte=0,lte=1024"`
	// Rate caps deliveries, as "<n>/<unit>" with unit s, m or h (e.g. "50/s"). Default: none.
	Rate string `json:"rate,omitempty"`
	// DeadLetterOn lists upstream statuses that skip retries and dead-letter at once.
	DeadLetterOn []int `json:"dead_letter_on,omitempty" validate:"dive,gte=100,lte=599"`
	// HeaderUp adds headers to each forwarded request. Values may use {env.*}.
	HeaderUp map[string]string `json:"header_up,omitempty"`
	// MaxQueue is this route's share of the store, in bytes: all it keeps there (undelivered
	// events, history, dedup records, outcome records, dead letters). When it is reached the
	// oldest delivered history is given up first; with none left the route answers 503 with
	// Retry-After, and other routes are unaffected. Default: 1 GiB.
	MaxQueue int64 `json:"max_queue,omitempty" validate:"gte=0"`
	// Sign, when set, signs forwarded requests with the Standard Webhooks scheme
	// (webhook-id, webhook-timestamp, webhook-signature) under this secret
	// (whsec_<base64>), so the application can verify the gateway sent it.
	Sign string `json:"sign,omitempty"`
}

// ackResponse is the compiled ack.
type ackResponse struct {
	status      int
	contentType string
	body        []byte
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.webhook_gateway",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision resolves secrets, applies defaults, compiles the checks and
// registers the route with the webhook_gateway app. It makes no network call.
// Every error names the route and the directive, on one line.
func (h *Handler) Provision(ctx caddy.Context) error {
	return h.routeError(h.provision(ctx))
}

// routeError prefixes a config error with the route it belongs to, so that `caddy validate`
// prints one line naming the route, the directive and the value.
func (h *Handler) routeError(err error) error {
	if err == nil {
		return nil
	}
	name := h.Name
	if name == "" {
		name = "(unnamed)"
	}
	return fmt.Errorf("webhook_gateway route %q: %w", name, err)
}

func (h *Handler) provision(ctx caddy.Context) error {
	if h.Name == "" {
		h.Name = h.defaultName()
	}
	h.logger = ctx.Logger()
	h.proxyWarned = new(atomic.Bool)
	h.accessLogger = ctx.Logger(httpAppModule{}).Named("log.access")
	h.noNextLogged = new(atomic.Bool)
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}

	var preset *schemas.Preset
	if h.Vendor != "" {
		p, err := schemas.Lookup(h.Vendor, h.Family)
		if err != nil {
			return fmt.Errorf("vendor: %v", err)
		}
		preset = &p
	} else if h.Family != "" {
		return fmt.Errorf("vendor: event family %q given without a vendor", h.Family)
	}
	h.vendorTag = h.Vendor
	if h.vendorTag == "" {
		h.vendorTag = "custom"
	}

	for _, expr := range h.AllowIPs {
		prefix, err := caddyhttp.CIDRExpressionToPrefix(expr)
		if err != nil {
			return fmt.Errorf("allow_ips: invalid IP or CIDR %q", expr)
		}
		h.allowIPs = append(h.allowIPs, prefix)
	}

	if err := delivery.ValidRouteName(h.Name); err != nil {
		return fmt.Errorf("name: %v", err)
	}
	if err := checkSecretRefs(h); err != nil {
		return err
	}
	if h.Forward != nil {
		u, err := resolveForwardURL(h.Forward.URL)
		if err != nil {
			return err
		}
		h.forwardURL = u
	}

	if err := h.provisionAuth(); err != nil {
		return err
	}
	if h.MaxBody == 0 {
		h.MaxBody = defaultMaxBody
	}
	h.bodyTimeout = time.Duration(h.BodyTimeout)
	if h.bodyTimeout == 0 {
		h.bodyTimeout = defaultBodyTimeout
	}
	h.limits = bodyLimits

	schemaName := h.Schema
	if schemaName == "" && preset != nil {
		schemaName = preset.Schema
	}
	if schemaName != "" {
		s, err := schemas.Compile(schemaName)
		if err != nil {
			return fmt.Errorf("schema: %v", err)
		}
		h.schema = s
	}

	keys := h.IdempotencyKey
	if len(keys) == 0 && preset != nil {
		keys = preset.Keys
	}
	// The last resort always resolves: when no template does (a header or
	// field the sender left out), the body hash still drops exact re-sends and
	// nothing else. An empty key would make every such event a duplicate.
	keys = append(append([]string(nil), keys...), bodyHashKey)
	kt, err := payload.ParseKeyTemplates(keys)
	if err != nil {
		return fmt.Errorf("idempotency_key: %v", err)
	}
	if err := h.checkReplayableKeys(keys, kt); err != nil {
		return err
	}
	h.keys = kt

	eventTmpl := ""
	if preset != nil {
		eventTmpl = preset.Event
	}
	if eventTmpl != "" {
		t, err := payload.ParseTemplate(eventTmpl)
		if err != nil {
			return fmt.Errorf("vendor: preset event template: %v", err)
		}
		h.eventName = t
	}

	h.needsDoc = h.schema != nil || h.keys.UsesJSON() || (h.eventName != nil && h.eventName.UsesJSON())

	if h.OnInvalid == "" && preset != nil && h.Forward != nil {
		h.OnInvalid = onInvalidQuarantine
	}

	h.window = time.Duration(h.DedupWindow)
	if h.window == 0 && preset != nil {
		h.window = preset.DedupWindow
	}
	if h.window == 0 {
		h.window = delivery.DefaultDedupWindow
	}

	h.ack = ackResponse{status: http.StatusOK, contentType: "application/json", body: []byte(`{"success":true}`)}
	if preset != nil {
		h.ack = ackResponse{status: preset.Ack.Status, contentType: preset.Ack.ContentType, body: []byte(preset.Ack.Body)}
	}
	if h.Ack != nil {
		h.ack = ackResponse{status: h.Ack.Status, contentType: "application/json", body: []byte(h.Ack.Body)}
		if h.ack.status == 0 {
			h.ack.status = http.StatusOK
		}
		if len(h.ack.body) == 0 {
			h.ack.contentType = ""
		}
	}

	cfg, err := h.routeConfig()
	if err != nil {
		return err
	}
	appIface, err := ctx.App("webhook_gateway")
	if err != nil {
		return fmt.Errorf("loading webhook_gateway app: %v", err)
	}
	route, err := appIface.(*App).register(cfg)
	if err != nil {
		return fmt.Errorf("name: %v", err)
	}
	route.vendor = h.vendorTag
	h.state = route

	if len(h.Auth) == 0 {
		h.logger.Warn("no auth configured: any sender that reaches this route is accepted", zap.String("route", h.Name))
	}
	return nil
}

// provisionAuth resolves the auth lines' placeholders and builds the verifiers.
func (h *Handler) provisionAuth() error {
	repl := caddy.NewReplacer()
	resolved := make([]auth.Config, len(h.Auth))
	for i, c := range h.Auth {
		resolved[i] = resolvePlaceholders(repl, c)
		if c.Method != auth.MethodNone {
			h.showDetails = true
		}
	}
	chain, err := auth.BuildChain(resolved, auth.Options{Audience: h.Name, Vendor: h.Vendor})
	if err != nil {
		return err
	}
	h.authChain = chain
	h.strip = chain.StripHeaders()
	return nil
}

// defaultName is the name of a route that has none in a JSON config: the
// vendor and family (the Caddyfile adapter writes a name from the site and
// path instead, see routename.go). Never the forward URL: moving the
// application must not move the queue.
func (h *Handler) defaultName() string {
	parts := []string{}
	if h.Vendor != "" {
		parts = append(parts, h.Vendor)
	}
	if h.Family != "" {
		parts = append(parts, h.Family)
	}
	if len(parts) == 0 {
		parts = append(parts, "webhook")
	}
	return sanitizeRouteName(strings.Join(parts, "_"))
}

// Validate checks the cross-field rules of the config; it is read-only.
func (h *Handler) Validate() error {
	return h.routeError(h.validate())
}

// validate checks the config's rules; parsing checked only syntax and types.
func (h *Handler) validate() error {
	if err := validateStruct(h); err != nil {
		return err
	}
	if h.OnInvalid == onInvalidQuarantine && h.Forward == nil {
		return errors.New("on_invalid: quarantine needs a forward block (gate mode has nowhere to keep the event)")
	}
	if h.OnInvalid != "" && h.schema == nil {
		return errors.New("on_invalid: no schema to validate against (set vendor or schema)")
	}
	if h.Ack != nil && h.Ack.Body != "" && !json.Valid([]byte(h.Ack.Body)) {
		return errors.New("ack: the body is not valid JSON")
	}
	if f := h.Forward; f != nil && f.BackoffMin > 0 && f.BackoffMax > 0 && f.BackoffMax < f.BackoffMin {
		return fmt.Errorf("forward backoff: min '%v' is above max '%v'", time.Duration(f.BackoffMin), time.Duration(f.BackoffMax))
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
