package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/loadgen"
	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/senderauth"
	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/vendors"
)

// The CAS benchmark: two and three gateways share one NATS server (JetStream in this process,
// on a loopback port) and one route, as replicas do, and each keeps its own key index. Every
// new key is a compare-and-set publish on the key's bucket; a publish loses the race when
// another process wrote to that bucket since its index last saw it, and then costs a catch-up
// and a retry. Two loads, each for half the closed-loop time:
//
//   - distinct: every event is new and goes to one gateway, picked at random (the usual
//     load of replicas behind a load balancer); races come only from buckets shared by chance;
//   - same: every event goes to all the gateways at once (a vendor retrying on another
//     replica, the worst case): one of them stores it, the others must answer duplicate.
//
// It reports the publishes and lost races summed over the gateways (their admin API's
// routes[].cas), and for "same" how many events were answered new by other than exactly one
// gateway (it must be none; measured, not asserted).

// casRoute is the route name all the gateways of the CAS benchmark share.
const casRoute = "cas"

// casRow is one CAS measurement.
type casRow struct {
	Processes int    `json:"processes"`
	Keys      string `json:"keys"` // "distinct" or "same"
	// Events is how many events were sent (each to one gateway, or to all of them).
	Events int64 `json:"events"`
	// OK counts 2xx answers; EventsPerSecond is Events over the load's time.
	OK              int64   `json:"ok"`
	EventsPerSecond float64 `json:"events_per_second"`
	// Publishes, WrongLast and InFlight are the gateways' compare-and-set figures for this load.
	Publishes uint64 `json:"publishes"`
	WrongLast uint64 `json:"wrong_last"`
	InFlight  uint64 `json:"in_flight"`
	// ConflictRate is (WrongLast + InFlight) / Publishes.
	ConflictRate float64 `json:"conflict_rate"`
	// NotOnce counts events of "same" that were not answered new by exactly one gateway.
	NotOnce int64  `json:"not_once,omitempty"`
	Error   string `json:"error,omitempty"`
}

// runCAS measures the conflict rates with two and three gateways.
func runCAS(ctx context.Context, o *options, bin string, up *upstream) []casRow {
	var rows []casRow
	for _, n := range []int{2, 3} {
		if ctx.Err() != nil {
			break
		}
		o.logf("[cas] %d gateways on one NATS server", n)
		rows = append(rows, casRun(ctx, o, bin, up, n)...)
	}
	return rows
}

// casRun starts the NATS server and n gateways, and runs both loads.
func casRun(ctx context.Context, o *options, bin string, up *upstream, n int) []casRow {
	fail := func(err error) []casRow { return []casRow{{Processes: n, Keys: "distinct", Error: err.Error()}} }
	dir, err := os.MkdirTemp(o.work, fmt.Sprintf("cas%d-", n))
	if err != nil {
		return fail(err)
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	ns, err := server.NewServer(&server.Options{
		ServerName: "bench-cas", Host: "127.0.0.1", Port: port, JetStream: true,
		StoreDir: filepath.Join(dir, "nats"), NoSigs: true, NoLog: true,
	})
	if err != nil {
		return fail(err)
	}
	ns.Start()
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()
	if !ns.ReadyForConnections(10 * time.Second) {
		return fail(fmt.Errorf("nats server not ready"))
	}
	up.reset()
	var gws []*child
	var targets []loadgen.Target
	defer func() {
		for _, c := range gws {
			c.stop()
		}
	}()
	for i := range n {
		gdir := filepath.Join(dir, fmt.Sprintf("gw%d", i))
		if err := os.MkdirAll(gdir, 0o755); err != nil {
			return fail(err)
		}
		s, err := newSite(gdir, up.addr)
		if err != nil {
			return fail(err)
		}
		c, err := startCaddy(ctx, bin, gdir, casCaddyfile(s, ns.ClientURL()), s)
		if err != nil {
			return fail(err)
		}
		gws = append(gws, c)
		t, err := newTargets(s)
		if err != nil {
			return fail(err)
		}
		targets = append(targets, t[0])
	}
	signer, err := newSigner()
	if err != nil {
		return fail(err)
	}
	load := max(o.closed/2, time.Second)
	var rows []casRow

	before, err := casFigures(ctx, gws)
	if err != nil {
		return fail(err)
	}
	o.logf("  distinct keys: %d workers, %v", o.concurrency, load)
	res, err := loadgen.Run(ctx, loadgen.Config{Targets: targets, Raw: true, Signer: signer, Concurrency: o.concurrency, Duration: load, Timeout: o.timeout})
	row := casRow{Processes: n, Keys: "distinct"}
	if err != nil {
		row.Error = err.Error()
	} else {
		row.Events, row.OK, row.EventsPerSecond = res.Requests, res.OK, res.OKRPS
	}
	after, err := casFigures(ctx, gws)
	if err != nil && row.Error == "" {
		row.Error = err.Error()
	}
	row.setFigures(before, after)
	rows = append(rows, row)

	o.logf("  same keys: %d workers, each event to all %d gateways, %v", o.concurrency/n, n, load)
	row = casRow{Processes: n, Keys: "same"}
	if err := raceSame(ctx, targets, signer, max(o.concurrency/n, 1), load, o.timeout, &row); err != nil {
		row.Error = err.Error()
	}
	before = after
	if after, err = casFigures(ctx, gws); err != nil && row.Error == "" {
		row.Error = err.Error()
	}
	row.setFigures(before, after)
	return append(rows, row)
}

// casCaddyfile is one gateway of the CAS benchmark: the shared NATS server as its store, the
// shared route name, forward mode to the fast application.
func casCaddyfile(s site, natsURL string) string {
	return globals(s, "\twebhook_gateway {\n\t\tstore nats "+natsURL+"\n\t}\n") + siteBlock(s, fmt.Sprintf(
		"webhook_gateway {\n\t\tname %s\n\t\tvendor %s\n\t\tauth basic %s %s\n\t\tforward http://%s/events\n\t}",
		casRoute, benchVendor, benchUser, benchPassword, s.upstream))
}

// casStats is the part of the admin API's route view the benchmark reads.
type casStats struct {
	Route string `json:"route"`
	CAS   struct {
		Publishes uint64 `json:"publishes"`
		WrongLast uint64 `json:"wrong_last"`
		InFlight  uint64 `json:"in_flight"`
	} `json:"cas"`
}

// casFigures sums the CAS figures of the shared route over the gateways.
func casFigures(ctx context.Context, gws []*child) (casStats, error) {
	var sum casStats
	client := &http.Client{Timeout: 10 * time.Second}
	for _, c := range gws {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.adminAddr+"/webhook_gateway/routes/"+casRoute, nil)
		if err != nil {
			return sum, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return sum, err
		}
		var st casStats
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return sum, fmt.Errorf("route stats of %s: status %d, %v", c.adminAddr, resp.StatusCode, err)
		}
		sum.CAS.Publishes += st.CAS.Publishes
		sum.CAS.WrongLast += st.CAS.WrongLast
		sum.CAS.InFlight += st.CAS.InFlight
	}
	return sum, nil
}

