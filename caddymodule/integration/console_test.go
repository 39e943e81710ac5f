package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// The console's operator and the secret of route kyc_a: the secret must never reach a console
// page or endpoint.
const (
	consoleUser    = "ops"
	consolePass    = "console-pass-Q7"
	kycASecret     = "kyc-a-secret-Z9x"
	consoleTimeout = 20 * time.Second
)

// closedAddr is a loopback address where nothing listens: an application that cannot be reached.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// consoleConfig serves two forward routes in front of app, a third in front of nothing (its
// delivery pauses), the console behind basic_auth under
// handle_path /console/*, and the same console under route /ops/* with its prefix set.
func consoleConfig(t *testing.T, app *testkit.Upstream) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(consolePass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`%[1]s {
	handle /a {
		webhook_gateway {
			name kyc_a
			vendor idwise
			auth basic idwise %[3]s
			forward http://%[2]s/a {
				max_attempts 2
				backoff 50ms 100ms
			}
		}
	}
	handle /b {
		webhook_gateway {
			name kyc_b
			auth none
			idempotency_key {webhook.json.id}
			forward http://%[2]s/b {
				max_attempts 2
				backoff 50ms 100ms
			}
		}
	}
	handle /c {
		webhook_gateway {
			name kyc_c
			auth none
			forward http://%[6]s/c {
				backoff 1s 2s
			}
		}
	}
	handle_path /console/* {
		basic_auth {
			%[4]s %[5]s
		}
		webhook_gateway_console
	}
	route /ops/* {
		basic_auth {
			%[4]s %[5]s
		}
		webhook_gateway_console {
			prefix /ops
		}
	}
}
`, site, app.HostPort(), kycASecret, consoleUser, hash, closedAddr(t))
}

// TestConsole drives the operator console in headless Chromium against a real gateway (two
// routes, an application that fails, then recovers) and checks what the page shows and what the
// application received; then the auth composition, the CSRF and same-origin checks, and the
// prefix mount, over HTTP.
func TestConsole(t *testing.T) {
	testkit.SkipShort(t, "starts a real Caddy and Chromium")
	var failing atomic.Bool
	failing.Store(true)
	app := testkit.NewUpstream(t, testkit.StatusBy(func(_ int, _ *http.Request) int {
		if failing.Load() {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}))
	startCaddy(t, storeOption(t), consoleConfig(t, app))

	sendA := func(id string) string {
		t.Helper()
		resp, b := post(t, nil, "/a", map[string]string{"Authorization": basicHeader("idwise", kycASecret), "X-Vendor-Trace": "trace-" + id}, idwiseEvent(id))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("kyc_a %s: %d %s", id, resp.StatusCode, b)
		}
		return resp.Header.Get("X-Webhook-Id")
	}
	sendB := func(id string) {
		t.Helper()
		resp, b := post(t, nil, "/b", nil, []byte(`{"id":"`+id+`","result":"approved"}`))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("kyc_b %s: %d %s", id, resp.StatusCode, b)
		}
	}
	ids := map[string]string{}
	for _, id := range []string{"a-1", "a-2", "a-3"} {
		ids[id] = sendA(id)
	}
	sendB("b-1")
	sendB("b-2")
	if resp, b := post(t, nil, "/c", nil, []byte(`{"id":"c-1"}`)); resp.StatusCode != http.StatusOK {
		t.Fatalf("kyc_c: %d %s", resp.StatusCode, b)
	}
	deadCount := func(route string) int {
		var list []map[string]any
		adminJSON(t, http.MethodGet, "/webhook_gateway/routes/"+route+"/dead_letters", &list)
		return len(list)
	}
	testkit.WaitFor(t, 20*time.Second, "5 dead letters", func() bool { return deadCount("kyc_a") == 3 && deadCount("kyc_b") == 2 })

	t.Run("browser", func(t *testing.T) { testConsoleBrowser(t, app, &failing, ids) })
	t.Run("basic_auth", func(t *testing.T) { testConsoleBasicAuth(t, ids["a-3"]) })
	t.Run("csrf", func(t *testing.T) { testConsoleCSRF(t, app, ids["a-3"]) })
	t.Run("prefix", testConsolePrefix)
}

