package testkit

import (
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Request is one request an Upstream got.
type Request struct {
	At     time.Time // when it arrived
	Method string
	Path   string
	Header http.Header
	Body   []byte
	Status int // what the upstream answered; 0 until the Responder wrote it
}

// A Responder writes the upstream's answer to its n-th request (1-based).
type Responder func(w http.ResponseWriter, r *http.Request, n int)

// Status answers every request with code and no body.
func Status(code int) Responder {
	return func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(code) }
}

// StatusBy answers the n-th request with the status f returns.
func StatusBy(f func(n int, r *http.Request) int) Responder {
	return func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(f(n, r)) }
}

// Upstream is a real HTTP application on a loopback port that records every
// request. It records a request before it answers (a Responder that blocks
// still leaves the request visible), and it keeps its port while down, so
// that a gateway configured with its URL finds it again when it comes up.
type Upstream struct {
	URL string // http://127.0.0.1:port, without a path

	t    testing.TB
	addr string

	mu       sync.Mutex
	srv      *http.Server
	requests []Request
	respond  Responder
	delay    time.Duration
}

// NewUpstream starts an upstream on a free loopback port; respond writes its
// answers (nil answers 200). It stops when the test ends.
func NewUpstream(t testing.TB, respond Responder) *Upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &Upstream{t: t, addr: ln.Addr().String(), respond: respond}
	u.URL = "http://" + u.addr
	u.serveOn(ln)
	t.Cleanup(u.Down)
	return u
}

// HostPort is the upstream's address, as reverse_proxy takes it.
func (u *Upstream) HostPort() string { return u.addr }

// SetRespond replaces the Responder for the requests that follow.
func (u *Upstream) SetRespond(respond Responder) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.respond = respond
}

// SetDelay makes every answer that follows wait d first (a slow application).
func (u *Upstream) SetDelay(d time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.delay = d
}

// Count is the number of requests so far.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.requests)
}

// Requests copies the requests so far, in arrival order.
func (u *Upstream) Requests() []Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Request(nil), u.requests...)
}

// Down closes the listener and every connection: the port refuses
// connections until Up. The requests recorded so far are kept.
func (u *Upstream) Down() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.srv != nil {
		_ = u.srv.Close()
		u.srv = nil
	}
}

// Up listens on the upstream's port again after Down. The kernel may hold
// the port for a moment after the close, so it retries for a few seconds.
func (u *Upstream) Up() {
	u.t.Helper()
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		u.mu.Lock()
		running := u.srv != nil
		u.mu.Unlock()
		if running {
			return
		}
		if ln, err = net.Listen("tcp", u.addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("upstream: listen on %s: %v", u.addr, err)
		}
	}
	u.serveOn(ln)
}

func (u *Upstream) serveOn(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(u.serve), ReadHeaderTimeout: 10 * time.Second}
	u.mu.Lock()
	u.srv = srv
	u.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.requests = append(u.requests, Request{At: time.Now(), Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	n := len(u.requests)
	respond, delay := u.respond, u.delay
	u.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done(): // the sender gave up; answer at once
		}
	}
	if respond == nil {
		respond = Status(http.StatusOK)
	}
	sw := &statusWriter{ResponseWriter: w, u: u, i: n - 1}
	respond(sw, r, n)
	sw.record(http.StatusOK) // the Responder wrote nothing: net/http answers 200
}

// statusWriter records the status a Responder writes before it is sent, so
// that a sender that has its answer finds it in the record.
type statusWriter struct {
	http.ResponseWriter
	u       *Upstream
	i       int
	written bool
}

func (w *statusWriter) record(code int) {
	if w.written {
		return
	}
	w.written = true
	w.u.mu.Lock()
	w.u.requests[w.i].Status = code
	w.u.mu.Unlock()
}

func (w *statusWriter) WriteHeader(code int) {
	w.record(code)
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.record(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

// Flush lets a Responder stream (a slow answer written in pieces).
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Delivered groups the requests the upstream answered 2xx by the value of
// header (the idempotency key, say): what the application took, and how
// often.
func (u *Upstream) Delivered(header string) map[string][]Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := map[string][]Request{}
	for _, r := range u.requests {
		if r.Status >= 200 && r.Status < 300 {
			k := r.Header.Get(header)
			out[k] = append(out[k], r)
		}
	}
	return out
}
