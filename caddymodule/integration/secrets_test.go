package integration

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// TestNoSecretInLogs enables Caddy's access log (and every other log, to a file), sends a
// webhook with every auth method, in gate and forward mode, plus token requests (one with a
// client_secret in the query), and then greps every log line, the metrics and the admin API
// for each configured secret and each credential the senders presented.
func TestNoSecretInLogs(t *testing.T) {
	const (
		basicPass    = "basic-secret-pass-0001"
		opaqueToken  = "opaque-basic-token-0002"
		apiKey       = "api-key-secret-0003"
		bearerToken  = "bearer-token-secret-0004"
		oauthSecret  = "oauth-client-secret-0005"
		hmacSecret   = "hmac-body-secret-0006"
		queryAPIKey  = "api-key-in-query-0007"
		stdKeyString = "std-webhooks-key-0008!!"
	)
	stdKey := []byte(stdKeyString)
	stdSecret := "whsec_" + base64.StdEncoding.EncodeToString(stdKey)
	idp := newTestIdP(t)
	up := testkit.NewUpstream(t, nil)
	fwd := testkit.NewUpstream(t, nil)
	dir := t.TempDir()
	accessPath := filepath.Join(dir, "access.log")
	allPath := filepath.Join(dir, "all.log")
	global := storeOption(t) + fmt.Sprintf("\tlog {\n\t\toutput file %s\n\t\tformat json\n\t\tlevel DEBUG\n\t}\n", allPath)
	startCaddy(t, global, fmt.Sprintf(site+` {
	log {
		output file %[3]s
		format json
	}
	handle /basic {
		webhook_gateway {
			name s_basic
			auth basic user %[4]s
		}
		reverse_proxy %[1]s
	}
	handle /opaque {
		webhook_gateway {
			name s_opaque
			auth basic %[5]s
			forward %[2]s/opaque
		}
	}
	handle /apikey {
		webhook_gateway {
			name s_apikey
			auth api_key X-Api-Key %[6]s
		}
		reverse_proxy %[1]s
	}
	handle /apikey-fwd {
		webhook_gateway {
			name s_apikey_fwd
			auth api_key X-Api-Key %[6]s
			forward %[2]s/apikey
		}
	}
	handle /bearer {
		webhook_gateway {
			name s_bearer
			auth bearer %[7]s
		}
		reverse_proxy %[1]s
	}
	handle /oauth/* {
		webhook_gateway {
			name s_oauth
			auth oauth2 {
				client_id vendor
				client_secret %[8]s
				token_path /oauth/token
			}
			forward %[2]s/oauth
		}
	}
	handle /hmac {
		webhook_gateway {
			name s_hmac
			auth hmac {
				header X-Hub-Signature-256
				secret %[9]s
				prefix sha256=
			}
		}
		reverse_proxy %[1]s
	}
	handle /std {
		webhook_gateway {
			name s_std
			auth standard_webhooks %[10]s
			forward %[2]s/std
		}
	}
	handle /jwt {
		webhook_gateway {
			name s_jwt
			auth jwt {
				issuer %[11]s
				audience %[12]s
			}
		}
		reverse_proxy %[1]s
	}
}
`, up.HostPort(), fwd.URL, accessPath, basicPass, opaqueToken, apiKey, bearerToken, oauthSecret, hmacSecret, stdSecret, idp.URL, idpAudience))

	body := []byte(`{"id":"secret-test"}`)
	jwtToken := idp.sign(t, idp.claims(nil), nil)
	hubSig := githubHeaders(hmacSecret, body)
	stdHeaders := stdWebhooksHeaders(stdKey, "msg_secret_test", time.Now(), body)
	sends := []struct {
		path    string
		headers map[string]string
	}{
		{"/basic", map[string]string{"Authorization": basicHeader("user", basicPass)}},
		{"/opaque", map[string]string{"Authorization": "Basic " + opaqueToken}},
		{"/apikey", map[string]string{"X-Api-Key": apiKey}},
		{"/apikey-fwd", map[string]string{"X-Api-Key": apiKey}},
		{"/bearer", map[string]string{"Authorization": "Bearer " + bearerToken}},
		{"/hmac", hubSig},
		{"/std", stdHeaders},
		{"/jwt", map[string]string{"Authorization": "Bearer " + jwtToken}},
		{"/apikey?api_key=" + queryAPIKey, map[string]string{"X-Api-Key": "wrong-" + apiKey}},
	}
	for _, s := range sends {
		resp, b := post(t, nil, s.path, s.headers, body)
		if resp.StatusCode >= 500 {
			t.Fatalf("%s: %d %s", s.path, resp.StatusCode, b)
		}
	}
	// The token endpoint: client_secret_basic, client_secret_post, and a secret in the query.
	token := mustToken(t, "/oauth/token", map[string]string{"Authorization": basicHeader("vendor", oauthSecret)}, url.Values{"grant_type": {"client_credentials"}})
	_ = mustToken(t, "/oauth/token", nil, url.Values{"grant_type": {"client_credentials"}, "client_id": {"vendor"}, "client_secret": {oauthSecret}})
	req, _ := http.NewRequest(http.MethodPost, gatewayBase+"/oauth/token?client_secret="+url.QueryEscape(oauthSecret), strings.NewReader("grant_type=client_credentials&client_id=vendor"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if resp, b := post(t, nil, "/oauth/webhook", map[string]string{"Authorization": "Bearer " + token}, body); resp.StatusCode != http.StatusOK {
		t.Fatalf("oauth2 webhook: %d %s", resp.StatusCode, b)
	}
	testkit.WaitFor(t, 10*time.Second, "the forwarded events", func() bool { return fwd.Count() >= 4 })

	secrets := map[string]string{
		"basic password": basicPass, "opaque basic token": opaqueToken, "api key": apiKey,
		"bearer token": bearerToken, "oauth2 client secret": oauthSecret, "hmac secret": hmacSecret,
		"api key in a query": queryAPIKey, "standard webhooks key": stdSecret,
		"hmac signature": hubSig["X-Hub-Signature-256"], "standard webhooks signature": stdHeaders["Webhook-Signature"],
		"jwt": jwtToken, "issued oauth2 token": token,
		"basic header":        strings.TrimPrefix(basicHeader("user", basicPass), "Basic "),
		"oauth2 basic header": strings.TrimPrefix(basicHeader("vendor", oauthSecret), "Basic "),
	}
	// The line of a request is written after its response: give the last one a moment.
	want := len(sends) + 4
	testkit.WaitFor(t, 5*time.Second, fmt.Sprintf("%d access log lines", want), func() bool {
		b, _ := os.ReadFile(accessPath)
		return strings.Count(string(b), "\n") >= want
	})
	access, _ := os.ReadFile(accessPath)
	all, _ := os.ReadFile(allPath)
	var routes strings.Builder
	for _, name := range []string{"", "/s_basic", "/s_apikey_fwd", "/s_oauth", "/s_std"} {
		var v any
		adminJSON(t, http.MethodGet, "/webhook_gateway/routes"+name, &v)
		fmt.Fprintf(&routes, "%v\n", v)
	}
	var config any
	adminJSON(t, http.MethodGet, "/config/", &config)
	sources := map[string]string{
		"access log": string(access), "all logs": string(all), "metrics": metricsText(t),
		"admin routes": routes.String(),
	}
	if !strings.Contains(string(access), `"webhook_outcome"`) || !strings.Contains(string(access), `"REDACTED"`) {
		t.Fatalf("the access log has no webhook line with a redaction:\n%s", access)
	}
	if n := strings.Count(string(access), `"uri":"/apikey?api_key=REDACTED"`); n != 1 {
		t.Errorf("the query credential is not redacted in the uri (%d matches)", n)
	}
	for what, secret := range secrets {
		for where, text := range sources {
			if strings.Contains(text, secret) {
				line := text[max(strings.Index(text, secret)-200, 0):min(strings.Index(text, secret)+len(secret)+50, len(text))]
				t.Errorf("the %s is in the %s: …%s…", what, where, line)
			}
		}
	}
}
