package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// ratio is one performance target (README "Performance"), measured.
type ratio struct {
	Name string `json:"name"`
	// Value is the median over the rounds of the ratio within each round.
	Value  float64 `json:"value"`
	Target string  `json:"target"`
	Met    bool    `json:"met"`
	// Basis says which figures the ratio divides.
	Basis string `json:"basis"`
	// Rounds is the ratio in each round, in order.
	Rounds []float64 `json:"rounds"`
}

// report is the whole benchmark's output.
type report struct {
	Started  time.Time `json:"started"`
	Machine  machine   `json:"machine"`
	Settings settings  `json:"settings"`
	// Rows has one row per configuration: the round with its median throughput.
	Rows []row `json:"rows"`
	// Runs is every configuration of every round, in the order they ran.
	Runs   []row   `json:"runs"`
	Ratios []ratio `json:"ratios"`
	// CAS is the compare-and-set benchmark: two and three gateways on one NATS server.
	CAS []casRow `json:"cas,omitempty"`
}

// settings are the load parameters of the run.
type settings struct {
	Short       bool    `json:"short"`
	Concurrency int     `json:"concurrency"`
	DupShare    float64 `json:"dup_share"`
	Warmup      string  `json:"warmup"`
	Closed      string  `json:"closed"`
	Open        string  `json:"open"`
	Vendor      string  `json:"vendor"`
	Rounds      int     `json:"rounds"`
	// Engine is the generator's engine ("raw": see loadgen.Config.Raw); Wrk the wrk
	// binary that ran beside it, "" when none.
	Engine string `json:"engine"`
	Wrk    string `json:"wrk,omitempty"`
}

