package proc

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFlakyCluster runs two gateway processes on a real 3-node NATS cluster
// with `replicas 3` and puts the cluster through what a flaky deployment
// does, under a steady load on both gateways:
//
//  1. both gateways start at the same moment on a fresh cluster: both create
//     the route's streams and consumer, and both must come up;
//  2. the route's stream leader is shut down and restarted, no gateway dies;
//  3. two of three nodes are shut down for 10 s (quorum lost), then restarted:
//     each gateway must resume delivering within a few seconds of the
//     cluster's return;
//  4. one gateway is started while the cluster has no meta leader, which
//     comes back a few seconds later: the gateway must wait, not exit.
//
// Every acked event must be delivered, each stored once. A duplicate
// delivery is possible only when a gateway dies between the application's 2xx
// and the bookkeeping (no gateway dies here), so none is allowed. The test
// prints the recovery times it measured.
func TestFlakyCluster(t *testing.T) {
	const evStream = "WHGW-EV-" + routeName
	cl := startCluster(t, 3)
	app := newApp(t)
	app.SetDelay(10 * time.Millisecond) // so that deliveries are in flight at each crash
	app.Up()
	cfg := gwConfig{
		store:       "nats " + cl.urls() + " {\n\t\t\treplicas 3\n\t\t}",
		appURL:      app.url(),
		concurrency: 8,
	}
	gws := [2]*gateway{newGateway(t, "gateway-a"), newGateway(t, "gateway-b")}
	led := newLedger()
	probe := newSender(2, led)
	defer probe.close()

	// 1. Both gateways start together on the fresh cluster.
	start := time.Now()
	for _, g := range gws {
		g.launch(cfg)
	}
	var wg sync.WaitGroup
	var startErr [2]error
	var readyAt [2]time.Time
	for i, g := range gws {
		wg.Go(func() { readyAt[i], startErr[i] = probe.firstAck(g, "start-"+g.name, 60*time.Second) })
	}
	wg.Wait()
	for i, g := range gws {
		if startErr[i] != nil {
			g.dumpLog()
			t.Fatalf("concurrent start on a fresh cluster: %v", startErr[i])
		}
	}
	t.Logf("1. concurrent start on a fresh cluster: first acks after %s and %s",
		readyAt[0].Sub(start).Round(time.Millisecond), readyAt[1].Sub(start).Round(time.Millisecond))

	// A steady load on both gateways until the end. Events the gateway did
	// not ack are not retried: only acked ones must be delivered.
	load := newLoad(led, gws)
	load.run(4, 5*time.Millisecond)
	defer load.stop()
	time.Sleep(4 * time.Second)

	// 2. The stream leader crashes and comes back; both gateways live on.
	leader, _ := cl.waitStreamLeader(evStream, 10*time.Second)
	crashAt := time.Now()
	t.Logf("   (stream leader crash at %s)", crashAt.Format("15:04:05.000"))
	cl.stop(leader)
	_, newLeaderAt := cl.waitStreamLeader(evStream, 30*time.Second)
	time.Sleep(2 * time.Second)
	cl.start(leader)
	t.Logf("2. stream leader %s shut down: a new leader after %s, restarted after %s; first delivery after the crash %s later",
		cl.nodes[leader].name, newLeaderAt.Sub(crashAt).Round(time.Millisecond), time.Since(crashAt).Round(time.Millisecond),
		app.firstDeliveryAfter(crashAt, "", 30*time.Second).Sub(crashAt).Round(time.Millisecond))
	time.Sleep(4 * time.Second)

	// 3. Quorum loss: two of three nodes down for 10 s, then back. Each
	// gateway must resume its own deliveries within a few seconds. While the
	// consumer has no leader, every fetch fails at once (no responders), so a
	// fetch loop whose backoff doubled without a low cap would next probe
	// 25.5 s after the first failure, ten seconds after the cluster is back.
	const lossFor = 10 * time.Second
	down := []int{(leader + 1) % 3, (leader + 2) % 3}
	lossAt := time.Now()
	t.Logf("   (quorum loss at %s)", lossAt.Format("15:04:05.000"))
	for _, i := range down {
		cl.stop(i)
	}
	time.Sleep(lossFor)
	for _, i := range down {
		cl.start(i)
	}
	cl.waitMetaLeader(30 * time.Second)
	_, backAt := cl.waitStreamLeader(evStream, 30*time.Second)
	consAt := cl.waitConsumerLeader(evStream, "deliver", 30*time.Second)
	t.Logf("3. quorum lost for %s; the stream had a leader again %s after the restart, its consumer %s after the stream",
		backAt.Sub(lossAt).Round(time.Millisecond), backAt.Sub(lossAt.Add(lossFor)).Round(time.Millisecond),
		consAt.Sub(backAt).Round(time.Millisecond))
	backAt = consAt // the store can take and hand out events again
	var ackAt [2]time.Time
	for i, g := range gws {
		wg.Go(func() {
			var err error
			if ackAt[i], err = probe.firstAck(g, "back-"+g.name, 60*time.Second); err != nil {
				t.Errorf("after the quorum loss: %v", err)
			}
		})
	}
	wg.Wait()
	for i, g := range gws {
		t.Logf("   %s: first ack %s after the consumer was back", g.name, ackAt[i].Sub(backAt).Round(time.Millisecond))
	}
	for _, g := range gws {
		resumed := app.firstDeliveryAfter(backAt, g.name, 60*time.Second)
		if resumed.IsZero() {
			t.Errorf("%s delivered nothing within 60s after the cluster came back", g.name)
			continue
		}
		d := resumed.Sub(backAt)
		t.Logf("   %s: first delivery %s after the consumer was back", g.name, d.Round(time.Millisecond))
		if d > 5*time.Second {
			t.Errorf("%s resumed deliveries %s after the cluster came back, want a few seconds", g.name, d.Round(time.Millisecond))
		}
	}

	// 4. Gateway B starts while the cluster has no meta leader.
	if err := gws[1].stop(); err != nil {
		t.Fatal(err)
	}
	load.only(gws[0])
	noLeader := []int{0, 1}
	for _, i := range noLeader {
		cl.stop(i)
	}
	gws[1].launch(cfg)
	var bReady time.Time
	var bErr error
	wg.Go(func() { bReady, bErr = probe.firstAck(gws[1], "noleader", 60*time.Second) })
	time.Sleep(3 * time.Second)
	restoreAt := time.Now()
	t.Logf("   (meta leader loss from %s to %s)", restoreAt.Add(-3*time.Second).Format("15:04:05.000"), restoreAt.Format("15:04:05.000"))
	for _, i := range noLeader {
		cl.start(i)
	}
	metaAt := cl.waitMetaLeader(30 * time.Second)
	_, leaderAt := cl.waitStreamLeader(evStream, 30*time.Second)
	wg.Wait()
	if bErr != nil {
		t.Errorf("gateway started without a meta leader: %v", bErr)
	} else {
		t.Logf("4. gateway started without a meta leader: first ack %s after the nodes came back (%s after its start); meta leader after %s, stream leader after %s",
			bReady.Sub(restoreAt).Round(time.Millisecond), bReady.Sub(restoreAt.Add(-3*time.Second)).Round(time.Millisecond),
			metaAt.Sub(restoreAt).Round(time.Millisecond), leaderAt.Sub(restoreAt).Round(time.Millisecond))
		load.only(gws[0], gws[1])
	}
	time.Sleep(3 * time.Second)
	load.stop()

	t.Logf("load: %s", led.summary())
	for _, g := range gws {
		if !g.alive() {
			t.Errorf("%s exited", g.name)
		}
	}
	led.expectStoredOnce(t, false)
	done := app.waitDelivered(led.ackedIDs(), 90*time.Second)
	t.Logf("all %d acked events delivered %s after the load stopped", led.ackedCount(), time.Since(done).Round(time.Millisecond))
	for _, g := range gws {
		if g.alive() {
			g.waitIdle(60 * time.Second)
		}
	}
	doubles := app.deliveryReport(led)
	_, total := app.snapshot()
	for key, ds := range doubles {
		t.Errorf("key %s delivered %d times: %s", key, len(ds), describe(ds))
	}
	t.Logf("%d deliveries of %d acked events, %d keys delivered more than once", total, led.ackedCount(), len(doubles))
	logLatencies(t, app, led)
	for _, g := range gws {
		t.Logf("%s's log: %d \"store not ready\" retries, %d bookkeeping retries begun and %d recovered, %d fetch recoveries",
			g.name, len(g.logLines("store not ready")), len(g.logLines("delivery bookkeeping failed")),
			len(g.logLines("delivery bookkeeping recovered")), len(g.logLines("delivery fetch recovered")))
	}
}

