package proc

import (
	"testing"
	"time"
)

// TestCrashSafety acks events while the application is down, kills the
// gateway with SIGKILL, restarts it on the same store and brings the
// application up: every acked event is delivered exactly once, and a re-send
// is answered as a duplicate.
func TestCrashSafety(t *testing.T) {
	const n = 1200
	app := newApp(t) // down
	gw := newGateway(t, "gateway")
	cfg := embeddedConfig(t, app)
	gw.start(cfg)
	firstStart := time.Now()

	led := newLedger()
	snd := newSender(16, led)
	defer snd.close()
	ids := eventIDs("crash", n)
	start := time.Now()
	parallel(16, n, func(i int) { snd.send(gw, ids[i]) })
	t.Logf("acked %d events in %s with the application down: %s", led.ackedCount(), time.Since(start).Round(time.Millisecond), led.summary())
	led.expectAllAcked(t)
	led.expectStoredOnce(t, true)
	if t.Failed() {
		t.FailNow()
	}
	if _, total := app.snapshot(); total != 0 {
		t.Fatalf("the application was down, yet %d deliveries were recorded", total)
	}

	if err := gw.kill(); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	gw.start(cfg)
	app.Up()
	t.Logf("restarted in %s", time.Since(killedAt).Round(time.Millisecond))
	// Killed before its first periodic key index snapshot (every minute), the gateway has none:
	// it replays the window, and the re-send below proves no key was lost.
	if killedAt.Sub(firstStart) < 50*time.Second {
		if got := logLinesWithin(gw, "key index", 2); len(gw.logLines("key index loaded from snapshot")) != 0 {
			t.Errorf("restart after kill -9 within a minute loaded a snapshot: %q", got)
		}
		if got := logLinesWithin(gw, "key index replays the window", 2); len(got) != 2 {
			t.Errorf("%d log lines say the key index replays the window, want 2 (both starts)", len(got))
		}
	}

	// Deliveries in flight at the kill come back after AckWait (timeout 2s + 30s).
	done := app.waitDelivered(ids, 90*time.Second)
	got, _ := app.snapshot()
	early := 0
	for _, ds := range got {
		if len(ds) > 0 && ds[0].at.Sub(killedAt) < 10*time.Second {
			early++
		}
	}
	t.Logf("all %d delivered %s after the restart (%d within 10s)", n, done.Sub(killedAt).Round(time.Millisecond), early)
	gw.waitIdle(60 * time.Second)
	app.expectExactlyOnce(led)

	r := snd.post(gw.url(), ids[n/2])
	if r.err != nil || r.status != 200 || !r.dup {
		t.Errorf("re-send of a delivered event: status %d, duplicate %v, err %v; want 200 and X-Webhook-Duplicate: true", r.status, r.dup, r.err)
	}
	time.Sleep(500 * time.Millisecond)
	if got, _ := app.snapshot(); len(got[keyPrefix+ids[n/2]]) != 1 {
		t.Errorf("the re-sent event was delivered %d times", len(got[keyPrefix+ids[n/2]]))
	}
}

// TestGracefulRestart stops the gateway with SIGTERM while deliveries are in
// flight and restarts it on the same store: the stop drains the attempts in
// flight (they take less than drain_timeout), hands the rest back to the
// queue, and after the restart every acked event is delivered exactly once.
func TestGracefulRestart(t *testing.T) {
	const n = 400
	app := newApp(t)
	app.SetDelay(300 * time.Millisecond) // shorter than drain_timeout 2s
	app.Up()
	gw := newGateway(t, "gateway")
	cfg := embeddedConfig(t, app)
	gw.start(cfg)

	led := newLedger()
	snd := newSender(16, led)
	defer snd.close()
	ids := eventIDs("graceful", n)
	parallel(16, n, func(i int) { snd.send(gw, ids[i]) })
	led.expectAllAcked(t)
	led.expectStoredOnce(t, true)
	_, before := app.snapshot()

	began := time.Now()
	if err := gw.stop(); err != nil {
		t.Fatal(err)
	}
	_, atStop := app.snapshot()
	t.Logf("stopped in %s; %d delivered before the stop, %d by the end of the drain", time.Since(began).Round(time.Millisecond), before, atStop)
	if atStop == n {
		t.Errorf("all %d events were delivered before the stop: nothing was in the queue", n)
	}
	gw.start(cfg)
	// The stop saved the route's key index; the start loads it instead of replaying the window.
	if got := logLinesWithin(gw, "key index loaded from snapshot", 1); len(got) != 1 {
		t.Errorf("after a graceful restart, %d log lines say the key index was loaded from its snapshot, want 1 (replays: %q)",
			len(got), gw.logLines("key index replays the window"))
	}
	done := app.waitDelivered(ids, 90*time.Second)
	t.Logf("all %d delivered %s after the stop", n, done.Sub(began).Round(time.Millisecond))
	gw.waitIdle(60 * time.Second)
	app.expectExactlyOnce(led)
}

// logLinesWithin waits, up to 10 s, until the process's log has want lines containing substr
// (the gateway is listening before its routes have logged how they loaded), and returns them.
func logLinesWithin(g *gateway, substr string, want int) []string {
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := g.logLines(substr)
		if len(got) >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}
