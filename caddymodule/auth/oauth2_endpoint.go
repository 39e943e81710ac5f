package auth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The token endpoint of the oauth2 method: the client-credentials grant (RFC 6749 §4.4) with
// client authentication, throttling of failed attempts, and the tokens it issues. oauth2.go is
// the verifier those tokens then meet on every webhook request.
// issuedClaims are the claims of a token the gateway issues (RFC 9068 §2.2).
type issuedClaims struct {
	jwt.RegisteredClaims
	Scope    string `json:"scope,omitempty"`
	ClientID string `json:"client_id"`
	Vendor   string `json:"vendor,omitempty"`
}

// issue signs a token for client c with the granted scopes.
func (v *oauth2Verifier) issue(c *oauth2Client, scopes []string, now time.Time) (string, error) {
	key := v.signer
	if key == nil {
		key = c.signer
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, issuedClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    TokenIssuer,
			Subject:   c.id,
			Audience:  jwt.ClaimStrings{v.audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(v.ttl)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
		},
		Scope:    strings.Join(scopes, " "),
		ClientID: c.id,
		Vendor:   v.vendor,
	})
	t.Header["kid"] = key.kid
	t.Header["typ"] = accessTokenType
	return t.SignedString(key.secret)
}

// tokenResponse is the RFC 6749 §5.1 success body.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
}

// tokenErrorResponse is the RFC 6749 §5.2 error body.
type tokenErrorResponse struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// oauthError is one RFC 6749 §5.2 answer.
type oauthError struct {
	status     int
	code       string
	desc       string
	retryAfter int // seconds, for a 429
}

func errInvalidRequest(desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_request", desc: desc}
}

func errInvalidClient(desc string) *oauthError {
	return &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: desc}
}

// Results of a token request, as TokenResult.Result.
const (
	TokenIssued    = "issued"
	TokenRejected  = "rejected"
	TokenThrottled = "throttled"
)

// TokenResult says what a token request got, for the adapter's log line and metric. ClientID
// is set only for a configured client, never to an id the sender invented.
type TokenResult struct {
	Result   string
	Status   int
	ClientID string
	// Reason is the RFC 6749 error code of a refusal ("invalid_client", ...), "" when issued.
	Reason string
}

// ServeToken answers a client-credentials token request (RFC 6749 §4.4). Clients authenticate
// with client_secret_basic or client_secret_post. A request that uses both must name the same
// client and pass with both secrets; different ids are refused. Errors follow RFC 6749 §5.2.
// source is the sender's address (the adapter passes Caddy's client IP): failed client
// authentications are throttled per client id and source, with 429 and Retry-After.
func (v *oauth2Verifier) ServeToken(w http.ResponseWriter, r *http.Request, source string) TokenResult {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		oerr := &oauthError{status: http.StatusMethodNotAllowed, code: "invalid_request", desc: "the token endpoint accepts only POST"}
		writeTokenError(w, oerr)
		return TokenResult{Result: TokenRejected, Status: oerr.status, Reason: oerr.code}
	}
	resp, client, oerr := v.token(w, r, source)
	res := TokenResult{Result: TokenIssued, Status: http.StatusOK}
	if client != nil && client != decoyClient {
		res.ClientID = client.id
	}
	if oerr != nil {
		res.Result, res.Status, res.Reason = TokenRejected, oerr.status, oerr.code
		if oerr.status == http.StatusTooManyRequests {
			res.Result = TokenThrottled
		}
		writeTokenError(w, oerr)
		return res
	}
	setNoStore(w.Header())
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(resp)
	return res
}

