package delivery

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// natsNode is a real nats-server with JetStream run in the test process on fixed loopback
// ports, so that it can be shut down and started again where its clients expect it.
type natsNode struct {
	t    testing.TB
	opts server.Options
	mu   sync.Mutex
	ns   *server.Server
}

func newNode(t testing.TB, name string) *natsNode {
	n := &natsNode{t: t, opts: server.Options{
		ServerName: name, Host: "127.0.0.1", Port: testkit.FreePort(t), JetStream: true,
		StoreDir: filepath.Join(t.TempDir(), "js"), NoLog: true, NoSigs: true,
	}}
	t.Cleanup(n.stop)
	return n
}

func (n *natsNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.opts.Port) }

func (n *natsNode) start() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	opts := n.opts // the server keeps and changes its options
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ns, err := server.NewServer(&opts)
		if err == nil {
			ns.Start()
			if ns.ReadyForConnections(10 * time.Second) {
				n.ns = ns
				return
			}
			ns.Shutdown()
			err = fmt.Errorf("not ready")
		}
		if time.Now().After(deadline) {
			n.t.Errorf("nats-server %s: %v", n.opts.ServerName, err)
			return
		}
		opts = n.opts
	}
}

func (n *natsNode) stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ns != nil {
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
		n.ns = nil
	}
}

// newCluster starts a cluster of size nodes with routes between them on loopback.
func newCluster(t testing.TB, size int) []*natsNode {
	nodes := make([]*natsNode, size)
	routes := make([]string, size)
	for i := range nodes {
		nodes[i] = newNode(t, fmt.Sprintf("n%d", i+1))
		nodes[i].opts.Cluster = server.ClusterOpts{Name: "whgw-unit", Host: "127.0.0.1", Port: testkit.FreePort(t)}
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", nodes[i].opts.Cluster.Port)
	}
	for _, n := range nodes {
		n.opts.Routes = server.RoutesFromStr(strings.Join(routes, ","))
	}
	for _, n := range nodes {
		go n.start()
	}
	return nodes
}

func openExternal(t testing.TB, urls []string, replicas int, ready time.Duration) (*Store, error) {
	s, err := Open(StoreConfig{URLs: urls, Replicas: replicas, ReadyTimeout: ready}, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)))
	if err == nil {
		t.Cleanup(func() { _ = s.Close() })
	}
	return s, err
}

// TestOpenWaitsForCluster: a store that is unreachable when Open starts, and comes up within
// ReadyTimeout, is opened; one that never comes up fails Open once ReadyTimeout has passed.
func TestOpenWaitsForCluster(t *testing.T) {
	n := newNode(t, "late")
	go func() {
		time.Sleep(1500 * time.Millisecond)
		n.start()
	}()
	start := time.Now()
	s, err := openExternal(t, []string{n.url()}, 1, 20*time.Second)
	if err != nil {
		t.Fatalf("open while the server starts late: %v", err)
	}
	t.Logf("opened %s after Open started (the server came up after 1.5s)", time.Since(start).Round(time.Millisecond))
	up := testkit.NewUpstream(t, testkit.Status(http.StatusOK))
	r := newRoute(t, s, QueueConfig{Forward: policy(up.URL)})
	if _, err := r.Accept(testCtx(t), "k1", event("e1")); err != nil {
		t.Fatal(err)
	}

	start = time.Now()
	_, err = openExternal(t, []string{fmt.Sprintf("nats://127.0.0.1:%d", testkit.FreePort(t))}, 1, time.Second)
	if err == nil {
		t.Fatal("open succeeded with no server")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("open gave up after %s, want about ReadyTimeout (1s)", took)
	}
	t.Logf("no server: %v", err)
}

