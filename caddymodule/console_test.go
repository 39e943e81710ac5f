package caddymodule

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
)

func TestConsoleUnmarshalCaddyfile(t *testing.T) {
	good := map[string]string{
		"webhook_gateway_console":                             "",
		"webhook_gateway_console {\n}":                        "",
		"webhook_gateway_console {\n\tprefix /console\n}":     "/console",
		"webhook_gateway_console {\n\tprefix /ops/console\n}": "/ops/console",
	}
	for in, want := range good {
		var c Console
		if err := c.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil || c.Prefix != want {
			t.Errorf("%q: prefix %q, %v; want %q", in, c.Prefix, err, want)
		}
	}
	bad := []string{
		"webhook_gateway_console extra",
		"webhook_gateway_console {\n\tprefix\n}",
		"webhook_gateway_console {\n\tprefix /a /b\n}",
		"webhook_gateway_console {\n\tprefix /a\n\tprefix /b\n}",
		"webhook_gateway_console {\n\tpath /a\n}",
	}
	for _, in := range bad {
		var c Console
		if err := c.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
	for _, p := range []string{"console", "/console/", "/"} {
		if err := (&Console{Prefix: p}).Validate(); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("prefix %q: %v, want an error naming it", p, err)
		}
	}
}

func consoleRequest(c *Console, method, path string, h map[string]string, body ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://console.internal"+path, strings.NewReader(strings.Join(body, "")))
	for k, v := range h {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	_ = c.ServeHTTP(w, r, nil)
	return w
}

// TestConsoleServe: the page and its assets, the security headers on every answer, problem+json
// errors, the prefix, and the state-changing checks, without a running gateway.
func TestConsoleServe(t *testing.T) {
	c := &Console{logger: zap.NewNop()}
	for path, ctype := range map[string]string{"/": "text/html", "/app.js": "text/javascript", "/app.css": "text/css"} {
		w := consoleRequest(c, http.MethodGet, path, nil)
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), ctype) || w.Body.Len() == 0 {
			t.Errorf("GET %s: %d %q", path, w.Code, w.Header().Get("Content-Type"))
		}
	}
	page := consoleRequest(c, http.MethodGet, "/", nil).Body.String()
	if strings.Contains(page, "http:") || strings.Contains(page, "https:") || strings.Contains(page, "<script>") || strings.Contains(page, "style=") {
		t.Errorf("the page loads from elsewhere or has inline code")
	}
	for _, p := range []string{"/", "/app.js", "/nothing", "/api/nothing", "/api/csrf"} {
		w := consoleRequest(c, http.MethodGet, p, nil)
		h := w.Header()
		if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
			h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: security headers %v", p, h)
		}
		if strings.HasPrefix(p, "/api/") && h.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: Cache-Control %q, want no-store", p, h.Get("Cache-Control"))
		}
	}
	if w := consoleRequest(c, http.MethodGet, "/nothing", nil); w.Code != http.StatusNotFound || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("unknown path: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if w := consoleRequest(c, http.MethodPost, "/app.js", map[string]string{"Origin": "http://console.internal"}); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST an asset: %d", w.Code)
	}

	var tok struct{ Token string }
	w := consoleRequest(c, http.MethodGet, "/api/csrf", nil)
	if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil || !validCSRFToken(tok.Token, time.Now()) {
		t.Fatalf("csrf: %s %v", w.Body, err)
	}
	same := map[string]string{"Origin": "http://console.internal", "Sec-Fetch-Site": "same-origin"}
	good := `{"csrf_token":"` + tok.Token + `"}`
	for _, c2 := range []struct {
		name string
		h    map[string]string
		body string
		code string
	}{
		{"no origin", map[string]string{}, good, "cross_origin"},
		{"cross origin", map[string]string{"Origin": "http://evil.example"}, good, "cross_origin"},
		{"cross site", map[string]string{"Sec-Fetch-Site": "cross-site"}, good, "cross_origin"},
		{"no token", same, `{}`, "csrf_token"},
		{"token in a header only", map[string]string{"Origin": "http://console.internal", "X-CSRF-Token": tok.Token}, `{}`, "csrf_token"},
		{"no body", same, ``, "invalid_request"},
		{"not an object", same, `["` + tok.Token + `"]`, "invalid_request"},
		{"too large", same, `{"csrf_token":"` + tok.Token + `","x":"` + strings.Repeat("a", maxConsoleBody) + `"}`, "invalid_request"},
	} {
		w := consoleRequest(c, http.MethodPost, "/api/routes/r/dead_letters/x/replay", c2.h, c2.body)
		var p problem
		_ = json.Unmarshal(w.Body.Bytes(), &p)
		if w.Code/100 != 4 || p.Code != c2.code || w.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s, want problem+json %s", c2.name, w.Code, w.Body, c2.code)
		}
	}
	if w := consoleRequest(c, http.MethodPost, "/api/routes/nosuch/dead_letters/x/replay", same, good); w.Code != http.StatusNotFound {
		t.Errorf("same origin with token, unknown route: %d %s, want 404", w.Code, w.Body)
	}

	p := &Console{Prefix: "/ops", logger: zap.NewNop()}
	if w := consoleRequest(p, http.MethodGet, "/ops/", nil); w.Code != http.StatusOK {
		t.Errorf("prefix /ops/: %d", w.Code)
	}
	if w := consoleRequest(p, http.MethodGet, "/ops", nil); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "/ops/" {
		t.Errorf("prefix /ops: %d %q, want a redirect to /ops/", w.Code, w.Header().Get("Location"))
	}
	for _, path := range []string{"/", "/opsx/", "/other/api/csrf"} {
		if w := consoleRequest(p, http.MethodGet, path, nil); w.Code != http.StatusNotFound {
			t.Errorf("prefix, %s: %d, want 404", path, w.Code)
		}
	}
}

