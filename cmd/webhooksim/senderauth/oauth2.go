package senderauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// OAuth2Config is a client of an OAuth2 client-credentials token endpoint (RFC 6749 §4.4).
type OAuth2Config struct {
	// TokenURL is the token endpoint, e.g. the gateway's token_path.
	TokenURL string
	// ClientID and ClientSecret are the client's credentials.
	ClientID, ClientSecret string
	// ClientAuth is "basic" (Authorization: Basic base64(id:secret), as Incode does; the
	// default) or "post" (client_id and client_secret in the form body).
	ClientAuth string
	// Scope is the optional scope parameter.
	Scope string
}

// maxTokenResponse bounds the token endpoint's answer that is read.
const maxTokenResponse = 64 << 10

// TokenSource fetches tokens and reuses each until 80% of its lifetime has passed. It is
// safe for concurrent use; at most one refresh runs at a time.
type TokenSource struct {
	cfg    OAuth2Config
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex
	token   string
	refresh time.Time // when to fetch the next token
}

// NewTokenSource checks c and returns its token source.
func NewTokenSource(c OAuth2Config, client *http.Client) (*TokenSource, error) {
	if c.ClientID == "" || c.ClientSecret == "" {
		return nil, errors.New("oauth2 needs -client-id and -client-secret")
	}
	switch c.ClientAuth {
	case "":
		c.ClientAuth = "basic"
	case "basic", "post":
	default:
		return nil, fmt.Errorf("-client-auth %q: want basic or post", c.ClientAuth)
	}
	if u, err := url.Parse(c.TokenURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("-oauth2-token-url %q: want an http(s) URL", c.TokenURL)
	}
	if client == nil {
		client = http.DefaultClient
	}
	return &TokenSource{cfg: c, client: client, now: time.Now}, nil
}

// Token returns a valid access token, fetching a new one when the current one is near
// its expiry.
func (ts *TokenSource) Token(ctx context.Context) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.token != "" && ts.now().Before(ts.refresh) {
		return ts.token, nil
	}
	tok, ttl, err := ts.fetch(ctx)
	if err != nil {
		return "", err
	}
	ts.token = tok
	ts.refresh = ts.now().Add(ttl * 8 / 10)
	return tok, nil
}

// tokenResponse is the RFC 6749 §5.1 success body, plus the §5.2 error fields.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// fetch runs one client-credentials request.
func (ts *TokenSource) fetch(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if ts.cfg.Scope != "" {
		form.Set("scope", ts.cfg.Scope)
	}
	if ts.cfg.ClientAuth == "post" {
		form.Set("client_id", ts.cfg.ClientID)
		form.Set("client_secret", ts.cfg.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if ts.cfg.ClientAuth == "basic" {
		req.SetBasicAuth(ts.cfg.ClientID, ts.cfg.ClientSecret)
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	if err != nil {
		return "", 0, err
	}
	var tr tokenResponse
	jerr := json.Unmarshal(raw, &tr)
	if resp.StatusCode != http.StatusOK {
		if jerr == nil && tr.Error != "" {
			return "", 0, fmt.Errorf("token endpoint answered %d: %s: %s", resp.StatusCode, tr.Error, tr.Description)
		}
		return "", 0, fmt.Errorf("token endpoint answered %d", resp.StatusCode)
	}
	if jerr != nil || tr.AccessToken == "" {
		return "", 0, errors.New("token endpoint answered 200 without an access_token")
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return "", 0, fmt.Errorf("token endpoint issued a %q token, want Bearer", tr.TokenType)
	}
	ttl := time.Duration(tr.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	return tr.AccessToken, ttl, nil
}
