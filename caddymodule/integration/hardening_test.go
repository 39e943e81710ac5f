package integration

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// TestTokenEndpointHardening: the token endpoint answers only after allow_ips, throttles
// failed client authentications per client id and source (429 + Retry-After, even for the
// right secret while throttled), and counts its requests.
func TestTokenEndpointHardening(t *testing.T) {
	const secret = "token-secret-0123456789abcdef"
	t.Setenv("WG_HARD_SECRET", secret)
	up := testkit.NewUpstream(t, nil)
	startCaddy(t, storeOption(t), fmt.Sprintf(site+` {
	handle /t/* {
		webhook_gateway {
			name tokens
			allow_ips 127.0.0.1
			auth oauth2 {
				client_id vendor
				client_secret {env.WG_HARD_SECRET}
				token_path /t/oauth/token
			}
		}
		reverse_proxy %s
	}
}
`, up.HostPort()))

	tokenFrom := func(localIP, pass string) (*http.Response, []byte) {
		form := url.Values{"grant_type": {"client_credentials"}}
		req, _ := http.NewRequest(http.MethodPost, gatewayBase+"/t/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("vendor", pass)
		resp, err := loopbackClient(localIP).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp, []byte(b.String())
	}

	// A source outside allow_ips gets the 403 before any secret is looked at.
	resp, body := tokenFrom("127.0.0.2", secret)
	expectProblem(t, resp, body, http.StatusForbidden, "ip_not_allowed")

	statuses := map[int]int{}
	for range 20 {
		resp, _ := tokenFrom("127.0.0.1", "wrong-secret-0123456789abcdef")
		statuses[resp.StatusCode]++
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	if statuses[http.StatusUnauthorized] != 5 || statuses[http.StatusTooManyRequests] != 15 {
		t.Fatalf("20 wrong secrets got %v, want 5×401 then 15×429", statuses)
	}
	if resp, _ := tokenFrom("127.0.0.1", secret); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right secret while throttled: %d, want 429", resp.StatusCode)
	}

	m := metricsText(t)
	for _, want := range []string{
		`caddy_webhook_gateway_token_requests_total{result="rejected",route="tokens"} 5`,
		`caddy_webhook_gateway_token_requests_total{result="throttled",route="tokens"} 16`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(m, secret) {
		t.Fatal("the client secret is in the metrics")
	}
}

// TestCompressedBodyRefused: a Content-Encoding other than identity gets 415 before the body
// is read or the signature checked; it used to pass the signature and then get a 400.
func TestCompressedBodyRefused(t *testing.T) {
	const secret = "gzip-test-secret"
	up := testkit.NewUpstream(t, nil)
	startGateRoute(t, up, "name gz", "auth hmac {", "\theader X-Hub-Signature-256", "\tsecret "+secret, "\tprefix sha256=", "}")
	body := []byte(`{"id":"1"}`)
	for _, enc := range []string{"gzip", "br", "identity, gzip"} {
		resp, b := post(t, nil, "/", mergeHeaders(githubHeaders(secret, body), map[string]string{"Content-Encoding": enc}), body)
		expectProblem(t, resp, b, http.StatusUnsupportedMediaType, "unsupported_encoding")
	}
	resp, b := post(t, nil, "/", mergeHeaders(githubHeaders(secret, body), map[string]string{"Content-Encoding": "identity"}), body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("identity: %d %s", resp.StatusCode, b)
	}
	if up.Count() != 1 {
		t.Fatalf("upstream got %d requests, want 1", up.Count())
	}
}

// TestGatewayHeadersStripped: a sender's X-Webhook-* and Webhook-* headers never reach the
// application, in gate mode and in forward mode; the gateway's own values do.
func TestGatewayHeadersStripped(t *testing.T) {
	up := testkit.NewUpstream(t, nil)
	fwd := testkit.NewUpstream(t, nil)
	startCaddy(t, storeOption(t), fmt.Sprintf(site+` {
	handle /gate {
		webhook_gateway {
			name gate_strip
			auth api_key X-Api-Key strip-test-key
		}
		reverse_proxy %s
	}
	handle /fwd {
		webhook_gateway {
			name fwd_strip
			auth api_key X-Api-Key strip-test-key
			forward %s/fwd
		}
	}
}
`, up.HostPort(), fwd.URL))
	forged := map[string]string{
		"X-Api-Key":             "strip-test-key",
		"X-Webhook-Event":       "forged.event",
		"X-Webhook-Attempt":     "99",
		"X-Webhook-Received-At": "1999-01-01T00:00:00Z",
		"X-Webhook-Duplicate":   "true",
		"X-Webhook-Id":          "forged-id",
		"X-Webhook-Anything":    "forged",
		"Webhook-Id":            "msg_forged",
		"Webhook-Timestamp":     "1",
		"Webhook-Signature":     "v1,Zm9yZ2Vk",
		"Webhook-Other":         "forged",
	}
	for _, path := range []string{"/gate", "/fwd"} {
		resp, b := post(t, nil, path, forged, []byte(`{"id":"`+path+`"}`))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
	}
	testkit.WaitFor(t, 10e9, "the forwarded event", func() bool { return fwd.Count() == 1 })
	for name, got := range map[string]testkit.Request{"gate": up.Requests()[0], "forward": fwd.Requests()[0]} {
		for k, v := range forged {
			if vals := got.Header.Values(k); len(vals) > 0 && strings.Contains(strings.Join(vals, ","), v) {
				t.Errorf("%s mode: the sender's %s: %s reached the application", name, k, v)
			}
		}
		if got.Header.Get("X-Webhook-Id") == "" || got.Header.Get("X-Webhook-Id") == "forged-id" {
			t.Errorf("%s mode: X-Webhook-Id %q is not the gateway's", name, got.Header.Get("X-Webhook-Id"))
		}
	}
}

// slowSender opens a connection to the gateway, sends the headers of a POST that declares
// declared body bytes, and then only the first sent bytes. It returns the connection.
func slowSender(t *testing.T, path string, declared, sent int, extraHeaders string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", httpPort), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n", path, declared, extraHeaders)
	_, _ = c.Write([]byte(`{"a":"` + strings.Repeat("x", max(sent-6, 0))))
	return c
}

// readStatus reads the status line of the answer on c.
func readStatus(t *testing.T, c net.Conn, within time.Duration) (int, http.Header) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer within %v: %v", within, err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// TestSlowBodies: a body that does not arrive within body_timeout gets 408 problem+json and
// the connection is closed; while stalled bodies hold the process-wide body budget, a further
// one gets 503 + Retry-After before its body is read; complete bodies pass again once the
// stalled ones are gone.
func TestSlowBodies(t *testing.T) {
	up := testkit.NewUpstream(t, nil)
	startCaddy(t, strings.Replace(storeOption(t), "\t\tdrain_timeout", "\t\tbody_memory 100KB\n\t\tdrain_timeout", 1), fmt.Sprintf(site+` {
	handle /slow {
		webhook_gateway {
			name slow
			auth none
			max_body 60KB
			body_timeout 1s
		}
		reverse_proxy %[1]s
	}
	handle /patient {
		webhook_gateway {
			name patient
			auth none
			max_body 60KB
			body_timeout 30s
		}
		reverse_proxy %[1]s
	}
}
`, up.HostPort()))

	start := time.Now()
	c := slowSender(t, "/slow", 1000, 100, "")
	status, hdr := readStatus(t, c, 10*time.Second)
	if status != http.StatusRequestTimeout || hdr.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("stalled body: %d %s, want 408 problem+json", status, hdr.Get("Content-Type"))
	}
	if took := time.Since(start); took < 900*time.Millisecond || took > 5*time.Second {
		t.Fatalf("the 408 came after %v with body_timeout 1s", took)
	}

	// Two stalled 40 KB bodies hold 80 KB of the 100 KB budget: a third is refused at once.
	a := slowSender(t, "/patient", 40_000, 10, "")
	b := slowSender(t, "/patient", 40_000, 10, "")
	time.Sleep(300 * time.Millisecond) // let both reach the handler
	resp, body := post(t, nil, "/patient", nil, []byte(`{"a":"`+strings.Repeat("y", 39_990)+`"}`))
	expectProblem(t, resp, body, http.StatusServiceUnavailable, "busy")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("503 busy without Retry-After")
	}
	_ = a.Close()
	_ = b.Close()
	testkit.WaitFor(t, 5*time.Second, "the budget to be released", func() bool {
		resp, _ := post(t, nil, "/patient", nil, []byte(`{"a":"`+strings.Repeat("y", 39_990)+`"}`))
		return resp.StatusCode == http.StatusOK
	})
}

