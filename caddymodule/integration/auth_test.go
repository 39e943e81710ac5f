package integration

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// Secrets of the auth end-to-end test. The OAuth2 ones reach the gateway
// through {env.*} placeholders, so resolution at provision time is covered too.
const (
	incodeClientID     = "incode-client"
	incodeClientSecret = "incode-secret-0123456789abcdef"
	unicoClientID      = "unico-client"
	unicoClientSecret  = "unico-secret-0123456789abcdef"
	githubSecret       = "github-hook-secret"
	stripeSecret       = "whsec_stripe_test_secret"
	mixedAPIKey        = "mixed-api-key-value"
	idpAudience        = "https://gateway.example/webhooks"
	idpScope           = "webhooks:write"
	// gatewayTokenIssuer is the "iss" of the tokens the gateway's token endpoint issues.
	gatewayTokenIssuer = "caddy-webhook-gateway"
)

// Standard Webhooks secrets: "whsec_" + base64 of 24 bytes.
var (
	stdWebhooksKey   = []byte("standard-webhooks-key-24")
	stdWebhooksOther = []byte("some-other-key-of-24-byt")
)

// TestAuthEndToEnd runs the vendors' token and signature flows against a real
// Caddy: the gateway as the OAuth2 token endpoint of Incode (client_secret_basic)
// and Unico (client_secret_post) in forward mode; bearer JWTs of an external
// identity provider, played by a JWKS server on loopback, including a key
// rotation; and body signatures (GitHub- and Stripe-style hmac, Standard
// Webhooks, and a mix with api_key) in gate mode. One config serves every
// route, so the JWKS refresh interval (30s) elapses while the other flows run.
func TestAuthEndToEnd(t *testing.T) {
	t.Setenv("WG_AUTH_INCODE_SECRET", incodeClientSecret)
	t.Setenv("WG_AUTH_UNICO_SECRET", unicoClientSecret)
	t.Setenv("WG_AUTH_GITHUB_SECRET", githubSecret)

	up := testkit.NewUpstream(t, nil)  // gate mode: reverse_proxy target
	fwd := testkit.NewUpstream(t, nil) // forward mode: delivery target
	idp := newTestIdP(t)
	stdSecret := "whsec_" + base64.StdEncoding.EncodeToString(stdWebhooksKey)

	startCaddy(t, storeOption(t), fmt.Sprintf(site+` {
	handle /incode/* {
		webhook_gateway {
			name incode_onboarding
			vendor incode onboarding_status
			auth oauth2 {
				client_id %[3]s
				client_secret {env.WG_AUTH_INCODE_SECRET}
				token_path /incode/oauth/token
				scope webhooks:incode
			}
			forward %[2]s/incode
		}
	}
	handle /incode-video/* {
		webhook_gateway {
			name incode_videoselfie
			vendor incode videoselfie
			auth oauth2 {
				client_id %[3]s
				client_secret {env.WG_AUTH_INCODE_SECRET}
				token_path /incode-video/oauth/token
			}
			forward %[2]s/incode-video
		}
	}
	handle /unico/* {
		webhook_gateway {
			name unico_idcloud
			vendor unico_idcloud
			auth oauth2 {
				client_id %[4]s
				client_secret {env.WG_AUTH_UNICO_SECRET}
				token_path /unico/oauth/token
			}
			forward %[2]s/unico
		}
	}
	handle /idp {
		webhook_gateway {
			name idp
			auth jwt {
				issuer %[5]s
				audience %[6]s
				scopes %[7]s
			}
		}
		reverse_proxy %[1]s
	}
	handle /github {
		webhook_gateway {
			name github
			auth hmac {
				header X-Hub-Signature-256
				secret {env.WG_AUTH_GITHUB_SECRET}
				prefix sha256=
			}
		}
		reverse_proxy %[1]s
	}
	handle /stripe {
		webhook_gateway {
			name stripe
			auth hmac {
				header Stripe-Signature
				secret %[8]s
				format stripe
			}
		}
		reverse_proxy %[1]s
	}
	handle /stdwebhooks {
		webhook_gateway {
			name stdwebhooks
			auth standard_webhooks %[9]s
		}
		reverse_proxy %[1]s
	}
	handle /mixed {
		webhook_gateway {
			name mixed
			auth api_key X-Api-Key %[10]s
			auth hmac {
				header X-Hub-Signature-256
				secret {env.WG_AUTH_GITHUB_SECRET}
				prefix sha256=
			}
		}
		reverse_proxy %[1]s
	}
}
`, up.HostPort(), fwd.URL, incodeClientID, unicoClientID, idp.URL, idpAudience, idpScope, stripeSecret, stdSecret, mixedAPIKey))

	// The first IdP token makes the gateway fetch discovery and the JWKS now;
	// the rotation subtest at the end needs the refresh interval to have passed.
	primed := time.Now()
	t.Run("idp/first use fetches the keys", func(t *testing.T) {
		tok := idp.sign(t, idp.claims(nil), nil)
		resp, b := post(t, nil, "/idp", bearerHeader(tok), authEventBody())
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		if idp.JWKSFetches.Load() != 1 || idp.DiscoveryFetches.Load() != 1 {
			t.Fatalf("discovery fetched %d times, JWKS %d times; want 1 and 1", idp.DiscoveryFetches.Load(), idp.JWKSFetches.Load())
		}
	})

	t.Run("incode", func(t *testing.T) { testIncodeFlow(t, fwd) })
	t.Run("unico", func(t *testing.T) { testUnicoFlow(t, fwd) })
	t.Run("idp", func(t *testing.T) { testExternalIdP(t, up, idp) })
	t.Run("signatures", func(t *testing.T) { testSignatures(t, up) })
	t.Run("idp/key rotation", func(t *testing.T) { testKeyRotation(t, idp, primed) })
}

