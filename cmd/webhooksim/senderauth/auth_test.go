package senderauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/auth"
)

const (
	testSecret = "a-client-secret-of-32-characters"
	swSecret   = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// TestSignerPassesGatewayChecks checks every credential the simulator sends against the
// gateway's own verifiers, including a token fetched from the gateway's token endpoint.
func TestSignerPassesGatewayChecks(t *testing.T) {
	body := []byte(`{"event":"Finished Journey","body":{"eventId":"e1"}}`)
	tokenPath := "/oauth/token"
	cases := []struct {
		name string
		line auth.Config
		cfg  func(tokenURL string) Config
	}{
		{"basic", auth.Config{Method: "basic", Username: "idwise", Password: "pw:with:colons"},
			func(string) Config { return Config{Basic: "idwise:pw:with:colons"} }},
		{"basic opaque token", auth.Config{Method: "basic", Password: "attestr-opaque-token"},
			func(string) Config { return Config{BasicToken: "attestr-opaque-token"} }},
		{"api key header", auth.Config{Method: "api_key", Header: "X-API-Key", Value: "abc123"},
			func(string) Config { return Config{APIKey: "X-API-Key:abc123"} }},
		{"api key raw authorization", auth.Config{Method: "api_key", Header: "Authorization", Value: "abc123"},
			func(string) Config { return Config{APIKey: "abc123"} }},
		{"bearer", auth.Config{Method: "bearer", Token: "static-token"},
			func(string) Config { return Config{Bearer: "static-token"} }},
		{"oauth2 basic client auth", oauth2Line(tokenPath),
			func(u string) Config {
				return Config{OAuth2: OAuth2Config{TokenURL: u, ClientID: "incode", ClientSecret: testSecret}}
			}},
		{"oauth2 post client auth", oauth2Line(tokenPath),
			func(u string) Config {
				return Config{OAuth2: OAuth2Config{TokenURL: u, ClientID: "incode", ClientSecret: testSecret, ClientAuth: "post"}}
			}},
		{"standard webhooks", auth.Config{Method: "standard_webhooks", StandardWebhooks: &auth.StandardWebhooksConfig{Secrets: []string{swSecret}}},
			func(string) Config { return Config{StandardWebhooksSecret: swSecret} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			chain, err := auth.BuildChain([]auth.Config{tc.line}, auth.Options{Audience: "test", Vendor: "incode"})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ts, ok := chain.TokenServer(r.URL.Path)
				if !ok {
					http.NotFound(w, r)
					return
				}
				ts.ServeToken(w, r, "192.0.2.1")
			}))
			defer srv.Close()
			s, err := New(tc.cfg(srv.URL+tokenPath), srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := s.Prepare(ctx); err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			now := time.Now()
			if err := s.Apply(ctx, h, "msg_1", body, now); err != nil {
				t.Fatal(err)
			}
			r := &auth.Request{Header: h, Now: now}
			switch chain.CheckHeaders(ctx, r) {
			case auth.Pass:
			case auth.NeedBody:
				r.Body = body
				if !chain.CheckBody(ctx, r) {
					t.Fatalf("body check failed; headers %v", h)
				}
			default:
				t.Fatalf("header check failed; headers %v", h)
			}
		})
	}
}

// oauth2Line is an oauth2 auth line with one client.
func oauth2Line(path string) auth.Config {
	return auth.Config{Method: "oauth2", OAuth2: &auth.OAuth2Config{
		Clients:   []auth.OAuth2Client{{ClientID: "incode", ClientSecret: testSecret}},
		TokenPath: path,
	}}
}

func TestNewRejects(t *testing.T) {
	for name, c := range map[string]Config{
		"basic without colon":  {Basic: "nocolon"},
		"empty api key value":  {APIKey: "X-Key:"},
		"two authorizations":   {Basic: "a:b", Bearer: "t"},
		"bad whsec":            {StandardWebhooksSecret: "whsec_!!!"},
		"oauth2 without id":    {OAuth2: OAuth2Config{TokenURL: "http://127.0.0.1/t", ClientSecret: "s"}},
		"oauth2 bad auth kind": {OAuth2: OAuth2Config{TokenURL: "http://127.0.0.1/t", ClientID: "i", ClientSecret: "s", ClientAuth: "jwt"}},
		"oauth2 bad URL":       {OAuth2: OAuth2Config{TokenURL: "ftp://x", ClientID: "i", ClientSecret: "s"}},
	} {
		if _, err := New(c, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestTokenReuseAndRefresh checks that a token is reused until 80% of its lifetime and
// then fetched again, and that endpoint errors are reported with the RFC 6749 code.
func TestTokenReuseAndRefresh(t *testing.T) {
	var fetches atomic.Int32
	fail := atomic.Bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"client authentication failed"}`))
			return
		}
		n := fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"tok` + string('0'+n) + `","token_type":"Bearer","expires_in":100}`))
	}))
	defer srv.Close()
	ts, err := NewTokenSource(OAuth2Config{TokenURL: srv.URL, ClientID: "i", ClientSecret: "s"}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(1000, 0)
	ts.now = func() time.Time { return clock }
	ctx := context.Background()
	for _, step := range []struct {
		advance time.Duration
		want    string
	}{{0, "tok1"}, {79 * time.Second, "tok1"}, {2 * time.Second, "tok2"}} {
		clock = clock.Add(step.advance)
		got, err := ts.Token(ctx)
		if err != nil || got != step.want {
			t.Fatalf("after %v: %q %v, want %q", step.advance, got, err, step.want)
		}
	}
	fail.Store(true)
	clock = clock.Add(time.Hour)
	if _, err := ts.Token(ctx); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("error %v, want invalid_client", err)
	}
}
