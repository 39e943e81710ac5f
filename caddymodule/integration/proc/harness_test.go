package proc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The route every test configures: IDWise preset, basic auth, one name, so
// that two replicas on one NATS cluster share its queue and dedup window.
const (
	routeName    = "idwise"
	routePath    = "/webhooks/idwise"
	authUser     = "u"
	authPassword = "p"
	keyPrefix    = "idwise:" // the preset's idempotency key is idwise:{body.eventId}
)

// Bounds of the harness's waits.
const (
	readyTimeout = 60 * time.Second // process start plus store recovery
	exitTimeout  = 15 * time.Second // after SIGKILL
	stopTimeout  = 30 * time.Second // after SIGTERM (grace period plus drain)
)

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts real processes; runs without -short")
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// gwConfig is what a test varies in a gateway's Caddyfile.
type gwConfig struct {
	store       string // arguments of the global "store" option
	appURL      string // the forward URL
	concurrency int    // forward concurrency; 0 means 16
}

// gateway is one gateway process: the binary TestMain built, run on a
// Caddyfile in its own directory with its own XDG dirs, site port and admin
// port. Restarts reuse the directory, the ports and the log file.
type gateway struct {
	t         *testing.T
	name      string
	dir       string
	port      int
	adminPort int
	logPath   string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func newGateway(t *testing.T, name string) *gateway {
	t.Helper()
	if gatewayBin == "" {
		t.Fatal("the gateway binary was not built")
	}
	dir := t.TempDir()
	g := &gateway{t: t, name: name, dir: dir, port: freePort(t), adminPort: freePort(t), logPath: filepath.Join(dir, "caddy.log")}
	t.Cleanup(func() {
		if err := g.kill(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			g.dumpLog()
		}
	})
	return g
}

// url is the webhook endpoint of the gateway.
func (g *gateway) url() string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", g.port, routePath)
}

func (g *gateway) caddyfile(c gwConfig) string {
	conc := c.concurrency
	if conc == 0 {
		conc = 16
	}
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	persist_config off
	grace_period 2s
	webhook_gateway {
		store %s
		drain_timeout 2s
	}
}

