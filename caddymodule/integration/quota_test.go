package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// TestRouteQuota: with the application down, an auth-none route fills its own max_queue and
// then answers 503 queue_full + Retry-After, while a second route on the same store keeps
// accepting. Once the application is back, every event either route acked is delivered exactly
// once; the full route then takes events again. The admin stats and the gauges show the use.
func TestRouteQuota(t *testing.T) {
	app := newSwitchableApp(t)
	startCaddy(t, storeOption(t), fmt.Sprintf(site+` {
	handle /noisy {
		webhook_gateway {
			name noisy
			vendor idwise
			auth none
			forward http://%[1]s/noisy {
				max_queue 64KB
				backoff 1s 2s
			}
		}
	}
	handle /quiet {
		webhook_gateway {
			name quiet
			vendor idwise
			auth basic idwise quota-test-password
			forward http://%[1]s/quiet {
				backoff 1s 2s
			}
		}
	}
}
`, app.HostPort()))

	var noisyKeys []string
	full := false
	for i := range 2000 {
		id := fmt.Sprintf("noisy-%04d-%s", i, strings.Repeat("x", 400)) // keys stay under the 512-byte bound
		resp, body := post(t, nil, "/noisy", nil, idwiseEvent(id))
		if resp.StatusCode == http.StatusOK {
			noisyKeys = append(noisyKeys, "idwise:"+id)
			continue
		}
		expectProblem(t, resp, body, http.StatusServiceUnavailable, "queue_full")
		if resp.Header.Get("Retry-After") == "" {
			t.Fatal("queue_full without Retry-After")
		}
		full = true
		break
	}
	if !full {
		t.Fatal("2000 events never filled a 64 KB queue")
	}
	t.Logf("the noisy route took %d events before its quota", len(noisyKeys))
	if len(noisyKeys) < 10 || len(noisyKeys) > 300 {
		t.Fatalf("the 64 KB quota admitted %d events of about 1 KB", len(noisyKeys))
	}
	// A re-send of an acked event is still recognised as its duplicate.
	resp, _ := post(t, nil, "/noisy", nil, idwiseEvent(strings.TrimPrefix(noisyKeys[0], "idwise:")))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Webhook-Duplicate") != "true" {
		t.Fatalf("re-send on a full route: %d, duplicate %q", resp.StatusCode, resp.Header.Get("X-Webhook-Duplicate"))
	}

	var quietKeys []string
	for i := range 20 {
		id := fmt.Sprintf("quiet-%02d", i)
		resp, body := post(t, nil, "/quiet", map[string]string{"Authorization": basicHeader("idwise", "quota-test-password")}, idwiseEvent(id))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the other route answered %d %s while the noisy one is full", resp.StatusCode, body)
		}
		quietKeys = append(quietKeys, "idwise:"+id)
	}

	var st struct {
		Bytes    uint64 `json:"bytes"`
		MaxQueue uint64 `json:"max_queue"`
	}
	adminJSON(t, http.MethodGet, "/webhook_gateway/routes/noisy", &st)
	if st.MaxQueue != 64000 || st.Bytes == 0 {
		t.Fatalf("admin stats %+v, want max_queue 64000 and some bytes", st)
	}
	testkit.WaitFor(t, 10*time.Second, "the queue gauges", func() bool {
		m := metricsText(t)
		return strings.Contains(m, `caddy_webhook_gateway_queue_max_bytes{route="noisy"} 64000`) &&
			strings.Contains(m, `caddy_webhook_gateway_queue_bytes{route="noisy"}`)
	})

	app.Up()
	expectExactlyOnce(t, app, append(noisyKeys, quietKeys...), 60*time.Second)
	// Delivered events leave only small dedup records: the route takes events again.
	testkit.WaitFor(t, 10*time.Second, "the noisy route to accept again", func() bool {
		resp, _ := post(t, nil, "/noisy", nil, idwiseEvent(fmt.Sprintf("after-%d", time.Now().UnixNano())))
		return resp.StatusCode == http.StatusOK
	})
}
