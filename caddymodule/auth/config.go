package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Method names, as written in the config.
const (
	MethodNone             = "none"
	MethodBasic            = "basic"
	MethodAPIKey           = "api_key"
	MethodBearer           = "bearer"
	MethodJWT              = "jwt"
	MethodOAuth2           = "oauth2"
	MethodHMAC             = "hmac"
	MethodStandardWebhooks = "standard_webhooks"
)

// Config is one auth line of a route. It is a union keyed by Method: only the fields of that
// method may be set. Secrets arrive already resolved: the adapter replaces {env.*} and
// {file.*} placeholders before it calls Build.
type Config struct {
	// Method selects the check: "none", "basic", "api_key", "bearer", "jwt", "oauth2",
	// "hmac" or "standard_webhooks". Required.
	Method string `json:"method"`

	// Username is the basic user name. When it is empty and Password is set, the credential
	// after "Basic " is compared as a whole with Password, without base64 decoding: this is
	// how Attestr sends its opaque dashboard token. Default: empty.
	Username string `json:"username,omitempty"`
	// Password is the basic password (or the opaque Basic token, see Username). Required for basic.
	Password string `json:"password,omitempty"`

	// Header is the api_key header name, e.g. "X-API-Key". When it is "Authorization" the whole
	// raw value is compared, scheme included, which is how Unico sends a bare key. Required for api_key.
	Header string `json:"header,omitempty"`
	// Value is the exact api_key header value. Required for api_key.
	Value string `json:"value,omitempty"`

	// Token is the static bearer token expected in "Authorization: Bearer <token>". Required for bearer.
	Token string `json:"token,omitempty"`

	// JWT configures the jwt method: bearer JWTs issued by an external identity provider.
	JWT *JWTConfig `json:"jwt,omitempty"`
	// OAuth2 configures the oauth2 method: the gateway is the vendor's OAuth2 token endpoint and
	// checks the tokens it issued.
	OAuth2 *OAuth2Config `json:"oauth2,omitempty"`
	// HMAC configures the hmac method: a generic body signature in a header.
	HMAC *HMACConfig `json:"hmac,omitempty"`
	// StandardWebhooks configures the standard_webhooks method (https://www.standardwebhooks.com).
	StandardWebhooks *StandardWebhooksConfig `json:"standard_webhooks,omitempty"`
}

// Build validates one auth line and returns its verifier. It does no network I/O, so it is
// safe in Provision and under caddy validate. Errors are one lower-case line that names the
// method and the bad field, and never a secret value.
func Build(c Config, o Options) (Verifier, error) {
	if err := c.checkUnion(); err != nil {
		return nil, err
	}
	switch c.Method {
	case MethodNone:
		return noneVerifier{}, nil
	case MethodBasic:
		return asVerifier(newBasic(c.Username, c.Password))
	case MethodAPIKey:
		return asVerifier(newAPIKey(c.Header, c.Value))
	case MethodBearer:
		return asVerifier(newBearer(c.Token))
	case MethodJWT:
		return asVerifier(newJWT(*c.JWT, o))
	case MethodOAuth2:
		return asVerifier(newOAuth2(*c.OAuth2, o))
	case MethodHMAC:
		return asVerifier(newHMAC(*c.HMAC, o))
	case MethodStandardWebhooks:
		return asVerifier(newStandardWebhooks(*c.StandardWebhooks, o))
	case "":
		return nil, errors.New("auth: missing method")
	default:
		return nil, fmt.Errorf("auth: unknown method %q", c.Method)
	}
}

// asVerifier returns v as a Verifier, or a nil interface (not a typed nil) on error.
func asVerifier[V Verifier](v V, err error) (Verifier, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

// checkUnion refuses fields that belong to another method, which catches a misplaced secret
// before it silently does nothing, and requires the block of the block-configured methods.
func (c Config) checkUnion() error {
	set := map[string]bool{
		"username":          c.Username != "",
		"password":          c.Password != "",
		"header":            c.Header != "",
		"value":             c.Value != "",
		"token":             c.Token != "",
		"jwt":               c.JWT != nil,
		"oauth2":            c.OAuth2 != nil,
		"hmac":              c.HMAC != nil,
		"standard_webhooks": c.StandardWebhooks != nil,
	}
	var allowed []string
	switch c.Method {
	case MethodNone:
	case MethodBasic:
		allowed = []string{"username", "password"}
	case MethodAPIKey:
		allowed = []string{"header", "value"}
	case MethodBearer:
		allowed = []string{"token"}
	case MethodJWT, MethodOAuth2, MethodHMAC, MethodStandardWebhooks:
		if !set[c.Method] {
			return fmt.Errorf("auth %s: missing %s block", c.Method, c.Method)
		}
		allowed = []string{c.Method}
	default:
		return nil // Build reports the unknown method
	}
	for _, f := range []string{"username", "password", "header", "value", "token", "jwt", "oauth2", "hmac", "standard_webhooks"} {
		if set[f] && !contains(allowed, f) {
			return fmt.Errorf("auth %s: field %s does not apply to this method", c.Method, f)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// validHeaderName reports whether s is an HTTP field name (RFC 9110 §5.1 token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// canonicalHeader validates and canonicalizes a configured header name.
func canonicalHeader(method, field, name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("auth %s: missing %s", method, field)
	}
	if !validHeaderName(name) {
		return "", fmt.Errorf("auth %s: invalid %s %q", method, field, name)
	}
	return http.CanonicalHeaderKey(name), nil
}

// Duration is a config duration. In JSON it is a string such as "90s", "1h" or
// "2d" (the forms caddy.ParseDuration accepts) or an integer number of
// nanoseconds (what caddy.Duration and a marshalled time.Duration produce).
// Being a field type rather than a custom UnmarshalJSON on each config struct,
// it leaves the caller's DisallowUnknownFields in force for the whole config.
type Duration time.Duration

// UnmarshalJSON accepts a duration string or integer nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := parseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration must be a string like \"5m\" or integer nanoseconds")
	}
	*d = Duration(n)
	return nil
}

// parseDuration is time.ParseDuration plus the "d" (24 h) unit.
func parseDuration(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "d") && !strings.ContainsAny(s, "hmsuµn") {
		days, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(days * float64(24*time.Hour)), nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return v, nil
}
