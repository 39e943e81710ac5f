package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/loadgen"
	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/senderauth"
	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/vendors"
)

// row is the measurement of one configuration.
type row struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	// Round is the round (from 1) the row was measured in.
	Round int `json:"round"`
	// Closed is the fixed-concurrency run: the configuration's peak throughput.
	Closed *loadgen.Result `json:"closed,omitempty"`
	// Open is the fixed-rate run at half of Closed's throughput.
	Open *loadgen.Result `json:"open,omitempty"`
	// Wrk is wrk's closed loop with the same connections and duration, when wrk ran;
	// WrkError says why it did not.
	Wrk      *wrkResult `json:"wrk,omitempty"`
	WrkError string     `json:"wrk_error,omitempty"`
	// LoadCPUPer10k is the bench process's CPU time per 10,000 requests of the closed
	// loop: our generator, plus the in-process application where the configuration
	// forwards to it.
	LoadCPUPer10k float64 `json:"load_cpu_seconds_per_10k_requests"`
	// CPUSeconds is the Caddy process's user+system CPU time during the closed run.
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUPer10k is CPUSeconds per 10,000 requests of the closed run.
	CPUPer10k float64 `json:"cpu_seconds_per_10k_requests"`
	// Memory is the Caddy process's resident set at the end; Peak is its high-water mark.
	Memory memory `json:"memory"`
	// WarmupOK counts the 2xx answers of the warm-up.
	WarmupOK int64 `json:"warmup_ok"`
	// UpstreamRequests counts what reached the application during the configuration's
	// whole run; Deliveries those that carry X-Webhook-Id (the forwarder's deliveries in
	// forward mode, the proxied requests in gate mode).
	UpstreamRequests int64 `json:"upstream_requests"`
	Deliveries       int64 `json:"deliveries"`
	// Profile is the path of the CPU profile taken during the closed run, if any.
	Profile string `json:"cpu_profile,omitempty"`
	// Error says why the configuration produced no (or partial) results.
	Error string `json:"error,omitempty"`
}

// newTargets returns the benchmark's load target on the site: realistic IDWise events,
// every one with a new eventId.
func newTargets(s site) ([]loadgen.Target, error) {
	evs, err := vendors.Select(benchVendor, "", "")
	if err != nil {
		return nil, err
	}
	gen, err := vendors.NewGenerator(evs)
	if err != nil {
		return nil, err
	}
	return []loadgen.Target{{URL: fmt.Sprintf("http://127.0.0.1:%d/webhooks/%s", s.sitePort, benchVendor), Gen: gen}}, nil
}

// newSigner sends the benchmark route's Basic credentials.
func newSigner() (*senderauth.Signer, error) {
	return senderauth.New(senderauth.Config{Basic: benchUser + ":" + benchPassword}, nil)
}

// newSite picks the ports of one configuration and its store directory.
func newSite(dir, upstreamAddr string) (site, error) {
	var ports [3]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return site{}, err
		}
		ports[i] = p
	}
	if ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
		return site{}, fmt.Errorf("port allocation returned duplicates")
	}
	return site{adminPort: ports[0], sitePort: ports[1], deadPort: ports[2], upstream: upstreamAddr,
		storeDir: filepath.Join(dir, "store")}, nil
}

// runScenario starts Caddy with one configuration, warms it up, runs the closed loop and
// then the open loop at half the measured peak, and stops it.
func runScenario(ctx context.Context, o *options, bin string, up *upstream, sc scenario, round int) row {
	r := row{Name: sc.Name, Title: sc.Title, Round: round}
	fail := func(err error) row {
		r.Error = err.Error()
		return r
	}
	dir, err := os.MkdirTemp(o.work, sc.Name+"-")
	if err != nil {
		return fail(err)
	}
	s, err := newSite(dir, up.addr)
	if err != nil {
		return fail(err)
	}
	up.reset()
	c, err := startCaddy(ctx, bin, dir, sc.caddyfile(s), s)
	if err != nil {
		return fail(err)
	}
	defer c.stop()
	targets, err := newTargets(s)
	if err != nil {
		return fail(err)
	}
	signer, err := newSigner()
	if err != nil {
		return fail(err)
	}
	cfg := loadgen.Config{
		Targets: targets, Raw: o.engine == "raw", Signer: signer, Concurrency: o.concurrency,
		Duration: o.warmup, DupShare: o.dup, Timeout: o.timeout,
	}
	if !cfg.Raw {
		cfg.Client = loadgen.NewClient(2*o.concurrency, o.timeout)
	}
	o.logf("  %s: warm-up %v", sc.Name, o.warmup)
	warm, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	r.WarmupOK = warm.OK

	closed, err := closedLoops(ctx, o, c, cfg, sc, round, &r)
	if err != nil {
		return fail(err)
	}

	// Open loop at half the peak: latency without coordinated omission.
	if closed.OKRPS > 0 && o.open > 0 {
		cfg.Rate = closed.OKRPS / 2
		cfg.Duration = o.open
		cfg.Concurrency = 2 * o.concurrency
		o.logf("  %s: open loop, %.0f/s, %v", sc.Name, cfg.Rate, o.open)
		if r.Open, err = loadgen.Run(ctx, cfg); err != nil {
			return fail(err)
		}
	}
	if m, err := memoryOf(c.pid()); err == nil {
		r.Memory = m
	} else {
		return fail(err)
	}
	r.UpstreamRequests, r.Deliveries = up.requests.Load(), up.deliveries.Load()
	if c.exited() {
		return fail(fmt.Errorf("caddy exited during the run: %w; log: %s", c.waitErr, c.logPath))
	}
	return r
}

