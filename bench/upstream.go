package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// upstream is the fast application behind Caddy: an in-process HTTP server on loopback
// that drains the body and answers 200. It counts requests, and separately the
// deliveries of the gateway (requests that carry X-Webhook-Id).
type upstream struct {
	srv        *http.Server
	addr       string
	requests   atomic.Int64
	deliveries atomic.Int64
}

// startUpstream listens on a free loopback port and serves until close.
func startUpstream() (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &upstream{addr: ln.Addr().String()}
	u.srv = &http.Server{
		Handler:           u,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	go func() { _ = u.srv.Serve(ln) }()
	return u, nil
}

// ServeHTTP answers every request with 200 and a small JSON body.
func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	u.requests.Add(1)
	if r.Header.Get("X-Webhook-Id") != "" {
		u.deliveries.Add(1)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"received":true}`))
}

// reset zeroes the counters before a configuration runs.
func (u *upstream) reset() {
	u.requests.Store(0)
	u.deliveries.Store(0)
}

// close stops the server, waiting at most a few seconds for open requests.
func (u *upstream) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = u.srv.Shutdown(ctx)
}
