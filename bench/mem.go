package main

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/loadgen"
	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/vendors"
)

// The memory target (README "Performance"): each key in the window costs at most 64 B of RSS, so
// one million keys stay within the baseline + 64 MB.
const (
	memTargetPerKey = 64
	memTargetKeys   = 1000000
)

// memResult is the outcome of the memory benchmark.
type memResult struct {
	Machine machine `json:"machine"`
	Keys    int     `json:"keys"`
	// GoMemLimit is the gateway's GOMEMLIMIT (-gomemlimit), empty when none was set.
	GoMemLimit string `json:"gomemlimit,omitempty"`
	// Warm is how many of the keys were sent before the baseline was taken.
	Warm     int   `json:"warm"`
	Accepted int64 `json:"accepted"`
	Errors   int64 `json:"errors"`
	// Statuses and TransportErrors break the errors down.
	Statuses        map[string]int64 `json:"statuses,omitempty"`
	TransportErrors map[string]int64 `json:"transport_errors,omitempty"`
	Delivered       int64            `json:"delivered"`
	Drained         bool             `json:"drained"`
	SendTime        float64          `json:"send_seconds"`
	SendRate        float64          `json:"send_rate"`
	// Start is the resident set of the fresh process once it acked its first event, the same
	// point as RestartRSS is read at, but with an empty window.
	Start memory `json:"start"`
	// Baseline is the resident set after start-up and a small warm-up.
	Baseline memory `json:"baseline"`
	// After is the resident set once the deliveries drained, or the drain budget ran out
	// (Drained false): the keys stay in the window either way.
	After memory `json:"after"`
	// HeapInuse is the Go heap in use at the end (go_memstats_heap_inuse_bytes).
	HeapInuse int64 `json:"heap_inuse_bytes,omitempty"`
	// Settled is the resident set Settle seconds after After, with nothing sent meanwhile: the
	// state that follows the write rate rather than the keys (nats-server drops a block's
	// per-subject state 2 minutes after its last use, and its block caches after 10 s; the Go
	// runtime returns freed pages to the system over minutes) is gone by then. SettledPerKey is
	// (Settled.RSS - Baseline.RSS) / (Accepted - Warm); SettledHeapInuse the Go heap then.
	Settle           float64 `json:"settle_seconds,omitempty"`
	Settled          memory  `json:"settled"`
	SettledPerKey    float64 `json:"settled_rss_bytes_per_key,omitempty"`
	SettledHeapInuse int64   `json:"settled_heap_inuse_bytes,omitempty"`
	// HeapProfile is the path of the heap profile taken at the end (with -pprof).
	HeapProfile string `json:"heap_profile,omitempty"`
	// StoreBytes is the size of the embedded store on disk.
	StoreBytes int64 `json:"store_bytes"`
	// PerKey is (After.RSS - Baseline.RSS) / (Accepted - Warm).
	PerKey float64 `json:"rss_bytes_per_key"`
	// Projected is Baseline.RSS + PerKey × one million keys.
	Projected float64 `json:"projected_rss_bytes_1m_keys"`
	Target    float64 `json:"target_bytes_per_key"`
	// RestartUp is the time from a restart (after a graceful stop with the keys in the window)
	// until Caddy's admin and site listeners answer; RestartReady until the first new event is
	// acked (the dedup window loaded). Zero when the restart failed.
	RestartUp    float64 `json:"restart_up_seconds"`
	RestartReady float64 `json:"restart_ready_seconds"`
	// RestartRSS is the resident set of the restarted process once it was ready: the keys in
	// the window without the garbage of the load.
	RestartRSS int64 `json:"restart_rss_bytes,omitempty"`
	// WindowPerKey is (RestartRSS - Start.RSS) / Accepted: what holding the window costs a
	// process per key, without what the burst of writes left behind (GC headroom, pages not yet
	// returned, buffers and caches that follow the write rate).
	WindowPerKey float64 `json:"window_rss_bytes_per_key,omitempty"`
	// ReplayReady is the time from a second restart, with the key index snapshots removed, until
	// the first new event is acked: the whole window replayed from the stream. ReplayRate is
	// Accepted / ReplayReady, in keys per second.
	ReplayReady float64 `json:"replay_ready_seconds,omitempty"`
	ReplayRate  float64 `json:"replay_keys_per_second,omitempty"`
	// ReplayRSS is that process's resident set once it was ready.
	ReplayRSS int64 `json:"replay_rss_bytes,omitempty"`
}