// browser is a headless Chromium tab with the operator's credentials, recording the URL of
// every request the page makes.
type browser struct {
	ctx  context.Context
	mu   sync.Mutex
	urls []string
	dir  string // screenshots
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.NoSandbox, chromedp.WindowSize(1280, 800), chromedp.Flag("disable-dev-shm-usage", true))
	if p := os.Getenv("WHGW_CHROMIUM"); p != "" {
		opts = append(opts, chromedp.ExecPath(p))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{dir: t.TempDir()}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			b.mu.Lock()
			b.urls = append(b.urls, e.Request.URL)
			b.mu.Unlock()
		}
	}))
	b.ctx = ctx
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// A missing Chromium fails here: the console's proof needs a real browser (.ci/run installs it).
	err := chromedp.Do(ctx)
	if err == nil {
		_, err = chromedp.Call(ctx, network.Enable, network.EnableParams{})
	}
	if err == nil {
		_, err = chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Authorization": basicHeader(consoleUser, consolePass)},
		})
	}
	if err != nil {
		t.Fatalf("starting headless Chromium (apt-get install chromium, or set WHGW_CHROMIUM): %v", err)
	}
	return b
}

func (b *browser) run(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, consoleTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.screenshot(t, "failed")
		t.Fatalf("%s: %v", what, err)
	}
}

// goTo opens a page of the console by its hash route.
func (b *browser) goTo(t *testing.T, hash, waitSel string) {
	t.Helper()
	b.run(t, "open "+hash, chromedp.Evaluate[chromedp.Void](`location.hash = `+jsString(hash)), chromedp.WaitVisible(chromedp.CSS(waitSel)))
}

