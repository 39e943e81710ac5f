package proc

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// app is the application behind the gateways: testkit's recording upstream
// on a loopback port that keeps its port while down, so a gateway configured
// with its URL finds it again when it comes up. It starts down. A delivery is
// a request it answered 2xx; the process tests read them by idempotency key.
type app struct {
	*testkit.Upstream
	t *testing.T
}

// delivered is one delivery, as the exactly-once checks read it.
type delivered struct {
	id      string // X-Webhook-Id
	attempt string // X-Webhook-Attempt
	gateway string // X-Test-Gateway: the name of the gateway that delivered it
	at      time.Time
}

func newApp(t *testing.T) *app {
	t.Helper()
	testkit.SkipShort(t, "starts real gateway processes")
	u := testkit.NewUpstream(t, nil)
	u.Down()
	return &app{Upstream: u, t: t}
}

func (a *app) url() string { return a.URL + "/events" }

// snapshot returns the deliveries so far by X-Webhook-Idempotency-Key, and
// their number.
func (a *app) snapshot() (map[string][]delivered, int) {
	byKey := a.Delivered("X-Webhook-Idempotency-Key")
	out := make(map[string][]delivered, len(byKey))
	total := 0
	for k, rs := range byKey {
		ds := make([]delivered, len(rs))
		for i, r := range rs {
			ds[i] = delivered{
				id: r.Header.Get("X-Webhook-Id"), attempt: r.Header.Get("X-Webhook-Attempt"),
				gateway: r.Header.Get("X-Test-Gateway"), at: r.At,
			}
		}
		out[k] = ds
		total += len(ds)
	}
	return out, total
}

// waitDelivered waits until every event id in ids was delivered at least
// once, and returns when that happened.
func (a *app) waitDelivered(ids []string, timeout time.Duration) time.Time {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	var missing []string
	for {
		missing = missing[:0]
		got, _ := a.snapshot()
		for _, id := range ids {
			if len(got[keyPrefix+id]) == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			return time.Now()
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("%d of %d acked events not delivered within %s, e.g. %v",
				len(missing), len(ids), timeout, missing[:min(len(missing), 5)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// deliveryReport checks the app's deliveries against the events sent and
// acked: every acked event delivered at least once, nothing delivered that was
// never sent, and it returns the keys delivered more than once.
func (a *app) deliveryReport(led *ledger) (doubles map[string][]delivered) {
	a.t.Helper()
	got, _ := a.snapshot()
	sent, acked := led.sets()
	doubles = map[string][]delivered{}
	for key, ds := range got {
		id, ok := strings.CutPrefix(key, keyPrefix)
		if !ok || !sent[id] {
			a.t.Errorf("delivered a key that was never sent: %q (%d times)", key, len(ds))
			continue
		}
		if len(ds) > 1 {
			doubles[key] = ds
		}
	}
	for id := range acked {
		if len(got[keyPrefix+id]) == 0 {
			a.t.Errorf("acked event %s never delivered", id)
		}
	}
	return doubles
}

// expectExactlyOnce fails for every key delivered more than once.
func (a *app) expectExactlyOnce(led *ledger) {
	a.t.Helper()
	doubles := a.deliveryReport(led)
	n := 0
	for key, ds := range doubles {
		if n++; n <= 10 {
			a.t.Errorf("key %s delivered %d times: %s", key, len(ds), describe(ds))
		}
	}
	if len(doubles) > 0 {
		a.t.Errorf("%d keys delivered more than once", len(doubles))
	}
}

func describe(ds []delivered) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("{id %s attempt %s by %s at %s}", d.id, d.attempt, d.gateway, d.at.Format("15:04:05.000"))
	}
	return strings.Join(parts, " ")
}

// firstDeliveryAfter waits up to timeout for a delivery after t0 (by the
// named gateway, or by any when gateway is empty) and returns its time (zero
// if none came).
func (a *app) firstDeliveryAfter(t0 time.Time, gateway string, timeout time.Duration) time.Time {
	deadline := time.Now().Add(timeout)
	for {
		var first time.Time
		got, _ := a.snapshot()
		for _, ds := range got {
			for _, d := range ds {
				if gateway != "" && d.gateway != gateway {
					continue
				}
				if d.at.After(t0) && (first.IsZero() || d.at.Before(first)) {
					first = d.at
				}
			}
		}
		if !first.IsZero() || time.Now().After(deadline) {
			return first
		}
		time.Sleep(20 * time.Millisecond)
	}
}
