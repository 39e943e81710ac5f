package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	incodeID     = "incode"
	incodeSecret = "incode-secret-0123456789"
	unicoID      = "unico"
	unicoSecret  = "unico-secret-abcdefghijk"
)

func oauth2Config() *OAuth2Config {
	return &OAuth2Config{
		Clients: []OAuth2Client{
			{ClientID: incodeID, ClientSecret: incodeSecret},
			{ClientID: unicoID, ClientSecret: unicoSecret},
		},
		Scope: "webhooks:incode webhooks:unico",
	}
}

func buildOAuth2(t testing.TB, c *OAuth2Config, o Options) (Verifier, TokenServer) {
	t.Helper()
	v := mustBuild(t, Config{Method: "oauth2", OAuth2: c}, o)
	ts, ok := v.(TokenServer)
	if !ok {
		t.Fatal("oauth2 verifier is not a TokenServer")
	}
	return v, ts
}

type tokenReq struct {
	method      string
	contentType string
	basic       [2]string // id, secret
	rawAuth     string
	form        string
	query       string
}

func postToken(ts TokenServer, q tokenReq) *httptest.ResponseRecorder {
	if q.method == "" {
		q.method = http.MethodPost
	}
	if q.contentType == "" {
		q.contentType = "application/x-www-form-urlencoded"
	}
	target := ts.TokenPath()
	if q.query != "" {
		target += "?" + q.query
	}
	r := httptest.NewRequest(q.method, target, strings.NewReader(q.form))
	r.Header.Set("Content-Type", q.contentType)
	if q.basic[0] != "" {
		r.SetBasicAuth(q.basic[0], q.basic[1])
	}
	if q.rawAuth != "" {
		r.Header.Set("Authorization", q.rawAuth)
	}
	w := httptest.NewRecorder()
	ts.ServeToken(w, r, "192.0.2.1")
	return w
}

