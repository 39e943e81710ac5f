package caddymodule

import (
	"sync"
	"time"
)

// The console's chart and its "last minute / last hour" figures come from counters the gateway
// keeps in memory, per route: a ring of 60 one-minute slots and a ring of 60 one-second slots.
// They start empty when the route's state starts in the process and survive reloads (the
// Prometheus metrics are the long-term record). The metrics observer and the handler's outcome
// feed them, at the cost of a map lookup and a mutex per event.

// Counter kinds.
const (
	countAccepted  = iota // acked and stored (forward), or passed on (gate)
	countDelivered        // the application answered 2xx
	countFailed           // an attempt failed: retried or dead-lettered
	countKinds
)

// ringSlots is the length of both rings: 60 minutes, 60 seconds.
const ringSlots = 60

// slot is one time slot of a ring: its start (unix units of the ring) and its counts.
type slot struct {
	at int64
	n  [countKinds]uint64
}

// ring counts events per time unit over the last ringSlots units.
type ring struct {
	unit  int64 // seconds per slot
	slots [ringSlots]slot
}

func (r *ring) add(now time.Time, kind int) {
	at := now.Unix() / r.unit
	s := &r.slots[at%ringSlots]
	if s.at != at {
		*s = slot{at: at}
	}
	s.n[kind]++
}

// series returns the counts of the last ringSlots units, oldest first, the current one last.
func (r *ring) series(now time.Time) [ringSlots][countKinds]uint64 {
	var out [ringSlots][countKinds]uint64
	cur := now.Unix() / r.unit
	for i := range ringSlots {
		at := cur - int64(ringSlots-1-i)
		if s := r.slots[at%ringSlots]; s.at == at {
			out[i] = s.n
		}
	}
	return out
}

// routeCounts is one route's two rings.
type routeCounts struct {
	mu      sync.Mutex
	minutes ring
	seconds ring
}

// counters holds the rings of every route seen since the process started (route name ->
// *routeCounts); bounded by the number of route names configured.
var counters sync.Map

// countNow is the counters' clock; tests replace it.
var countNow = time.Now

func countEvent(route string, kind int) {
	v, ok := counters.Load(route)
	if !ok {
		v, _ = counters.LoadOrStore(route, &routeCounts{minutes: ring{unit: 60}, seconds: ring{unit: 1}})
	}
	rc := v.(*routeCounts)
	now := countNow()
	rc.mu.Lock()
	rc.minutes.add(now, kind)
	rc.seconds.add(now, kind)
	rc.mu.Unlock()
}

// resetCounts forgets a route's counts: its state starts afresh (the process started it, or the
// route came back after it was removed), so the counts start with it. A reload keeps them.
func resetCounts(route string) {
	counters.Delete(route)
}

// routeActivity is what the console shows of a route's counters.
type routeActivity struct {
	// LastMinute and LastHour are [accepted, delivered, failed] over the last 60 seconds and
	// the last 60 minutes (the current minute included).
	LastMinute [countKinds]uint64 `json:"last_minute"`
	LastHour   [countKinds]uint64 `json:"last_hour"`
	// PerMinute is [accepted, delivered, failed] per minute, oldest first, the current minute last.
	PerMinute [ringSlots][countKinds]uint64 `json:"per_minute"`
	// Since is the start of the first minute of PerMinute.
	Since time.Time `json:"since"`
}

func activityOf(route string) routeActivity {
	now := countNow()
	a := routeActivity{Since: time.Unix((now.Unix()/60-(ringSlots-1))*60, 0).UTC()}
	v, ok := counters.Load(route)
	if !ok {
		return a
	}
	rc := v.(*routeCounts)
	rc.mu.Lock()
	a.PerMinute = rc.minutes.series(now)
	secs := rc.seconds.series(now)
	rc.mu.Unlock()
	for i := range ringSlots {
		for k := range countKinds {
			a.LastHour[k] += a.PerMinute[i][k]
			a.LastMinute[k] += secs[i][k]
		}
	}
	return a
}