// machine describes where the run happened: only ratios carry over to other machines.
type machine struct {
	CPU        string `json:"cpu"`
	CPUs       int    `json:"cpus"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	LoadBefore string `json:"loadavg_before"`
	LoadAfter  string `json:"loadavg_after,omitempty"`
}

// describeMachine reads the CPU model and the load average.
func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, LoadBefore: loadavg()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// loadavg is the first three fields of /proc/loadavg.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// find returns the row with this name, or nil.
func (rp *report) find(name string) *row {
	return findIn(rp.Rows, name)
}

// findIn returns the measured row with this name, or nil.
func findIn(rows []row, name string) *row {
	for i := range rows {
		if rows[i].Name == name && rows[i].Closed != nil {
			return &rows[i]
		}
	}
	return nil
}

// summarize picks each configuration's median round for Rows and computes the ratios
// from Runs.
func (rp *report) summarize() {
	rp.Rows = medianRows(rp.Runs)
	rp.computeRatios()
}

// medianRows returns, per configuration in first-run order, the run with the median
// closed-loop throughput (the lower middle for an even count); a configuration that never
// produced a measurement keeps its last failed run.
func medianRows(runs []row) []row {
	var order []string
	byName := map[string][]row{}
	for _, r := range runs {
		if _, ok := byName[r.Name]; !ok {
			order = append(order, r.Name)
		}
		byName[r.Name] = append(byName[r.Name], r)
	}
	out := make([]row, 0, len(order))
	for _, name := range order {
		all := byName[name]
		var ok []row
		for _, r := range all {
			if r.Closed != nil {
				ok = append(ok, r)
			}
		}
		if len(ok) == 0 {
			out = append(out, all[len(all)-1])
			continue
		}
		slices.SortStableFunc(ok, func(a, b row) int { return cmp.Compare(a.Closed.OKRPS, b.Closed.OKRPS) })
		out = append(out, ok[(len(ok)-1)/2])
	}
	return out
}

// ratioSpec is how one target ratio is computed from the rows of one round.
type ratioSpec struct {
	name, target, basis string
	atLeast             bool
	limit               float64
	num, den            func(rows []row) float64
}

// closedRPS and the other helpers read one figure of a named row; 0 when missing.
func closedRPS(name string) func([]row) float64 {
	return func(rows []row) float64 {
		if r := findIn(rows, name); r != nil {
			return r.Closed.OKRPS
		}
		return 0
	}
}

func closedP99(name string) func([]row) float64 {
	return func(rows []row) float64 {
		if r := findIn(rows, name); r != nil {
			return r.Closed.Latency.P99
		}
		return 0
	}
}

func openP99(name string) func([]row) float64 {
	return func(rows []row) float64 {
		if r := findIn(rows, name); r != nil && r.Open != nil {
			return r.Open.Latency.P99
		}
		return 0
	}
}

func wrkRPS(name string) func([]row) float64 {
	return func(rows []row) float64 {
		if r := findIn(rows, name); r != nil && r.Wrk != nil {
			return r.Wrk.OKRPS
		}
		return 0
	}
}

// ratioSpecs are the performance targets' ratios (README "Performance"), then the ones that need
// wrk (nonWrkRatios marks the boundary): whether our generator keeps up with wrk on the fastest
// configuration, and the throughput ratios by wrk.
var ratioSpecs = []ratioSpec{
	{"gate / reverse_proxy throughput", "≥ 0.95", "2xx/s, closed loop", true, 0.95, closedRPS("gate"), closedRPS("reverse_proxy")},
	{"forward, app down / respond throughput", "≥ 0.5", "2xx/s, closed loop", true, 0.5, closedRPS("forward_app_down"), closedRPS("respond")},
	{"forward, app up / reverse_proxy throughput", "≥ 1.0", "2xx/s, closed loop", true, 1.0, closedRPS("forward"), closedRPS("reverse_proxy")},
	{"sync always / sync interval throughput", "≥ 0.8", "2xx/s, closed loop", true, 0.8, closedRPS("forward_sync_always"), closedRPS("forward")},
	{"sync always / sync interval throughput, app down", "≥ 0.8", "2xx/s, closed loop, nothing delivered during the run", true, 0.8, closedRPS("forward_app_down_sync_always"), closedRPS("forward_app_down")},
	{"p99 ack, app down / app up", "≤ 1.5", "open loop at 50% of each peak", false, 1.5, openP99("forward_app_down"), openP99("forward")},
	{"p99 ack, app down / app up (closed loop)", "≤ 1.5", "closed loop p99", false, 1.5, closedP99("forward_app_down"), closedP99("forward")},
	{"load generator / wrk, plain respond", "≥ 0.9", "2xx/s, same connections and duration", true, 0.9, closedRPS("respond"), wrkRPS("respond")},
	{"gate / reverse_proxy throughput, by wrk", "≥ 0.95", "wrk 2xx/s", true, 0.95, wrkRPS("gate"), wrkRPS("reverse_proxy")},
	{"forward, app down / respond throughput, by wrk", "≥ 0.5", "wrk 2xx/s", true, 0.5, wrkRPS("forward_app_down"), wrkRPS("respond")},
}

// computeRatios computes each ratio within every round (the two configurations ran
// minutes apart at most) and reports the median over the rounds.
// nonWrkRatios is how many of ratioSpecs need no wrk.
const nonWrkRatios = 7

func (rp *report) computeRatios() {
	rounds := map[int][]row{}
	var order []int
	for _, r := range rp.Runs {
		if _, ok := rounds[r.Round]; !ok {
			order = append(order, r.Round)
		}
		rounds[r.Round] = append(rounds[r.Round], r)
	}
	rp.Ratios = nil
	for _, spec := range ratioSpecs {
		var vals []float64
		for _, n := range order {
			num, den := spec.num(rounds[n]), spec.den(rounds[n])
			if num > 0 && den > 0 {
				vals = append(vals, num/den)
			}
		}
		if len(vals) == 0 {
			continue
		}
		sorted := slices.Sorted(slices.Values(vals))
		v := sorted[(len(sorted)-1)/2]
		met := v >= spec.limit
		if !spec.atLeast {
			met = v <= spec.limit
		}
		rp.Ratios = append(rp.Ratios, ratio{Name: spec.name, Value: v, Target: spec.target, Met: met, Basis: spec.basis, Rounds: vals})
	}
}

// writeMarkdown prints the results table and the ratios.
func (rp *report) writeMarkdown(w io.Writer) {
	fmt.Fprintf(w, "Machine: %s, %d CPUs, %s, %s; load average before %s, after %s.\n",
		rp.Machine.CPU, rp.Machine.CPUs, rp.Machine.OS, rp.Machine.GoVersion, rp.Machine.LoadBefore, rp.Machine.LoadAfter)
	s := rp.Settings
	fmt.Fprintf(w, "Load: %s events from the %s engine, %d workers closed loop for %s (after %s warm-up), then open loop at 50%% of that peak for %s; duplicate share %.2f; %d round(s), each row the round with the median req/s.\n",
		s.Vendor, s.Engine, s.Concurrency, s.Closed, s.Warmup, s.Open, s.DupShare, s.Rounds)
	if s.Wrk != "" {
		fmt.Fprintf(w, "wrk (%s) ran each closed loop too, with the same connections and for the same time, in slices of about 2 s taking turns with ours; it sends a fixed body to plain Caddy and a new eventId per request to the gateway. Load CPU is the client's CPU time per 10k requests (ours includes the in-process application).\n", s.Wrk)
	}
	fmt.Fprintln(w)
	if len(rp.Rows) == 0 {
		rp.writeCAS(w)
		return
	}
	fmt.Fprintln(w, "| # | configuration | req/s | wrk req/s | ours / wrk | load CPU s / 10k, ours / wrk | p50 ms | p99 ms | p99.9 ms | errors | open-loop rate | open p50 ms | open p99 ms | open p99.9 ms | CPU s / 10k req | peak RSS MB | delivered by the end |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for i, r := range rp.Rows {
		if r.Closed == nil {
			fmt.Fprintf(w, "| %d | %s | failed: %s |||||||||||||||\n", i+1, r.Title, oneLine(r.Error))
			continue
		}
		c := r.Closed
		open := "| – | – | – | – "
		if o := r.Open; o != nil {
			open = fmt.Sprintf("| %.0f/s | %.2f | %.2f | %.2f ", o.TargetRate, o.Latency.P50, o.Latency.P99, o.Latency.P999)
		}
		delivered := "–"
		if strings.HasPrefix(r.Name, "forward") && r.accepted() > 0 {
			delivered = fmt.Sprintf("%.0f%%", 100*float64(r.Deliveries)/float64(r.accepted()))
		}
		wrkCells := "– | – | –"
		if r.Wrk != nil && r.Wrk.OKRPS > 0 {
			wrkCells = fmt.Sprintf("%.0f | %.2f | %.2f / %.2f", r.Wrk.OKRPS, c.OKRPS/r.Wrk.OKRPS, r.LoadCPUPer10k, r.Wrk.CPUPer10k)
		} else if r.WrkError != "" {
			wrkCells = "failed | – | –"
		}
		fmt.Fprintf(w, "| %d | %s | %.0f | %s | %.2f | %.2f | %.2f | %s %s| %.2f | %.1f | %s |\n",
			i+1, r.Title, c.OKRPS, wrkCells, c.Latency.P50, c.Latency.P99, c.Latency.P999, errorsCell(r), open,
			r.CPUPer10k, float64(r.Memory.Peak)/(1<<20), delivered)
	}
	fmt.Fprintln(w)
	for _, ra := range rp.Ratios {
		verdict := "meets"
		if !ra.Met {
			verdict = "misses"
		}
		each := ""
		if len(ra.Rounds) > 1 {
			parts := make([]string, len(ra.Rounds))
			for i, v := range ra.Rounds {
				parts[i] = fmt.Sprintf("%.2f", v)
			}
			each = "; median of rounds " + strings.Join(parts, ", ")
		}
		fmt.Fprintf(w, "- %s: **%.2f** (target %s, %s; %s%s)\n", ra.Name, ra.Value, ra.Target, verdict, ra.Basis, each)
	}
	rp.writeCAS(w)
}

// writeCAS prints the compare-and-set table.
func (rp *report) writeCAS(w io.Writer) {
	if len(rp.CAS) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Compare-and-set races: gateways sharing one NATS server (in the benchmark's process) and one route, each with its own key index. distinct: each new event to one gateway at random; same: each event to all of them at once.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| gateways | keys | events | events/s | 2xx | CAS publishes | lost races (wrong last / in flight) | conflict rate | events not new exactly once |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, c := range rp.CAS {
		if c.Error != "" && c.OK == 0 {
			fmt.Fprintf(w, "| %d | %s | failed: %s ||||||\n", c.Processes, c.Keys, oneLine(c.Error))
			continue
		}
		notOnce := "–"
		if c.Keys == "same" {
			notOnce = fmt.Sprint(c.NotOnce)
		}
		fmt.Fprintf(w, "| %d | %s | %d | %.0f | %d | %d | %d / %d | %.2f%% | %s |\n",
			c.Processes, c.Keys, c.Events, c.EventsPerSecond, c.OK, c.Publishes, c.WrongLast, c.InFlight, 100*c.ConflictRate, notOnce)
	}
}

// errorsCell sums the errors of both runs.
func errorsCell(r row) string {
	n := r.Closed.Errors
	if r.Open != nil {
		n += r.Open.Errors + r.Open.Missed
	}
	return fmt.Sprint(n)
}

// oneLine keeps the first line of an error for a table cell.
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.ReplaceAll(s, "|", "/")
}

// writeJSON writes v as indented JSON to path.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
