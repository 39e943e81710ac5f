package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// exactQuantile is the nearest-rank quantile of sorted values.
func exactQuantile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func TestHistogramQuantilesWithinOnePercent(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	dists := map[string]func() int64{
		"uniform 0-2ms":     func() int64 { return r.Int64N(2_000_000) },
		"lognormal ~1ms":    func() int64 { return int64(math.Exp(r.NormFloat64()*1.2 + 13.8)) },
		"bimodal with tail": func() int64 { return pick(r, 300_000, 2_500_000_000) },
		"tiny values":       func() int64 { return r.Int64N(300) },
	}
	for name, gen := range dists {
		t.Run(name, func(t *testing.T) {
			var h Histogram
			vals := make([]int64, 50000)
			for i := range vals {
				vals[i] = gen()
				h.Record(time.Duration(vals[i]))
			}
			slices.Sort(vals)
			for _, q := range []float64{0.001, 0.5, 0.9, 0.99, 0.999, 1} {
				want := float64(exactQuantile(vals, q))
				got := float64(h.Quantile(q))
				if math.Abs(got-want) > want/100+1 {
					t.Errorf("q%v: got %v, want %v (±1%%)", q, got, want)
				}
			}
			if h.Max() != time.Duration(vals[len(vals)-1]) || h.Min() != time.Duration(vals[0]) {
				t.Errorf("min/max %v/%v, want %v/%v", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
			}
			var sum float64
			for _, v := range vals {
				sum += float64(v)
			}
			if d := math.Abs(float64(h.Mean()) - sum/float64(len(vals))); d > 1 {
				t.Errorf("mean off by %v ns", d)
			}
		})
	}
}

func pick(r *rand.Rand, a, b int64) int64 {
	if r.IntN(100) == 0 {
		return b + r.Int64N(b/10)
	}
	return a + r.Int64N(a)
}

func TestHistogramBuckets(t *testing.T) {
	prevHi := int64(-1)
	for i := range bucketCount {
		lo, hi := bucketRange(i)
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d [%d,%d] does not follow %d", i, lo, hi, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d: bucketOf(%d)=%d bucketOf(%d)=%d", i, lo, bucketOf(lo), hi, bucketOf(hi))
		}
		if lo >= subCount && float64(hi-lo+1) > float64(lo)/subCount+1 {
			t.Fatalf("bucket %d too wide: [%d,%d]", i, lo, hi)
		}
		prevHi = hi
	}
	if prevHi != maxTrackable {
		t.Fatalf("last bucket ends at %d, want %d", prevHi, maxTrackable)
	}
}

func TestHistogramEdges(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram is not zero")
	}
	h.Record(-5)
	h.Record(time.Duration(math.MaxInt64))
	if h.Min() != 0 || h.Max() != time.Duration(maxTrackable) {
		t.Fatalf("clamping: min %v max %v", h.Min(), h.Max())
	}
	var a, b, all Histogram
	for i := range 1000 {
		d := time.Duration(i) * time.Microsecond
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	a.Merge(&Histogram{})
	if a.Count() != all.Count() || a.Quantile(0.99) != all.Quantile(0.99) || a.Min() != all.Min() || a.Max() != all.Max() {
		t.Fatalf("merge differs: %v/%v vs %v/%v", a.Count(), a.Quantile(0.99), all.Count(), all.Quantile(0.99))
	}
}

func TestArrival(t *testing.T) {
	start := time.Unix(100, 0)
	for _, tc := range []struct {
		i    int64
		rate float64
		want time.Duration
	}{{0, 1000, 0}, {1, 1000, time.Millisecond}, {1500, 1000, 1500 * time.Millisecond}, {3, 3, time.Second}, {7, 0.5, 14 * time.Second}} {
		if got := Arrival(start, tc.i, tc.rate).Sub(start); got != tc.want {
			t.Errorf("Arrival(%d, %v) = +%v, want +%v", tc.i, tc.rate, got, tc.want)
		}
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	d := time.Duration(1)
	for b.Loop() {
		h.Record(d)
		d = d*3 + 7&(1<<30-1)
	}
}
