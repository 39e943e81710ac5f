package proc

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestScaleOut runs two gateways on one external nats-server with the same
// route name and spreads unique events and duplicates across both, each
// duplicate sent to the other gateway than its original, half of them at the
// same time as the original: the replicas share one dedup window and one
// queue, so every event is stored once and delivered once.
func TestScaleOut(t *testing.T) {
	const unique = 2000
	natsURL := startNATS(t)
	app := newApp(t)
	app.Up()
	cfg := gwConfig{store: "nats " + natsURL, appURL: app.url(), concurrency: 8}
	gws := [2]*gateway{newGateway(t, "gateway-a"), newGateway(t, "gateway-b")}
	for _, g := range gws {
		g.start(cfg)
	}

	led := newLedger()
	snd := newSender(32, led)
	defer snd.close()
	ids := eventIDs("scale", unique)
	// Every fifth event has a duplicate on the other gateway: for i%10 == 0
	// sent concurrently with the original, otherwise after all originals.
	isDup := func(i int) bool { return i%5 == 0 }
	concurrent := func(i int) bool { return i%10 == 0 }
	var later []int
	for i := range ids {
		if isDup(i) && !concurrent(i) {
			later = append(later, i)
		}
	}
	var raceBoth, raceOneNew atomic.Int64
	orig := make([]result, unique)
	start := time.Now()
	parallel(16, unique, func(i int) {
		own, other := gws[i%2], gws[1-i%2]
		if !concurrent(i) {
			orig[i] = snd.send(own, ids[i])
			return
		}
		var wg sync.WaitGroup
		var r1, r2 result
		wg.Go(func() { r1 = snd.send(own, ids[i]) })
		wg.Go(func() { r2 = snd.send(other, ids[i]) })
		wg.Wait()
		if r1.ok() && r2.ok() {
			raceBoth.Add(1)
			if r1.dup != r2.dup {
				raceOneNew.Add(1)
			}
		}
	})
	parallel(16, len(later), func(j int) {
		i := later[j]
		r := snd.send(gws[1-i%2], ids[i])
		if orig[i].ok() && r.ok() && !r.dup {
			t.Errorf("late duplicate of %s on the other gateway answered without X-Webhook-Duplicate", ids[i])
		}
	})
	sendTime := time.Since(start)
	requests := unique + unique/5
	t.Logf("sent %d requests (%d unique) in %s (%.0f/s): %s; concurrent pairs both acked %d, of which one new + one duplicate %d",
		requests, unique, sendTime.Round(time.Millisecond), float64(requests)/sendTime.Seconds(), led.summary(), raceBoth.Load(), raceOneNew.Load())
	led.expectAllAcked(t)
	led.expectStoredOnce(t, true)

	done := app.waitDelivered(led.ackedIDs(), 90*time.Second)
	t.Logf("all %d acked events delivered %s after the first send", led.ackedCount(), done.Sub(start).Round(time.Millisecond))
	for _, g := range gws {
		g.waitIdle(60 * time.Second)
	}
	app.expectExactlyOnce(led)
	logDeliveries(t, app)
}

// logDeliveries logs how many deliveries the application got, and how many
// of them on the first attempt.
func logDeliveries(t *testing.T, a *app) {
	t.Helper()
	got, total := a.snapshot()
	first := 0
	for _, ds := range got {
		if len(ds) > 0 && ds[0].attempt == "1" {
			first++
		}
	}
	t.Logf("application received %d deliveries for %d keys; %d on the first attempt", total, len(got), first)
}

// TestScaleOutKill kills one of two gateways on a shared nats-server with
// SIGKILL in the middle of the load. Senders that lose their gateway retry the
// event on the other one, as a load balancer would. Every event acked by
// either gateway is delivered by the survivor.
//
// A second delivery of one key can only come from an attempt that was in
// flight in the killed gateway: the application got (and may have answered)
// the request, but the gateway died before it replaced the event with its
// dedup marker and acked it, so the survivor gets the event again once the
// consumer's AckWait (forward timeout + 30s) passes. Those attempts are
// bounded by the forward concurrency of the killed gateway, and every event
// acked and not in flight at the kill is delivered exactly once: the test
// checks that the first delivery of a doubled key reached the application
// before the victim died, and that at most concurrency keys doubled. Both
// deliveries of such a key carry the same X-Webhook-Id: the event was stored
// once.
func TestScaleOutKill(t *testing.T) {
	const (
		n           = 2000
		concurrency = 4
	)
	natsURL := startNATS(t)
	app := newApp(t)
	app.SetDelay(20 * time.Millisecond) // so that deliveries are in flight at the kill
	app.Up()
	cfg := gwConfig{store: "nats " + natsURL, appURL: app.url(), concurrency: concurrency}
	survivor, victim := newGateway(t, "gateway-a"), newGateway(t, "gateway-b")
	survivor.start(cfg)
	victim.start(cfg)
	gws := [2]*gateway{survivor, victim}

	led := newLedger()
	snd := newSender(32, led)
	defer snd.close()
	ids := eventIDs("kill", n)
	var failovers atomic.Int64
	killErr := make(chan error, 1)
	var killedAt, deadAt time.Time
	var sent atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() {
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if sent.Load() >= n/2 {
				break
			}
		}
		killedAt = time.Now()
		err := victim.kill()
		deadAt = time.Now()
		killErr <- err
	})
	parallel(16, n, func(i int) {
		r := snd.send(gws[i%2], ids[i])
		sent.Add(1)
		if !r.ok() {
			failovers.Add(1)
			snd.send(gws[1-i%2], ids[i])
		}
	})
	wg.Wait()
	sendTime := time.Since(start)
	if err := <-killErr; err != nil {
		t.Fatal(err)
	}
	t.Logf("sent %d events in %s, killed %s at %s, %d retried on the other gateway: %s",
		n, sendTime.Round(time.Millisecond), victim.name, killedAt.Sub(start).Round(time.Millisecond), failovers.Load(), led.summary())
	if failovers.Load() == 0 {
		t.Errorf("the kill came after the load: no request failed over")
	}
	led.expectStoredOnce(t, false)
	if acked := led.ackedCount(); acked < n-100 {
		t.Errorf("only %d of %d events acked by either gateway", acked, n)
	}

	// The victim's in-flight events come back after AckWait (2s + 30s).
	done := app.waitDelivered(led.ackedIDs(), 120*time.Second)
	t.Logf("all %d acked events delivered %s after the kill", led.ackedCount(), done.Sub(killedAt).Round(time.Millisecond))
	survivor.waitIdle(60 * time.Second)
	doubles := app.deliveryReport(led)
	for key, ds := range doubles {
		t.Logf("delivered twice: %s: %s", key, describe(ds))
		if len(ds) > 2 {
			t.Errorf("key %s delivered %d times", key, len(ds))
		}
		if ds[0].id != ds[len(ds)-1].id {
			t.Errorf("key %s delivered as two different events (%s, %s): stored twice", key, ds[0].id, ds[len(ds)-1].id)
		}
		// The first delivery must be the victim's attempt in flight at the
		// kill (the margin covers a request still in the socket buffer).
		if !ds[0].at.Before(deadAt.Add(time.Second)) {
			t.Errorf("key %s delivered twice, the first time after the kill: not an attempt in flight at the kill", key)
		}
	}
	t.Logf("%d keys delivered twice (bound: forward concurrency %d of the killed gateway)", len(doubles), concurrency)
	if len(doubles) > concurrency {
		t.Errorf("%d keys delivered twice, more than the %d attempts the killed gateway can have in flight", len(doubles), concurrency)
	}
}