// text waits until the element's text contains want, and returns it.
func (b *browser) text(t *testing.T, sel, want string) string {
	t.Helper()
	var got string
	deadline := time.Now().Add(consoleTimeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		cancel()
		if err == nil {
			got = s
			if strings.Contains(got, want) {
				return got
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.screenshot(t, "failed")
	t.Fatalf("%s: want text %q, have %q", sel, want, got)
	return ""
}

// eval runs a JavaScript expression in the page and returns its value.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, consoleTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// accessible checks what a keyboard or screen-reader user needs on the page: every field has a
// label, every button a name, the page's heading has the focus after the navigation (so the
// keyboard starts there), and a skip link leads to the content.
func (b *browser) accessible(t *testing.T, page string) {
	t.Helper()
	unlabelled := eval[int](t, b, `[...document.querySelectorAll("input, select, textarea")].filter((e) => !(e.labels && e.labels.length) && !e.getAttribute("aria-label")).length`)
	unnamed := eval[int](t, b, `[...document.querySelectorAll("button, a[href]")].filter((e) => !e.textContent.trim() && !e.getAttribute("aria-label")).length`)
	focused := eval[string](t, b, `document.activeElement ? document.activeElement.id : ""`)
	skip := eval[string](t, b, `(document.querySelector("a.skip") || {}).hash || ""`)
	skipped := eval[string](t, b, `document.querySelector("a.skip").click(), document.activeElement.id + " " + location.hash`)
	if unlabelled != 0 || unnamed != 0 || focused != "page-title" || skip != "#main" || !strings.HasPrefix(skipped, "main ") || strings.Contains(skipped, "#main") {
		t.Errorf("%s: %d fields without a label, %d controls without a name, focus on %q (want page-title), skip link %q (after it: %q)",
			page, unlabelled, unnamed, focused, skip, skipped)
	}
}

// gone waits until no element matches sel.
func (b *browser) gone(t *testing.T, sel string) {
	t.Helper()
	b.run(t, "wait for "+sel+" to go", chromedp.WaitNotPresent(chromedp.CSS(sel)))
}

// screenshot saves the page under the test's temp dir; the README's pictures also under
// WHGW_CONSOLE_SCREENSHOTS when it is set (WHGW_CONSOLE_SCREENSHOTS=$PWD/docs makes docs/console-*.png).
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, consoleTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	dirs := []string{b.dir}
	if readmeShots[name] {
		dirs = append(dirs, os.Getenv("WHGW_CONSOLE_SCREENSHOTS"))
	}
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, "console-"+name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}
	t.Logf("screenshot %s: %s", name, filepath.Join(b.dir, "console-"+name+".png"))
}

// readmeShots are the screenshots the README shows (docs/console-*.png).
var readmeShots = map[string]bool{"overview": true, "event-detail": true, "dead-letters": true, "overview-phone": true}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func testConsoleBrowser(t *testing.T, app *testkit.Upstream, failing *atomic.Bool, ids map[string]string) {
	b := newBrowser(t)
	consoleURL := gatewayBase + "/console/"

	// Overview: both routes, their dead letters, the failed attempts of the last minute.
	b.run(t, "open the console", chromedp.Navigate(consoleURL), chromedp.WaitVisible(chromedp.CSS(`#routes-table tr[data-route="kyc_b"]`)))
	row := `#routes-table tr[data-route="kyc_a"]`
	b.text(t, row, "idwise")
	b.text(t, row+" td:nth-child(6)", "✗ 3")
	b.text(t, row+" td:nth-child(7)", "3 / 3") // accepted
	b.text(t, row+" td:nth-child(9)", "6 / 6") // failed: 3 events, 2 attempts each
	b.text(t, `#routes-table tr[data-route="kyc_b"] td:nth-child(6)`, "✗ 2")
	b.text(t, row+" td:nth-child(10)", "✓ delivering")
	paused := b.text(t, `#routes-table tr[data-route="kyc_c"] td:nth-child(10)`, ": application unreachable since")
	if !strings.HasPrefix(paused, "‖ paused ") {
		t.Errorf("kyc_c's delivery reads %q, want it paused", paused)
	}
	b.text(t, "#chart-legend", "accepted: 6 in the hour")
	b.screenshot(t, "overview")
	b.accessible(t, "overview")

	// Events: find a-2 by its vendor id (IDWise's eventId, part of the key).
	b.goTo(t, "#/events/kyc_a", "#f-q")
	b.run(t, "search a-2", chromedp.SetValue(chromedp.CSS("#f-q"), "a-2"), chromedp.Click(chromedp.CSS("#f-search")),
		chromedp.WaitVisible(chromedp.CSS(`#events-table tr[data-id="`+ids["a-2"]+`"]`)))
	events := b.text(t, "#events-table tbody", "idwise:a-2")
	if strings.Contains(events, "a-1") || strings.Contains(events, "a-3") {
		t.Errorf("search a-2 lists other events: %q", events)
	}
	b.text(t, "#events-table tbody", "dead letter")
	b.screenshot(t, "events")
	b.accessible(t, "events")
	if n := eval[int](t, b, `document.querySelectorAll('#events-table time[title^="Local time: "]').length`); n == 0 {
		t.Errorf("the events' times have no local time on hover")
	}

	// Its detail: body pretty-printed, forwarded headers, outcome, attempts.
	b.run(t, "open a-2", chromedp.Click(chromedp.CSS(`#events-table tr[data-id="`+ids["a-2"]+`"] a`)), chromedp.WaitVisible(chromedp.CSS("#event-body")))
	b.text(t, "#event-body", `"eventId": "a-2"`)
	b.text(t, "#headers-table", "trace-a-2")
	b.text(t, "#outcome", "dead letter")
	if n := eval[int](t, b, `document.querySelectorAll("#no-attempts, #attempts-table").length`); n != 1 {
		t.Errorf("the detail page shows neither the attempts nor that none is recorded")
	}
	b.screenshot(t, "event-detail")

	// Dead letters: three on kyc_a, with reason, last status and error.
	b.goTo(t, "#/dead/kyc_a", "#dead-table")
	dead := b.text(t, "#dead-table tbody", "Attempts exhausted")
	for _, id := range []string{ids["a-1"], ids["a-2"], ids["a-3"]} {
		if !strings.Contains(dead, id) {
			t.Errorf("dead letters lack %s: %q", id, dead)
		}
	}
	b.text(t, "#dead-table tbody", "500")
	b.screenshot(t, "dead-letters")
	b.accessible(t, "dead letters")
	b.run(t, "inspect a-1", chromedp.Click(chromedp.CSS(`#dead-table tr[data-id="`+ids["a-1"]+`"] a`)), chromedp.WaitVisible(chromedp.CSS("#dead-body")))
	b.text(t, "#dead-fields", "Attempts exhausted")
	b.text(t, "#dead-body", `"eventId": "a-1"`)
	b.screenshot(t, "dead-letter-detail")

	// The application is fixed: replay a-1 from its dead letter; the application gets it and the
	// overview counts it delivered.
	failing.Store(false)
	before := app.Count()
	b.run(t, "replay a-1", chromedp.Click(chromedp.CSS("#replay-dead")), chromedp.WaitVisible(chromedp.CSS("#dead-table")))
	b.text(t, "#message", "queued for delivery again")
	b.gone(t, `#dead-table tr[data-id="`+ids["a-1"]+`"]`)
	testkit.WaitFor(t, 10*time.Second, "a-1 delivered", func() bool { return app.Count() > before })
	b.goTo(t, "#/", "#routes-table")
	b.text(t, row+" td:nth-child(8)", "1 / 1")
	b.text(t, row+" td:nth-child(6)", "✗ 2")

	// Delete a-2's dead letter: confirmed in a dialog; the application never gets it.
	b.goTo(t, "#/dead/kyc_a", `#dead-table tr[data-id="`+ids["a-2"]+`"]`)
	b.run(t, "delete a-2", chromedp.Click(chromedp.CSS(`#dead-table tr[data-id="`+ids["a-2"]+`"] button.delete`)),
		chromedp.WaitVisible(chromedp.CSS("#confirm[open]")))
	b.text(t, "#confirm-text", "Delete dead letter "+ids["a-2"])
	b.run(t, "confirm delete", chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.gone(t, `#dead-table tr[data-id="`+ids["a-2"]+`"]`)
	b.text(t, "#message", "deleted")
	if st := adminStatus(t, http.MethodGet, "/webhook_gateway/routes/kyc_a/dead_letters/"+ids["a-2"]); st != http.StatusNotFound {
		t.Errorf("a-2's dead letter after the delete: status %d, want 404", st)
	}

	// Bulk replay of kyc_b's last 15 minutes: the confirmation states the count; the application
	// gets both events, marked as replays.
	b.goTo(t, "#/events/kyc_b", "#f-q")
	b.run(t, "last 15 min", chromedp.Click(chromedp.Search(`//button[text()="last 15 min"]`)), chromedp.WaitVisible(chromedp.CSS("#events-table")))
	b.text(t, "#events-table tbody", "b-2")
	before = app.Count()
	b.run(t, "bulk replay", chromedp.Click(chromedp.CSS("#bulk-replay")), chromedp.WaitVisible(chromedp.CSS("#confirm[open]")))
	b.text(t, "#confirm-text", "This will send 2 events of route kyc_b")
	b.screenshot(t, "bulk-confirm")
	b.run(t, "confirm bulk", chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.text(t, "#message", "Replayed 2 events")
	testkit.WaitFor(t, 10*time.Second, "b-1 and b-2 replayed", func() bool { return app.Count() >= before+2 })
	got := map[string]bool{}
	for _, r := range app.Requests()[before:] {
		if r.Path == "/b" && r.Header.Get("X-Webhook-Replay") == "true" {
			var ev struct{ ID string }
			_ = json.Unmarshal(r.Body, &ev)
			got[ev.ID] = true
		}
	}
	if !got["b-1"] || !got["b-2"] {
		t.Errorf("replayed to the application: %v, want b-1 and b-2 marked X-Webhook-Replay", got)
	}

	// One event's Replay button, from its detail page: b-1 once more.
	countB := func(id string) int {
		n := 0
		for _, r := range app.Requests() {
			if r.Path == "/b" && bytes.Contains(r.Body, []byte(`"id":"`+id+`"`)) {
				n++
			}
		}
		return n
	}
	b1 := countB("b-1")
	b.run(t, "open b-1", chromedp.Click(chromedp.Search(`//a[ancestor::tr[td[contains(., "b-1")]]]`)), chromedp.WaitVisible(chromedp.CSS("#replay-event")))
	b.text(t, "#event-body", `"id": "b-1"`)
	b.run(t, "replay b-1", chromedp.Click(chromedp.CSS("#replay-event")), chromedp.WaitVisible(chromedp.CSS("#confirm[open]")))
	b.run(t, "confirm replay", chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.text(t, "#message", "queued for delivery again")
	testkit.WaitFor(t, 10*time.Second, "b-1 replayed from its page", func() bool { return countB("b-1") == b1+1 })

	// The range replay replayed b-1 and b-2 from their dead letters (a dead event of the history
	// is replayed as its dead letter is, and the dead letter goes): kyc_b has none left.
	b.goTo(t, "#/dead/kyc_b", "#dead-empty")
	b.text(t, "#dead-empty", "No dead letters on route kyc_b")

	// Replay all of kyc_b's dead letters: two new events die while the application fails again;
	// the confirmation states the number, the application gets both, and the list's empty state
	// says what next.
	failing.Store(true)
	for _, id := range []string{"b-3", "b-4"} {
		if resp, body := post(t, nil, "/b", nil, []byte(`{"id":"`+id+`","result":"approved"}`)); resp.StatusCode != http.StatusOK {
			t.Fatalf("kyc_b %s: %d %s", id, resp.StatusCode, body)
		}
	}
	testkit.WaitFor(t, 20*time.Second, "two new dead letters on kyc_b", func() bool {
		var list []map[string]any
		adminJSON(t, http.MethodGet, "/webhook_gateway/routes/kyc_b/dead_letters", &list)
		return len(list) == 2
	})
	failing.Store(false)
	b.goTo(t, "#/", "#routes-table")
	b.goTo(t, "#/dead/kyc_b", "#dead-table")
	b.run(t, "replay all", chromedp.Click(chromedp.CSS("#replay-all")), chromedp.WaitVisible(chromedp.CSS("#confirm[open]")))
	b.text(t, "#confirm-text", "This will send up to 2 dead letters of route kyc_b")
	b.run(t, "confirm replay all", chromedp.Click(chromedp.CSS("#confirm-ok")))
	b.text(t, "#message", "Replayed 2 dead letters")
	b.text(t, "#dead-empty", "No dead letters on route kyc_b")
	testkit.WaitFor(t, 10*time.Second, "kyc_b's dead letters replayed", func() bool {
		return countB("b-3") == 3 && countB("b-4") == 3 && countB("b-1") == b1+1 // 2 failed attempts, then the replay
	})

	// The application received a-1 again, never a-2 after its delete, and a-3 only its two attempts.
	attemptsOf := map[string]int{}
	for _, r := range app.Requests() {
		for _, id := range []string{"a-1", "a-2", "a-3"} {
			if bytes.Contains(r.Body, []byte(`"eventId":"`+id+`"`)) {
				attemptsOf[id]++
			}
		}
	}
	if attemptsOf["a-1"] != 3 || attemptsOf["a-2"] != 2 || attemptsOf["a-3"] != 2 {
		t.Errorf("requests per event at the application: %v, want a-1 3 (2 failed + the replay), a-2 2, a-3 2", attemptsOf)
	}

	// The phone-sized viewport lays the overview out without loss.
	b.run(t, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	b.goTo(t, "#/", "#routes-table")
	b.text(t, "#routes-table", "kyc_b")
	b.screenshot(t, "overview-phone")
	b.run(t, "desktop viewport", chromedp.EmulateReset())

	// No secret anywhere in what the console showed; no request to another host.
	var html string
	for _, hash := range []string{"#/", "#/events/kyc_a", "#/event/kyc_a/" + ids["a-1"], "#/dead/kyc_a"} {
		b.goTo(t, hash, "#page-title")
		time.Sleep(300 * time.Millisecond)
		html = eval[string](t, b, `document.documentElement.outerHTML`)
		if strings.Contains(html, kycASecret) || strings.Contains(html, strings.TrimPrefix(basicHeader("idwise", kycASecret), "Basic ")) {
			t.Errorf("page %s shows route kyc_a's secret", hash)
		}
	}
	b.mu.Lock()
	urls := append([]string(nil), b.urls...)
	b.mu.Unlock()
	if len(urls) < 5 {
		t.Fatalf("only %d requests recorded: the recorder is broken", len(urls))
	}
	own, _ := url.Parse(gatewayBase)
	for _, u := range urls {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "data" && p.Host != own.Host) {
			t.Errorf("the page made a request to another host: %s", u)
		}
	}
	t.Logf("%d requests, all to %s", len(urls), own.Host)
}

var operator = map[string]string{"Authorization": basicHeader(consoleUser, consolePass)}

func consoleToken(t *testing.T) string {
	t.Helper()
	resp, b := gatewayRequest(t, http.MethodGet, "/console/api/csrf", operator, "")
	var tok struct{ Token string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &tok) != nil || tok.Token == "" {
		t.Fatalf("csrf token: %d %s", resp.StatusCode, b)
	}
	return tok.Token
}

// testConsoleBasicAuth: without credentials, basic_auth answers 401 and the console is never
// reached: no console header on the answer, and a state-changing request changes nothing.
func testConsoleBasicAuth(t *testing.T, deadID string) {
	token := consoleToken(t)
	for _, p := range []string{"/console/", "/console/api/overview", "/console/app.js", "/ops/api/overview"} {
		resp, b := gatewayRequest(t, http.MethodGet, p, nil, "")
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s without credentials: %d, want 401 with WWW-Authenticate", p, resp.StatusCode)
		}
		if resp.Header.Get("Content-Security-Policy") != "" || bytes.Contains(b, []byte("kyc_a")) {
			t.Errorf("GET %s without credentials reached the console", p)
		}
	}
	resp, _ := gatewayRequest(t, http.MethodDelete, "/console/api/routes/kyc_a/dead_letters/"+deadID,
		map[string]string{"Origin": gatewayBase, "Sec-Fetch-Site": "same-origin"}, `{"csrf_token":"`+token+`"}`)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("DELETE without credentials: %d, want 401", resp.StatusCode)
	}
	if st := adminStatus(t, http.MethodGet, "/webhook_gateway/routes/kyc_a/dead_letters/"+deadID); st != http.StatusOK {
		t.Errorf("the dead letter after a DELETE without credentials: %d, want it still there (200)", st)
	}
	resp, _ = gatewayRequest(t, http.MethodGet, "/console/api/overview", map[string]string{"Authorization": basicHeader(consoleUser, "wrong")}, "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", resp.StatusCode)
	}
}

// testConsoleCSRF: a state-changing request is refused unless it is same-origin and carries a
// valid token; the refused ones change nothing, the right one works.
func testConsoleCSRF(t *testing.T, app *testkit.Upstream, deadID string) {
	token := consoleToken(t)
	path := "/console/api/routes/kyc_a/dead_letters/" + deadID + "/replay"
	with := func(h map[string]string) map[string]string {
		out := map[string]string{"Authorization": operator["Authorization"]}
		for k, v := range h {
			out[k] = v
		}
		return out
	}
	good := `{"csrf_token":"` + token + `"}`
	refused := []struct {
		name    string
		headers map[string]string
		body    string
		code    string
	}{
		{"cross-origin Origin", with(map[string]string{"Origin": "http://evil.example"}), good, "cross_origin"},
		{"cross-site fetch", with(map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": gatewayBase}), good, "cross_origin"},
		{"same-site other origin", with(map[string]string{"Sec-Fetch-Site": "same-site"}), good, "cross_origin"},
		{"neither Origin nor Sec-Fetch-Site", with(nil), good, "cross_origin"},
		{"no token", with(map[string]string{"Origin": gatewayBase, "Sec-Fetch-Site": "same-origin"}), `{}`, "csrf_token"},
		{"forged token", with(map[string]string{"Origin": gatewayBase}), `{"csrf_token":"` + token[:len(token)-2] + `AA"}`, "csrf_token"},
	}
	before := app.Count()
	for _, c := range refused {
		resp, b := gatewayRequest(t, http.MethodPost, path, c.headers, c.body)
		var p problemBody
		_ = json.Unmarshal(b, &p)
		if resp.StatusCode != http.StatusForbidden || p.Code != c.code || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s, want 403 problem+json %s", c.name, resp.StatusCode, b, c.code)
		}
	}
	if st := adminStatus(t, http.MethodGet, "/webhook_gateway/routes/kyc_a/dead_letters/"+deadID); st != http.StatusOK {
		t.Fatalf("the dead letter after refused replays: %d, want it still there", st)
	}
	time.Sleep(300 * time.Millisecond)
	if n := app.Count(); n != before {
		t.Errorf("refused replays reached the application (%d requests)", n-before)
	}
	// A GET changes nothing, whatever its origin.
	resp, _ := gatewayRequest(t, http.MethodGet, path, with(map[string]string{"Origin": "http://evil.example"}), "")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET of a replay endpoint: %d, want 405", resp.StatusCode)
	}
	resp, b := gatewayRequest(t, http.MethodPost, path, with(map[string]string{"Origin": gatewayBase, "Sec-Fetch-Site": "same-origin"}), good)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("same-origin replay with its token: %d %s (Cache-Control %q)", resp.StatusCode, b, resp.Header.Get("Cache-Control"))
	}
	testkit.WaitFor(t, 10*time.Second, "the replayed dead letter delivered", func() bool { return app.Count() > before })
}