// logLatencies prints how long acked events waited for their first delivery:
// the slowest, and how many waited longer than 5 s (events the store handed
// out as a node failed come back only after the consumer's AckWait, the
// forward timeout + 30 s).
func logLatencies(t *testing.T, a *app, led *ledger) {
	t.Helper()
	got, _ := a.snapshot()
	led.mu.Lock()
	defer led.mu.Unlock()
	var lat []time.Duration
	var slowFrom, slowTo time.Time
	for id, at := range led.ackedAt {
		if ds := got[keyPrefix+id]; len(ds) > 0 {
			d := max(ds[0].at.Sub(at), 0)
			lat = append(lat, d)
			if d > 5*time.Second {
				if slowFrom.IsZero() || at.Before(slowFrom) {
					slowFrom = at
				}
				if at.After(slowTo) {
					slowTo = at
				}
			}
		}
	}
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	slow := len(lat) - sort.Search(len(lat), func(i int) bool { return lat[i] > 5*time.Second })
	t.Logf("ack to first delivery: median %s, p99 %s, max %s; %d events waited more than 5s",
		lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*99/100].Round(time.Millisecond),
		lat[len(lat)-1].Round(time.Millisecond), slow)
	if slow > 0 {
		t.Logf("   those were acked between %s and %s", slowFrom.Format("15:04:05.000"), slowTo.Format("15:04:05.000"))
	}
}

// load keeps senders posting unique events to a set of gateways.
type load struct {
	led   *ledger
	snd   *sender
	mu    sync.Mutex
	gws   []*gateway
	next  atomic.Int64
	quit  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
	runID int64
}

func newLoad(led *ledger, gws [2]*gateway) *load {
	return &load{led: led, snd: newSender(8, led), gws: gws[:], quit: make(chan struct{}), runID: time.Now().UnixNano()}
}

// only sends the following events to gws.
func (l *load) only(gws ...*gateway) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gws = gws
}

func (l *load) run(workers int, pause time.Duration) {
	for range workers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.quit:
					return
				default:
				}
				n := l.next.Add(1)
				l.mu.Lock()
				g := l.gws[int(n)%len(l.gws)]
				l.mu.Unlock()
				l.snd.send(g, fmt.Sprintf("load-%x-%07d", l.runID, n))
				time.Sleep(pause)
			}
		})
	}
}

func (l *load) stop() {
	l.once.Do(func() { close(l.quit) })
	l.wg.Wait()
	l.snd.close()
}