func TestCSRFToken(t *testing.T) {
	now := time.Now()
	tok := newCSRFToken(now)
	if !validCSRFToken(tok, now) || !validCSRFToken(tok, now.Add(csrfTokenTTL-time.Second)) {
		t.Fatal("a fresh token is refused")
	}
	if validCSRFToken(tok, now.Add(csrfTokenTTL+time.Second)) {
		t.Error("an expired token is accepted")
	}
	if validCSRFToken(newCSRFToken(now.Add(time.Hour)), now) {
		t.Error("a token from the future is accepted")
	}
	b := []byte(tok)
	b[len(b)-1] ^= 1
	for _, bad := range []string{"", "x", string(b), tok + "A", strings.Repeat("A", len(tok))} {
		if validCSRFToken(bad, now) {
			t.Errorf("token %q accepted", bad)
		}
	}
}

func TestSameOrigin(t *testing.T) {
	cases := []struct {
		h    map[string]string
		want bool
	}{
		{map[string]string{"Sec-Fetch-Site": "same-origin"}, true},
		{map[string]string{"Origin": "http://gw.internal:8443"}, true},
		{map[string]string{"Origin": "http://GW.internal:8443", "Sec-Fetch-Site": "same-origin"}, true},
		{map[string]string{}, false},
		{map[string]string{"Sec-Fetch-Site": "none"}, false},
		{map[string]string{"Sec-Fetch-Site": "same-site"}, false},
		{map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://evil.example"}, false},
		{map[string]string{"Origin": "http://gw.internal:9999"}, false},
		{map[string]string{"Origin": "null"}, false},
	}
	for i, c := range cases {
		r := httptest.NewRequest(http.MethodPost, "http://gw.internal:8443/api/x", nil)
		for k, v := range c.h {
			r.Header.Set(k, v)
		}
		if got := sameOrigin(r); got != c.want {
			t.Errorf("case %d %v: %v, want %v", i, c.h, got, c.want)
		}
	}
}

func TestConsoleCounters(t *testing.T) {
	base := time.Unix(1_800_000_000, 0) // a whole minute
	now := base
	countNow = func() time.Time { return now }
	defer func() { countNow = time.Now }()
	route := "counters_test"
	countEvent(route, countAccepted)
	countEvent(route, countAccepted)
	countEvent(route, countFailed)
	now = base.Add(5*time.Minute + 30*time.Second)
	countEvent(route, countDelivered)
	a := activityOf(route)
	if a.PerMinute[ringSlots-1] != [countKinds]uint64{0, 1, 0} || a.PerMinute[ringSlots-6] != [countKinds]uint64{2, 0, 1} {
		t.Fatalf("per minute: last %v, five minutes ago %v", a.PerMinute[ringSlots-1], a.PerMinute[ringSlots-6])
	}
	if a.LastHour != [countKinds]uint64{2, 1, 1} || a.LastMinute != [countKinds]uint64{0, 1, 0} {
		t.Fatalf("last hour %v, last minute %v", a.LastHour, a.LastMinute)
	}
	if !a.Since.Equal(base.Add(5*time.Minute - 59*time.Minute)) {
		t.Errorf("since %v", a.Since)
	}
	now = base.Add(61 * time.Minute) // the first minute left the window; its slot is reused
	countEvent(route, countAccepted)
	a = activityOf(route)
	if a.LastHour != [countKinds]uint64{1, 1, 0} {
		t.Fatalf("after an hour: last hour %v, want the old minute gone", a.LastHour)
	}
	resetCounts(route) // the route's state starts afresh
	if got := activityOf(route); got.LastHour != [countKinds]uint64{} {
		t.Errorf("after a reset: %v", got.LastHour)
	}
	if got := activityOf("never_seen"); got.LastHour != [countKinds]uint64{} {
		t.Errorf("unknown route: %v", got.LastHour)
	}
}

// TestConsoleOverviewNoRoutes: with no gateway running, the overview is an empty list, not an
// error (the page then says what to do).
func TestConsoleOverviewNoRoutes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	o := consoleOverview(ctx)
	if o.Routes == nil || len(o.Routes) != 0 {
		t.Fatalf("overview %+v", o)
	}
}