// TestAllowIPsBehindAppendingProxy: behind a balancer that appends the address it saw to
// X-Forwarded-For, a sender that writes "X-Forwarded-For: 10.1.2.3" arrives with
// "10.1.2.3, 8.8.8.8". With trusted_proxies_strict (as the README and the examples configure)
// allow_ips sees 8.8.8.8 and refuses it, and a real 10.1.2.3 passes; without it, Caddy takes the
// leftmost address and the spoof passes, which is why the README requires strict.
func TestAllowIPsBehindAppendingProxy(t *testing.T) {
	up := testkit.NewUpstream(t, nil)
	route := fmt.Sprintf(site+` {
	webhook_gateway {
		name behind_proxy
		allow_ips 10.0.0.0/8
		auth api_key X-Api-Key proxy-test-key
	}
	reverse_proxy %s
}
`, up.HostPort())
	key := map[string]string{"X-Api-Key": "proxy-test-key"}
	send := func(xff string) int {
		resp, _ := post(t, nil, "/", mergeHeaders(key, map[string]string{"X-Forwarded-For": xff}), []byte(`{"id":"`+xff+`"}`))
		return resp.StatusCode
	}

	servers := "\tservers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t\ttrusted_proxies_strict\n\t}\n"
	startCaddy(t, storeOption(t)+servers, route)
	if got := send("10.1.2.3, 8.8.8.8"); got != http.StatusForbidden {
		t.Fatalf("strict: spoofed leftmost address answered %d, want 403", got)
	}
	if got := send("8.8.8.8, 10.1.2.3"); got != http.StatusOK {
		t.Fatalf("strict: the address the balancer appended answered %d, want 200", got)
	}

	lenient := strings.Replace(servers, "\t\ttrusted_proxies_strict\n", "", 1)
	startCaddy(t, storeOption(t)+lenient, route)
	if got := send("10.1.2.3, 8.8.8.8"); got != http.StatusOK {
		t.Fatalf("without strict the spoof answered %d; the README's warning would be wrong", got)
	}
}
