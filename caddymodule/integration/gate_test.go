package integration

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// basicHeader is the Authorization value for user:pass.
func basicHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// presetCases lists every vendor/family that has fixtures.
func presetCases(t *testing.T) [][2]string {
	t.Helper()
	dirs, err := filepath.Glob("../../schemas/testdata/*/*/valid")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	var out [][2]string
	for _, d := range dirs {
		family := filepath.Base(filepath.Dir(d))
		vendor := filepath.Base(filepath.Dir(filepath.Dir(d)))
		out = append(out, [2]string{vendor, family})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0]+out[i][1] < out[j][0]+out[j][1] })
	return out
}

func firstFile(t *testing.T, dir string) []byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Fatalf("no fixture in %s", dir)
	}
	sort.Strings(files)
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGateModeVendorPresets sends each vendor family's valid and invalid
// fixtures through a real Caddy in gate mode in front of a real upstream.
func TestGateModeVendorPresets(t *testing.T) {
	up := testkit.NewUpstream(t, nil)
	cases := presetCases(t)
	var sites strings.Builder
	sites.WriteString(site + " {\n")
	for _, c := range cases {
		family := c[1]
		if family == "default" {
			family = ""
		}
		fmt.Fprintf(&sites, "\thandle /v/%s/%s {\n\t\twebhook_gateway {\n\t\t\tname %s_%s\n\t\t\tvendor %s %s\n\t\t\tauth basic gw {env.WEBHOOK_TEST_SECRET}\n\t\t}\n\t\treverse_proxy %s\n\t}\n",
			c[0], c[1], c[0], c[1], c[0], family, up.HostPort())
	}
	sites.WriteString("}\n")
	startCaddy(t, storeOption(t), sites.String())

	auth := map[string]string{"Authorization": basicHeader("gw", "test-secret")}
	for _, c := range cases {
		t.Run(c[0]+"/"+c[1], func(t *testing.T) {
			path := "/v/" + c[0] + "/" + c[1]
			dir := filepath.Join("../../schemas/testdata", c[0], c[1])
			valid := firstFile(t, filepath.Join(dir, "valid"))
			before := up.Count()
			resp, body := post(t, nil, path, auth, valid)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("valid fixture: status %d, body %s", resp.StatusCode, body)
			}
			if up.Count() != before+1 {
				t.Fatalf("upstream got %d requests, want %d", up.Count(), before+1)
			}
			got := up.Requests()[up.Count()-1]
			if string(got.Body) != string(valid) {
				t.Fatal("upstream body differs from the sent body")
			}
			if got.Header.Get("Authorization") != "" {
				t.Fatal("the vendor's credentials reached the upstream")
			}
			if got.Header.Get("X-Webhook-Idempotency-Key") == "" || got.Header.Get("X-Webhook-Id") == "" {
				t.Fatalf("missing X-Webhook headers: %v", got.Header)
			}

			// The same event again is a duplicate: same 2xx, flagged, not forwarded.
			resp, _ = post(t, nil, path, auth, valid)
			if resp.StatusCode/100 != 2 || resp.Header.Get("X-Webhook-Duplicate") != "true" {
				t.Fatalf("duplicate: status %d, X-Webhook-Duplicate %q", resp.StatusCode, resp.Header.Get("X-Webhook-Duplicate"))
			}
			if up.Count() != before+1 {
				t.Fatal("a duplicate reached the upstream")
			}

			invalid := firstFile(t, filepath.Join(dir, "invalid"))
			resp, body = post(t, nil, path, auth, invalid)
			p := expectProblem(t, resp, body, http.StatusBadRequest, "schema_violation")
			if len(p.Errors) == 0 {
				t.Fatalf("schema failure without paths: %s", body)
			}
			if up.Count() != before+1 {
				t.Fatal("an invalid event reached the upstream")
			}
		})
	}
}