// token validates a token request and issues the token. It returns the client the request
// named (the decoy for an unknown id), when it got that far.
func (v *oauth2Verifier) token(w http.ResponseWriter, r *http.Request, source string) (*tokenResponse, *oauth2Client, *oauthError) {
	if q := r.URL.Query(); q.Has("client_secret") {
		return nil, nil, errInvalidRequest("client credentials must not be sent in the URI")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, nil, errInvalidRequest("content type must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTokenRequestBytes))
	if err != nil {
		return nil, nil, errInvalidRequest("request body too large or unreadable")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, nil, errInvalidRequest("malformed form body")
	}
	for _, vals := range form {
		if len(vals) > 1 {
			return nil, nil, errInvalidRequest("a request parameter is repeated")
		}
	}
	switch gt := form.Get("grant_type"); gt {
	case "":
		return nil, nil, errInvalidRequest("missing grant_type")
	case "client_credentials":
	default:
		return nil, nil, &oauthError{status: http.StatusBadRequest, code: "unsupported_grant_type", desc: "only client_credentials is supported"}
	}
	client, oerr := v.authenticate(r.Header, form, source)
	if oerr != nil {
		return nil, client, oerr
	}
	scopes, oerr := v.grant(form.Get("scope"))
	if oerr != nil {
		return nil, client, oerr
	}
	tok, err := v.issue(client, scopes, v.now())
	if err != nil {
		return nil, client, &oauthError{status: http.StatusInternalServerError, code: "server_error", desc: "could not issue a token"}
	}
	return &tokenResponse{
		AccessToken: tok,
		TokenType:   "Bearer",
		ExpiresIn:   int64(v.ttl / time.Second),
		Scope:       strings.Join(scopes, " "),
	}, client, nil
}

// authenticate identifies the client by client_secret_basic (RFC 6749 §2.3.1, the
// Authorization header) or client_secret_post (client_id and client_secret in the body).
// A (client, source) pair that failed too often is answered 429 before its secret is looked at.
func (v *oauth2Verifier) authenticate(h http.Header, form url.Values, source string) (*oauth2Client, *oauthError) {
	bodyID, bodySecret := form.Get("client_id"), form.Get("client_secret")
	auth := h[headerAuthorization]
	switch {
	case len(auth) > 1:
		return nil, errInvalidRequest("the Authorization header is repeated")
	case len(auth) == 1:
		cred, ok := authScheme(auth[0], "Basic")
		if !ok {
			return nil, errInvalidClient("client authentication must use the Basic scheme")
		}
		user, pass, ok := decodeBasic(cred, make([]byte, maxBasicDecoded))
		if !ok {
			return nil, errInvalidClient("malformed Basic credentials")
		}
		id, secret := string(user), string(pass)
		if bodyID != "" && bodyID != id && bodyID != formUnescape(id) {
			return nil, errInvalidRequest("client_id in the body differs from the Authorization header")
		}
		c := v.client(id)
		key, now := v.throttleKey(c, source), v.now()
		if oerr := v.throttled(key, now); oerr != nil {
			return c, oerr
		}
		// RFC 6749 §2.3.1 form-encodes id and secret before the Basic encoding, but many
		// clients do not: accept either form of the secret.
		ok = c.matches(secret) || c.matches(formUnescape(secret))
		if bodySecret != "" {
			ok = c.matches(bodySecret) && ok
		}
		if !ok || c == decoyClient {
			v.throttle.fail(key, now)
			return c, errInvalidClient("client authentication failed")
		}
		return c, nil
	case bodyID != "" || bodySecret != "":
		c := v.client(bodyID)
		key, now := v.throttleKey(c, source), v.now()
		if oerr := v.throttled(key, now); oerr != nil {
			return c, oerr
		}
		if !c.matches(bodySecret) || c == decoyClient {
			v.throttle.fail(key, now)
			return c, errInvalidClient("client authentication failed")
		}
		return c, nil
	}
	return nil, errInvalidClient("client authentication required")
}

// throttleKey is the bucket of a request: the configured client, or one shared bucket for
// every unknown id, per source address.
func (v *oauth2Verifier) throttleKey(c *oauth2Client, source string) throttleKey {
	if c == decoyClient {
		return throttleKey{client: unknownClient, source: source}
	}
	return throttleKey{client: c.id, source: source}
}

// throttled returns the 429 for a pair that must wait, or nil.
func (v *oauth2Verifier) throttled(k throttleKey, now time.Time) *oauthError {
	d := v.throttle.wait(k, now)
	if d <= 0 {
		return nil
	}
	secs := int((d + time.Second - 1) / time.Second)
	return &oauthError{status: http.StatusTooManyRequests, code: "slow_down",
		desc: "too many failed client authentications; retry later", retryAfter: secs}
}

// client returns the client with this id (or its form-decoded form), else the decoy.
func (v *oauth2Verifier) client(id string) *oauth2Client {
	if c := v.clients[id]; c != nil {
		return c
	}
	if c := v.clients[formUnescape(id)]; c != nil {
		return c
	}
	return decoyClient
}

// formUnescape decodes application/x-www-form-urlencoded text, or returns s when it is not.
func formUnescape(s string) string {
	u, err := url.QueryUnescape(s)
	if err != nil {
		return s
	}
	return u
}

// grant returns the scopes to grant for a requested scope parameter: the requested scopes this
// route knows, or all of the route's scopes when the request names none of them.
func (v *oauth2Verifier) grant(requested string) ([]string, *oauthError) {
	var granted []string
	for _, s := range strings.Split(requested, " ") {
		if s == "" {
			continue
		}
		if !validScopeToken(s) {
			return nil, &oauthError{status: http.StatusBadRequest, code: "invalid_scope", desc: "malformed scope"}
		}
		if contains(v.scopes, s) && !contains(granted, s) {
			granted = append(granted, s)
		}
	}
	if len(granted) == 0 {
		granted = v.scopes
	}
	return granted, nil
}

func setNoStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

func writeTokenError(w http.ResponseWriter, e *oauthError) {
	h := w.Header()
	setNoStore(h)
	h.Set("Content-Type", "application/json;charset=UTF-8")
	if e.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", basicChallenge)
	}
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(tokenErrorResponse{Error: e.code, Description: e.desc})
}

var (
	_ Verifier          = (*oauth2Verifier)(nil)
	_ TokenServer       = (*oauth2Verifier)(nil)
	_ RequestChallenger = (*oauth2Verifier)(nil)
)
