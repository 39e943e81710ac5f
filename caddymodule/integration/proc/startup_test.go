package proc

import (
	"fmt"
	"testing"
)

// TestNoUnavailableAtStartup: Caddy starts its apps in random order, so the
// HTTP server can take requests a few milliseconds before the webhook_gateway
// app has opened the store. Those requests must wait for it and be acked, not
// get a 503: a vendor that never retries (Attestr) would lose the event.
func TestNoUnavailableAtStartup(t *testing.T) {
	app := newApp(t)
	app.Up()
	gw := newGateway(t, "gateway")
	cfg := embeddedConfig(t, app)
	led := newLedger()
	snd := newSender(1, led)
	defer snd.close()
	for i := range 6 {
		gw.start(cfg) // returns as soon as the site answers
		id := fmt.Sprintf("startup-%d", i)
		if r := snd.send(gw, id); !r.ok() {
			gw.dumpLog()
			t.Fatalf("start %d: the first event got status %d (err %v), want an ack", i, r.status, r.err)
		}
		if err := gw.stop(); err != nil {
			t.Fatal(err)
		}
	}
	led.expectAllAcked(t)
}