func decodeToken(t *testing.T, w *httptest.ResponseRecorder) tokenResponse {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var tr tokenResponse
	if err := json.Unmarshal(w.Body.Bytes(), &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestTokenEndpoint(t *testing.T) {
	_, ts := buildOAuth2(t, oauth2Config(), testOptions())
	if ts.TokenPath() != "/oauth/token" {
		t.Fatalf("TokenPath = %q", ts.TokenPath())
	}
	const cc = "grant_type=client_credentials"
	cases := []struct {
		name      string
		req       tokenReq
		status    int
		errCode   string
		wantScope string
	}{
		{name: "client_secret_basic (Incode)", req: tokenReq{basic: [2]string{incodeID, incodeSecret}, form: cc}, status: 200, wantScope: "webhooks:incode webhooks:unico"},
		{name: "client_secret_post (Unico)", req: tokenReq{form: cc + "&client_id=unico&client_secret=" + url.QueryEscape(unicoSecret)}, status: 200},
		{name: "both, same id", req: tokenReq{basic: [2]string{incodeID, incodeSecret}, form: cc + "&client_id=incode&client_secret=" + incodeSecret}, status: 200},
		{name: "basic, body names same id", req: tokenReq{basic: [2]string{incodeID, incodeSecret}, form: cc + "&client_id=incode"}, status: 200},
		{name: "both, different ids", req: tokenReq{basic: [2]string{incodeID, incodeSecret}, form: cc + "&client_id=unico&client_secret=" + unicoSecret}, status: 400, errCode: "invalid_request"},
		{name: "both, body secret wrong", req: tokenReq{basic: [2]string{incodeID, incodeSecret}, form: cc + "&client_id=incode&client_secret=nope"}, status: 401, errCode: "invalid_client"},
		{name: "requested scope narrowed", req: tokenReq{basic: [2]string{incodeID, incodeSecret}, form: cc + "&scope=webhooks:incode+unknown"}, status: 200, wantScope: "webhooks:incode"},
		{name: "unknown scope ignored", req: tokenReq{basic: [2]string{incodeID, incodeSecret}, form: cc + "&scope=openid"}, status: 200, wantScope: "webhooks:incode webhooks:unico"},
		{name: "malformed scope", req: tokenReq{basic: [2]string{incodeID, incodeSecret}, form: cc + "&scope=%22bad%22"}, status: 400, errCode: "invalid_scope"},
		{name: "wrong secret basic", req: tokenReq{basic: [2]string{incodeID, "wrong-secret-wrong"}, form: cc}, status: 401, errCode: "invalid_client"},
		{name: "wrong secret post", req: tokenReq{form: cc + "&client_id=unico&client_secret=wrong"}, status: 401, errCode: "invalid_client"},
		{name: "other client's secret", req: tokenReq{basic: [2]string{incodeID, unicoSecret}, form: cc}, status: 401, errCode: "invalid_client"},
		{name: "unknown client", req: tokenReq{basic: [2]string{"mallory", incodeSecret}, form: cc}, status: 401, errCode: "invalid_client"},
		{name: "post without secret", req: tokenReq{form: cc + "&client_id=unico"}, status: 401, errCode: "invalid_client"},
		{name: "no client authentication", req: tokenReq{form: cc}, status: 401, errCode: "invalid_client"},
		{name: "bearer scheme", req: tokenReq{rawAuth: "Bearer x", form: cc}, status: 401, errCode: "invalid_client"},
		{name: "malformed basic", req: tokenReq{rawAuth: "Basic !!!", form: cc}, status: 401, errCode: "invalid_client"},
		{name: "wrong grant type", req: tokenReq{basic: [2]string{incodeID, incodeSecret}, form: "grant_type=password&username=a&password=b"}, status: 400, errCode: "unsupported_grant_type"},
		{name: "missing grant type", req: tokenReq{basic: [2]string{incodeID, incodeSecret}}, status: 400, errCode: "invalid_request"},
		{name: "repeated parameter", req: tokenReq{basic: [2]string{incodeID, incodeSecret}, form: cc + "&" + cc}, status: 400, errCode: "invalid_request"},
		{name: "GET refused", req: tokenReq{method: http.MethodGet, basic: [2]string{incodeID, incodeSecret}}, status: 405, errCode: "invalid_request"},
		{name: "JSON body refused", req: tokenReq{contentType: "application/json", basic: [2]string{incodeID, incodeSecret}, form: `{"grant_type":"client_credentials"}`}, status: 400, errCode: "invalid_request"},
		{name: "secret in query", req: tokenReq{query: "client_secret=" + unicoSecret, form: cc + "&client_id=unico"}, status: 400, errCode: "invalid_request"},
		{name: "body too large", req: tokenReq{basic: [2]string{incodeID, incodeSecret}, form: cc + "&pad=" + strings.Repeat("a", maxTokenRequestBytes)}, status: 400, errCode: "invalid_request"},
		{name: "malformed form", req: tokenReq{basic: [2]string{incodeID, incodeSecret}, form: cc + "&%zz"}, status: 400, errCode: "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := postToken(ts, tc.req)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			h := w.Header()
			if h.Get("Cache-Control") != "no-store" || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
				t.Fatalf("headers %v", h)
			}
			if tc.status == 401 && h.Get("WWW-Authenticate") != `Basic realm="webhook"` {
				t.Fatalf("401 without WWW-Authenticate: %v", h)
			}
			if tc.status == 405 && h.Get("Allow") != "POST" {
				t.Fatalf("405 without Allow: %v", h)
			}
			assertNoSecret(t, w.Body.String(), incodeSecret, unicoSecret)
			if tc.errCode != "" {
				var e tokenErrorResponse
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error != tc.errCode {
					t.Fatalf("error body %s, want %s", w.Body, tc.errCode)
				}
				return
			}
			tr := decodeToken(t, w)
			if tr.TokenType != "Bearer" || tr.ExpiresIn != 3600 || tr.AccessToken == "" {
				t.Fatalf("response %+v", tr)
			}
			if tc.wantScope != "" && tr.Scope != tc.wantScope {
				t.Fatalf("scope %q, want %q", tr.Scope, tc.wantScope)
			}
		})
	}
}

func TestTokenEndpointFormEncodedBasic(t *testing.T) {
	// RFC 6749 §2.3.1: id and secret are form-encoded before the Basic encoding.
	const secret = "s3cret+with/special=chars&more"
	_, ts := buildOAuth2(t, &OAuth2Config{Clients: []OAuth2Client{{ClientID: "client%x", ClientSecret: secret}}}, testOptions())
	raw := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape("client%x")+":"+url.QueryEscape(secret)))
	decodeToken(t, postToken(ts, tokenReq{rawAuth: raw, form: "grant_type=client_credentials"}))
	// And the unencoded form most clients send.
	decodeToken(t, postToken(ts, tokenReq{basic: [2]string{"client%x", secret}, form: "grant_type=client_credentials"}))
}

