package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// wrk is the reference load generator (C, event loop): when a wrk binary is found, each
// configuration's closed loop is also driven by wrk with the same connection count and
// duration, so that the table shows whether our generator set the ceiling.

// wrkResult is one wrk run, read from the summary its Lua done() hook prints.
type wrkResult struct {
	Requests     int64   `json:"requests"`
	StatusErrors int64   `json:"status_errors"` // answers other than 2xx or 3xx
	SocketErrors int64   `json:"socket_errors"` // connect, read, write and timeout errors
	Elapsed      float64 `json:"elapsed_s"`
	OKRPS        float64 `json:"ok_rps"`
	// Slices is the number of wrk runs added up.
	Slices int `json:"slices"`
	// CPUSeconds is wrk's own user+system CPU time; CPUPer10k the same per 10,000
	// requests, to compare with our generator's.
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUPer10k  float64 `json:"cpu_seconds_per_10k_requests"`
}

// findWrk resolves the -wrk flag: "off" disables wrk, "auto" looks it up on PATH (not
// finding it is fine), anything else is the binary's path.
func findWrk(flag string) (string, error) {
	switch flag {
	case "off":
		return "", nil
	case "", "auto":
		p, err := exec.LookPath("wrk")
		if err != nil {
			return "", nil //nolint:nilerr // auto: no wrk installed means a run without it
		}
		return p, nil
	}
	if _, err := os.Stat(flag); err != nil {
		return "", fmt.Errorf("-wrk: %v", err)
	}
	return flag, nil
}

// wrkScripts writes the two Lua scripts of the run: one sends a fixed IDWise body (for
// the plain Caddy configurations, the cheapest request wrk can make), the other a body
// with a new eventId (the idempotency key) per request, so that the gateway sees new
// events, as it does from our generator.
func wrkScripts(dir string) (fixed, unique string, err error) {
	authz := "Basic " + base64.StdEncoding.EncodeToString([]byte(benchUser+":"+benchPassword))
	common := fmt.Sprintf(`wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = %q
wrk.headers["User-Agent"] = "wrk (webhook bench)"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WHGW {"duration_us":%%d,"requests":%%d,"status":%%d,"socket":%%d}\n',
    summary.duration, summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
`, authz)
	body := func(id string) string {
		return `{"event":"Finished Journey","body":{"eventId":"` + id + `","journeyId":"65f1c0de00000000000000aa","referenceNo":"840-2025-1","systemDecision":"Complete"}}`
	}
	fixedLua := common + fmt.Sprintf("wrk.body = %q\n", body("9d1c2f3e-0000-4000-8000-000000000001"))
	// setup runs in the main Lua state once per thread; init runs in each thread with the
	// arguments after "--", where runWrk passes a fresh random run id per invocation (the
	// benchmark runs wrk once per slice, and every slice restarts the counters). Each
	// thread counts its own requests, so (run, thread, counter) is unique across the whole
	// benchmark. Both counter halves stay below 2^24, which string.format's %x handles on
	// every Lua.
	prefix, suffix, _ := strings.Cut(body("ID"), "ID")
	uniqueLua := common + fmt.Sprintf(`local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local run = "00000000"
function init(args)
  if args[1] then run = args[1] end
end
local counter = 0
function request()
  counter = counter + 1
  local id = string.format("%%s-%%04x-4000-8000-%%06x%%06x", run, tid, math.floor(counter / 16777216), counter %% 16777216)
  return wrk.format(nil, nil, nil, %q .. id .. %q)
end
`, prefix, suffix)
	fixed, unique = filepath.Join(dir, "wrk-fixed.lua"), filepath.Join(dir, "wrk-unique.lua")
	if err := os.WriteFile(fixed, []byte(fixedLua), 0o644); err != nil {
		return "", "", err
	}
	return fixed, unique, os.WriteFile(unique, []byte(uniqueLua), 0o644)
}

// runWrk drives url with wrk for d (whole seconds, at least one) over conns
// connections.
func runWrk(ctx context.Context, bin, script, url string, conns int, d, timeout time.Duration) (*wrkResult, error) {
	threads := max(min(runtime.NumCPU(), 4, conns), 1)
	secs := max(int(d.Round(time.Second)/time.Second), 1)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-t", fmt.Sprint(threads), "-c", fmt.Sprint(conns), "-d", fmt.Sprintf("%ds", secs),
		"--timeout", fmt.Sprintf("%ds", max(int(timeout/time.Second), 1)), "-s", script, url, "--", runID())
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("wrk: %v: %s", err, strings.TrimSpace(errOut.String()))
	}
	res, err := parseWrk(out.String())
	if err != nil {
		return nil, err
	}
	if ps := cmd.ProcessState; ps != nil {
		res.CPUSeconds = (ps.UserTime() + ps.SystemTime()).Seconds()
		if res.Requests > 0 {
			res.CPUPer10k = res.CPUSeconds / float64(res.Requests) * 10000
		}
	}
	return res, nil
}

// parseWrk reads the summary line of the done() hook.
func parseWrk(out string) (*wrkResult, error) {
	var line string
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "WHGW "); ok {
			line = rest
		}
	}
	if line == "" {
		return nil, fmt.Errorf("wrk printed no summary: %q", out)
	}
	var s struct {
		DurationUS int64 `json:"duration_us"`
		Requests   int64 `json:"requests"`
		Status     int64 `json:"status"`
		Socket     int64 `json:"socket"`
	}
	if err := json.Unmarshal([]byte(line), &s); err != nil {
		return nil, fmt.Errorf("wrk summary %q: %v", line, err)
	}
	if s.DurationUS <= 0 {
		return nil, fmt.Errorf("wrk summary %q: no duration", line)
	}
	r := &wrkResult{Requests: s.Requests, StatusErrors: s.Status, SocketErrors: s.Socket, Elapsed: float64(s.DurationUS) / 1e6, Slices: 1}
	r.OKRPS = float64(s.Requests-s.Status) / r.Elapsed
	return r, nil
}

// combineWrk adds up wrk slices; nil when there are none.
func combineWrk(parts []*wrkResult) *wrkResult {
	if len(parts) == 0 {
		return nil
	}
	r := &wrkResult{}
	for _, p := range parts {
		r.Requests += p.Requests
		r.StatusErrors += p.StatusErrors
		r.SocketErrors += p.SocketErrors
		r.Elapsed += p.Elapsed
		r.CPUSeconds += p.CPUSeconds
		r.Slices += p.Slices
	}
	r.OKRPS = float64(r.Requests-r.StatusErrors) / r.Elapsed
	if r.Requests > 0 {
		r.CPUPer10k = r.CPUSeconds / float64(r.Requests) * 10000
	}
	return r
}

// runID is a fresh random 8-hex-digit prefix for the event ids of one wrk invocation.
func runID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