var bodySeq atomic.Int64

// authEventBody is a JSON event that no other request of the test sends, so that
// dedup never answers for the auth check.
func authEventBody() []byte {
	return []byte(fmt.Sprintf(`{"id":"evt-auth-%d","type":"test"}`, bodySeq.Add(1)))
}

func bearerHeader(tok string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok}
}

// tokenAnswer is the RFC 6749 §5.1 / §5.2 answer of the token endpoint.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
	Error       string `json:"error"`
}

// requestToken POSTs a form to a token endpoint of the gateway.
func requestToken(t *testing.T, path string, headers map[string]string, form url.Values) (*http.Response, tokenAnswer) {
	t.Helper()
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	maps.Copy(h, headers)
	resp, b := gatewayRequest(t, http.MethodPost, path, h, form.Encode())
	var tr tokenAnswer
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatalf("token endpoint answered %d with non-JSON %q", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("token endpoint Content-Type %q, want application/json", ct)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("token endpoint Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
	}
	return resp, tr
}

// mustToken fetches a token and checks the RFC 6749 §5.1 success answer.
func mustToken(t *testing.T, path string, headers map[string]string, form url.Values) string {
	t.Helper()
	resp, tr := requestToken(t, path, headers, form)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: status %d, error %q", resp.StatusCode, tr.Error)
	}
	if tr.AccessToken == "" || tr.TokenType != "Bearer" || tr.ExpiresIn != 3600 {
		t.Fatalf("token answer %+v, want an access_token, token_type Bearer, expires_in 3600", tr)
	}
	return tr.AccessToken
}

// expectVendorAck checks the answer of an accepted event in forward mode: the
// preset's 200 application/json {"success":true}, with an event id.
func expectVendorAck(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	if string(body) != `{"success":true}` {
		t.Fatalf("body %s, want {\"success\":true}", body)
	}
	if resp.Header.Get("X-Webhook-Id") == "" {
		t.Fatal("no X-Webhook-Id on the ack")
	}
}

// expectUnauthorized checks a 401 problem with a Bearer challenge.
func expectUnauthorized(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	expectProblem(t, resp, body, http.StatusUnauthorized, "unauthorized")
	if ch := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer") {
		t.Fatalf("WWW-Authenticate %q, want a Bearer challenge", ch)
	}
}

// expectDelivered waits for the forward target to receive body and checks
// that none of the vendor's credential headers came with it.
func expectDelivered(t *testing.T, fwd *testkit.Upstream, body []byte, vendor string) {
	t.Helper()
	var got testkit.Request
	testkit.WaitFor(t, 15*time.Second, "the delivery of the event", func() bool {
		for _, r := range fwd.Requests() {
			if string(r.Body) == string(body) {
				got = r
				return true
			}
		}
		return false
	})
	if got.Header.Get("Authorization") != "" {
		t.Fatal("the vendor's Authorization header reached the application")
	}
	if got.Header.Get("X-Webhook-Vendor") != vendor {
		t.Fatalf("X-Webhook-Vendor %q, want %q", got.Header.Get("X-Webhook-Vendor"), vendor)
	}
}

// gatewayKey derives the signing key and key id of the gateway's oauth2
// tokens for one client secret and audience (HKDF-SHA256, as in
// auth/oauth2.go), so the test can mint tokens that only differ from real
// ones in the claim under test. testIncodeFlow checks that the derivation
// still matches the gateway's before relying on it.
func gatewayKey(t *testing.T, secret, audience string) (key []byte, kid string) {
	t.Helper()
	prk, err := hkdf.Extract(sha256.New, []byte(secret), []byte("caddy-webhook-gateway oauth2 token key v1"))
	if err != nil {
		t.Fatal(err)
	}
	key, err = hkdf.Expand(sha256.New, prk, "hs256 signing key\x00"+audience, 32)
	if err != nil {
		t.Fatal(err)
	}
	id, err := hkdf.Expand(sha256.New, prk, "key id\x00"+audience, 9)
	if err != nil {
		t.Fatal(err)
	}
	return key, base64.RawURLEncoding.EncodeToString(id)
}

