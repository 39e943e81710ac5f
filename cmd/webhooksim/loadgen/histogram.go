// Package loadgen drives HTTP load with simulated vendor webhooks: closed-loop (a fixed
// number of workers, each sending as fast as answers come back) or open-loop (a fixed
// arrival rate, with latency measured from each request's intended send time, so that a
// stalled server cannot hide the queue that builds behind it: no coordinated omission).
// Latencies go into log-linear histograms of fixed size, so memory does not grow with
// the number of requests.
package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// Histogram layout: values below subCount nanoseconds have a bucket each; above, every
// power of two is split into subCount buckets, so a bucket is at most 1/subCount (0.8%)
// of its value wide. Values above maxTrackable are recorded as maxTrackable.
const (
	subBits      = 7
	subCount     = 1 << subBits
	maxExp       = 33 // 2^(maxExp+subBits+1) ns ≈ 2199 s
	bucketCount  = subCount * (maxExp + 2)
	maxTrackable = int64(1)<<(maxExp+subBits+1) - 1
)

// Histogram counts latencies with bounded relative error. The zero value is empty and
// ready to use. It is not safe for concurrent use: give each worker its own and Merge.
type Histogram struct {
	counts   [bucketCount]uint64
	n        uint64
	sum      float64 // nanoseconds
	min, max int64
}

// bucketOf returns the bucket index of v nanoseconds (v ≥ 0).
func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - subBits - 1
	return subCount*(e+1) + int(v>>uint(e)) - subCount
}

// bucketRange returns the lowest and highest value of bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < subCount {
		return int64(i), int64(i)
	}
	e := i/subCount - 1
	m := int64(i%subCount + subCount)
	return m << uint(e), (m+1)<<uint(e) - 1
}

// Record adds one latency. Negative values count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	v = min(v, maxTrackable)
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += float64(v)
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest recorded value, exact.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Min is the smallest recorded value, exact.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Mean is the exact mean of the recorded values.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the value at quantile q (0 < q ≤ 1): the smallest recorded value v
// such that at least q of the values are ≤ v, to within one bucket (0.8%). It reports
// the middle of that bucket, clamped to the exact minimum and maximum.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			mid := lo + (hi-lo)/2
			return time.Duration(min(max(mid, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