// TestGateModeChecks covers each step of the pipeline's rejections and each
// simple auth method with right, wrong and missing credentials.
func TestGateModeChecks(t *testing.T) {
	up := testkit.NewUpstream(t, nil)
	startCaddy(t, storeOption(t), fmt.Sprintf(site+` {
	handle /basic {
		webhook_gateway {
			name basic
			auth basic user {env.WEBHOOK_TEST_SECRET}
			max_body 2KB
		}
		reverse_proxy %[1]s
	}
	handle /apikey {
		webhook_gateway {
			name apikey
			auth api_key X-Api-Key {env.WEBHOOK_TEST_SECRET}
		}
		reverse_proxy %[1]s
	}
	handle /bearer {
		webhook_gateway {
			name bearer
			auth bearer {env.WEBHOOK_TEST_SECRET}
		}
		reverse_proxy %[1]s
	}
	handle /opaque {
		webhook_gateway {
			name opaque
			vendor attestr
			auth basic {env.WEBHOOK_TEST_SECRET}
		}
		reverse_proxy %[1]s
	}
	handle /anyof {
		webhook_gateway {
			name anyof
			auth basic user {env.WEBHOOK_TEST_SECRET}
			auth api_key X-Api-Key other-key
		}
		reverse_proxy %[1]s
	}
	handle /none {
		webhook_gateway {
			name none
			auth none
			allow_ips 127.0.0.1
		}
		reverse_proxy %[1]s
	}
}
`, up.HostPort()))

	n := 0
	body := func() []byte { n++; return []byte(fmt.Sprintf(`{"id":"evt-%d"}`, n)) }
	tests := []struct {
		name    string
		path    string
		headers map[string]string
		status  int
		code    string
	}{
		{"basic right", "/basic", map[string]string{"Authorization": basicHeader("user", "test-secret")}, 200, ""},
		{"basic wrong", "/basic", map[string]string{"Authorization": basicHeader("user", "nope")}, 401, "unauthorized"},
		{"basic missing", "/basic", nil, 401, "unauthorized"},
		{"api_key right", "/apikey", map[string]string{"X-Api-Key": "test-secret"}, 200, ""},
		{"api_key wrong", "/apikey", map[string]string{"X-Api-Key": "test-secreT"}, 401, "unauthorized"},
		{"api_key missing", "/apikey", nil, 401, "unauthorized"},
		{"bearer right", "/bearer", map[string]string{"Authorization": "Bearer test-secret"}, 200, ""},
		{"bearer wrong", "/bearer", map[string]string{"Authorization": "Bearer test"}, 401, "unauthorized"},
		{"bearer missing", "/bearer", nil, 401, "unauthorized"},
		{"any-of first line", "/anyof", map[string]string{"Authorization": basicHeader("user", "test-secret")}, 200, ""},
		{"any-of second line", "/anyof", map[string]string{"X-Api-Key": "other-key"}, 200, ""},
		{"any-of neither", "/anyof", map[string]string{"X-Api-Key": "wrong"}, 401, "unauthorized"},
		{"none", "/none", nil, 200, ""},
		{"wrong content type", "/none", map[string]string{"Content-Type": "text/plain"}, 415, "unsupported_media_type"},
		{"missing content type", "/none", map[string]string{"Content-Type": ""}, 415, "unsupported_media_type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := up.Count()
			resp, b := post(t, nil, tc.path, tc.headers, body())
			if tc.code != "" && up.Count() != before {
				t.Fatal("a rejected request reached the upstream")
			}
			if tc.code == "" {
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d; %s", resp.StatusCode, tc.status, b)
				}
				return
			}
			expectProblem(t, resp, b, tc.status, tc.code)
			if tc.status == 401 && tc.path != "/apikey" && resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}

	t.Run("attestr opaque basic token", func(t *testing.T) {
		ev := fixture(t, "attestr/default/valid/"+firstName(t, "attestr/default/valid"))
		resp, b := post(t, nil, "/opaque", map[string]string{"Authorization": "Basic test-secret"}, ev)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
	})

	t.Run("body too large", func(t *testing.T) {
		big := []byte(`{"pad":"` + strings.Repeat("x", 4096) + `"}`)
		resp, b := post(t, nil, "/basic", map[string]string{"Authorization": basicHeader("user", "test-secret")}, big)
		expectProblem(t, resp, b, http.StatusRequestEntityTooLarge, "body_too_large")
	})

	t.Run("invalid JSON", func(t *testing.T) {
		resp, b := post(t, nil, "/basic", map[string]string{"Authorization": basicHeader("user", "test-secret")}, []byte(`{"a":`))
		expectProblem(t, resp, b, http.StatusBadRequest, "invalid_json")
	})

	t.Run("invalid UTF-8", func(t *testing.T) {
		resp, b := post(t, nil, "/basic", map[string]string{"Authorization": basicHeader("user", "test-secret")}, []byte("{\"a\":\"\xff\"}"))
		expectProblem(t, resp, b, http.StatusBadRequest, "invalid_json")
	})

	t.Run("too deep", func(t *testing.T) {
		deep := []byte(strings.Repeat("[", 100) + strings.Repeat("]", 100))
		resp, b := post(t, nil, "/basic", map[string]string{"Authorization": basicHeader("user", "test-secret")}, deep)
		expectProblem(t, resp, b, http.StatusBadRequest, "invalid_json")
	})

	t.Run("method not allowed", func(t *testing.T) {
		resp, err := http.Get(gatewayBase + "/none")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Fatalf("status %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})

	t.Run("source IP not allowed", func(t *testing.T) {
		resp, b := post(t, loopbackClient("127.0.0.2"), "/none", nil, body())
		expectProblem(t, resp, b, http.StatusForbidden, "ip_not_allowed")
	})

}

func firstName(t *testing.T, rel string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("../../schemas/testdata", rel, "*.json"))
	if len(files) == 0 {
		t.Fatalf("no fixture in %s", rel)
	}
	sort.Strings(files)
	return filepath.Base(files[0])
}

// TestGateModeDedup: 50 concurrent identical requests reach the upstream
// once; a duplicate after a 5xx from the upstream passes through again.
func TestGateModeDedup(t *testing.T) {
	up := testkit.NewUpstream(t, nil)
	startGateRoute(t, up, "vendor idwise", "auth none")

	ev := []byte(`{"event":"Finished Journey","body":{"eventId":"evt-concurrent","journeyId":"j1","referenceNo":"r1","systemDecision":"Complete"}}`)
	client := loopbackClient("127.0.0.1")
	var wg sync.WaitGroup
	statuses := make([]int, 50)
	dups := make([]bool, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := post(t, client, "/", nil, ev)
			statuses[i] = resp.StatusCode
			dups[i] = resp.Header.Get("X-Webhook-Duplicate") == "true"
		}()
	}
	wg.Wait()
	if got := up.Count(); got != 1 {
		t.Fatalf("upstream got %d requests, want exactly 1", got)
	}
	ndup := 0
	for i := range statuses {
		if statuses[i] != 200 {
			t.Fatalf("request %d: status %d", i, statuses[i])
		}
		if dups[i] {
			ndup++
		}
	}
	if ndup != 49 {
		t.Fatalf("%d duplicates flagged, want 49", ndup)
	}

	// The upstream fails: the key is not recorded, so the vendor's retry passes.
	up.SetRespond(testkit.StatusBy(func(n int, _ *http.Request) int {
		if n == 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}))
	ev2 := []byte(`{"event":"Finished Journey","body":{"eventId":"evt-after-5xx","journeyId":"j2","referenceNo":"r2","systemDecision":"Complete"}}`)
	resp, _ := post(t, client, "/", nil, ev2)
	if resp.StatusCode != 500 {
		t.Fatalf("first try: status %d, want the upstream's 500", resp.StatusCode)
	}
	resp, _ = post(t, client, "/", nil, ev2)
	if resp.StatusCode != 200 || resp.Header.Get("X-Webhook-Duplicate") != "" {
		t.Fatalf("retry after 5xx: status %d duplicate %q, want a pass", resp.StatusCode, resp.Header.Get("X-Webhook-Duplicate"))
	}
	resp, _ = post(t, client, "/", nil, ev2)
	if resp.Header.Get("X-Webhook-Duplicate") != "true" {
		t.Fatal("after a 2xx the key must be recorded")
	}
	if got := up.Count(); got != 3 {
		t.Fatalf("upstream got %d requests, want 3", got)
	}
}

// TestKeyTemplateFallback: a custom key from a header the sender left out
// falls back to the body hash, so different events are not taken for
// duplicates of each other, while an exact re-send still is.
func TestKeyTemplateFallback(t *testing.T) {
	up := testkit.NewUpstream(t, nil)
	startGateRoute(t, up, "name custom", "auth none", "idempotency_key github:{http.request.header.X-GitHub-Delivery}")
	send := func(body string, delivery string) (int, bool) {
		resp, _ := post(t, nil, "/", map[string]string{"X-GitHub-Delivery": delivery}, []byte(body))
		return resp.StatusCode, resp.Header.Get("X-Webhook-Duplicate") == "true"
	}
	tests := []struct {
		name     string
		body     string
		delivery string
		dup      bool
		key      string
	}{
		{"with header", `{"n":1}`, "d-1", false, "github:d-1"},
		{"same header again", `{"n":2}`, "d-1", true, ""},
		{"no header", `{"n":3}`, "", false, "sha256:"},
		{"no header, other body", `{"n":4}`, "", false, "sha256:"},
		{"no header, same body", `{"n":4}`, "", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := up.Count()
			status, dup := send(tc.body, tc.delivery)
			if status != 200 || dup != tc.dup {
				t.Fatalf("status %d duplicate %v, want 200 duplicate %v", status, dup, tc.dup)
			}
			if tc.dup {
				return
			}
			if up.Count() != before+1 {
				t.Fatal("the event did not reach the upstream")
			}
			if got := up.Requests()[before].Header.Get("X-Webhook-Idempotency-Key"); !strings.HasPrefix(got, tc.key) {
				t.Fatalf("key %q, want prefix %q", got, tc.key)
			}
		})
	}
}

