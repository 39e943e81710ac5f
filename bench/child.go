package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Time bounds of a child's life.
const (
	readyTimeout = 60 * time.Second
	stopTimeout  = 20 * time.Second
)

// child is a running Caddy.
type child struct {
	cmd       *exec.Cmd
	done      chan struct{} // closed when the process has exited
	waitErr   error
	logPath   string
	adminAddr string
	siteAddr  string
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// childMemLimit, when set (-gomemlimit), is the GOMEMLIMIT of every Caddy the benchmark
// starts: what Caddy sets by itself, to 90% of the limit, in a container with a memory limit.
var childMemLimit string

// startCaddy writes the Caddyfile into dir and runs bin with it. Caddy's data and
// config directories are below dir, and its output goes to dir/caddy.log. It returns
// once the admin endpoint and the site answer.
func startCaddy(ctx context.Context, bin, dir, caddyfile string, s site) (*child, error) {
	cfgPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(caddyfile), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "caddy.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd := exec.Command(bin, "run", "--config", cfgPath, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(envWithout(os.Environ(), "XDG_DATA_HOME", "XDG_CONFIG_HOME"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	if childMemLimit != "" {
		cmd.Env = append(envWithout(cmd.Env, "GOMEMLIMIT"), "GOMEMLIMIT="+childMemLimit)
	}
	// Own process group, and killed with us if the benchmark dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{
		cmd: cmd, done: make(chan struct{}), logPath: logPath,
		adminAddr: fmt.Sprintf("127.0.0.1:%d", s.adminPort),
		siteAddr:  fmt.Sprintf("127.0.0.1:%d", s.sitePort),
	}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.done)
	}()
	if err := c.waitReady(ctx); err != nil {
		c.stop()
		return nil, fmt.Errorf("%w; last log lines:\n%s", err, tail(logPath, 15))
	}
	return c, nil
}

// waitReady polls the admin endpoint, then the site, until both answer.
func (c *child) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(readyTimeout)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-c.done:
			return fmt.Errorf("caddy exited before it was ready: %w", c.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("caddy not ready after %v", readyTimeout)
		}
		resp, err := client.Get("http://" + c.adminAddr + "/config/")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			continue
		}
		conn, err := net.DialTimeout("tcp", c.siteAddr, time.Second)
		if err != nil {
			continue
		}
		conn.Close()
		return nil
	}
}

// pid is the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// exited reports whether the process has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop ends the child gracefully (SIGTERM), or kills its process group after
// stopTimeout.
func (c *child) stop() {
	if c.exited() {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-c.pid(), syscall.SIGKILL)
		<-c.done
	}
}

// envWithout returns env without the named variables.
func envWithout(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, n := range names {
			if name == n {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
