package loadgen

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestReadResponse(t *testing.T) {
	for _, tc := range []struct {
		name, in  string
		status    int
		dup, keep bool
		err       error
		rest      string // what is left for the next response
	}{
		{"content length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, false, true, nil, ""},
		{"duplicate", "HTTP/1.1 200 OK\r\nx-webhook-duplicate: true\r\nContent-Length: 0\r\n\r\nNEXT", 200, true, true, nil, "NEXT"},
		{"chunked with trailer", "HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\nA\r\n0123456789\r\n0\r\nT: v\r\n\r\nNEXT", 202, false, true, nil, "NEXT"},
		{"connection close", "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}", 503, false, false, nil, ""},
		{"until close", "HTTP/1.1 200 OK\r\n\r\nbody to the end", 200, false, false, nil, "body to the end"},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 200, false, false, nil, ""},
		{"http/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 200, false, true, nil, ""},
		{"interim 100", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nNEXT", 204, false, true, nil, "NEXT"},
		{"bare LF", "HTTP/1.1 401 Unauthorized\nContent-Length: 1\n\nx", 401, false, true, nil, ""},
		{"no reason", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 200, false, true, nil, ""},
		{"garbage", "SSH-2.0-OpenSSH\r\n\r\n", 0, false, false, errProtocol, ""},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n", 0, false, false, errProtocol, ""},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, false, false, errProtocol, ""},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 200, false, true, errProtocol, ""},
		{"gzip coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0, false, false, errProtocol, ""},
		{"truncated head", "HTTP/1.1 200 OK\r\nContent-Le", 0, false, false, io.EOF, ""},
		{"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 200, false, true, io.EOF, ""},
		{"header line too long", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", maxHeaderLine) + "\r\n\r\n", 0, false, false, errProtocol, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tc.in), maxHeaderLine)
			status, dup, keep, err := readResponse(br)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if status != tc.status || dup != tc.dup || keep != tc.keep {
				t.Fatalf("status %d dup %v keep %v, want %d %v %v", status, dup, keep, tc.status, tc.dup, tc.keep)
			}
			if rest, _ := io.ReadAll(br); string(rest) != tc.rest {
				t.Fatalf("left %q, want %q", rest, tc.rest)
			}
		})
	}
}

func FuzzReadResponse(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
	f.Add("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	f.Add("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		br := bufio.NewReaderSize(strings.NewReader(in), maxHeaderLine)
		status, _, _, err := readResponse(br)
		if err == nil && (status < 100 || status > 999) {
			t.Fatalf("status %d without an error", status)
		}
	})
}

// TestRawRequestShape: what the raw engine writes is a well-formed request that Go's
// server reads with the same method, target, fields and body as net/http's client
// would send.
func TestRawRequestShape(t *testing.T) {
	var got atomic.Pointer[http.Request]
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body.Store(string(b))
		got.Store(r)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	tg := target(t, srv.URL+"/webhooks/idwise?x=1")
	res, err := Run(context.Background(), Config{
		Targets: []Target{tg}, Signer: signer(t, "u:p"), Raw: true,
		Concurrency: 1, Duration: 5 * time.Second, MaxRequests: 1,
	})
	if err != nil || res.OK != 1 {
		t.Fatalf("%v %v", res, err)
	}
	r := got.Load()
	if r.Method != http.MethodPost || r.URL.RequestURI() != "/webhooks/idwise?x=1" || r.Host != strings.TrimPrefix(srv.URL, "http://") ||
		r.Header.Get("Authorization") != "Basic dTpw" || r.Header.Get("Content-Type") != "application/json" ||
		r.UserAgent() != UserAgent || r.ContentLength != int64(len(body.Load().(string))) ||
		!strings.Contains(body.Load().(string), `"eventId"`) {
		t.Fatalf("request %s %s host %q headers %v body %q", r.Method, r.URL, r.Host, r.Header, body.Load())
	}
}

// TestRawReconnects: a server that closes every connection after its answer, and one
// that answers chunked, both leave the raw engine with no errors.
func TestRawReconnects(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"connection close": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "ok")
		},
		"chunked": func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, strings.Repeat("x", 100))
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, strings.Repeat("y", 100))
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			for _, goroutines := range []bool{false, true} {
				res, err := Run(context.Background(), Config{
					Targets: []Target{target(t, srv.URL)}, Raw: true, goroutines: goroutines, Concurrency: 2, Duration: 5 * time.Second, MaxRequests: 200,
				})
				if err != nil || res.OK != 200 || res.Errors != 0 {
					t.Fatalf("goroutines %v: %v %v", goroutines, res, err)
				}
			}
		})
	}
}