// TestConcurrentRouteCreation: two gateways (two Stores) create the same routes on a fresh
// 3-node cluster with 3 replicas at the same moment, as soon as the servers listen, before the
// cluster has a meta leader. Both must succeed and share the streams.
func TestConcurrentRouteCreation(t *testing.T) {
	testkit.SkipShort(t, "starts a 3-node cluster")
	nodes := newCluster(t, 3)
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = n.url()
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	took := make([]time.Duration, 2)
	for i := range errs {
		wg.Go(func() {
			s, err := openExternal(t, urls, 3, 30*time.Second)
			if err != nil {
				errs[i] = err
				return
			}
			for _, name := range []string{"alpha", "beta"} {
				if _, err := s.Queue(QueueConfig{Name: name, Forward: policy("http://127.0.0.1:1/")}); err != nil {
					errs[i] = err
					return
				}
			}
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("gateway %d: %v", i, err)
		}
	}
	t.Logf("both gateways opened the store and created 2 routes: after %s and %s", took[0].Round(time.Millisecond), took[1].Round(time.Millisecond))
}

// TestBookkeepingOutlivesStoreOutage: the store goes away right after the application
// answered 2xx, before the gateway could record the delivery, and comes back 6s later (longer
// than one store request may take). Two routes share the queue, as two gateways do. The worker
// that delivered the event keeps it and records the delivery once the store is back, so the
// event is not handed to the other route and delivered again.
func TestBookkeepingOutlivesStoreOutage(t *testing.T) {
	testkit.SkipShort(t, "waits out a 6s store outage")
	n := newNode(t, "single")
	n.start()
	var once sync.Once
	restarted := make(chan struct{})
	up := testkit.NewUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		once.Do(func() {
			n.stop()
			go func() {
				time.Sleep(6 * time.Second)
				n.start()
				close(restarted)
			}()
		})
		w.WriteHeader(http.StatusOK)
	})
	var routes []*Queue
	for range 2 {
		s, err := openExternal(t, []string{n.url()}, 1, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, newRoute(t, s, QueueConfig{Name: "shared", Forward: policy(up.URL)}))
	}
	if _, err := routes[0].Accept(testCtx(t), "k1", event("e1")); err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		r.Start()
	}
	select {
	case <-restarted:
	case <-time.After(30 * time.Second):
		t.Fatal("the store was not restarted")
	}
	settled(t, routes[0], 20*time.Second)
	time.Sleep(2 * time.Second) // a handed-back event would come back within finalRetry
	if got := up.Count(); got != 1 {
		t.Errorf("the application got %d deliveries of one event, want 1", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if seen, err := routes[1].Seen(ctx, "k1"); err != nil || !seen {
		t.Errorf("the key is not remembered after the delivery: seen %v, err %v", seen, err)
	}
}

// TestDeliveriesResumeAfterStoreOutage: the store is away for 12s while a route runs; an event
// accepted once it is back is delivered within a few seconds, however many fetches failed.
func TestDeliveriesResumeAfterStoreOutage(t *testing.T) {
	testkit.SkipShort(t, "waits out a 12s store outage")
	n := newNode(t, "single")
	n.start()
	up := testkit.NewUpstream(t, testkit.Status(http.StatusOK))
	s, err := openExternal(t, []string{n.url()}, 1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r := newRoute(t, s, QueueConfig{Name: "resume", Forward: policy(up.URL), Logger: zaptest.NewLogger(t, zaptest.Level(zap.DebugLevel))})
	r.Start()
	time.Sleep(500 * time.Millisecond)
	n.stop()
	time.Sleep(12 * time.Second)
	n.start()
	var backAt time.Time
	testkit.WaitFor(t, 20*time.Second, "the store to take an event", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := r.Accept(ctx, "k1", event("e1"))
		backAt = time.Now()
		return err == nil
	})
	testkit.WaitFor(t, 30*time.Second, "the delivery", func() bool { return up.Count() == 1 })
	took := up.Requests()[0].At.Sub(backAt)
	t.Logf("delivered %s after the store took the event", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("delivered %s after the store was back, want a few seconds", took.Round(time.Millisecond))
	}
}
