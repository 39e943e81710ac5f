// Package proc holds the tests that run the real gateway binary as child
// processes: they SIGKILL it mid-work, restart it on the same store, run two
// replicas on one external NATS server, reload it under load, and check that
// every acknowledged webhook reaches the application exactly once.
//
// TestMain builds cmd/caddy once; every test picks its own loopback ports.
// The tests are skipped with -short.
package proc