func TestRawRejectsOtherSchemes(t *testing.T) {
	for _, u := range []string{"https://127.0.0.1/x", "http://u:p@127.0.0.1/x", "127.0.0.1:80"} {
		if _, err := Run(context.Background(), Config{Targets: []Target{{URL: u}}, Raw: true, Duration: time.Second}); err == nil {
			t.Errorf("%s: no error", u)
		}
	}
}

// BenchmarkEngine sends to a loopback server with each engine and reports the
// client's allocations per request (the server's share is the same for both).
func BenchmarkEngine(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	tg := target(b, srv.URL)
	s := signer(b, "u:p")
	for _, raw := range []bool{false, true} {
		name := "net_http"
		if raw {
			name = "raw"
		}
		b.Run(name, func(b *testing.B) {
			c := Config{Targets: []Target{tg}, Signer: s, Raw: raw, Timeout: 5 * time.Second}
			if !raw {
				c.Client = NewClient(1, c.Timeout)
			}
			var rts []*rawTarget
			if raw {
				rt, err := newRawTarget(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				rts = []*rawTarget{rt}
			}
			snd := newSender(c, rts)
			defer snd.close()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if status, _, err := snd.send(ctx, 0, tg.Gen.Next(nil)); err != nil || status != 200 {
					b.Fatal(status, err)
				}
			}
		})
	}
}

// TestTimeouts: a server that never answers in time gives every request a "timeout",
// and the run still ends.
func TestTimeouts(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(3 * time.Second):
		}
	}))
	defer srv.Close()
	defer close(release)
	engines(t, func(t *testing.T, e engine) {
		start := time.Now()
		res, err := Run(context.Background(), Config{
			Targets: []Target{target(t, srv.URL)}, Raw: e.raw, goroutines: e.goroutines,
			Concurrency: 2, Duration: 5 * time.Second, MaxRequests: 4, Timeout: 200 * time.Millisecond,
		})
		if err != nil || res.TransportErrors["timeout"] != 4 || res.OK != 0 {
			t.Fatalf("%v %v", res, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("4 timeouts of 200 ms over 2 workers took %v", d)
		}
	})
}

// TestIdleCloseBetweenRequests: a server that closes each kept-alive connection while
// the worker waits for its next arrival (open loop, so the goroutine engines; a closed
// loop is never idle long enough) costs no request and no timeout.
func TestIdleCloseBetweenRequests(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.IdleTimeout = 20 * time.Millisecond
	srv.Start()
	defer srv.Close()
	engines(t, func(t *testing.T, e engine) {
		start := time.Now()
		res, err := Run(context.Background(), Config{
			Targets: []Target{target(t, srv.URL)}, Raw: e.raw, goroutines: e.goroutines,
			Concurrency: 1, Duration: 5 * time.Second, MaxRequests: 5, Timeout: 3 * time.Second,
			// Pause between requests longer than the idle timeout: open loop, 10 per second.
			Rate: 10,
		})
		if err != nil || res.Requests != 5 || res.TransportErrors["timeout"] != 0 {
			t.Fatalf("%v %v", res, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %v", d)
		}
	})
}
