package proc

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// gatewayBin is the gateway binary that TestMain built (empty with -short).
var gatewayBin string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if testing.Short() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "whgw-proc-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "proc: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	gatewayBin = filepath.Join(dir, "caddy")
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", gatewayBin, "github.com/webhookgw/caddy-webhook-gateway/cmd/caddy")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "proc: building the gateway binary:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "proc: built the gateway binary in %s\n", time.Since(start).Round(time.Millisecond))
	return m.Run()
}
