// Command bench measures the gateway against plain Caddy on loopback, one configuration
// after another, with the same load and the same fast upstream, and reports the ratios of
// the performance targets (README "Performance"):
//
//	go run ./bench                  # full run: ~15 s of load per configuration
//	go run ./bench -short           # a few seconds per configuration (CI)
//	go run ./bench -mem             # memory: RSS for one million idempotency keys
//	go run ./bench -pprof DIR       # also save CPU profiles of gate and forward mode
//	go run ./bench -wrk off         # without wrk beside our generator (default: when on PATH)
//	go run ./bench -only cas        # only the compare-and-set conflict rates (2 and 3 gateways)
//	go run ./bench -mem -gomemlimit 230MiB  # as in a container limited to 256 MiB
//
// It builds ./cmd/caddy once, then for each configuration starts that binary as a child
// process (own data and config dirs, admin on a free loopback port, logs to a file),
// warms it up, runs a closed loop (fixed concurrency, fixed time) for the peak and an
// open loop at half that peak for latency, and stops it. When wrk is on PATH, wrk
// drives each closed loop too, in slices that take turns with ours, and both figures
// are printed side by side. It prints a Markdown table and
// writes JSON. Nothing here asserts a speed: it exits non-zero only when a configuration
// did not run.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// options are the settings of one benchmark run.
type options struct {
	short       bool
	out         string
	caddyBin    string
	only        map[string]bool
	concurrency int
	dup         float64
	timeout     time.Duration
	warmup      time.Duration
	closed      time.Duration
	open        time.Duration
	profileDir  string
	profile     map[string]bool
	rounds      int
	mem         bool
	keys        int
	memConc     int
	drain       time.Duration
	settle      time.Duration // with -mem, the wait before the settled RSS
	engine      string        // "raw" or "net/http": the generator's engine
	wrkFlag     string
	wrk         string // wrk binary, "" when not used
	wrkFixed    string // wrk Lua scripts (see wrkScripts)
	wrkUnique   string
	work        string // temporary directory of the run
	log         io.Writer
}

// logf prints a progress line.
func (o *options) logf(format string, args ...any) {
	if o.log != nil {
		fmt.Fprintf(o.log, format+"\n", args...)
	}
}

// defaults fills in the durations and sizes that depend on -short.
func (o *options) defaults() {
	if o.short {
		o.warmup, o.closed, o.open = setIfZero(o.warmup, 500*time.Millisecond), setIfZero(o.closed, 2*time.Second), setIfZero(o.open, time.Second)
		if o.keys == 0 {
			o.keys = 20000
		}
		o.drain = setIfZero(o.drain, time.Minute)
		o.settle = setIfZero(o.settle, 5*time.Second)
	} else {
		o.warmup, o.closed, o.open = setIfZero(o.warmup, 2*time.Second), setIfZero(o.closed, 10*time.Second), setIfZero(o.open, 5*time.Second)
		if o.keys == 0 {
			o.keys = 1000000
		}
		o.drain = setIfZero(o.drain, 10*time.Minute)
		o.settle = setIfZero(o.settle, 150*time.Second)
	}
	if o.rounds <= 0 {
		o.rounds = 1
	}
	if o.concurrency <= 0 {
		o.concurrency = 64
	}
	if o.memConc <= 0 {
		o.memConc = 256
	}
	if o.timeout <= 0 {
		o.timeout = 10 * time.Second
	}
	if o.profile == nil {
		o.profile = map[string]bool{"gate": true, "forward": true}
	}
}

