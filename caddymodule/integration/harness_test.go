package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// The in-process Caddy of caddytest listens on these loopback ports. They
// default to 9080 (HTTP), 9443 (HTTPS) and 2999 (admin); WHGW_TEST_PORT_BASE=N
// moves them to N, N+1 and N+2, so that two checkouts can run the package at
// the same time.
var (
	httpPort, httpsPort, adminPort = testPorts()

	gatewayBase = fmt.Sprintf("http://localhost:%d", httpPort)
	adminBase   = fmt.Sprintf("http://localhost:%d", adminPort)
	// site is the address of the site block every test config serves.
	site = gatewayBase

	// globalOptions are the caddytest globals every config starts with.
	globalOptions = fmt.Sprintf(`
	skip_install_trust
	admin localhost:%d
	http_port %d
	https_port %d
	grace_period 1ns
`, adminPort, httpPort, httpsPort)
)

func testPorts() (httpPort, httpsPort, adminPort int) {
	base, err := strconv.Atoi(os.Getenv("WHGW_TEST_PORT_BASE"))
	if err != nil || base <= 0 {
		return 9080, 9443, 2999
	}
	return base, base + 1, base + 2
}

func init() {
	caddytest.Default.AdminPort = adminPort
	// caddytest's default of 5 s to load a config is too short on a loaded CI machine: the load
	// includes stopping the previous test's config (its delivery drain and store close), which
	// took 6.4 s once in a full -race run, and the test then failed before it began.
	caddytest.Default.LoadRequestTimeout = 30 * time.Second
}

// newTester is the one way a test gets the in-process Caddy: it skips the
// test under -short (so that no test repeats the guard) and sets the test
// environment (XDG dirs, WEBHOOK_TEST_SECRET).
func newTester(t *testing.T) *caddytest.Tester {
	t.Helper()
	testkit.SkipShort(t, "starts a real Caddy")
	setTestEnv(t)
	return caddytest.NewTester(t)
}

// startCaddy loads a Caddyfile site block (the globals are added) into the
// in-process Caddy.
func startCaddy(t *testing.T, globalExtra, sites string) *caddytest.Tester {
	t.Helper()
	tester := newTester(t)
	tester.InitServer("{"+globalOptions+globalExtra+"\n}\n"+sites, "caddyfile")
	return tester
}

// startRoute starts Caddy with a single route at the site root on the
// test's embedded store; lines are the lines of its webhook_gateway block
// (a forward-mode route has its forward line among them).
func startRoute(t *testing.T, lines ...string) {
	t.Helper()
	startCaddy(t, storeOption(t), routeSite(lines, ""))
}

// startGateRoute starts Caddy with a single gate-mode route in front of up;
// lines are the lines of the webhook_gateway block.
func startGateRoute(t *testing.T, up *testkit.Upstream, lines ...string) {
	t.Helper()
	startCaddy(t, storeOption(t), routeSite(lines, "\treverse_proxy "+up.HostPort()+"\n"))
}

// routeSite is the site block of one webhook_gateway block, then next.
func routeSite(lines []string, next string) string {
	return fmt.Sprintf("%s {\n\twebhook_gateway {\n\t\t%s\n\t}\n%s}\n", site, strings.Join(lines, "\n\t\t"), next)
}

// storeOption keeps the embedded store of one test in its own directory. The in-process Caddy
// keeps running (and the store writing) until the next test loads its config, so the directory
// is not a t.TempDir, whose removal would race with those writes and fail the test; it is
// removed on a best-effort basis.
func storeOption(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "whgw-store-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return "\twebhook_gateway {\n\t\tstore embedded " + filepath.Join(dir, "store") + "\n\t\tdrain_timeout 1s\n\t}\n"
}

// natsStore starts a nats-server (edit changes its options) and returns it
// with the global option that makes the gateway store there. It skips under
// -short, before starting the server, as newTester does.
func natsStore(t *testing.T, edit func(*server.Options)) (*server.Server, string) {
	t.Helper()
	testkit.SkipShort(t, "starts a nats-server and a real Caddy")
	ns := testkit.StartNATS(t, edit)
	return ns, "\twebhook_gateway {\n\t\tstore nats " + ns.ClientURL() + "\n\t}\n"
}

// post sends a webhook to the gateway.
func post(t *testing.T, client *http.Client, path string, headers map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, gatewayBase+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	if client == nil {
		client = loopbackClient("127.0.0.1")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// loopbackClient dials the gateway from the given local loopback address, so a
// test can be a sender from 127.0.0.2.
func loopbackClient(localIP string) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}}
	return &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", httpPort))
			},
			MaxIdleConnsPerHost: 64,
		},
	}
}

// fixture reads a vendor fixture from the schemas test data.
func fixture(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "schemas", "testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// problemBody decodes an RFC 9457 answer.
type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
	Errors []struct {
		Path    string `json:"path"`
		Message string `json:"message"`
	} `json:"errors"`
}

func expectProblem(t *testing.T, resp *http.Response, body []byte, status int, code string) problemBody {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p problemBody
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem body %s: %v", body, err)
	}
	if p.Status != status || p.Code != code {
		t.Fatalf("problem %+v, want status %d code %s", p, status, code)
	}
	return p
}

// gatewayRequest sends one request to the test gateway with the given headers (no credentials
// unless given) and returns the answer with its body read.
func gatewayRequest(t *testing.T, method, path string, headers map[string]string, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, gatewayBase+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := loopbackClient("127.0.0.1").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}
