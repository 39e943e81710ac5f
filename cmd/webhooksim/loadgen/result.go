package loadgen

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Latency is a latency summary in milliseconds.
type Latency struct {
	// P50, P90, P99 and P999 are the 50th, 90th, 99th and 99.9th percentiles.
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p99_9_ms"`
	// Max is the slowest request; Mean the average.
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// Summarize returns the latency summary of h.
func Summarize(h *Histogram) Latency {
	return Latency{
		P50:  ms(h.Quantile(0.50)),
		P90:  ms(h.Quantile(0.90)),
		P99:  ms(h.Quantile(0.99)),
		P999: ms(h.Quantile(0.999)),
		Max:  ms(h.Max()),
		Mean: ms(h.Mean()),
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Result is the outcome of one load run.
type Result struct {
	// Mode is "closed" (fixed concurrency) or "open" (fixed arrival rate).
	Mode string `json:"mode"`
	// Concurrency is the number of workers (connections).
	Concurrency int `json:"concurrency"`
	// TargetRate is the intended arrival rate per second (open loop).
	TargetRate float64 `json:"target_rate,omitempty"`
	// Elapsed is the wall time in seconds from the first send to the last answer.
	Elapsed float64 `json:"elapsed_s"`
	// Requests counts the requests that got an answer or a transport error.
	Requests int64 `json:"requests"`
	// OK counts 2xx answers.
	OK int64 `json:"ok"`
	// DuplicatesSent counts re-sends of an earlier accepted event.
	DuplicatesSent int64 `json:"duplicates_sent"`
	// DuplicateAcks counts answers with X-Webhook-Duplicate: true.
	DuplicateAcks int64 `json:"duplicate_acks"`
	// Errors counts non-2xx answers and transport errors.
	Errors int64 `json:"errors"`
	// Statuses counts the non-2xx answers by status code.
	Statuses map[string]int64 `json:"statuses,omitempty"`
	// TransportErrors counts requests without an answer, by kind.
	TransportErrors map[string]int64 `json:"transport_errors,omitempty"`
	// Missed counts open-loop arrivals that were never sent because the run hit its
	// grace deadline: the target could not keep up with the rate.
	Missed int64 `json:"missed,omitempty"`
	// RPS is Requests per second; OKRPS is OK answers per second.
	RPS   float64 `json:"rps"`
	OKRPS float64 `json:"ok_rps"`
	// Latency is measured per request: from the send in closed loop, from the intended
	// send time in open loop.
	Latency Latency `json:"latency"`

	hist *Histogram
}

// Histogram returns the merged latency histogram of the run.
func (r *Result) Histogram() *Histogram { return r.hist }

// String is a human-readable multi-line report.
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mode %s, %d workers", r.Mode, r.Concurrency)
	if r.TargetRate > 0 {
		fmt.Fprintf(&b, ", target %.0f/s", r.TargetRate)
	}
	fmt.Fprintf(&b, ", %.2fs\n", r.Elapsed)
	fmt.Fprintf(&b, "requests %d (%.0f/s), 2xx %d (%.0f/s), errors %d", r.Requests, r.RPS, r.OK, r.OKRPS, r.Errors)
	if r.Missed > 0 {
		fmt.Fprintf(&b, ", missed %d", r.Missed)
	}
	fmt.Fprintf(&b, "\nduplicates sent %d, acked as duplicate %d\n", r.DuplicatesSent, r.DuplicateAcks)
	l := r.Latency
	fmt.Fprintf(&b, "latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
		l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean)
	for _, m := range []struct {
		name string
		m    map[string]int64
	}{{"status", r.Statuses}, {"transport error", r.TransportErrors}} {
		for _, k := range slices.Sorted(maps.Keys(m.m)) {
			fmt.Fprintf(&b, "%s %s: %d\n", m.name, k, m.m[k])
		}
	}
	return b.String()
}

// tally is one worker's counts.
type tally struct {
	hist            Histogram
	requests, ok    int64
	dupSent, dupAck int64
	statuses        map[int]int64
	transport       map[string]int64
}

func (t *tally) record(lat time.Duration, status int, dupAck bool, errKind string) {
	t.hist.Record(lat)
	t.requests++
	switch {
	case errKind != "":
		if t.transport == nil {
			t.transport = map[string]int64{}
		}
		t.transport[errKind]++
	case status >= 200 && status < 300:
		t.ok++
	default:
		if t.statuses == nil {
			t.statuses = map[int]int64{}
		}
		t.statuses[status]++
	}
	if dupAck {
		t.dupAck++
	}
}

// merge folds the workers' tallies into a Result.
func merge(mode string, workers int, rate float64, elapsed time.Duration, ts []*tally) *Result {
	r := &Result{Mode: mode, Concurrency: workers, TargetRate: rate, Elapsed: elapsed.Seconds(), hist: new(Histogram)}
	for _, t := range ts {
		r.hist.Merge(&t.hist)
		r.Requests += t.requests
		r.OK += t.ok
		r.DuplicatesSent += t.dupSent
		r.DuplicateAcks += t.dupAck
		for s, n := range t.statuses {
			if r.Statuses == nil {
				r.Statuses = map[string]int64{}
			}
			r.Statuses[strconv.Itoa(s)] += n
		}
		for k, n := range t.transport {
			if r.TransportErrors == nil {
				r.TransportErrors = map[string]int64{}
			}
			r.TransportErrors[k] += n
		}
	}
	r.Errors = r.Requests - r.OK
	if r.Elapsed > 0 {
		r.RPS = float64(r.Requests) / r.Elapsed
		r.OKRPS = float64(r.OK) / r.Elapsed
	}
	r.Latency = Summarize(r.hist)
	return r
}

// Combine adds up runs of the same kind (for example closed-loop slices interleaved
// with another load generator's): counts and histograms are summed, Elapsed is the sum
// of the runs' times, and the rates are recomputed from those sums.
func Combine(parts []*Result) *Result {
	if len(parts) == 0 {
		return nil
	}
	r := &Result{Mode: parts[0].Mode, Concurrency: parts[0].Concurrency, TargetRate: parts[0].TargetRate, hist: new(Histogram)}
	for _, p := range parts {
		r.Elapsed += p.Elapsed
		r.Requests += p.Requests
		r.OK += p.OK
		r.DuplicatesSent += p.DuplicatesSent
		r.DuplicateAcks += p.DuplicateAcks
		r.Errors += p.Errors
		r.Missed += p.Missed
		r.Statuses = addCounts(r.Statuses, p.Statuses)
		r.TransportErrors = addCounts(r.TransportErrors, p.TransportErrors)
		if p.hist != nil {
			r.hist.Merge(p.hist)
		}
	}
	if r.Elapsed > 0 {
		r.RPS = float64(r.Requests) / r.Elapsed
		r.OKRPS = float64(r.OK) / r.Elapsed
	}
	r.Latency = Summarize(r.hist)
	return r
}

func addCounts(dst, src map[string]int64) map[string]int64 {
	for k, n := range src {
		if dst == nil {
			dst = map[string]int64{}
		}
		dst[k] += n
	}
	return dst
}