func issueToken(t *testing.T, ts TokenServer, id, secret string) string {
	t.Helper()
	return decodeToken(t, postToken(ts, tokenReq{basic: [2]string{id, secret}, form: "grant_type=client_credentials"})).AccessToken
}

func TestOAuth2TokenThenVerify(t *testing.T) {
	clock := newTestClock()
	o := Options{Audience: "incode-route", Vendor: "incode", Now: clock.Now}
	v, ts := buildOAuth2(t, oauth2Config(), o)
	tok := issueToken(t, ts, incodeID, incodeSecret)

	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "scope", "client_id", "vendor"} {
		if _, ok := claims[k]; !ok {
			t.Fatalf("token lacks claim %s: %v", k, claims)
		}
	}
	if claims["sub"] != incodeID || claims["iss"] != TokenIssuer {
		t.Fatalf("claims %v", claims)
	}

	// Tokens forged with the real key but wrong content, to reach the claim checks.
	key, kid, err := deriveSigningKey(incodeSecret, "incode-route")
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	forge := func(mutate func(c jwt.MapClaims, h map[string]any)) string {
		c := jwt.MapClaims{"iss": TokenIssuer, "sub": incodeID, "client_id": incodeID, "aud": "incode-route", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "jti": "x", "scope": "webhooks:incode", "vendor": "incode"}
		tk := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
		tk.Header["kid"] = kid
		tk.Header["typ"] = "at+jwt"
		mutate(c, tk.Header)
		s, err := tk.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	same := func(jwt.MapClaims, map[string]any) {}
	parts := strings.Split(tok, ".")
	runVerifyCases(t, v, []verifyCase{
		{name: "issued token", header: bearerHdr(tok)},
		{name: "forged with the real key (control)", header: bearerHdr(forge(same))},
		{name: "expired", header: bearerHdr(tok), now: now.Add(time.Hour + oauth2Leeway + time.Second), want: errTokenExpired},
		{name: "within leeway", header: bearerHdr(tok), now: now.Add(time.Hour + oauth2Leeway/2)},
		{name: "issued in the future", header: bearerHdr(tok), now: now.Add(-time.Hour), want: errTokenIssuedInFuture},
		{name: "tampered payload", header: bearerHdr(parts[0] + "." + b64u([]byte(`{"sub":"unico"}`)) + "." + parts[2]), want: errSignatureMismatch},
		{name: "truncated", header: bearerHdr(tok[:len(tok)-5]), want: errSignatureMismatch},
		{name: "wrong aud", header: bearerHdr(forge(func(c jwt.MapClaims, _ map[string]any) { c["aud"] = "other-route" })), want: errWrongAudience},
		{name: "wrong iss", header: bearerHdr(forge(func(c jwt.MapClaims, _ map[string]any) { c["iss"] = "someone" })), want: errWrongIssuer},
		{name: "sub of another client", header: bearerHdr(forge(func(c jwt.MapClaims, _ map[string]any) { c["sub"] = unicoID })), want: errWrongSubject},
		{name: "wrong vendor", header: bearerHdr(forge(func(c jwt.MapClaims, _ map[string]any) { c["vendor"] = "unico" })), want: errWrongVendor},
		{name: "scope outside the route", header: bearerHdr(forge(func(c jwt.MapClaims, _ map[string]any) { c["scope"] = "admin" })), want: errMissingScope},
		{name: "no scope", header: bearerHdr(forge(func(c jwt.MapClaims, _ map[string]any) { delete(c, "scope") })), want: errMissingScope},
		{name: "no exp", header: bearerHdr(forge(func(c jwt.MapClaims, _ map[string]any) { delete(c, "exp") })), want: errTokenMissingClaim},
		{name: "not an access token", header: bearerHdr(forge(func(_ jwt.MapClaims, h map[string]any) { h["typ"] = "JWT" })), want: errTokenTypeMismatch},
		{name: "unknown kid", header: bearerHdr(forge(func(_ jwt.MapClaims, h map[string]any) { h["kid"] = "nope" })), want: errUnknownKeyID},
		{name: "alg none", header: bearerHdr(unsignedToken(map[string]string{"alg": "none", "typ": "at+jwt", "kid": kid}, claims)), want: errAlgorithmNotAllowed},
		{name: "missing", header: hdr(), want: errMissingCredentials},
	})

	// A route with another audience (or vendor) does not accept the token.
	other, _ := buildOAuth2(t, oauth2Config(), Options{Audience: "unico-route", Now: clock.Now})
	if err := other.Verify(context.Background(), &Request{Header: bearerHdr(tok), Now: now}); err == nil {
		t.Fatal("token accepted by another route")
	}
	otherVendor, _ := buildOAuth2(t, oauth2Config(), Options{Audience: "incode-route", Vendor: "unico", Now: clock.Now})
	checkVerifyErr(t, otherVendor.Verify(context.Background(), &Request{Header: bearerHdr(tok), Now: now}), errWrongVendor)
	// A restarted gateway (or another replica) derives the same key.
	restarted, _ := buildOAuth2(t, oauth2Config(), o)
	checkVerifyErr(t, restarted.Verify(context.Background(), &Request{Header: bearerHdr(tok), Now: now}), nil)
	// A removed client's tokens stop working.
	removed, _ := buildOAuth2(t, &OAuth2Config{Clients: []OAuth2Client{{ClientID: unicoID, ClientSecret: unicoSecret}}, Scope: "webhooks:incode webhooks:unico"}, o)
	checkVerifyErr(t, removed.Verify(context.Background(), &Request{Header: bearerHdr(tok), Now: now}), errUnknownKeyID)
}