func setIfZero(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func main() {
	o := &options{log: os.Stderr}
	var only, profileFor string
	flag.BoolVar(&o.short, "short", false, "a few seconds per configuration (CI); with -mem, 20k keys")
	flag.StringVar(&o.out, "out", "bench/results", "directory for the JSON and Markdown results")
	flag.StringVar(&o.caddyBin, "caddy", "", "use this Caddy binary instead of building ./cmd/caddy")
	flag.StringVar(&only, "only", "", "run only these configurations (comma-separated names: "+scenarioNames()+", and cas for the compare-and-set benchmark)")
	flag.IntVar(&o.concurrency, "c", 64, "closed-loop concurrency (the open loop uses twice as many workers)")
	flag.Float64Var(&o.dup, "dup", 0, "share of requests that re-send an earlier event (0: every event new, the gateway's worst case)")
	flag.DurationVar(&o.warmup, "warmup", 0, "warm-up per configuration (default 2s; -short 0.5s)")
	flag.DurationVar(&o.closed, "duration", 0, "closed-loop time per configuration (default 10s; -short 2s)")
	flag.DurationVar(&o.open, "open", 0, "open-loop time per configuration (default 5s; -short 1s)")
	flag.IntVar(&o.rounds, "rounds", 1, "run the whole sequence this many times; rows are the median round, ratios the median of per-round ratios")
	flag.StringVar(&o.profileDir, "pprof", "", "save CPU profiles of the closed-loop runs (with -mem: a heap profile at the end) into this directory")
	flag.StringVar(&profileFor, "pprof-for", "gate,forward", "configurations to profile with -pprof")
	flag.BoolVar(&o.mem, "mem", false, "run the memory benchmark instead: RSS for -keys idempotency keys")
	flag.IntVar(&o.keys, "keys", 0, "unique idempotency keys for -mem (default 1000000; -short 20000)")
	flag.IntVar(&o.memConc, "mem-c", 256, "concurrency of the -mem load")
	flag.StringVar(&o.engine, "engine", "raw", "the generator's engine: raw (keep-alive connections written and read without net/http) or net/http")
	flag.StringVar(&o.wrkFlag, "wrk", "auto", "also drive each closed loop with wrk: auto (when wrk is on PATH), off, or the binary's path")
	flag.DurationVar(&o.settle, "settle", 0, "with -mem, how long to wait after the drain before the settled RSS (default 150s; -short 5s)")
	flag.StringVar(&childMemLimit, "gomemlimit", "", "GOMEMLIMIT of the gateway processes (e.g. 230MiB: what Caddy sets in a container limited to 256 MiB); default: none set here")
	flag.DurationVar(&o.drain, "drain", 0, "with -mem, how long to wait for the deliveries to drain (default 10m; -short 1m)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	o.only = nameSet(only)
	o.profile = nameSet(profileFor)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if o.mem {
		_, err = runMemory(ctx, o)
	} else {
		_, err = run(ctx, o, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// nameSet reads a comma-separated list; an empty list gives nil.
func nameSet(s string) map[string]bool {
	var m map[string]bool
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			if m == nil {
				m = map[string]bool{}
			}
			m[n] = true
		}
	}
	return m
}

// knownScenario reports whether a configuration has this name.
func knownScenario(name string) bool {
	for _, s := range scenarios {
		if s.Name == name {
			return true
		}
	}
	return false
}

// scenarioNames lists the configuration names for help and errors.
func scenarioNames() string {
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

// prepare checks the options, makes the work and output directories and provides the
// Caddy binary. The returned cleanup removes the work directory.
func prepare(ctx context.Context, o *options) (bin string, cleanup func(), err error) {
	o.defaults()
	for n := range o.only {
		if n != "cas" && !knownScenario(n) {
			return "", nil, fmt.Errorf("-only: unknown configuration %q (want %s)", n, scenarioNames())
		}
	}
	if o.dup < 0 || o.dup >= 1 {
		return "", nil, fmt.Errorf("-dup must be in [0, 1)")
	}
	if o.engine == "" {
		o.engine = "raw"
	}
	if o.engine != "raw" && o.engine != "net/http" {
		return "", nil, fmt.Errorf("-engine %q: want raw or net/http", o.engine)
	}
	if o.wrk, err = findWrk(o.wrkFlag); err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return "", nil, err
	}
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return "", nil, err
		}
	}
	if o.work, err = os.MkdirTemp("", "webhook-bench-"); err != nil {
		return "", nil, err
	}
	cleanup = func() { _ = os.RemoveAll(o.work) }
	if o.wrk != "" && !o.mem {
		if o.wrkFixed, o.wrkUnique, err = wrkScripts(o.work); err != nil {
			cleanup()
			return "", nil, err
		}
	}
	bin = o.caddyBin
	if bin == "" {
		o.logf("building ./cmd/caddy")
		if bin, err = buildCaddy(ctx, o.work); err != nil {
			cleanup()
			return "", nil, err
		}
	}
	if bin, err = filepath.Abs(bin); err != nil {
		cleanup()
		return "", nil, err
	}
	return bin, cleanup, nil
}

// prepareWithApp is prepare plus the benchmark's application (the in-process upstream); cleanup
// stops both.
func prepareWithApp(ctx context.Context, o *options) (bin string, up *upstream, cleanup func(), err error) {
	bin, done, err := prepare(ctx, o)
	if err != nil {
		return "", nil, nil, err
	}
	if up, err = startUpstream(); err != nil {
		done()
		return "", nil, nil, err
	}
	return bin, up, func() { up.close(); done() }, nil
}

// run executes the throughput benchmark, prints the table to w and writes
// <out>/bench.json and <out>/bench.md. It fails when a configuration produced no 2xx.
func run(ctx context.Context, o *options, w io.Writer) (*report, error) {
	bin, up, cleanup, err := prepareWithApp(ctx, o)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	rp := &report{
		Started: time.Now().UTC(), Machine: describeMachine(),
		Settings: settings{Short: o.short, Concurrency: o.concurrency, DupShare: o.dup,
			Warmup: o.warmup.String(), Closed: o.closed.String(), Open: o.open.String(), Vendor: benchVendor,
			Rounds: o.rounds, Engine: o.engine, Wrk: o.wrk},
	}
	for round := 1; round <= o.rounds; round++ {
		for _, sc := range scenarios {
			if o.only != nil && !o.only[sc.Name] {
				continue
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			o.logf("[round %d/%d] %s", round, o.rounds, sc.Title)
			r := runScenario(ctx, o, bin, up, sc, round)
			if r.Error != "" {
				o.logf("  %s: %s", sc.Name, r.Error)
			}
			rp.Runs = append(rp.Runs, r)
		}
	}
	if o.only == nil || o.only["cas"] {
		rp.CAS = runCAS(ctx, o, bin, up)
	}
	rp.Machine.LoadAfter = loadavg()
	rp.summarize()
	rp.writeMarkdown(w)
	var md strings.Builder
	rp.writeMarkdown(&md)
	if err := os.WriteFile(filepath.Join(o.out, "bench.md"), []byte(md.String()), 0o644); err != nil {
		return rp, err
	}
	if err := writeJSON(filepath.Join(o.out, "bench.json"), rp); err != nil {
		return rp, err
	}
	var failed []string
	for _, r := range rp.Rows {
		if r.Closed == nil || r.Closed.OK == 0 {
			failed = append(failed, r.Name)
		}
	}
	for _, c := range rp.CAS {
		if c.Error != "" && c.OK == 0 {
			failed = append(failed, fmt.Sprintf("cas (%d processes, %s keys)", c.Processes, c.Keys))
		}
	}
	if len(failed) > 0 {
		return rp, fmt.Errorf("no accepted requests from: %s", strings.Join(failed, ", "))
	}
	return rp, nil
}
