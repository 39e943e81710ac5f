package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestTargetsReplaceVendorAndFamily(t *testing.T) {
	refs, err := parseMix(" idwise, incode:watchlist ,incode,unico_magiclink,")
	if err != nil {
		t.Fatal(err)
	}
	cf := commonFlags{url: "http://127.0.0.1:8080/webhooks/{vendor}/{family}"}
	tgs, err := cf.targets(refs)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"http://127.0.0.1:8080/webhooks/idwise/",
		"http://127.0.0.1:8080/webhooks/incode/watchlist",
		"http://127.0.0.1:8080/webhooks/incode/onboarding_status",
		"http://127.0.0.1:8080/webhooks/unico_magiclink/",
	}
	if len(tgs) != len(want) {
		t.Fatalf("%d targets", len(tgs))
	}
	for i, tg := range tgs {
		if tg.URL != want[i] {
			t.Errorf("target %d: %s, want %s", i, tg.URL, want[i])
		}
	}
	if _, err := parseMix(" , "); err == nil {
		t.Error("empty -mix accepted")
	}
	if _, err := (&commonFlags{}).targets(refs); err == nil {
		t.Error("missing -url accepted")
	}
	if _, err := cf.targets([]presetRef{{"acme", ""}}); err == nil {
		t.Error("unknown vendor accepted")
	}
}

// TestSendAndLoadCommands runs both commands against a stand-in that checks Basic
// credentials and acks repeated bodies as duplicates.
func TestSendAndLoadCommands(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if u, p, ok := r.BasicAuth(); !ok || u != "u" || p != "p" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		dup := seen[string(body)]
		seen[string(body)] = true
		mu.Unlock()
		if dup {
			w.Header().Set("X-Webhook-Duplicate", "true")
		}
		w.Header().Set("X-Webhook-Id", "01TEST")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"success":true}`))
	}))
	defer srv.Close()
	var out strings.Builder
	if err := runSend([]string{"-vendor", "attestr", "-url", srv.URL, "-basic", "u:p", "-resend"}, &out); err != nil {
		t.Fatalf("send: %v\n%s", err, out.String())
	}
	for _, want := range []string{"vendor attestr", "< 200 OK", "< X-Webhook-Id: 01TEST", "< X-Webhook-Duplicate: true", `{"success":true}`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("send output lacks %q:\n%s", want, out.String())
		}
	}
	if err := runSend([]string{"-vendor", "attestr", "-url", srv.URL, "-basic", "u:x"}, io.Discard); err == nil {
		t.Error("send reported success for a 401")
	}
	out.Reset()
	if err := runLoad([]string{"-vendor", "idwise", "-url", srv.URL, "-basic", "u:p", "-c", "2", "-n", "100", "-dup", "0.2"}, &out); err != nil {
		t.Fatalf("load: %v", err)
	}
	if !strings.Contains(out.String(), "requests 100 ") || !strings.Contains(out.String(), "errors 0") {
		t.Errorf("load output:\n%s", out.String())
	}
}

// TestSendRefusesBareAck: a 2xx without X-Webhook-Id is not the gateway's ack
// (Caddy's empty 200 for a path with no route), so send must fail.
func TestSendRefusesBareAck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	err := runSend([]string{"-vendor", "attestr", "-url", srv.URL, "-basic", "u:p", "-q"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "without X-Webhook-Id") {
		t.Fatalf("send of a bare 200: err %v, want the missing X-Webhook-Id named", err)
	}
}
