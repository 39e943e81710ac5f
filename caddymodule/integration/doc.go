// Package integration holds the tests that run a real Caddy, in process, with
// the module: adapt golden files, and end-to-end requests against real
// upstreams and the real embedded store (auth, gate and forward modes,
// dead letters and replay, quarantine, reloads, metrics, store outages). It is
// the only package that uses caddytest, because the in-process Caddy owns the
// admin port. The tests that kill and restart a real gateway process are in
// the proc sub-package; the fast table of the pipeline, without Caddy, is
// caddymodule/serve_test.go.
package integration