// gatewayClaims are the claims of a token the gateway issues.
type gatewayClaims struct {
	jwt.RegisteredClaims
	Scope    string `json:"scope,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	Vendor   string `json:"vendor,omitempty"`
}

// mintGatewayToken signs claims as the gateway would, with typ at+jwt.
func mintGatewayToken(t *testing.T, key []byte, kid string, c gatewayClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = kid
	tok.Header["typ"] = "at+jwt"
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func incodeEvent() []byte {
	return []byte(fmt.Sprintf(`{"interviewId":"auth-%d","onboardingStatus":"ONBOARDING_FINISHED"}`, bodySeq.Add(1)))
}

func unicoEvent() []byte {
	return []byte(fmt.Sprintf(`{"processId":"8263a268-5388-492a-bca2-%012d","state":"PROCESS_STATE_FINISHED","flow":"id","result":"ok"}`, bodySeq.Add(1)))
}

// testIncodeFlow: Incode fetches a token with client_secret_basic, then sends
// the webhook with it, and gets 200 application/json {"success":true}.
func testIncodeFlow(t *testing.T, fwd *testkit.Upstream) {
	const path, tokenPath = "/incode/onboarding-status", "/incode/oauth/token"
	clientCredentials := url.Values{"grant_type": {"client_credentials"}}
	basic := map[string]string{"Authorization": basicHeader(incodeClientID, incodeClientSecret)}

	var token string
	t.Run("token with client_secret_basic", func(t *testing.T) {
		token = mustToken(t, tokenPath, basic, clientCredentials)
		_, tr := requestToken(t, tokenPath, basic, clientCredentials)
		if tr.Scope != "webhooks:incode" {
			t.Fatalf("granted scope %q, want webhooks:incode", tr.Scope)
		}
		// The token endpoint is counted, by route and result.
		if m := metricsText(t); !strings.Contains(m, `caddy_webhook_gateway_token_requests_total{result="issued",route="incode_onboarding"}`) {
			t.Fatal("the token endpoint is not counted in caddy_webhook_gateway_token_requests_total")
		}
	})
	if token == "" {
		t.Fatal("no token: the webhook checks cannot run")
	}

	t.Run("webhook with the token is acknowledged and delivered", func(t *testing.T) {
		ev := incodeEvent()
		resp, b := post(t, nil, path, bearerHeader(token), ev)
		expectVendorAck(t, resp, b)
		expectDelivered(t, fwd, ev, "incode")
		// Incode reuses the token until it expires.
		resp, b = post(t, nil, path, bearerHeader(token), incodeEvent())
		expectVendorAck(t, resp, b)
	})

	t.Run("token endpoint errors", func(t *testing.T) {
		tests := []struct {
			name    string
			headers map[string]string
			form    url.Values
			status  int
			code    string
		}{
			{"wrong secret", map[string]string{"Authorization": basicHeader(incodeClientID, incodeClientSecret+"x")}, clientCredentials, 401, "invalid_client"},
			{"unknown client", map[string]string{"Authorization": basicHeader("someone", incodeClientSecret)}, clientCredentials, 401, "invalid_client"},
			{"no client authentication", nil, clientCredentials, 401, "invalid_client"},
			{"client of another route", map[string]string{"Authorization": basicHeader(unicoClientID, unicoClientSecret)}, clientCredentials, 401, "invalid_client"},
			{"bearer instead of basic", map[string]string{"Authorization": "Bearer " + incodeClientSecret}, clientCredentials, 401, "invalid_client"},
			{"unsupported grant type", basic, url.Values{"grant_type": {"password"}}, 400, "unsupported_grant_type"},
			{"missing grant type", basic, url.Values{}, 400, "invalid_request"},
			{"basic and post with different ids", basic, url.Values{"grant_type": {"client_credentials"}, "client_id": {unicoClientID}, "client_secret": {incodeClientSecret}}, 400, "invalid_request"},
			{"basic and post, post secret wrong", basic, url.Values{"grant_type": {"client_credentials"}, "client_id": {incodeClientID}, "client_secret": {"wrong-secret-0123456789"}}, 401, "invalid_client"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				resp, tr := requestToken(t, tokenPath, tc.headers, tc.form)
				if resp.StatusCode != tc.status || tr.Error != tc.code || tr.AccessToken != "" {
					t.Fatalf("status %d error %q token %t, want %d %q and no token", resp.StatusCode, tr.Error, tr.AccessToken != "", tc.status, tc.code)
				}
				if tc.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
					t.Fatalf("401 with WWW-Authenticate %q, want a Basic challenge (RFC 6749 §5.2)", resp.Header.Get("WWW-Authenticate"))
				}
			})
		}
	})

	t.Run("token request that is not a form", func(t *testing.T) {
		resp, b := post(t, nil, tokenPath, basic, []byte(`{"grant_type":"client_credentials"}`))
		var tr tokenAnswer
		_ = json.Unmarshal(b, &tr)
		if resp.StatusCode != http.StatusBadRequest || tr.Error != "invalid_request" {
			t.Fatalf("status %d body %s, want 400 invalid_request", resp.StatusCode, b)
		}
	})

	// Tokens minted with the gateway's own key derivation differ from a real
	// one only in the claim under test. Check the derivation first.
	key, kid := gatewayKey(t, incodeClientSecret, "incode_onboarding")
	parsed, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["kid"] != kid {
		t.Fatalf("issued kid %v, derived %s: update gatewayKey to the gateway's derivation", parsed.Header["kid"], kid)
	}
	now := time.Now()
	valid := func() gatewayClaims {
		return gatewayClaims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer:    gatewayTokenIssuer,
				Subject:   incodeClientID,
				Audience:  jwt.ClaimStrings{"incode_onboarding"},
				ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
				IssuedAt:  jwt.NewNumericDate(now),
				ID:        "test-jti",
			},
			Scope:    "webhooks:incode",
			ClientID: incodeClientID,
			Vendor:   "incode",
		}
	}
	with := func(f func(c *gatewayClaims)) string {
		c := valid()
		f(&c)
		return mintGatewayToken(t, key, kid, c)
	}

	t.Run("minted control token passes", func(t *testing.T) {
		before := fwd.Count()
		resp, b := post(t, nil, path, bearerHeader(with(func(*gatewayClaims) {})), incodeEvent())
		expectVendorAck(t, resp, b)
		// Wait for its delivery, so that it cannot land during the refused
		// cases below and read as a refused event delivered.
		testkit.WaitFor(t, 10*time.Second, "the control event's delivery", func() bool { return fwd.Count() > before })
	})

	videoToken := mustToken(t, "/incode-video/oauth/token", basic, clientCredentials)
	videoKey, videoKid := gatewayKey(t, incodeClientSecret, "incode_videoselfie")
	otherSecretKey, _ := gatewayKey(t, "another-secret-0123456789abcdef", "incode_onboarding")
	tampered := tamperJWT(t, token, `"sub":"incode-client"`, `"sub":"incode-clienu"`)
	none := func() string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, valid()).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()

	tests := []struct {
		name    string
		headers map[string]string
	}{
		{"no token", nil},
		{"client credentials instead of a token", basic},
		{"tampered payload", bearerHeader(tampered)},
		{"truncated token", bearerHeader(token[:len(token)-10])},
		{"signed with another key", bearerHeader(mintGatewayToken(t, otherSecretKey, kid, valid()))},
		{"expired", bearerHeader(with(func(c *gatewayClaims) {
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-2 * time.Minute))
			c.IssuedAt = jwt.NewNumericDate(now.Add(-62 * time.Minute))
		}))},
		{"issued in the future", bearerHeader(with(func(c *gatewayClaims) { c.IssuedAt = jwt.NewNumericDate(now.Add(10 * time.Minute)) }))},
		{"other audience claim", bearerHeader(with(func(c *gatewayClaims) { c.Audience = jwt.ClaimStrings{"incode_videoselfie"} }))},
		{"other route's token", bearerHeader(videoToken)},
		{"other route's key and audience", bearerHeader(mintGatewayToken(t, videoKey, videoKid, func() gatewayClaims {
			c := valid()
			c.Audience = jwt.ClaimStrings{"incode_videoselfie"}
			return c
		}()))},
		{"wrong issuer", bearerHeader(with(func(c *gatewayClaims) { c.Issuer = "https://evil.example" }))},
		{"unknown subject", bearerHeader(with(func(c *gatewayClaims) { c.Subject, c.ClientID = "someone", "someone" }))},
		{"other vendor", bearerHeader(with(func(c *gatewayClaims) { c.Vendor = "unico_idcloud" }))},
		{"scope not granted by the route", bearerHeader(with(func(c *gatewayClaims) { c.Scope = "webhooks:incode admin" }))},
		{"no scope", bearerHeader(with(func(c *gatewayClaims) { c.Scope = "" }))},
		{"no exp", bearerHeader(with(func(c *gatewayClaims) { c.ExpiresAt = nil }))},
		{"alg none", bearerHeader(none)},
		{"bearer of the client secret", bearerHeader(incodeClientSecret)},
	}
	for _, tc := range tests {
		t.Run("webhook refused/"+tc.name, func(t *testing.T) {
			before := fwd.Count()
			resp, b := post(t, nil, path, tc.headers, incodeEvent())
			expectUnauthorized(t, resp, b)
			if tc.headers != nil && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) &&
				strings.HasPrefix(tc.headers["Authorization"], "Bearer ") {
				t.Fatalf("WWW-Authenticate %q, want error=\"invalid_token\" for a presented token", resp.Header.Get("WWW-Authenticate"))
			}
			if fwd.Count() != before {
				t.Fatal("a refused event was delivered")
			}
		})
	}
}

// testUnicoFlow: Unico fetches a token with client_secret_post, then sends the
// IDCloud webhook with it.
func testUnicoFlow(t *testing.T, fwd *testkit.Upstream) {
	const path, tokenPath = "/unico/process", "/unico/oauth/token"
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {unicoClientID},
		"client_secret": {unicoClientSecret},
	}
	token := mustToken(t, tokenPath, nil, form)

	t.Run("webhook with the token is acknowledged and delivered", func(t *testing.T) {
		ev := unicoEvent()
		resp, b := post(t, nil, path, bearerHeader(token), ev)
		expectVendorAck(t, resp, b)
		expectDelivered(t, fwd, ev, "unico_idcloud")
	})

	t.Run("wrong secret in the body", func(t *testing.T) {
		bad := url.Values{"grant_type": {"client_credentials"}, "client_id": {unicoClientID}, "client_secret": {unicoClientSecret + "x"}}
		resp, tr := requestToken(t, tokenPath, nil, bad)
		if resp.StatusCode != http.StatusUnauthorized || tr.Error != "invalid_client" || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("status %d error %q WWW-Authenticate %q, want 401 invalid_client with a challenge",
				resp.StatusCode, tr.Error, resp.Header.Get("WWW-Authenticate"))
		}
	})

	t.Run("client_secret_basic works too", func(t *testing.T) {
		tok := mustToken(t, tokenPath, map[string]string{"Authorization": basicHeader(unicoClientID, unicoClientSecret)},
			url.Values{"grant_type": {"client_credentials"}})
		resp, b := post(t, nil, path, bearerHeader(tok), unicoEvent())
		expectVendorAck(t, resp, b)
	})

	t.Run("a Unico token is refused on the Incode route", func(t *testing.T) {
		resp, b := post(t, nil, "/incode/onboarding-status", bearerHeader(token), incodeEvent())
		expectUnauthorized(t, resp, b)
	})

	t.Run("an Incode token is refused on the Unico route", func(t *testing.T) {
		incode := mustToken(t, "/incode/oauth/token", map[string]string{"Authorization": basicHeader(incodeClientID, incodeClientSecret)},
			url.Values{"grant_type": {"client_credentials"}})
		resp, b := post(t, nil, path, bearerHeader(incode), unicoEvent())
		expectUnauthorized(t, resp, b)
	})
}

// testIdP is the provider of the "auth jwt" routes: testkit's IdP
// publishing one RS256 key, which a test can rotate.
type testIdP struct {
	*testkit.IdP
	mu  sync.Mutex
	key *rsa.PrivateKey
	kid string
}

func newTestIdP(t *testing.T) *testIdP {
	t.Helper()
	idp := &testIdP{IdP: testkit.NewIdP(t), key: newRSAKey(t), kid: "key-1"}
	idp.publishLocked()
	return idp
}

// publishLocked makes the current key the only published one.
func (idp *testIdP) publishLocked() {
	k := testkit.JWK(idp.kid, idp.key)
	k["alg"] = "RS256"
	idp.SetKeys(k)
}

func newRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// rotate replaces the published key with a new one under a new kid and
// returns the retired key and kid.
func (idp *testIdP) rotate(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	k := newRSAKey(t)
	idp.mu.Lock()
	defer idp.mu.Unlock()
	old, oldKid := idp.key, idp.kid
	idp.key, idp.kid = k, "key-2"
	idp.publishLocked()
	return old, oldKid
}

// claims returns valid claims for the gateway's jwt line, changed by edit.
func (idp *testIdP) claims(edit func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss":   idp.URL,
		"sub":   "vendor-service",
		"aud":   idpAudience,
		"scope": idpScope + " profile",
		"iat":   now.Unix(),
		"exp":   now.Add(5 * time.Minute).Unix(),
	}
	if edit != nil {
		edit(c)
	}
	return c
}

// sign signs claims with RS256 under the current key and kid, or under key
// and kid when given.
func (idp *testIdP) sign(t *testing.T, c jwt.MapClaims, key *rsa.PrivateKey, kid ...string) string {
	t.Helper()
	idp.mu.Lock()
	k, id := idp.key, idp.kid
	idp.mu.Unlock()
	if key != nil {
		k = key
	}
	if len(kid) > 0 {
		id = kid[0]
	}
	return testkit.SignJWT(t, jwt.SigningMethodRS256, k, id, c)
}

// testExternalIdP checks bearer JWTs of the external IdP in gate mode.
func testExternalIdP(t *testing.T, up *testkit.Upstream, idp *testIdP) {
	now := time.Now()
	attacker := newRSAKey(t)
	idp.mu.Lock()
	pubDER, err := x509.MarshalPKIXPublicKey(&idp.key.PublicKey)
	kid := idp.kid
	idp.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	confused := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, idp.claims(nil))
		tok.Header["kid"] = kid
		s, err := tok.SignedString(pubPEM)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	none := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, idp.claims(nil))
		tok.Header["kid"] = kid
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	valid := idp.sign(t, idp.claims(nil), nil)

	tests := []struct {
		name  string
		token string
		pass  bool
	}{
		{"valid", valid, true},
		{"audience among several", idp.sign(t, idp.claims(func(c jwt.MapClaims) { c["aud"] = []string{"other", idpAudience} }), nil), true},
		{"scope in scp array", idp.sign(t, idp.claims(func(c jwt.MapClaims) { delete(c, "scope"); c["scp"] = []string{idpScope} }), nil), true},
		{"within leeway", idp.sign(t, idp.claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-5 * time.Second).Unix() }), nil), true},
		{"wrong audience", idp.sign(t, idp.claims(func(c jwt.MapClaims) { c["aud"] = "https://other.example" }), nil), false},
		{"no audience", idp.sign(t, idp.claims(func(c jwt.MapClaims) { delete(c, "aud") }), nil), false},
		{"expired", idp.sign(t, idp.claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-10 * time.Minute).Unix() }), nil), false},
		{"no exp", idp.sign(t, idp.claims(func(c jwt.MapClaims) { delete(c, "exp") }), nil), false},
		{"not yet valid", idp.sign(t, idp.claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(10 * time.Minute).Unix() }), nil), false},
		{"issued in the future", idp.sign(t, idp.claims(func(c jwt.MapClaims) { c["iat"] = now.Add(10 * time.Minute).Unix() }), nil), false},
		{"wrong issuer", idp.sign(t, idp.claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }), nil), false},
		{"missing scope", idp.sign(t, idp.claims(func(c jwt.MapClaims) { c["scope"] = "profile" }), nil), false},
		{"scope as a prefix", idp.sign(t, idp.claims(func(c jwt.MapClaims) { c["scope"] = idpScope + "x" }), nil), false},
		{"alg none", none, false},
		{"HS256 signed with the RSA public key", confused, false},
		{"signed by an unpublished key under the published kid", idp.sign(t, idp.claims(nil), attacker, kid), false},
		{"tampered payload", tamperJWT(t, valid, `"vendor-service"`, `"admin-service1"`), false},
		{"truncated", valid[:len(valid)-20], false},
		{"not a JWT", "opaque-token", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := up.Count()
			resp, b := post(t, nil, "/idp", bearerHeader(tc.token), authEventBody())
			if !tc.pass {
				expectUnauthorized(t, resp, b)
				if up.Count() != before {
					t.Fatal("a refused request reached the upstream")
				}
				return
			}
			if resp.StatusCode != http.StatusOK || up.Count() != before+1 {
				t.Fatalf("status %d, upstream requests %d → %d; body %s", resp.StatusCode, before, up.Count(), b)
			}
			if got := up.Requests()[up.Count()-1]; got.Header.Get("Authorization") != "" {
				t.Fatal("the bearer token reached the upstream")
			}
		})
	}
	t.Run("missing token", func(t *testing.T) {
		resp, b := post(t, nil, "/idp", nil, authEventBody())
		expectUnauthorized(t, resp, b)
	})
	if n := idp.JWKSFetches.Load(); n != 1 {
		t.Fatalf("the JWKS was fetched %d times, want once: verification must use the cache", n)
	}
}

// tamperJWT replaces from with to in a JWT's payload and keeps the signature.
func tamperJWT(t *testing.T, tok, from, to string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || !strings.Contains(string(payload), from) {
		t.Fatalf("payload %s lacks %s (%v)", payload, from, err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), from, to, 1)))
	return strings.Join(parts, ".")
}

// testKeyRotation: the IdP swaps to a new key with a new kid; a token signed
// with it passes once the gateway refreshes the JWKS on the unknown kid (at
// most once per 30s since the last fetch), and the retired key is refused.
func testKeyRotation(t *testing.T, idp *testIdP, primed time.Time) {
	oldKey, oldKid := idp.rotate(t)
	fetchesBefore := idp.JWKSFetches.Load()
	tok := idp.sign(t, idp.claims(nil), nil)
	var last int
	testkit.WaitFor(t, 45*time.Second, "a token of the rotated key to pass", func() bool {
		resp, _ := post(t, nil, "/idp", bearerHeader(tok), authEventBody())
		last = resp.StatusCode
		if last == http.StatusOK {
			return true
		}
		time.Sleep(250 * time.Millisecond)
		return false
	})
	t.Logf("rotated key accepted %v after the first fetch", time.Since(primed).Round(time.Second))
	if got := idp.JWKSFetches.Load() - fetchesBefore; got != 1 {
		t.Fatalf("the JWKS was fetched %d times for the rotation, want once", got)
	}

	t.Run("retired key refused", func(t *testing.T) {
		resp, b := post(t, nil, "/idp", bearerHeader(idp.sign(t, idp.claims(nil), oldKey, oldKid)), authEventBody())
		expectUnauthorized(t, resp, b)
	})

	t.Run("unknown kids do not hammer the IdP", func(t *testing.T) {
		before := idp.JWKSFetches.Load()
		for i := range 20 {
			forged := idp.sign(t, idp.claims(nil), nil, "forged-"+strconv.Itoa(i))
			resp, b := post(t, nil, "/idp", bearerHeader(forged), authEventBody())
			expectUnauthorized(t, resp, b)
		}
		if got := idp.JWKSFetches.Load() - before; got > 1 {
			t.Fatalf("20 unknown kids caused %d JWKS fetches, want at most 1", got)
		}
	})
}

func hmacSHA256Hex(secret string, parts ...string) string {
	m := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil))
}

func githubHeaders(secret string, body []byte) map[string]string {
	return map[string]string{"X-Hub-Signature-256": "sha256=" + hmacSHA256Hex(secret, string(body))}
}

func stripeHeaders(secret string, ts time.Time, body []byte, extra ...string) map[string]string {
	t := strconv.FormatInt(ts.Unix(), 10)
	v := "t=" + t
	for _, e := range extra {
		v += ",v1=" + e
	}
	v += ",v1=" + hmacSHA256Hex(secret, t, ".", string(body))
	return map[string]string{"Stripe-Signature": v}
}

// stdWebhooksHeaders signs as a Standard Webhooks sender does.
func stdWebhooksHeaders(key []byte, id string, ts time.Time, body []byte) map[string]string {
	t := strconv.FormatInt(ts.Unix(), 10)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + t + "."))
	m.Write(body)
	return map[string]string{
		"Webhook-Id":        id,
		"Webhook-Timestamp": t,
		"Webhook-Signature": "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)),
	}
}

func mergeHeaders(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// testSignatures checks body signatures end to end in gate mode.
func testSignatures(t *testing.T, up *testkit.Upstream) {
	now := time.Now()
	other := []byte(`{"id":"something-else"}`)
	tests := []struct {
		name    string
		path    string
		headers func(body []byte) map[string]string
		pass    bool
		// stripped are the credential headers the upstream must not see.
		stripped []string
	}{
		{"github/right", "/github", func(b []byte) map[string]string { return githubHeaders(githubSecret, b) }, true, []string{"X-Hub-Signature-256"}},
		{"github/tampered body", "/github", func([]byte) map[string]string { return githubHeaders(githubSecret, other) }, false, nil},
		{"github/wrong secret", "/github", func(b []byte) map[string]string { return githubHeaders("wrong", b) }, false, nil},
		{"github/missing header", "/github", func([]byte) map[string]string { return nil }, false, nil},
		{"github/no prefix", "/github", func(b []byte) map[string]string {
			return map[string]string{"X-Hub-Signature-256": hmacSHA256Hex(githubSecret, string(b))}
		}, false, nil},
		{"github/sha1 header name", "/github", func(b []byte) map[string]string {
			return map[string]string{"X-Hub-Signature": "sha256=" + hmacSHA256Hex(githubSecret, string(b))}
		}, false, nil},

		{"stripe/right", "/stripe", func(b []byte) map[string]string { return stripeHeaders(stripeSecret, now, b) }, true, []string{"Stripe-Signature"}},
		{"stripe/rolling secret, second v1 right", "/stripe", func(b []byte) map[string]string {
			return stripeHeaders(stripeSecret, now, b, hmacSHA256Hex("old-secret", "x"))
		}, true, []string{"Stripe-Signature"}},
		{"stripe/tampered body", "/stripe", func([]byte) map[string]string { return stripeHeaders(stripeSecret, now, other) }, false, nil},
		{"stripe/wrong secret", "/stripe", func(b []byte) map[string]string { return stripeHeaders("whsec_wrong", now, b) }, false, nil},
		{"stripe/missing header", "/stripe", func([]byte) map[string]string { return nil }, false, nil},
		{"stripe/old timestamp", "/stripe", func(b []byte) map[string]string { return stripeHeaders(stripeSecret, now.Add(-10*time.Minute), b) }, false, nil},
		{"stripe/future timestamp", "/stripe", func(b []byte) map[string]string { return stripeHeaders(stripeSecret, now.Add(10*time.Minute), b) }, false, nil},
		{"stripe/timestamp changed after signing", "/stripe", func(b []byte) map[string]string {
			h := stripeHeaders(stripeSecret, now, b)
			h["Stripe-Signature"] = strings.Replace(h["Stripe-Signature"], "t="+strconv.FormatInt(now.Unix(), 10), "t="+strconv.FormatInt(now.Unix()+1, 10), 1)
			return h
		}, false, nil},

		{"standard_webhooks/right", "/stdwebhooks", func(b []byte) map[string]string {
			return stdWebhooksHeaders(stdWebhooksKey, "msg_1", now, b)
		}, true, []string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"}},
		{"standard_webhooks/several signatures, one right", "/stdwebhooks", func(b []byte) map[string]string {
			h := stdWebhooksHeaders(stdWebhooksKey, "msg_2", now, b)
			h["Webhook-Signature"] = stdWebhooksHeaders(stdWebhooksOther, "msg_2", now, b)["Webhook-Signature"] + " " + h["Webhook-Signature"]
			return h
		}, true, []string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"}},
		{"standard_webhooks/tampered body", "/stdwebhooks", func([]byte) map[string]string {
			return stdWebhooksHeaders(stdWebhooksKey, "msg_3", now, other)
		}, false, nil},
		{"standard_webhooks/wrong secret", "/stdwebhooks", func(b []byte) map[string]string {
			return stdWebhooksHeaders(stdWebhooksOther, "msg_4", now, b)
		}, false, nil},
		{"standard_webhooks/missing signature header", "/stdwebhooks", func(b []byte) map[string]string {
			h := stdWebhooksHeaders(stdWebhooksKey, "msg_5", now, b)
			delete(h, "Webhook-Signature")
			return h
		}, false, nil},
		{"standard_webhooks/missing id", "/stdwebhooks", func(b []byte) map[string]string {
			h := stdWebhooksHeaders(stdWebhooksKey, "msg_6", now, b)
			delete(h, "Webhook-Id")
			return h
		}, false, nil},
		{"standard_webhooks/old timestamp", "/stdwebhooks", func(b []byte) map[string]string {
			return stdWebhooksHeaders(stdWebhooksKey, "msg_7", now.Add(-10*time.Minute), b)
		}, false, nil},
		{"standard_webhooks/future timestamp", "/stdwebhooks", func(b []byte) map[string]string {
			return stdWebhooksHeaders(stdWebhooksKey, "msg_8", now.Add(10*time.Minute), b)
		}, false, nil},
		{"standard_webhooks/id changed after signing", "/stdwebhooks", func(b []byte) map[string]string {
			h := stdWebhooksHeaders(stdWebhooksKey, "msg_9", now, b)
			h["Webhook-Id"] = "msg_10"
			return h
		}, false, nil},

		{"mixed/api_key only", "/mixed", func([]byte) map[string]string {
			return map[string]string{"X-Api-Key": mixedAPIKey}
		}, true, []string{"X-Api-Key"}},
		{"mixed/signature only", "/mixed", func(b []byte) map[string]string { return githubHeaders(githubSecret, b) }, true, []string{"X-Hub-Signature-256"}},
		{"mixed/wrong api_key, right signature", "/mixed", func(b []byte) map[string]string {
			return mergeHeaders(githubHeaders(githubSecret, b), map[string]string{"X-Api-Key": "wrong"})
		}, true, []string{"X-Api-Key", "X-Hub-Signature-256"}},
		{"mixed/right api_key, wrong signature", "/mixed", func(b []byte) map[string]string {
			return mergeHeaders(githubHeaders("wrong", b), map[string]string{"X-Api-Key": mixedAPIKey})
		}, true, []string{"X-Api-Key", "X-Hub-Signature-256"}},
		{"mixed/neither", "/mixed", func(b []byte) map[string]string {
			return mergeHeaders(githubHeaders("wrong", b), map[string]string{"X-Api-Key": "wrong"})
		}, false, nil},
		{"mixed/nothing", "/mixed", func([]byte) map[string]string { return nil }, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := authEventBody()
			before := up.Count()
			resp, b := post(t, nil, tc.path, tc.headers(body), body)
			if !tc.pass {
				expectProblem(t, resp, b, http.StatusUnauthorized, "invalid_signature")
				if up.Count() != before {
					t.Fatal("a refused request reached the upstream")
				}
				return
			}
			if resp.StatusCode != http.StatusOK || up.Count() != before+1 {
				t.Fatalf("status %d, upstream requests %d → %d; body %s", resp.StatusCode, before, up.Count(), b)
			}
			got := up.Requests()[up.Count()-1]
			if string(got.Body) != string(body) {
				t.Fatal("the upstream got a different body")
			}
			for _, h := range tc.stripped {
				if got.Header.Get(h) != "" {
					t.Fatalf("the credential header %s reached the upstream", h)
				}
			}
		})
	}
}