func TestOAuth2SecretRotation(t *testing.T) {
	const oldSecret, newSecret = "old-secret-0123456789", "new-secret-9876543210"
	o := testOptions()
	before, beforeTS := buildOAuth2(t, &OAuth2Config{Clients: []OAuth2Client{{ClientID: incodeID, ClientSecret: oldSecret}}}, o)
	oldTok := issueToken(t, beforeTS, incodeID, oldSecret)
	checkVerifyErr(t, before.Verify(context.Background(), &Request{Header: bearerHdr(oldTok), Now: testNow}), nil)

	during, duringTS := buildOAuth2(t, &OAuth2Config{Clients: []OAuth2Client{{ClientID: incodeID, ClientSecret: newSecret, PreviousSecrets: []string{oldSecret}}}}, o)
	newTok := issueToken(t, duringTS, incodeID, newSecret)
	viaOld := issueToken(t, duringTS, incodeID, oldSecret)
	runVerifyCases(t, during, []verifyCase{
		{name: "token issued before the rotation", header: bearerHdr(oldTok)},
		{name: "token issued with the new secret", header: bearerHdr(newTok)},
		{name: "token requested with the old secret", header: bearerHdr(viaOld)},
	})
	if kidOf(t, viaOld) != kidOf(t, newTok) || kidOf(t, oldTok) == kidOf(t, newTok) {
		t.Fatal("new tokens must be signed with the current secret's key")
	}

	after, afterTS := buildOAuth2(t, &OAuth2Config{Clients: []OAuth2Client{{ClientID: incodeID, ClientSecret: newSecret}}}, o)
	runVerifyCases(t, after, []verifyCase{
		{name: "old token after the overlap", header: bearerHdr(oldTok), want: errUnknownKeyID},
		{name: "new token", header: bearerHdr(newTok)},
	})
	if w := postToken(afterTS, tokenReq{basic: [2]string{incodeID, oldSecret}, form: "grant_type=client_credentials"}); w.Code != 401 {
		t.Fatalf("old secret still authenticates: %d", w.Code)
	}
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	tk, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tk.Header["kid"].(string)
	return kid
}

func TestOAuth2SigningSecrets(t *testing.T) {
	const k1, k2 = "signing-key-one-0123456789abcdef", "signing-key-two-0123456789abcdef"
	o := testOptions()
	cfg := func(keys ...string) *OAuth2Config {
		c := oauth2Config()
		c.SigningSecrets = keys
		return c
	}
	_, ts1 := buildOAuth2(t, cfg(k1), o)
	tok1 := issueToken(t, ts1, unicoID, unicoSecret)
	replica, _ := buildOAuth2(t, cfg(k1), o)
	checkVerifyErr(t, replica.Verify(context.Background(), &Request{Header: bearerHdr(tok1), Now: testNow}), nil)

	rotated, ts2 := buildOAuth2(t, cfg(k2, k1), o)
	tok2 := issueToken(t, ts2, unicoID, unicoSecret)
	runVerifyCases(t, rotated, []verifyCase{
		{name: "token under the previous signing key", header: bearerHdr(tok1)},
		{name: "token under the new signing key", header: bearerHdr(tok2)},
	})
	dropped, _ := buildOAuth2(t, cfg(k2), o)
	checkVerifyErr(t, dropped.Verify(context.Background(), &Request{Header: bearerHdr(tok1), Now: testNow}), errUnknownKeyID)
}

