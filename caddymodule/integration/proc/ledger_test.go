package proc

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// ledger records what the senders sent and which events got a 2xx.
type ledger struct {
	mu       sync.Mutex
	sent     map[string]bool
	acked    map[string]bool
	ackedAt  map[string]time.Time // when the first 2xx came
	stored   map[string]int       // 2xx answers without X-Webhook-Duplicate
	dupAcks  map[string]int       // 2xx answers with X-Webhook-Duplicate: true
	byStatus map[int]int          // answers by status, 0 for a transport error
	lastErr  string
	lastBad  string // the last non-2xx answer's body
}

func newLedger() *ledger {
	return &ledger{
		sent: map[string]bool{}, acked: map[string]bool{}, ackedAt: map[string]time.Time{}, stored: map[string]int{},
		dupAcks: map[string]int{}, byStatus: map[int]int{},
	}
}

func (l *ledger) record(id string, r result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent[id] = true
	l.byStatus[r.status]++
	switch {
	case r.err != nil:
		l.lastErr = r.err.Error()
	case !r.ok():
		l.lastBad = fmt.Sprintf("%d %s", r.status, r.body)
	default:
		if !l.acked[id] {
			l.ackedAt[id] = time.Now()
		}
		l.acked[id] = true
		if r.dup {
			l.dupAcks[id]++
		} else {
			l.stored[id]++
		}
	}
}

func (l *ledger) sets() (sent, acked map[string]bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.sent), maps.Clone(l.acked)
}

func (l *ledger) ackedIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Sorted(maps.Keys(l.acked))
}

func (l *ledger) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

func (l *ledger) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	codes := slices.Sorted(maps.Keys(l.byStatus))
	var b strings.Builder
	fmt.Fprintf(&b, "%d events sent, %d acked; answers:", len(l.sent), len(l.acked))
	for _, c := range codes {
		fmt.Fprintf(&b, " %d×%d", l.byStatus[c], c)
	}
	if l.lastErr != "" {
		fmt.Fprintf(&b, "; last transport error: %s", l.lastErr)
	}
	if l.lastBad != "" {
		fmt.Fprintf(&b, "; last non-2xx answer: %s", l.lastBad)
	}
	return b.String()
}

// expectStoredOnce fails for an event that two answers reported as newly
// stored (2xx without X-Webhook-Duplicate): the dedup window let it in twice.
// With exact, every acked event must also have been answered as new once
// (no gateway died with an answer unsent).
func (l *ledger) expectStoredOnce(t *testing.T, exact bool) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	bad := 0
	for id := range l.acked {
		c := l.stored[id]
		if c > 1 || (exact && c != 1) {
			if bad++; bad <= 10 {
				t.Errorf("event %s answered as new %d times and as a duplicate %d times", id, c, l.dupAcks[id])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d events were not stored exactly once", bad)
	}
}

// expectAllAcked fails unless every request got a 2xx.
func (l *ledger) expectAllAcked(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for code, n := range l.byStatus {
		if code < 200 || code > 299 {
			t.Errorf("%d requests answered %d (0: transport error; last: %s)", n, code, l.lastErr)
		}
	}
}

// result is the gateway's answer to one webhook.
type result struct {
	status    int
	dup       bool
	webhookID string
	body      string // of a non-2xx answer, for the test log
	err       error
}

func (r result) ok() bool { return r.err == nil && r.status >= 200 && r.status < 300 }