// TestGateModeKeyWithControlCharacters: a key taken from the payload that
// holds a newline reaches the upstream escaped, not as a broken header.
func TestGateModeKeyWithControlCharacters(t *testing.T) {
	up := testkit.NewUpstream(t, nil)
	startGateRoute(t, up, "vendor idwise", "auth none")
	ev := []byte(`{"event":"Finished\nJourney","body":{"eventId":"evt\r\nX-Injected: 1","journeyId":"j","referenceNo":"r","systemDecision":"Complete"}}`)
	resp, body := post(t, nil, "/", nil, ev)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	got := up.Requests()[0].Header
	if k := got.Get("X-Webhook-Idempotency-Key"); k != "idwise:evt%0D%0AX-Injected%3A 1" {
		t.Fatalf("key header %q", k)
	}
	if got.Get("X-Injected") != "" {
		t.Fatal("a header was injected through the key")
	}
	if e := got.Get("X-Webhook-Event"); e != "Finished%0AJourney" {
		t.Fatalf("event header %q", e)
	}
}

// TestSchemaDetailsOnlyAfterAuth: the failing JSON paths are returned to
// authenticated senders only; with auth none the sender gets the bare problem.
func TestSchemaDetailsOnlyAfterAuth(t *testing.T) {
	up := testkit.NewUpstream(t, nil)
	startGateRoute(t, up, "vendor idwise", "auth none")
	resp, body := post(t, nil, "/", nil, []byte(`{"event":"Finished Journey","body":{}}`))
	p := expectProblem(t, resp, body, http.StatusBadRequest, "schema_violation")
	if len(p.Errors) != 0 || strings.Contains(string(body), "journeyId") {
		t.Fatalf("an unauthenticated sender got the schema details: %s", body)
	}
	resp, body = post(t, nil, "/", nil, []byte(`{"event":`))
	p = expectProblem(t, resp, body, http.StatusBadRequest, "invalid_json")
	if strings.Contains(p.Detail, "byte") {
		t.Fatalf("an unauthenticated sender got the JSON error offset: %s", body)
	}
}
