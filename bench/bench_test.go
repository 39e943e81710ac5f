package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/loadgen"
	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// testLog sends the benchmark's progress lines to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestBenchShort runs the short benchmark end to end: it builds ./cmd/caddy, runs every
// configuration for a few seconds and checks that each produced a row with accepted
// requests, and that both result files exist. It asserts no speed.
func TestBenchShort(t *testing.T) {
	testkit.SkipShort(t, "builds Caddy and runs six configurations")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out := t.TempDir()
	rp, err := run(ctx, &options{short: true, out: out, log: testLog{t}}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scenarios {
		r := rp.find(sc.Name)
		switch {
		case r == nil:
			t.Errorf("no row for %s", sc.Name)
		case r.Closed.Requests == 0 || r.Closed.OK == 0:
			t.Errorf("%s: %d requests, %d accepted", sc.Name, r.Closed.Requests, r.Closed.OK)
		case r.Open == nil || r.Open.Requests == 0:
			t.Errorf("%s: no open-loop requests", sc.Name)
		case rp.Settings.Wrk != "" && (r.Wrk == nil || r.Wrk.Requests == 0):
			t.Errorf("%s: wrk is on PATH but gave no figure: %s", sc.Name, r.WrkError)
		}
	}
	want := nonWrkRatios
	if rp.Settings.Wrk != "" {
		want = len(ratioSpecs)
	}
	if len(rp.Ratios) != want {
		t.Errorf("%d ratios, want %d", len(rp.Ratios), want)
	}
	raw, err := os.ReadFile(filepath.Join(out, "bench.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back report
	if err := json.Unmarshal(raw, &back); err != nil || len(back.Rows) != len(scenarios) {
		t.Fatalf("bench.json: %d rows, %v", len(back.Rows), err)
	}
	md, err := os.ReadFile(filepath.Join(out, "bench.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scenarios {
		if !strings.Contains(string(md), sc.Title) {
			t.Errorf("bench.md has no row %q", sc.Title)
		}
	}
}

func TestParseStatus(t *testing.T) {
	m, err := parseStatus("Name:\tcaddy\nVmPeak:\t 900 kB\nVmHWM:\t   81920 kB\nVmRSS:\t   40960 kB\nThreads: 9\n")
	if err != nil || m.RSS != 40<<20 || m.Peak != 80<<20 {
		t.Fatalf("parseStatus = %+v, %v", m, err)
	}
	for _, bad := range []string{"VmRSS: 1 kB\n", "VmRSS: x kB\nVmHWM: 1 kB\n", "VmRSS: 1 MB\nVmHWM: 1 kB\n"} {
		if _, err := parseStatus(bad); err == nil {
			t.Errorf("parseStatus(%q): no error", bad)
		}
	}
}

func TestProcOfSelf(t *testing.T) {
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	cpu, err := cpuTime(os.Getpid())
	if err != nil || cpu <= 0 {
		t.Fatalf("cpuTime = %v, %v", cpu, err)
	}
	m, err := memoryOf(os.Getpid())
	if err != nil || m.RSS <= 0 || m.Peak < m.RSS {
		t.Fatalf("memoryOf = %+v, %v", m, err)
	}
}

func TestRatios(t *testing.T) {
	res := func(rps, p99 float64) *loadgen.Result {
		return &loadgen.Result{OKRPS: rps, Latency: loadgen.Latency{P99: p99}}
	}
	round := func(n int, scale float64) []row {
		return []row{
			{Name: "respond", Round: n, Closed: res(1000*scale, 1)},
			{Name: "reverse_proxy", Round: n, Closed: res(500*scale, 2)},
			{Name: "gate", Round: n, Closed: res(450*scale, 2)},
			{Name: "forward", Round: n, Closed: res(400*scale, 3), Open: res(200, 4)},
			{Name: "forward_app_down", Round: n, Closed: res(400*scale, 3), Open: res(200, 10)},
		}
	}
	// Three rounds on a machine whose speed changes: the ratios are the same in each,
	// and the median row of each configuration is the middle round's.
	rp := &report{Runs: append(append(round(1, 1), round(2, 3)...), round(3, 2)...)}
	rp.Runs = append(rp.Runs, row{Name: "forward_sync_always", Round: 1, Error: "failed"})
	rp.summarize()
	if len(rp.Rows) != 6 || rp.find("respond").Round != 3 || rp.find("forward_sync_always") != nil || rp.Rows[5].Error != "failed" {
		t.Fatalf("rows %+v", rp.Rows)
	}
	want := map[string][2]float64{
		"gate / reverse_proxy throughput":            {0.9, 0},
		"forward, app down / respond throughput":     {0.4, 0},
		"forward, app up / reverse_proxy throughput": {0.8, 0},
		"p99 ack, app down / app up":                 {2.5, 0},
		"p99 ack, app down / app up (closed loop)":   {1, 1},
	}
	if len(rp.Ratios) != len(want) {
		t.Fatalf("ratios %+v", rp.Ratios)
	}
	for _, r := range rp.Ratios {
		w, ok := want[r.Name]
		if !ok || r.Value != w[0] || r.Met != (w[1] == 1) || len(r.Rounds) != 3 {
			t.Errorf("%s = %v met %v, want %v met %v", r.Name, r.Value, r.Met, w[0], w[1] == 1)
		}
	}
}

// TestCaddyfiles checks the generated configurations' shape: the gateway's directive
// and global option where expected, and loopback everywhere.
func TestCaddyfiles(t *testing.T) {
	s := site{adminPort: 1, sitePort: 2, deadPort: 3, upstream: "127.0.0.1:4", storeDir: "/tmp/x/store"}
	for _, sc := range scenarios {
		cf := sc.caddyfile(s)
		gateway := strings.HasPrefix(sc.Name, "gate") || strings.HasPrefix(sc.Name, "forward")
		if strings.Contains(cf, "webhook_gateway {\n\t\tvendor idwise") != gateway ||
			strings.Contains(cf, "store embedded /tmp/x/store") != gateway {
			t.Errorf("%s:\n%s", sc.Name, cf)
		}
		if !strings.Contains(cf, "admin 127.0.0.1:1") || !strings.Contains(cf, "http://127.0.0.1:2 {") {
			t.Errorf("%s: admin or site not on loopback:\n%s", sc.Name, cf)
		}
		if strings.Contains(cf, "forward") != strings.HasPrefix(sc.Name, "forward") ||
			strings.Contains(cf, "sync always") != strings.HasSuffix(sc.Name, "_sync_always") ||
			strings.Contains(cf, "127.0.0.1:3") != strings.HasPrefix(sc.Name, "forward_app_down") {
			t.Errorf("%s: wrong mode:\n%s", sc.Name, cf)
		}
	}
}

// The CAS benchmark's gateways share the NATS server and the route name, on loopback.
func TestCASCaddyfile(t *testing.T) {
	s := site{adminPort: 1, sitePort: 2, deadPort: 3, upstream: "127.0.0.1:4", storeDir: "/tmp/x/store"}
	cf := casCaddyfile(s, "nats://127.0.0.1:5")
	for _, want := range []string{"store nats nats://127.0.0.1:5", "name " + casRoute, "forward http://127.0.0.1:4/events", "admin 127.0.0.1:1", "http://127.0.0.1:2 {"} {
		if !strings.Contains(cf, want) {
			t.Errorf("no %q in:\n%s", want, cf)
		}
	}
}

// The memory benchmark's quota cannot cut a run of millions of keys short.
func TestMemoryCaddyfile(t *testing.T) {
	s := site{adminPort: 1, sitePort: 2, deadPort: 3, upstream: "127.0.0.1:4", storeDir: "/tmp/x/store"}
	cf := memoryScenario.caddyfile(s)
	if !strings.Contains(cf, "forward http://127.0.0.1:4/events {\n\t\t\tmax_queue 64GiB\n\t\t}") {
		t.Errorf("no raised max_queue in:\n%s", cf)
	}
}
