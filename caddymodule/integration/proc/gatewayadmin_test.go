package proc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// dumpLog prints the end of the process's log to the test log.
func (g *gateway) dumpLog() {
	b, err := os.ReadFile(g.logPath)
	if err != nil {
		g.t.Logf("%s: no log: %v", g.name, err)
		return
	}
	const tail = 12 << 10
	if len(b) > tail {
		b = b[len(b)-tail:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	g.t.Logf("--- last lines of %s's log (%s) ---\n%s--- end of %s's log ---", g.name, g.logPath, b, g.name)
}

// logLines returns the lines of the process's log that contain substr.
func (g *gateway) logLines(substr string) []string {
	b, err := os.ReadFile(g.logPath)
	if err != nil {
		return nil
	}
	var out []string
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, substr) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// routeStats are the queue figures of the admin API.
type routeStats struct {
	Pending  uint64 `json:"pending"`
	InFlight uint64 `json:"in_flight"`
	Dead     uint64 `json:"dead"`
	Stored   uint64 `json:"stored"`
}

func (g *gateway) stats() (routeStats, error) {
	var st routeStats
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/webhook_gateway/routes/%s", g.adminPort, routeName))
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("admin stats: %d %s", resp.StatusCode, b)
	}
	return st, json.Unmarshal(b, &st)
}

// waitIdle waits until the route has nothing pending or in flight and no
// dead letters, so that no further delivery can happen.
func (g *gateway) waitIdle(timeout time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(timeout)
	var st routeStats
	var err error
	for time.Now().Before(deadline) {
		st, err = g.stats()
		if err == nil && st.Pending == 0 && st.InFlight == 0 {
			if st.Dead != 0 {
				g.t.Errorf("%s: %d dead letters", g.name, st.Dead)
			}
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	g.t.Fatalf("%s: queue not idle after %s: %+v, err %v", g.name, timeout, st, err)
}

// reload loads the Caddyfile of c through the admin API (POST /load).
func (g *gateway) reload(c gwConfig) error {
	client := &http.Client{Timeout: 30 * time.Second}
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/load", g.adminPort), strings.NewReader(g.caddyfile(c)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /load: %d %s", resp.StatusCode, b)
	}
	return nil
}