func (r *casRow) setFigures(before, after casStats) {
	r.Publishes = after.CAS.Publishes - before.CAS.Publishes
	r.WrongLast = after.CAS.WrongLast - before.CAS.WrongLast
	r.InFlight = after.CAS.InFlight - before.CAS.InFlight
	if r.Publishes > 0 {
		r.ConflictRate = float64(r.WrongLast+r.InFlight) / float64(r.Publishes)
	}
}

// raceSame sends every event to all the targets at once, from workers workers, for d, and
// counts the events not answered new by exactly one of them.
func raceSame(ctx context.Context, targets []loadgen.Target, signer *senderauth.Signer, workers int, d, timeout time.Duration, row *casRow) error {
	if err := signer.Prepare(ctx); err != nil {
		return err
	}
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	gen := targets[0].Gen
	var events, ok, notOnce atomic.Int64
	var firstErr error
	var errMu sync.Mutex
	start := time.Now()
	stop := start.Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		rng := mrand.New(mrand.NewPCG(uint64(w), uint64(start.UnixNano())))
		wg.Go(func() {
			for time.Now().Before(stop) && ctx.Err() == nil {
				msg := gen.Next(rng)
				var news atomic.Int64
				var each sync.WaitGroup
				for _, t := range targets {
					each.Go(func() {
						isNew, good, err := postOnce(ctx, client, signer, t.URL, msg)
						if err != nil {
							errMu.Lock()
							if firstErr == nil {
								firstErr = err
							}
							errMu.Unlock()
						}
						if good {
							ok.Add(1)
							if isNew {
								news.Add(1)
							}
						}
					})
				}
				each.Wait()
				events.Add(1)
				if news.Load() != 1 {
					notOnce.Add(1)
				}
			}
		})
	}
	wg.Wait()
	row.Events, row.OK, row.NotOnce = events.Load(), ok.Load(), notOnce.Load()
	row.EventsPerSecond = float64(row.Events) / time.Since(start).Seconds()
	return firstErr
}

// postOnce sends one event to one gateway and reports whether it was answered 2xx as new.
func postOnce(ctx context.Context, client *http.Client, signer *senderauth.Signer, url string, msg vendors.Message) (isNew, ok bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(msg.Body))
	if err != nil {
		return false, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := signer.Apply(ctx, req.Header, msg.IDs.MessageID(), msg.Body, time.Now()); err != nil {
		return false, false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, false, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return false, false, fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	return resp.Header.Get("X-Webhook-Duplicate") != "true", true, nil
}