// testConsolePrefix: under `route /ops/*`, which keeps the path, the prefix option mounts it;
// the lists carry no body, one event's detail does.
func testConsolePrefix(t *testing.T) {
	for _, p := range []string{"/ops/api/routes/kyc_a/events", "/ops/api/routes/kyc_a/events?q=a-3", "/ops/api/routes/kyc_a/dead_letters", "/ops/api/overview"} {
		resp, b := gatewayRequest(t, http.MethodGet, p, operator, "")
		if resp.StatusCode != http.StatusOK || bytes.Contains(b, []byte(`"body"`)) || bytes.Contains(b, []byte("eventId")) {
			t.Errorf("GET %s: %d, a list shows a body: %s", p, resp.StatusCode, b)
		}
	}
	resp, b := gatewayRequest(t, http.MethodGet, "/ops/", operator, "")
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`src="app.js"`)) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("GET /ops/: %d %q", resp.StatusCode, b)
	}
	resp, b = gatewayRequest(t, http.MethodGet, "/ops/api/overview", operator, "")
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"name": "kyc_b"`)) {
		t.Errorf("GET /ops/api/overview: %d %s", resp.StatusCode, b)
	}
	if bytes.Contains(b, []byte(kycASecret)) {
		t.Errorf("the overview shows route kyc_a's secret")
	}
	resp, b = gatewayRequest(t, http.MethodGet, "/ops/api/nothing", operator, "")
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("GET /ops/api/nothing: %d %s, want a 404 problem", resp.StatusCode, b)
	}
}
