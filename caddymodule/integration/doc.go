// Package integration holds the tests that run a real Caddy with the module:
// adapt golden files, end-to-end requests against real upstreams, reloads,
// and crash tests that kill a real gateway process. It is the only package
// that uses caddytest, because the in-process Caddy owns the admin port.
package integration
