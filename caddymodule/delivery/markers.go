package delivery

import (
	"slices"
	"sync"
)

// markersAhead tracks the dedup markers this process wrote that the delivery consumer has not
// passed yet. A delivered event is replaced by a marker on the same subject (that is what keeps
// its key a duplicate, atomically), and the marker is a new message queued behind the backlog:
// the consumer's pending count therefore stays flat while a backlog drains (one event out, one
// marker in) and drops only when the workers reach the markers. Stats subtracts these markers so
// that Pending moves as deliveries complete.
//
// Markers written by other processes on the same cluster are not known here, so with several
// replicas Pending can still read high by their share until the workers pass those markers.
type markersAhead struct {
	mu   sync.Mutex
	seqs []uint64 // sorted stream sequences
}

// add records a marker written at stream sequence seq.
func (m *markersAhead) add(seq uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, found := slices.BinarySearch(m.seqs, seq)
	if !found {
		m.seqs = slices.Insert(m.seqs, i, seq)
	}
}

// passed forgets every marker at or below seq: the consumer delivers in stream order, so those
// are behind it (handled, or expired before it got there).
func (m *markersAhead) passed(seq uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, found := slices.BinarySearch(m.seqs, seq)
	if found {
		i++
	}
	if i > 0 {
		m.seqs = append(m.seqs[:0], m.seqs[i:]...)
	}
}

// count returns the markers above seq, the consumer's delivered stream sequence.
func (m *markersAhead) count(above uint64) uint64 {
	m.passed(above)
	m.mu.Lock()
	defer m.mu.Unlock()
	return uint64(len(m.seqs))
}
