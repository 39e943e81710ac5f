package testkit

import (
	"net"
	"testing"
)

// FreePort returns a loopback port that was free a moment ago. Prefer
// listening on 127.0.0.1:0 where the server can be handed its listener; this
// is for what must be told its port before it starts (a child process, a
// nats-server node that restarts on the same port).
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