func TestOAuth2BuildErrors(t *testing.T) {
	long := "0123456789abcdef"
	cl := func(id, secret string, prev ...string) OAuth2Client {
		return OAuth2Client{ClientID: id, ClientSecret: secret, PreviousSecrets: prev}
	}
	cases := []struct {
		name string
		c    OAuth2Config
		o    Options
		want string
	}{
		{"no client", OAuth2Config{}, testOptions(), "auth oauth2: missing client"},
		{"no client id", OAuth2Config{Clients: []OAuth2Client{cl("", long)}}, testOptions(), "auth oauth2: missing client_id"},
		{"bad client id", OAuth2Config{Clients: []OAuth2Client{cl("a b", long)}}, testOptions(), `auth oauth2: invalid client_id "a b" (printable ASCII without spaces or ':')`},
		{"no secret", OAuth2Config{Clients: []OAuth2Client{cl("a", "")}}, testOptions(), `auth oauth2: missing client_secret for client "a"`},
		{"short secret", OAuth2Config{Clients: []OAuth2Client{cl("a", "sh0rt!")}}, testOptions(), `auth oauth2: client_secret of client "a" is shorter than 16 bytes`},
		{"short previous", OAuth2Config{Clients: []OAuth2Client{cl("a", long, "sh0rt!")}}, testOptions(), `auth oauth2: previous_secrets[0] of client "a" is shorter than 16 bytes`},
		{"duplicate id", OAuth2Config{Clients: []OAuth2Client{cl("a", long), cl("a", long+"x")}}, testOptions(), `auth oauth2: duplicate client_id "a"`},
		{"shared secret", OAuth2Config{Clients: []OAuth2Client{cl("a", long), cl("b", long)}}, testOptions(), `auth oauth2: clients "a" and "b" share a secret`},
		{"bad path", OAuth2Config{Clients: []OAuth2Client{cl("a", long)}, TokenPath: "token"}, testOptions(), `auth oauth2: invalid token_path "token"`},
		{"ttl", OAuth2Config{Clients: []OAuth2Client{cl("a", long)}, TokenTTL: Duration(time.Second)}, testOptions(), "auth oauth2: token_ttl must be between 1m0s and 24h0m0s"},
		{"no audience", OAuth2Config{Clients: []OAuth2Client{cl("a", long)}}, Options{}, "auth oauth2: missing audience (set audience, or give the route a name)"},
		{"bad scope", OAuth2Config{Clients: []OAuth2Client{cl("a", long)}, Scope: `a "b"`}, testOptions(), `auth oauth2: invalid scope "\"b\""`},
		{"short signing secret", OAuth2Config{Clients: []OAuth2Client{cl("a", long)}, SigningSecrets: []string{"x"}}, testOptions(), "auth oauth2: signing_secrets[0] is shorter than 16 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(Config{Method: "oauth2", OAuth2: &tc.c}, tc.o)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			assertNoSecret(t, err.Error(), long, "sh0rt!")
		})
	}
}

func TestBuildChainTokenPaths(t *testing.T) {
	c1 := oauth2Config()
	c2 := &OAuth2Config{Clients: []OAuth2Client{{ClientID: "other", ClientSecret: "other-secret-0123456789"}}}
	if _, err := BuildChain([]Config{{Method: "oauth2", OAuth2: c1}, {Method: "oauth2", OAuth2: c2}}, testOptions()); err == nil {
		t.Fatal("two oauth2 lines on one token path accepted")
	}
	c2.TokenPath = "/oauth/other"
	ch, err := BuildChain([]Config{{Method: "oauth2", OAuth2: c1}, {Method: "oauth2", OAuth2: c2}}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if ts, ok := ch.TokenServer("/oauth/other"); !ok || ts.TokenPath() != "/oauth/other" || len(ch.TokenServers()) != 2 {
		t.Fatal("token servers not found")
	}
	tok := issueToken(t, ch.TokenServers()[0], incodeID, incodeSecret)
	if ch.CheckHeaders(context.Background(), &Request{Header: bearerHdr(tok), Now: testNow}) != Pass {
		t.Fatal("issued token refused by the chain")
	}
}
