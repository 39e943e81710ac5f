package proc

import (
	"path/filepath"
	"testing"
	"time"
)

// TestCrashSafety acks events while the application is down, kills the
// gateway with SIGKILL, restarts it on the same store and brings the
// application up: every acked event is delivered exactly once, and a re-send
// is answered as a duplicate.
func TestCrashSafety(t *testing.T) {
	skipShort(t)
	const n = 1200
	app := newApp(t) // down
	gw := newGateway(t, "gateway")
	cfg := gwConfig{store: "embedded " + filepath.Join(t.TempDir(), "store"), appURL: app.url()}
	gw.start(cfg)

	led := newLedger()
	snd := newSender(16, led)
	defer snd.close()
	ids := eventIDs("crash", n)
	start := time.Now()
	parallel(16, n, func(i int) { snd.send(gw, ids[i]) })
	t.Logf("acked %d events in %s with the application down: %s", led.ackedCount(), time.Since(start).Round(time.Millisecond), led.summary())
	led.expectAllAcked(t)
	led.expectStoredOnce(t)
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
	app.up()
	t.Logf("restarted in %s", time.Since(killedAt).Round(time.Millisecond))

	// Deliveries in flight at the kill come back after AckWait (timeout 2s + 30s).
	done := app.waitDelivered(ids, 90*time.Second)
	t.Logf("all %d delivered %s after the restart", n, done.Sub(killedAt).Round(time.Millisecond))
	gw.waitIdle(60 * time.Second)
	app.expectExactlyOnce(led)

	r := snd.post(gw.url(), ids[n/2])
	if r.err != nil || r.status != 200 || !r.dup {
		t.Errorf("re-send of a delivered event: status %d, duplicate %v, err %v; want 200 and X-Webhook-Duplicate: true", r.status, r.dup, r.err)
	}
	time.Sleep(500 * time.Millisecond)
	app.expectExactlyOnce(led)
}
