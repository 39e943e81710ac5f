package caddymodule

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// A state-changing console request (replay, delete, bulk replay) must pass two checks:
//
//   - same origin: the browser's Sec-Fetch-Site says same-origin and, when it sends an Origin, the
//     Origin is the request's own host; a request with neither header is refused (fail closed:
//     the console is for browsers, scripts have the admin API);
//   - a CSRF token in the JSON body's "csrf_token": handed out by GET api/csrf (a cross-origin page
//     cannot read it), made of its issue time and an HMAC of it under a random key of this
//     process, valid for csrfTokenTTL, compared in constant time. It travels in the body, not in
//     a header, because Caddy's access log records request headers (and only a few credential
//     headers redacted), never bodies. A restart invalidates the tokens: the page fetches a new
//     one when it is refused.

// csrfField is the body member that carries the token.
const csrfField = "csrf_token"

// csrfTokenTTL is how long a token is accepted after it was issued.
const csrfTokenTTL = 12 * time.Hour

var (
	csrfKeyOnce sync.Once
	csrfKey     []byte
)

func consoleCSRFKey() []byte {
	csrfKeyOnce.Do(func() {
		// Two texts of crypto/rand: 260 random bits (rand.Text cannot fail).
		csrfKey = []byte(rand.Text() + rand.Text())
	})
	return csrfKey
}

func csrfMAC(issued []byte) []byte {
	m := hmac.New(sha256.New, consoleCSRFKey())
	m.Write([]byte("webhook_gateway_console csrf\x00"))
	m.Write(issued)
	return m.Sum(nil)[:16]
}

// newCSRFToken returns a token issued at now.
func newCSRFToken(now time.Time) string {
	b := make([]byte, 8, 24)
	binary.BigEndian.PutUint64(b, uint64(now.Unix()))
	return base64.RawURLEncoding.EncodeToString(append(b, csrfMAC(b)...))
}

// validCSRFToken reports whether tok is a token of this process, issued at most csrfTokenTTL ago.
func validCSRFToken(tok string, now time.Time) bool {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != 24 {
		return false
	}
	if !hmac.Equal(b[8:], csrfMAC(b[:8])) {
		return false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	return !issued.After(now.Add(time.Minute)) && now.Sub(issued) <= csrfTokenTTL
}

// sameOrigin reports whether the browser says the request comes from a page of this host.
func sameOrigin(r *http.Request) bool {
	site := r.Header.Get("Sec-Fetch-Site")
	origin := r.Header.Get("Origin")
	if site == "" && origin == "" {
		return false
	}
	if site != "" && site != "same-origin" {
		return false
	}
	if origin != "" {
		u, err := url.Parse(origin)
		if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
			return false
		}
		if r.TLS != nil && u.Scheme != "https" {
			return false
		}
	}
	return true
}

var (
	problemCrossOrigin = newProblem(http.StatusForbidden, "cross_origin", "a state-changing console request must come from the console's own page (same origin)")
	problemCSRF        = newProblem(http.StatusForbidden, "csrf_token", "missing or invalid csrf_token: reload the console")
	problemConsoleBody = newProblem(http.StatusBadRequest, "invalid_request", "a state-changing console request takes a JSON object of at most 4 KiB with its csrf_token")
)

// checkStateChange answers a refused state-changing request and reports whether it may go on.
// On success the body is handed on without its csrf_token member.
func checkStateChange(w http.ResponseWriter, r *http.Request) bool {
	if !sameOrigin(r) {
		writeProblem(w, problemCrossOrigin)
		return false
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxConsoleBody+1))
	var body map[string]json.RawMessage
	if err != nil || len(raw) > maxConsoleBody || json.Unmarshal(raw, &body) != nil || body == nil {
		writeProblem(w, problemConsoleBody)
		return false
	}
	var tok string
	if json.Unmarshal(body[csrfField], &tok) != nil || !validCSRFToken(tok, time.Now()) {
		writeProblem(w, problemCSRF)
		return false
	}
	delete(body, csrfField)
	rest, _ := json.Marshal(body)
	r.Body = io.NopCloser(bytes.NewReader(rest))
	r.ContentLength = int64(len(rest))
	return true
}
