package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// testNow is the fixed clock of the tests.
var testNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func fixedClock() time.Time { return testNow }

func testOptions() Options {
	return Options{Audience: "route-a", Now: fixedClock}
}

// hdr builds a header from key/value pairs.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func basicValue(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func mustBuild(t testing.TB, c Config, o Options) Verifier {
	t.Helper()
	v, err := Build(c, o)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return v
}

// verifyCase is one row of a verification table: want is nil for a pass, else the failure.
type verifyCase struct {
	name   string
	header http.Header
	body   string
	now    time.Time
	want   error
}

func runVerifyCases(t *testing.T, v Verifier, cases []verifyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &Request{Header: tc.header, Now: tc.now}
			if tc.body != "" {
				r.Body = []byte(tc.body)
			}
			if r.Now.IsZero() {
				r.Now = testNow
			}
			err := v.Verify(context.Background(), r)
			checkVerifyErr(t, err, tc.want)
		})
	}
}

func checkVerifyErr(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("Verify = %v, want pass", err)
	case want != nil && err == nil:
		t.Fatalf("Verify passed, want %v", want)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("Verify = %v, want %v", err, want)
	case err != nil && !errors.Is(err, ErrUnauthorized):
		t.Fatalf("Verify error %v does not wrap ErrUnauthorized", err)
	}
}

// assertNoSecret fails when text contains any of the secrets.
func assertNoSecret(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Fatalf("%q leaks a secret", text)
		}
	}
}

// newTestClock is a clock the tests move by hand, standing at testNow.
func newTestClock() *testkit.Clock { return testkit.NewClock(testNow) }
