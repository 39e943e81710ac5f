package testkit

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func post(t *testing.T, url, body string) (int, error) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func TestUpstreamRecordsAndAnswers(t *testing.T) {
	u := NewUpstream(t, StatusBy(func(n int, _ *http.Request) int {
		if n == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	}))
	if !strings.HasPrefix(u.URL, "http://127.0.0.1:") || u.HostPort() != strings.TrimPrefix(u.URL, "http://") {
		t.Fatalf("URL %q, HostPort %q: want loopback", u.URL, u.HostPort())
	}
	for i, want := range []int{http.StatusServiceUnavailable, http.StatusNoContent} {
		got, err := post(t, u.URL+"/in", `{"n":`+string(rune('1'+i))+`}`)
		if err != nil || got != want {
			t.Fatalf("request %d: status %d, %v; want %d", i+1, got, err, want)
		}
	}
	reqs := u.Requests()
	if u.Count() != 2 || len(reqs) != 2 {
		t.Fatalf("count %d, requests %d; want 2", u.Count(), len(reqs))
	}
	if r := reqs[0]; r.Method != http.MethodPost || r.Path != "/in" || string(r.Body) != `{"n":1}` ||
		r.Header.Get("Content-Type") != "application/json" || r.Status != http.StatusServiceUnavailable || r.At.IsZero() {
		t.Fatalf("first request recorded as %+v", r)
	}
	if reqs[1].Status != http.StatusNoContent {
		t.Fatalf("second request's status %d, want 204", reqs[1].Status)
	}
}

func TestUpstreamDownAndUp(t *testing.T) {
	u := NewUpstream(t, nil)
	if got, err := post(t, u.URL, "{}"); err != nil || got != http.StatusOK {
		t.Fatalf("up: %d, %v", got, err)
	}
	u.Down()
	if _, err := post(t, u.URL, "{}"); err == nil {
		t.Fatal("a request reached the upstream while it was down")
	}
	u.Up()
	if got, err := post(t, u.URL, "{}"); err != nil || got != http.StatusOK {
		t.Fatalf("up again: %d, %v", got, err)
	}
	if u.Count() != 2 {
		t.Fatalf("count %d, want 2 (the requests before Down are kept)", u.Count())
	}
}

func TestUpstreamDelay(t *testing.T) {
	u := NewUpstream(t, nil)
	u.SetDelay(200 * time.Millisecond)
	start := time.Now()
	if _, err := post(t, u.URL, "{}"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Fatalf("answered after %v, want at least the 200ms delay", took)
	}
}

func TestUpstreamDelivered(t *testing.T) {
	u := NewUpstream(t, StatusBy(func(_ int, r *http.Request) int {
		if r.Header.Get("X-Fail") != "" {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}))
	c := &http.Client{Timeout: 5 * time.Second}
	for _, h := range [][2]string{{"a", ""}, {"a", ""}, {"b", "yes"}, {"c", ""}} {
		req, _ := http.NewRequest(http.MethodPost, u.URL, strings.NewReader("{}"))
		req.Header.Set("X-Key", h[0])
		if h[1] != "" {
			req.Header.Set("X-Fail", h[1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	got := u.Delivered("X-Key")
	if len(got) != 2 || len(got["a"]) != 2 || len(got["c"]) != 1 || got["b"] != nil {
		t.Fatalf("delivered %v: want a twice and c once (b was answered 500)", got)
	}
}
