package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// postTokenFrom is postToken from a given source address.
func postTokenFrom(ts TokenServer, source, id, secret string) (*httptest.ResponseRecorder, TokenResult) {
	r := httptest.NewRequest(http.MethodPost, ts.TokenPath(), strings.NewReader("grant_type=client_credentials"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(id, secret)
	w := httptest.NewRecorder()
	return w, ts.ServeToken(w, r, source)
}

// TestTokenThrottle is the brute-force case: 300 wrong secrets used to be answered at full
// speed, and the right one then worked. Now the pair is throttled after the burst, the right
// secret is not even checked while throttled, other sources and clients are unaffected, and
// the pair recovers as tokens are earned back.
func TestTokenThrottle(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	o := testOptions()
	o.Now = func() time.Time { return now }
	_, ts := buildOAuth2(t, oauth2Config(), o)

	const attacker = "198.51.100.7"
	throttled := 0
	for i := range 300 {
		w, res := postTokenFrom(ts, attacker, incodeID, "wrong-secret-0123456789")
		switch w.Code {
		case http.StatusUnauthorized:
			if i >= throttleBurst {
				t.Fatalf("attempt %d: 401 after the burst of %d", i, throttleBurst)
			}
		case http.StatusTooManyRequests:
			throttled++
			if w.Header().Get("Retry-After") == "" || res.Result != TokenThrottled {
				t.Fatalf("429 without Retry-After or result %q", res.Result)
			}
		default:
			t.Fatalf("attempt %d: status %d", i, w.Code)
		}
	}
	if throttled != 300-throttleBurst {
		t.Fatalf("throttled %d of 300, want %d", throttled, 300-throttleBurst)
	}
	if w, _ := postTokenFrom(ts, attacker, incodeID, incodeSecret); w.Code != http.StatusTooManyRequests {
		t.Fatalf("right secret while throttled: status %d, want 429", w.Code)
	}
	if w, res := postTokenFrom(ts, "203.0.113.9", incodeID, incodeSecret); w.Code != http.StatusOK || res.ClientID != incodeID {
		t.Fatalf("the vendor's own address: status %d, client %q", w.Code, res.ClientID)
	}
	if w, _ := postTokenFrom(ts, attacker, unicoID, unicoSecret); w.Code != http.StatusOK {
		t.Fatalf("another client from the same address: status %d", w.Code)
	}
	now = now.Add(throttleEvery)
	if w, _ := postTokenFrom(ts, attacker, incodeID, incodeSecret); w.Code != http.StatusOK {
		t.Fatalf("after %s: status %d, want 200", throttleEvery, w.Code)
	}
}

// TestTokenThrottleUnknownClients: invented client ids share one bucket per source, and the
// result never names them.
func TestTokenThrottleUnknownClients(t *testing.T) {
	_, ts := buildOAuth2(t, oauth2Config(), testOptions())
	for i := range throttleBurst {
		_, res := postTokenFrom(ts, "198.51.100.8", "invented-"+strings.Repeat("x", i), "wrong-secret-0123456789")
		if res.ClientID != "" || res.Result != TokenRejected {
			t.Fatalf("unknown client: result %+v", res)
		}
	}
	if w, _ := postTokenFrom(ts, "198.51.100.8", "yet-another", "wrong-secret-0123456789"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", w.Code)
	}
}

func TestThrottleTableBounded(t *testing.T) {
	th := newFailureThrottle()
	now := time.Now()
	for i := range throttleEntries + 50 {
		th.fail(throttleKey{client: "c", source: strings.Repeat("a", i%7) + string(rune('0'+i%10)) + time.Duration(i).String()}, now)
	}
	if len(th.entries) > throttleEntries {
		t.Fatalf("%d entries, bound %d", len(th.entries), throttleEntries)
	}
}