http://127.0.0.1:%d {
	handle %s {
		webhook_gateway {
			name %s
			vendor idwise
			auth basic %s %s
			forward %s {
				timeout 2s
				backoff 100ms 1s
				max_attempts 1000
				concurrency %d
				header_up X-Test-Gateway %s
			}
		}
	}
	respond 404
}
`, g.adminPort, c.store, g.port, routePath, routeName, authUser, authPassword, c.appURL, conc, g.name)
}

// start writes the Caddyfile and starts the process, then waits until the
// site answers and the route runs.
func (g *gateway) start(c gwConfig) {
	g.t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.launchLocked(c)
	g.waitReadyLocked()
}

// launchLocked writes the Caddyfile and starts the process without waiting.
func (g *gateway) launchLocked(c gwConfig) {
	g.t.Helper()
	if g.cmd != nil {
		g.t.Fatalf("%s: already running", g.name)
	}
	cfgPath := filepath.Join(g.dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(g.caddyfile(c)), 0o600); err != nil {
		g.t.Fatal(err)
	}
	logf, err := os.OpenFile(g.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		g.t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== harness: start %s at %s\n", g.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(gatewayBin, "run", "--config", cfgPath, "--adapter", "caddyfile")
	cmd.Dir = g.dir
	cmd.Env = childEnv(g.dir)
	cmd.SysProcAttr = childAttr()
	cmd.Stdout, cmd.Stderr = logf, logf
	err = cmd.Start()
	_ = logf.Close() // the child has its own descriptor
	if err != nil {
		g.t.Fatalf("%s: start: %v", g.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	g.cmd, g.done = cmd, done
}

// childEnv is the test's environment with the XDG dirs (Caddy's data and
// config dirs) moved under dir.
func childEnv(dir string) []string {
	env := make([]string, 0, len(os.Environ())+2)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "XDG_DATA_HOME=") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
}

func (g *gateway) waitReadyLocked() {
	g.t.Helper()
	client := &http.Client{Timeout: time.Second}
	site := fmt.Sprintf("http://127.0.0.1:%d/", g.port)
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-g.done:
			g.cmd = nil
			g.dumpLog()
			g.t.Fatalf("%s exited while starting", g.name)
		default:
		}
		resp, err := client.Get(site)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			// Ready as soon as the site answers: requests that arrive
			// before the webhook_gateway app has started (Caddy starts its
			// apps in map order) wait for it instead of getting a 503,
			// which TestNoUnavailableAtStartup checks.
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.dumpLog()
	g.t.Fatalf("%s did not answer on %s within %s", g.name, site, readyTimeout)
}

// kill sends SIGKILL and waits for the process to be gone.
func (g *gateway) kill() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.signalLocked(syscall.SIGKILL, exitTimeout)
}

// stop sends SIGTERM (graceful stop: drain, close the store) and waits for
// the exit, killing the process if it does not exit within stopTimeout.
func (g *gateway) stop() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.signalLocked(syscall.SIGTERM, stopTimeout); err != nil {
		_ = g.signalLocked(syscall.SIGKILL, exitTimeout)
		return err
	}
	return nil
}

func (g *gateway) signalLocked(sig syscall.Signal, wait time.Duration) error {
	if g.cmd == nil {
		return nil
	}
	if err := g.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s: %v: %v", g.name, sig, err)
	}
	select {
	case <-g.done:
		g.cmd = nil
		return nil
	case <-time.After(wait):
		return fmt.Errorf("%s: still running %s after %v", g.name, wait, sig)
	}
}

// dumpLog prints the end of the process's log to the test log.
func (g *gateway) dumpLog() {
	b, err := os.ReadFile(g.logPath)
	if err != nil {
		g.t.Logf("%s: no log: %v", g.name, err)
		return
	}
	const tail = 12 << 10
	if len(b) > tail {
		b = b[len(b)-tail:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	g.t.Logf("--- last lines of %s's log (%s) ---\n%s--- end of %s's log ---", g.name, g.logPath, b, g.name)
}

// logLines returns the lines of the process's log that contain substr.
func (g *gateway) logLines(substr string) []string {
	b, err := os.ReadFile(g.logPath)
	if err != nil {
		return nil
	}
	var out []string
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, substr) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// routeStats are the queue figures of the admin API.
type routeStats struct {
	Pending  uint64 `json:"pending"`
	InFlight uint64 `json:"in_flight"`
	Dead     uint64 `json:"dead"`
	Stored   uint64 `json:"stored"`
}

func (g *gateway) stats() (routeStats, error) {
	var st routeStats
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/webhook_gateway/routes/%s", g.adminPort, routeName))
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("admin stats: %d %s", resp.StatusCode, b)
	}
	return st, json.Unmarshal(b, &st)
}

// waitIdle waits until the route has nothing pending or in flight and no
// dead letters, so that no further delivery can happen.
func (g *gateway) waitIdle(timeout time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(timeout)
	var st routeStats
	var err error
	for time.Now().Before(deadline) {
		st, err = g.stats()
		if err == nil && st.Pending == 0 && st.InFlight == 0 {
			if st.Dead != 0 {
				g.t.Errorf("%s: %d dead letters", g.name, st.Dead)
			}
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	g.t.Fatalf("%s: queue not idle after %s: %+v, err %v", g.name, timeout, st, err)
}

// reload loads the Caddyfile of c through the admin API (POST /load).
func (g *gateway) reload(c gwConfig) error {
	client := &http.Client{Timeout: 30 * time.Second}
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/load", g.adminPort), strings.NewReader(g.caddyfile(c)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /load: %d %s", resp.StatusCode, b)
	}
	return nil
}

// app is the application behind the gateway: a plain HTTP server on a fixed
// loopback port that can go down (the port refuses connections) and come up
// again. It records every delivery it answers 2xx.
type app struct {
	t    *testing.T
	port int

	delay  atomic.Int64 // time.Duration each delivery takes
	status atomic.Int32 // answer; 0 means 200

	mu         sync.Mutex
	srv        *http.Server
	deliveries map[string][]delivered // by X-Webhook-Idempotency-Key
	total      int
}

type delivered struct {
	id      string // X-Webhook-Id
	attempt string // X-Webhook-Attempt
	gateway string // X-Test-Gateway: the name of the gateway that delivered it
	at      time.Time
}

func newApp(t *testing.T) *app {
	t.Helper()
	a := &app{t: t, port: freePort(t), deliveries: map[string][]delivered{}}
	t.Cleanup(a.down)
	return a
}

func (a *app) url() string { return fmt.Sprintf("http://127.0.0.1:%d/events", a.port) }

// up starts listening on the app's port.
func (a *app) up() {
	a.t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.srv != nil {
		return
	}
	addr := fmt.Sprintf("127.0.0.1:%d", a.port)
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		a.t.Fatalf("app: listen on %s: %v", addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(a.serve), ReadHeaderTimeout: 10 * time.Second}
	a.srv = srv
	go func() { _ = srv.Serve(ln) }()
}

// down closes the listener and every connection.
func (a *app) down() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.srv != nil {
		_ = a.srv.Close()
		a.srv = nil
	}
}

func (a *app) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	status := int(a.status.Load())
	if status == 0 {
		status = http.StatusOK
	}
	if status >= 200 && status < 300 {
		key := r.Header.Get("X-Webhook-Idempotency-Key")
		a.mu.Lock()
		a.deliveries[key] = append(a.deliveries[key], delivered{
			id: r.Header.Get("X-Webhook-Id"), attempt: r.Header.Get("X-Webhook-Attempt"),
			gateway: r.Header.Get("X-Test-Gateway"), at: time.Now(),
		})
		a.total++
		a.mu.Unlock()
	}
	if d := time.Duration(a.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	w.WriteHeader(status)
}

// snapshot copies the deliveries so far.
func (a *app) snapshot() (map[string][]delivered, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string][]delivered, len(a.deliveries))
	for k, v := range a.deliveries {
		out[k] = slices.Clone(v)
	}
	return out, a.total
}

// waitDelivered waits until every event id in ids was delivered at least
// once, and returns when that happened.
func (a *app) waitDelivered(ids []string, timeout time.Duration) time.Time {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	var missing []string
	for {
		missing = missing[:0]
		a.mu.Lock()
		for _, id := range ids {
			if len(a.deliveries[keyPrefix+id]) == 0 {
				missing = append(missing, id)
			}
		}
		a.mu.Unlock()
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

// ledger records what the senders sent and which events got a 2xx.
type ledger struct {
	mu       sync.Mutex
	sent     map[string]bool
	acked    map[string]bool
	ackedAt  map[string]time.Time // when the first 2xx came
	stored   map[string]int       // 2xx answers without X-Webhook-Duplicate
	dupAcks  map[string]int       // 2xx answers with X-Webhook-Duplicate: true
	byStatus map[int]int          // answers by status, 0 for a transport error
	lastErr  string
	lastBad  string // the last non-2xx answer's body
}

func newLedger() *ledger {
	return &ledger{
		sent: map[string]bool{}, acked: map[string]bool{}, ackedAt: map[string]time.Time{}, stored: map[string]int{},
		dupAcks: map[string]int{}, byStatus: map[int]int{},
	}
}

func (l *ledger) record(id string, r result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent[id] = true
	l.byStatus[r.status]++
	switch {
	case r.err != nil:
		l.lastErr = r.err.Error()
	case !r.ok():
		l.lastBad = fmt.Sprintf("%d %s", r.status, r.body)
	default:
		if !l.acked[id] {
			l.ackedAt[id] = time.Now()
		}
		l.acked[id] = true
		if r.dup {
			l.dupAcks[id]++
		} else {
			l.stored[id]++
		}
	}
}

func (l *ledger) sets() (sent, acked map[string]bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sent = make(map[string]bool, len(l.sent))
	for k := range l.sent {
		sent[k] = true
	}
	acked = make(map[string]bool, len(l.acked))
	for k := range l.acked {
		acked[k] = true
	}
	return sent, acked
}

func (l *ledger) ackedIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, 0, len(l.acked))
	for id := range l.acked {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (l *ledger) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

func (l *ledger) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	codes := make([]int, 0, len(l.byStatus))
	for c := range l.byStatus {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var b strings.Builder
	fmt.Fprintf(&b, "%d events sent, %d acked; answers:", len(l.sent), len(l.acked))
	for _, c := range codes {
		fmt.Fprintf(&b, " %d×%d", l.byStatus[c], c)
	}
	if l.lastErr != "" {
		fmt.Fprintf(&b, "; last transport error: %s", l.lastErr)
	}
	if l.lastBad != "" {
		fmt.Fprintf(&b, "; last non-2xx answer: %s", l.lastBad)
	}
	return b.String()
}

// expectStoredOnce fails for an event that two answers reported as newly
// stored (2xx without X-Webhook-Duplicate): the dedup window let it in twice.
// With exact, every acked event must also have been answered as new once
// (no gateway died with an answer unsent).
func (l *ledger) expectStoredOnce(t *testing.T, exact bool) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	bad := 0
	for id := range l.acked {
		c := l.stored[id]
		if c > 1 || (exact && c != 1) {
			if bad++; bad <= 10 {
				t.Errorf("event %s answered as new %d times and as a duplicate %d times", id, c, l.dupAcks[id])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d events were not stored exactly once", bad)
	}
}

// expectAllAcked fails unless every request got a 2xx.
func (l *ledger) expectAllAcked(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for code, n := range l.byStatus {
		if code < 200 || code > 299 {
			t.Errorf("%d requests answered %d (0: transport error; last: %s)", n, code, l.lastErr)
		}
	}
}

// result is the gateway's answer to one webhook.
type result struct {
	status    int
	dup       bool
	webhookID string
	body      string // of a non-2xx answer, for the test log
	err       error
}

func (r result) ok() bool { return r.err == nil && r.status >= 200 && r.status < 300 }

// sender posts IDWise events the way IDWise does: basic auth, JSON body.
type sender struct {
	client *http.Client
	led    *ledger
}

func newSender(conns int, led *ledger) *sender {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
	}
	return &sender{client: &http.Client{Timeout: 20 * time.Second, Transport: tr}, led: led}
}

func (s *sender) close() { s.client.CloseIdleConnections() }

func eventBody(eventID string) []byte {
	return fmt.Appendf(nil, `{"event":"Finished Journey","body":{"eventId":%q,"journeyId":"j","referenceNo":"r","systemDecision":"Complete"}}`, eventID)
}

// send posts one event to g and records the answer in the ledger.
func (s *sender) send(g *gateway, eventID string) result {
	r := s.post(g.url(), eventID)
	s.led.record(eventID, r)
	return r
}

func (s *sender) post(url, eventID string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(eventBody(eventID)))
	if err != nil {
		return result{err: err}
	}
	req.SetBasicAuth(authUser, authPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return result{err: err}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	r := result{
		status:    resp.StatusCode,
		dup:       resp.Header.Get("X-Webhook-Duplicate") == "true",
		webhookID: resp.Header.Get("X-Webhook-Id"),
	}
	if !r.ok() {
		r.body = string(body)
	}
	return r
}

// parallel runs fn(i) for i in [0, n) on workers goroutines and returns when
// all are done.
func parallel(workers, n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}

// eventIDs returns n unique event ids for one test run.
func eventIDs(prefix string, n int) []string {
	run := time.Now().UnixNano()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%x-%06d", prefix, run, i)
	}
	return ids
}
