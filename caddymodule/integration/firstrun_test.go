package integration

import (
	"net/http"
	"testing"
)

// TestGateModeNoNextHandler: a gate-mode route with nothing after it must not
// ack into the void. It answers 502 no_next_handler and records no key, so the
// same event is not a duplicate once the config is fixed.
func TestGateModeNoNextHandler(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs without -short")
	}
	startCaddy(t, storeOption(t), site+" {\n\twebhook_gateway {\n\t\tname lonely\n\t\tvendor idwise\n\t\tauth basic gw {env.WEBHOOK_TEST_SECRET}\n\t}\n}\n")
	auth := map[string]string{"Authorization": basicHeader("gw", "test-secret")}
	body := idwiseEvent("no-next-1")
	for i := range 2 {
		resp, b := post(t, nil, "/webhooks/idwise", auth, body)
		expectProblem(t, resp, b, http.StatusBadGateway, "no_next_handler")
		if resp.Header.Get("X-Webhook-Duplicate") != "" || resp.Header.Get("X-Webhook-Id") != "" {
			t.Fatalf("attempt %d: 502 carries ack headers: %v", i+1, resp.Header)
		}
	}
}