// wrkSlice is the length of one closed-loop slice when wrk runs too: on a shared machine
// the load of other processes moves within seconds, so our generator and wrk take
// turns in slices this long instead of one long run each.
const wrkSlice = 2 * time.Second

// closedLoops measures the peak: the generator's closed loop for o.closed, with the
// Caddy process's CPU time and, when asked, a CPU profile; with wrk, cut into slices
// that alternate with wrk's (which goes first alternates by slice and round). Slices
// are whole seconds, wrk's unit.
func closedLoops(ctx context.Context, o *options, c *child, cfg loadgen.Config, sc scenario, round int, r *row) (*loadgen.Result, error) {
	slices, slice := 1, o.closed
	if o.wrk != "" {
		slices = max(int(o.closed/wrkSlice), 1)
		slice = max((o.closed / time.Duration(slices)).Truncate(time.Second), time.Second)
	}
	var profDone chan error
	if o.profileDir != "" && o.profile[sc.Name] {
		r.Profile = filepath.Join(o.profileDir, fmt.Sprintf("%s-%d.pprof", sc.Name, round))
		profDone = make(chan error, 1)
		secs := max(int(o.closed/time.Second)-1, 1)
		go func() { profDone <- fetchPprof(ctx, c.adminAddr, "profile", secs, r.Profile) }()
	}
	o.logf("  %s: closed loop, %d workers, %d × %v", sc.Name, o.concurrency, slices, slice)
	var ours []*loadgen.Result
	var theirs []*wrkResult
	var caddyCPU, selfCPU time.Duration
	for i := range slices {
		wrkFirst := (round+i)%2 == 0
		if wrkFirst {
			theirs = runWrkFor(ctx, o, sc, cfg.Targets[0].URL, slice, r, theirs)
		}
		cpu0, err := cpuTime(c.pid())
		if err != nil {
			return nil, err
		}
		self0, err := cpuTime(os.Getpid())
		if err != nil {
			return nil, err
		}
		cfg.Duration = slice
		res, err := loadgen.Run(ctx, cfg)
		if err != nil {
			return nil, err
		}
		cpu1, err := cpuTime(c.pid())
		if err != nil {
			return nil, err
		}
		self1, err := cpuTime(os.Getpid())
		if err != nil {
			return nil, err
		}
		caddyCPU += cpu1 - cpu0
		selfCPU += self1 - self0
		ours = append(ours, res)
		if !wrkFirst {
			theirs = runWrkFor(ctx, o, sc, cfg.Targets[0].URL, slice, r, theirs)
		}
		if o.wrk != "" && len(theirs) > i {
			o.logf("    slice %d: ours %.0f/s, wrk %.0f/s", i+1, res.OKRPS, theirs[i].OKRPS)
		}
	}
	closed := loadgen.Combine(ours)
	r.Closed = closed
	r.Wrk = combineWrk(theirs)
	r.CPUSeconds = caddyCPU.Seconds()
	if closed.Requests > 0 {
		r.CPUPer10k = r.CPUSeconds / float64(closed.Requests) * 10000
		r.LoadCPUPer10k = selfCPU.Seconds() / float64(closed.Requests) * 10000
	}
	if profDone != nil {
		if err := <-profDone; err != nil {
			r.Error = "profile: " + err.Error()
			r.Profile = ""
		}
	}
	return closed, nil
}

// runWrkFor drives the configuration with wrk for d, when there is a wrk, and appends
// the result: the fixed body for plain Caddy, a new idempotency key per request for the
// gateway. A failure is noted in r.WrkError.
func runWrkFor(ctx context.Context, o *options, sc scenario, url string, d time.Duration, r *row, done []*wrkResult) []*wrkResult {
	if o.wrk == "" {
		return done
	}
	script := o.wrkFixed
	if sc.gateway() {
		script = o.wrkUnique
	}
	w, err := runWrk(ctx, o.wrk, script, url, o.concurrency, d, o.timeout)
	if err != nil {
		r.WrkError = err.Error()
		o.logf("  %s: %v", sc.Name, err)
		return done
	}
	return append(done, w)
}

// accepted counts the 2xx answers of the whole run: warm-up, closed and open loop.
func (r *row) accepted() int64 {
	n := r.WarmupOK
	if r.Wrk != nil {
		n += r.Wrk.Requests - r.Wrk.StatusErrors
	}
	if r.Closed != nil {
		n += r.Closed.OK
	}
	if r.Open != nil {
		n += r.Open.OK
	}
	return n
}

// fetchPprof saves a profile from Caddy's admin endpoint: kind "profile" (CPU, for secs
// seconds) or "heap" (after a GC).
func fetchPprof(ctx context.Context, adminAddr, kind string, secs int, path string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", adminAddr, kind, secs)
	if kind == "heap" {
		url = fmt.Sprintf("http://%s/debug/pprof/heap?gc=1", adminAddr)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