// runMemory starts the gateway in forward mode in front of the fast application, sends
// o.keys events with distinct idempotency keys (small IDWise bodies), waits for the
// deliveries to drain, and reports the gateway's resident memory.
func runMemory(ctx context.Context, o *options) (*memResult, error) {
	bin, up, cleanup, err := prepareWithApp(ctx, o)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	dir, err := os.MkdirTemp(o.work, "mem-")
	if err != nil {
		return nil, err
	}
	s, err := newSite(dir, up.addr)
	if err != nil {
		return nil, err
	}
	c, err := startCaddy(ctx, bin, dir, memoryScenario.caddyfile(s), s)
	if err != nil {
		return nil, err
	}
	defer c.stop()

	evs, err := vendors.Select(benchVendor, "", "finished_journey")
	if err != nil {
		return nil, err
	}
	gen, err := vendors.NewGenerator(evs)
	if err != nil {
		return nil, err
	}
	signer, err := newSigner()
	if err != nil {
		return nil, err
	}
	target := []loadgen.Target{{URL: fmt.Sprintf("http://127.0.0.1:%d/webhooks/%s", s.sitePort, benchVendor), Gen: gen}}
	res := &memResult{Machine: describeMachine(), Keys: o.keys, Target: memTargetPerKey, GoMemLimit: childMemLimit}

	// Start: the fresh process once its first event is acked and delivered.
	if _, err := loadgen.Run(ctx, loadgen.Config{Targets: target, Raw: o.engine != "net/http", Signer: signer,
		Concurrency: 1, Duration: time.Minute, MaxRequests: 1, Timeout: o.timeout}); err != nil {
		return nil, err
	}
	if err := waitDelivered(ctx, up, 1, 30*time.Second); err != nil {
		return nil, err
	}
	if res.Start, err = memoryOf(c.pid()); err != nil {
		return nil, err
	}
	// Baseline: after a small warm-up that also fills pools and connections.
	warm := max(min(1000, o.keys/10), 2)
	res.Warm = warm
	if _, err := loadgen.Run(ctx, loadgen.Config{Targets: target, Raw: o.engine != "net/http", Signer: signer,
		Concurrency: o.memConc, Duration: time.Minute, MaxRequests: int64(warm - 1), Timeout: o.timeout}); err != nil {
		return nil, err
	}
	if err := waitDelivered(ctx, up, int64(warm), 30*time.Second); err != nil {
		return nil, err
	}
	time.Sleep(time.Second)
	if res.Baseline, err = memoryOf(c.pid()); err != nil {
		return nil, err
	}
	o.logf("baseline RSS %.1f MB; sending %d keys with %d workers", mb(res.Baseline.RSS), o.keys-warm, o.memConc)

	// The keys: every request a new event.
	sendBudget := 30 * time.Minute
	if o.short {
		sendBudget = 2 * time.Minute
	}
	lr, err := loadgen.Run(ctx, loadgen.Config{Targets: target, Raw: o.engine != "net/http", Signer: signer,
		Concurrency: o.memConc, Duration: sendBudget, MaxRequests: int64(o.keys - warm), Timeout: o.timeout})
	if err != nil {
		return nil, err
	}
	res.Accepted = lr.OK + int64(warm)
	res.Errors, res.Statuses, res.TransportErrors = lr.Errors, lr.Statuses, lr.TransportErrors
	res.SendTime, res.SendRate = lr.Elapsed, lr.OKRPS
	o.logf("sent %d in %.1fs (%.0f/s, %d errors); waiting for the deliveries", lr.Requests, lr.Elapsed, lr.OKRPS, lr.Errors)

	res.Drained = waitDelivered(ctx, up, res.Accepted, o.drain) == nil
	res.Delivered = up.deliveries.Load()
	time.Sleep(2 * time.Second) // let the last acks and timers settle
	if res.After, err = memoryOf(c.pid()); err != nil {
		return nil, err
	}
	res.HeapInuse = heapInuse(ctx, c.adminAddr)
	if o.settle > 0 {
		o.logf("RSS %.1f MB; settling for %v", mb(res.After.RSS), o.settle)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(o.settle):
		}
		res.Settle = o.settle.Seconds()
		if res.Settled, err = memoryOf(c.pid()); err != nil {
			return nil, err
		}
		res.SettledHeapInuse = heapInuse(ctx, c.adminAddr)
	}
	if o.profileDir != "" {
		res.HeapProfile = filepath.Join(o.profileDir, "mem-heap.pprof")
		if err := fetchPprof(ctx, c.adminAddr, "heap", 0, res.HeapProfile); err != nil {
			o.logf("heap profile: %v", err)
			res.HeapProfile = ""
		}
	}
	res.StoreBytes = dirSize(s.storeDir)
	if res.Accepted > int64(warm) {
		res.PerKey = float64(res.After.RSS-res.Baseline.RSS) / float64(res.Accepted-int64(warm))
		res.Projected = float64(res.Baseline.RSS) + res.PerKey*memTargetKeys
		if res.Settle > 0 {
			res.SettledPerKey = float64(res.Settled.RSS-res.Baseline.RSS) / float64(res.Accepted-int64(warm))
		}
	}
	c.stop()
	// restart starts Caddy again on the same store and returns it with the time until it
	// listened and until it acked its first new event (0 when it did not within readyBudget:
	// 2 minutes, or the time a replay at 20k keys/s would take if longer).
	readyBudget := max(2*time.Minute, time.Duration(o.keys/20000)*time.Second)
	restart := func() (c2 *child, listening, ready float64) {
		restarted := time.Now()
		c2, err := startCaddy(ctx, bin, dir, memoryScenario.caddyfile(s), s)
		if err != nil {
			o.logf("restart: %v", err)
			return nil, 0, 0
		}
		listening = time.Since(restarted).Seconds()
		for time.Since(restarted) < readyBudget {
			lr, err := loadgen.Run(ctx, loadgen.Config{Targets: target, Raw: o.engine != "net/http", Signer: signer,
				Concurrency: 1, Duration: 10 * time.Second, MaxRequests: 1, Timeout: o.timeout})
			if err == nil && lr.OK == 1 {
				return c2, listening, time.Since(restarted).Seconds()
			}
		}
		return c2, listening, 0
	}
	// After the graceful stop: from the key index snapshot saved at the stop.
	if c2, listening, ready := restart(); c2 != nil {
		res.RestartUp, res.RestartReady = listening, ready
		if m, err := memoryOf(c2.pid()); err == nil {
			res.RestartRSS = m.RSS
			if res.Accepted > 0 && res.Start.RSS > 0 {
				res.WindowPerKey = float64(m.RSS-res.Start.RSS) / float64(res.Accepted)
			}
		}
		c2.stop()
	}
	// Without snapshots: the whole window replayed from the stream's headers.
	if err := os.RemoveAll(filepath.Join(s.storeDir, "keyindex")); err != nil {
		return nil, err
	}
	if c3, _, ready := restart(); c3 != nil {
		defer c3.stop()
		res.ReplayReady = ready
		if ready > 0 {
			res.ReplayRate = float64(res.Accepted) / ready
		}
		if m, err := memoryOf(c3.pid()); err == nil {
			res.ReplayRSS = m.RSS
		}
	}
	res.Machine.LoadAfter = loadavg()
	printMemory(res)
	if err := writeJSON(filepath.Join(o.out, "mem.json"), res); err != nil {
		return res, err
	}
	if res.Accepted == 0 {
		return res, fmt.Errorf("no key was accepted")
	}
	return res, nil
}

