package proc

import (
	"testing"
	"time"
)

// TestLoad64Senders sends 10,000 events from 64 concurrent senders, one in
// ten a re-send of an earlier event, to one gateway with the embedded store
// and the application up: every unique acked event is delivered exactly once
// and every re-send is answered as a duplicate. It logs the rates reached; no
// time is asserted.
func TestLoad64Senders(t *testing.T) {
	const (
		events  = 10_000
		senders = 64
		unique  = events - events/10
	)
	app := newApp(t)
	app.Up()
	gw := newGateway(t, "gateway")
	gw.start(embeddedConfig(t, app))

	led := newLedger()
	snd := newSender(senders, led)
	defer snd.close()
	ids := eventIDs("load", unique)
	// The request stream: every tenth request re-sends an earlier event, once
	// its original was answered (each original closes its channel when
	// answered; the re-send waits for it, bounded).
	type req struct {
		event int
		dup   bool
	}
	plan := make([]req, 0, events)
	next := 0
	for len(plan) < events {
		if len(plan)%10 == 9 {
			plan = append(plan, req{event: (len(plan) * 7919) % next, dup: true})
			continue
		}
		plan = append(plan, req{event: next})
		next++
	}
	answered := make([]chan struct{}, unique)
	for i := range answered {
		answered[i] = make(chan struct{})
	}
	lateDupNew := 0
	results := make([]result, len(plan))
	start := time.Now()
	parallel(senders, len(plan), func(i int) {
		p := plan[i]
		id := ids[p.event]
		if !p.dup {
			results[i] = snd.send(gw, id)
			close(answered[p.event])
			return
		}
		select {
		case <-answered[p.event]:
		case <-time.After(30 * time.Second):
		}
		results[i] = snd.send(gw, id)
	})
	ackTime := time.Since(start)
	first := make([]bool, unique) // the original was acked
	for i, p := range plan {
		if !p.dup {
			first[p.event] = results[i].ok()
		}
	}
	for i, p := range plan {
		if p.dup && first[p.event] && results[i].ok() && !results[i].dup {
			lateDupNew++
		}
	}
	t.Logf("acks: %d requests (%d unique) from %d senders in %s: %.0f events/s; %s",
		len(plan), unique, senders, ackTime.Round(time.Millisecond), float64(len(plan))/ackTime.Seconds(), led.summary())
	led.expectAllAcked(t)
	led.expectStoredOnce(t, true)
	if lateDupNew > 0 {
		t.Errorf("%d re-sends of already acked events were answered without X-Webhook-Duplicate", lateDupNew)
	}

	done := app.waitDelivered(led.ackedIDs(), 120*time.Second)
	deliverTime := done.Sub(start)
	t.Logf("deliveries: %d unique events delivered %s after the first send: %.0f events/s",
		led.ackedCount(), deliverTime.Round(time.Millisecond), float64(led.ackedCount())/deliverTime.Seconds())
	gw.waitIdle(60 * time.Second)
	app.expectExactlyOnce(led)
}
