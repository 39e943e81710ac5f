package proc

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// gwConfig is what a test varies in a gateway's Caddyfile.
type gwConfig struct {
	store       string // arguments of the global "store" option
	appURL      string // the forward URL
	concurrency int    // forward concurrency; 0 means 16
}

// embeddedConfig is a gateway on its own embedded store (in a temporary
// directory) that forwards to a.
func embeddedConfig(t *testing.T, a *app) gwConfig {
	return gwConfig{store: "embedded " + filepath.Join(t.TempDir(), "store"), appURL: a.url()}
}

// gateway is one gateway process: the binary TestMain built, run on a
// Caddyfile in its own directory with its own XDG dirs, site port and admin
// port. Restarts reuse the directory, the ports and the log file.
type gateway struct {
	t         *testing.T
	name      string
	dir       string
	port      int
	adminPort int
	logPath   string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func newGateway(t *testing.T, name string) *gateway {
	t.Helper()
	testkit.SkipShort(t, "starts real gateway processes")
	if gatewayBin == "" {
		t.Fatal("the gateway binary was not built")
	}
	dir := t.TempDir()
	g := &gateway{t: t, name: name, dir: dir, port: testkit.FreePort(t), adminPort: testkit.FreePort(t), logPath: filepath.Join(dir, "caddy.log")}
	t.Cleanup(func() {
		if err := g.kill(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			g.dumpLog()
		}
	})
	return g
}

// url is the webhook endpoint of the gateway.
func (g *gateway) url() string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", g.port, routePath)
}

func (g *gateway) caddyfile(c gwConfig) string {
	conc := c.concurrency
	if conc == 0 {
		conc = 16
	}
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	persist_config off
	grace_period 2s
	webhook_gateway {
		store %s
		drain_timeout 2s
	}
}

http://127.0.0.1:%d {
	handle %s {
		webhook_gateway {
			name %s
			vendor idwise
			auth basic %s %s
			forward %s {
				timeout 2s
				backoff 100ms 1s
				max_attempts 1000
				concurrency %d
				header_up X-Test-Gateway %s
			}
		}
	}
	respond 404
}
`, g.adminPort, c.store, g.port, routePath, routeName, authUser, authPassword, c.appURL, conc, g.name)
}

// start writes the Caddyfile and starts the process, then waits until the
// site answers and the route runs.
func (g *gateway) start(c gwConfig) {
	g.t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.launchLocked(c)
	g.waitReadyLocked()
}

// launch starts the gateway process without waiting for it.
func (g *gateway) launch(c gwConfig) {
	g.t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.launchLocked(c)
}

// launchLocked writes the Caddyfile and starts the process without waiting.
func (g *gateway) launchLocked(c gwConfig) {
	g.t.Helper()
	if g.cmd != nil {
		g.t.Fatalf("%s: already running", g.name)
	}
	cfgPath := filepath.Join(g.dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(g.caddyfile(c)), 0o600); err != nil {
		g.t.Fatal(err)
	}
	logf, err := os.OpenFile(g.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		g.t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== harness: start %s at %s\n", g.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(gatewayBin, "run", "--config", cfgPath, "--adapter", "caddyfile")
	cmd.Dir = g.dir
	cmd.Env = childEnv(g.dir)
	cmd.SysProcAttr = childAttr()
	cmd.Stdout, cmd.Stderr = logf, logf
	err = cmd.Start()
	_ = logf.Close() // the child has its own descriptor
	if err != nil {
		g.t.Fatalf("%s: start: %v", g.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	g.cmd, g.done = cmd, done
}

// childEnv is the test's environment with the XDG dirs (Caddy's data and
// config dirs) moved under dir.
func childEnv(dir string) []string {
	env := make([]string, 0, len(os.Environ())+2)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "XDG_DATA_HOME=") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
}

func (g *gateway) waitReadyLocked() {
	g.t.Helper()
	client := &http.Client{Timeout: time.Second}
	site := fmt.Sprintf("http://127.0.0.1:%d/", g.port)
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-g.done:
			g.cmd = nil
			g.dumpLog()
			g.t.Fatalf("%s exited while starting", g.name)
		default:
		}
		resp, err := client.Get(site)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			// Ready as soon as the site answers: requests that arrive
			// before the webhook_gateway app has started (Caddy starts its
			// apps in map order) wait for it instead of getting a 503,
			// which TestNoUnavailableAtStartup checks.
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.dumpLog()
	g.t.Fatalf("%s did not answer on %s within %s", g.name, site, readyTimeout)
}

// alive reports whether the gateway process is still running.
func (g *gateway) alive() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd == nil {
		return false
	}
	select {
	case <-g.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (g *gateway) kill() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.signalLocked(syscall.SIGKILL, exitTimeout)
}

// stop sends SIGTERM (graceful stop: drain, close the store) and waits for
// the exit, killing the process if it does not exit within stopTimeout.
func (g *gateway) stop() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.signalLocked(syscall.SIGTERM, stopTimeout); err != nil {
		_ = g.signalLocked(syscall.SIGKILL, exitTimeout)
		return err
	}
	return nil
}

func (g *gateway) signalLocked(sig syscall.Signal, wait time.Duration) error {
	if g.cmd == nil {
		return nil
	}
	if err := g.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s: %v: %v", g.name, sig, err)
	}
	select {
	case <-g.done:
		g.cmd = nil
		return nil
	case <-time.After(wait):
		return fmt.Errorf("%s: still running %s after %v", g.name, wait, sig)
	}
}
