package delivery

import (
	"testing"
	"time"
)

func TestOutagePause(t *testing.T) {
	p := &Policy{BackoffMin: time.Second, BackoffMax: 10 * time.Minute}
	now := time.Unix(1_000_000, 0)
	var o outage
	if w := o.wait(now); w != 0 {
		t.Fatalf("a fresh route waits %v, want 0", w)
	}
	steps := []struct {
		reached bool
		want    time.Duration
	}{
		{false, time.Second},
		{false, 2 * time.Second},
		{false, 4 * time.Second},
		{false, 8 * time.Second},
		{false, 16 * time.Second},
		{false, 30 * time.Second}, // capped at maxOutagePause
		{false, 30 * time.Second},
		{true, 0}, // any answer ends the outage
		{false, time.Second},
	}
	for i, s := range steps {
		o.observe(p, s.reached, now)
		if got := o.wait(now); got != s.want {
			t.Fatalf("step %d: pause %v, want %v", i, got, s.want)
		}
	}
	if got := o.wait(now.Add(2 * time.Second)); got != 0 {
		t.Fatalf("after the pause: %v, want 0", got)
	}
	small := &Policy{BackoffMin: 100 * time.Millisecond, BackoffMax: 300 * time.Millisecond}
	var o2 outage
	for range 5 {
		o2.observe(small, false, now)
	}
	if got := o2.wait(now); got != 300*time.Millisecond {
		t.Fatalf("pause %v, want the backoff maximum 300ms", got)
	}
}

// TestOutageSince: Queue.Outage reports when the current outage began (the first unreachable
// attempt, not the latest) and how long fetching still pauses; one answer clears it.
func TestOutageSince(t *testing.T) {
	p := &Policy{BackoffMin: time.Second, BackoffMax: time.Minute}
	start := time.Unix(2_000_000, 0)
	now := start
	r := &Queue{now: func() time.Time { return now }}
	if since, _ := r.Outage(); !since.IsZero() {
		t.Fatalf("no outage yet, got since %v", since)
	}
	r.down.observe(p, false, now)
	now = now.Add(500 * time.Millisecond)
	r.down.observe(p, false, now) // pause 2s from here
	since, resume := r.Outage()
	if !since.Equal(start) || resume != 2*time.Second {
		t.Fatalf("Outage() = %v, %v; want %v, 2s", since, resume, start)
	}
	r.down.observe(p, true, now)
	if since, resume := r.Outage(); !since.IsZero() || resume != 0 {
		t.Fatalf("after an answer: %v, %v; want no outage", since, resume)
	}
}