// waitDelivered polls the upstream until it has seen want deliveries or budget passes.
func waitDelivered(ctx context.Context, up *upstream, want int64, budget time.Duration) error {
	deadline := time.Now().Add(budget)
	for up.deliveries.Load() < want {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d deliveries after %v", up.deliveries.Load(), want, budget)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// heapInuse reads go_memstats_heap_inuse_bytes from Caddy's admin /metrics; 0 if absent.
func heapInuse(ctx context.Context, adminAddr string) int64 {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+adminAddr+"/metrics", nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return int64(f)
			}
		}
	}
	return 0
}

// dirSize sums the sizes of the regular files below dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// printMemory prints the memory result as Markdown.
func printMemory(r *memResult) {
	w := os.Stdout
	fmt.Fprintf(w, "Machine: %s, %d CPUs, %s; load average before %s, after %s.\n\n",
		r.Machine.CPU, r.Machine.CPUs, r.Machine.GoVersion, r.Machine.LoadBefore, r.Machine.LoadAfter)
	if r.GoMemLimit != "" {
		fmt.Fprintf(w, "The gateway ran with GOMEMLIMIT=%s.\n\n", r.GoMemLimit)
	}
	fmt.Fprintln(w, "| keys accepted | errors | delivered | send rate | RSS baseline MB | RSS after MB | peak RSS MB | Go heap in use MB | store on disk MB | RSS per key | projected RSS, 1M keys |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	drained := ""
	if !r.Drained {
		drained = " (not drained)"
	}
	fmt.Fprintf(w, "| %d | %d | %d%s | %.0f/s | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f B | %.0f MB |\n\n",
		r.Accepted, r.Errors, r.Delivered, drained, r.SendRate,
		mb(r.Baseline.RSS), mb(r.After.RSS), mb(r.After.Peak), mb(r.HeapInuse), mb(r.StoreBytes), r.PerKey, r.Projected/(1<<20))
	verdict := "meets"
	if r.PerKey > memTargetPerKey {
		verdict = "misses"
	}
	if r.Settle > 0 {
		fmt.Fprintf(w, "- %.0f s later, nothing sent meanwhile: RSS %.1f MB, Go heap in use %.1f MB, **%.0f B per key**\n",
			r.Settle, mb(r.Settled.RSS), mb(r.SettledHeapInuse), r.SettledPerKey)
	}
	fmt.Fprintf(w, "- restart with the keys in the window: listening after %.2f s, first new event acked after %.2f s (from the snapshot saved at the stop), RSS then %.1f MB\n",
		r.RestartUp, r.RestartReady, mb(r.RestartRSS))
	if r.WindowPerKey != 0 {
		fmt.Fprintf(w, "- the window without the burst: the restarted process holding the %d keys against the fresh one after its first event, RSS %.1f → %.1f MB, **%.0f B per key**\n",
			r.Accepted, mb(r.Start.RSS), mb(r.RestartRSS), r.WindowPerKey)
	}
	fmt.Fprintf(w, "- restart without snapshots (the window replayed from the stream): first new event acked after %.2f s, %.0f keys/s, RSS then %.1f MB\n",
		r.ReplayReady, r.ReplayRate, mb(r.ReplayRSS))
	fmt.Fprintf(w, "- memory target: %d keys in the window cost %.1f MB RSS (peak %.1f MB), **%.0f B per key**; projected for 1M keys %.0f MB (target ≤ %d B per key, %s)\n",
		r.Accepted, mb(r.After.RSS), mb(r.After.Peak), r.PerKey, r.Projected/(1<<20), memTargetPerKey, verdict)
}
