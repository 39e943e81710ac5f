// Package senderauth adds a vendor's credentials to simulated webhooks, the way each
// vendor does it (docs/vendors.md): HTTP Basic with a user and password or with an opaque
// token (Attestr), an API key header (split on the first colon, as Unico does), a static
// Bearer token, a Bearer token fetched from an OAuth2 client-credentials endpoint
// (Incode, Unico), and Standard Webhooks signatures.
package senderauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/auth"
)

// Config is the sender's credentials. Every non-empty field adds its header; several may
// be combined (for example an API key header as a second factor beside OAuth2).
type Config struct {
	// Basic is "user:pass", sent as Authorization: Basic base64(user:pass).
	Basic string
	// BasicToken is an opaque token sent as Authorization: Basic <token> (Attestr).
	BasicToken string
	// APIKey is "Header:Value", split on the first colon; without a colon the value is
	// sent as a raw Authorization header, as Unico does.
	APIKey string
	// Bearer is a static token sent as Authorization: Bearer <token>.
	Bearer string
	// OAuth2 fetches a Bearer token with the client-credentials grant when TokenURL is set.
	OAuth2 OAuth2Config
	// StandardWebhooksSecret ("whsec_<base64>") signs every body with the Standard
	// Webhooks headers webhook-id, webhook-timestamp and webhook-signature.
	StandardWebhooksSecret string
}

// Signer adds the credentials of a Config to requests. It is safe for concurrent use.
type Signer struct {
	headers [][2]string // static header name and value
	tokens  *TokenSource
	swKey   []byte
}

// New checks c and returns its Signer. client is used for the OAuth2 token requests.
func New(c Config, client *http.Client) (*Signer, error) {
	s := &Signer{}
	authz := 0
	if c.Basic != "" {
		if !strings.Contains(c.Basic, ":") {
			return nil, errors.New("-basic wants user:pass (use -basic-token for an opaque token)")
		}
		s.headers = append(s.headers, [2]string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(c.Basic))})
		authz++
	}
	if c.BasicToken != "" {
		s.headers = append(s.headers, [2]string{"Authorization", "Basic " + c.BasicToken})
		authz++
	}
	if c.APIKey != "" {
		name, value, ok := strings.Cut(c.APIKey, ":")
		if !ok {
			name, value = "Authorization", c.APIKey
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if name == "" || value == "" {
			return nil, errors.New("-api-key wants Header:Value")
		}
		s.headers = append(s.headers, [2]string{http.CanonicalHeaderKey(name), value})
		if http.CanonicalHeaderKey(name) == "Authorization" {
			authz++
		}
	}
	if c.Bearer != "" {
		s.headers = append(s.headers, [2]string{"Authorization", "Bearer " + c.Bearer})
		authz++
	}
	if c.OAuth2.TokenURL != "" {
		ts, err := NewTokenSource(c.OAuth2, client)
		if err != nil {
			return nil, err
		}
		s.tokens = ts
		authz++
	}
	if authz > 1 {
		return nil, errors.New("only one of -basic, -basic-token, -bearer, -oauth2-token-url and a raw -api-key can set Authorization")
	}
	if c.StandardWebhooksSecret != "" {
		key, err := auth.DecodeStandardWebhookSecret(c.StandardWebhooksSecret)
		if err != nil {
			return nil, err
		}
		s.swKey = key
	}
	return s, nil
}

// Prepare fetches the first OAuth2 token, if any, so that a bad token endpoint shows up
// before any webhook is sent.
func (s *Signer) Prepare(ctx context.Context) error {
	if s.tokens == nil {
		return nil
	}
	_, err := s.tokens.Token(ctx)
	return err
}

// Apply sets the credential headers on h for a message with Standard Webhooks id msgID
// and the exact body, sent at now.
func (s *Signer) Apply(ctx context.Context, h http.Header, msgID string, body []byte, now time.Time) error {
	for _, kv := range s.headers {
		h[kv[0]] = []string{kv[1]}
	}
	if s.tokens != nil {
		tok, err := s.tokens.Token(ctx)
		if err != nil {
			return fmt.Errorf("oauth2 token: %w", err)
		}
		h["Authorization"] = []string{"Bearer " + tok}
	}
	if s.swKey != nil {
		h["Webhook-Id"] = []string{msgID}
		h["Webhook-Timestamp"] = []string{fmt.Sprint(now.Unix())}
		h["Webhook-Signature"] = []string{auth.SignStandardWebhook(s.swKey, msgID, now, body)}
	}
	return nil
}
