package proc

import (
	"path/filepath"
	"testing"
	"time"
)

// TestCrashSafetySyncAlways is TestCrashSafety under `sync always`, whose acks wait for the
// gateway's own group fsyncs of the store's block files: 64 senders at once (so that acks
// share fsync rounds), a kill -9 right after the last 2xx, a restart on the same store. Every
// acked event is delivered exactly once, and a re-send is answered as a duplicate. (A kill -9
// keeps the kernel's page cache, so it shows that the group commit loses nothing a crash of
// the process could take and that the store recovers from it; that each ack came after an
// fsync covering its event is TestGroupSyncCoversEveryAck in the delivery package.)
func TestCrashSafetySyncAlways(t *testing.T) {
	const n = 600
	app := newApp(t) // down
	gw := newGateway(t, "gateway")
	// The sync policy rides on the store option: the harness writes it into the same global
	// block.
	cfg := gwConfig{store: "embedded " + filepath.Join(t.TempDir(), "store") + "\n\t\tsync always", appURL: app.url()}
	gw.start(cfg)

	led := newLedger()
	snd := newSender(64, led)
	defer snd.close()
	ids := eventIDs("syncalways", n)
	start := time.Now()
	parallel(64, n, func(i int) { snd.send(gw, ids[i]) })
	if err := gw.kill(); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	t.Logf("acked %d events in %s with the application down, then kill -9: %s", led.ackedCount(), killedAt.Sub(start).Round(time.Millisecond), led.summary())
	led.expectAllAcked(t)
	led.expectStoredOnce(t, true)
	if t.Failed() {
		t.FailNow()
	}

	gw.start(cfg)
	app.Up()
	done := app.waitDelivered(ids, 90*time.Second)
	t.Logf("all %d delivered %s after the kill", n, done.Sub(killedAt).Round(time.Millisecond))
	gw.waitIdle(60 * time.Second)
	app.expectExactlyOnce(led)

	r := snd.post(gw.url(), ids[n/3])
	if r.err != nil || r.status != 200 || !r.dup {
		t.Errorf("re-send of a delivered event: status %d, duplicate %v, err %v; want 200 and X-Webhook-Duplicate: true", r.status, r.dup, r.err)
	}
}
