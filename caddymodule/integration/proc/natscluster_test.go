package proc

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// natsCluster is a real nats-server cluster run in the test process: each
// node has JetStream with its own store directory, a client port and a
// cluster (route) port on loopback. A node can be shut down and started again
// on the same ports and store, as a crashed server that comes back.
type natsCluster struct {
	t     *testing.T
	mu    sync.Mutex
	nodes []*natsNode
}

type natsNode struct {
	name       string
	port       int
	routePort  int
	storeDir   string
	routesSpec string
	ns         *server.Server // nil while the node is down
}

// startCluster starts n nodes and waits until JetStream has a meta leader.
func startCluster(t *testing.T, n int) *natsCluster {
	t.Helper()
	testkit.SkipShort(t, "starts real gateway processes")
	c := &natsCluster{t: t}
	for i := range n {
		c.nodes = append(c.nodes, &natsNode{
			name: fmt.Sprintf("n%d", i+1), port: testkit.FreePort(t), routePort: testkit.FreePort(t),
			storeDir: filepath.Join(t.TempDir(), "js"),
		})
	}
	routes := make([]string, n)
	for i, nd := range c.nodes {
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", nd.routePort)
	}
	for _, nd := range c.nodes {
		nd.routesSpec = strings.Join(routes, ",")
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i)
		}
	})
	for i := range c.nodes {
		c.start(i)
	}
	c.waitMetaLeader(30 * time.Second)
	return c
}

// urls is the store argument of the gateways: every node's client URL.
func (c *natsCluster) urls() string {
	us := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		us[i] = fmt.Sprintf("nats://127.0.0.1:%d", nd.port)
	}
	return strings.Join(us, " ")
}

// start starts node i on its ports and store directory.
func (c *natsCluster) start(i int) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	nd := c.nodes[i]
	if nd.ns != nil {
		return
	}
	opts := &server.Options{
		ServerName: nd.name,
		Host:       "127.0.0.1",
		Port:       nd.port,
		JetStream:  true,
		StoreDir:   nd.storeDir,
		Cluster: server.ClusterOpts{
			Name: "whgw-test",
			Host: "127.0.0.1",
			Port: nd.routePort,
		},
		Routes: server.RoutesFromStr(nd.routesSpec),
		NoLog:  true,
		NoSigs: true,
	}
	var ns *server.Server
	var err error
	// A restarted node's ports may still be in TIME_WAIT for a moment.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if ns, err = server.NewServer(opts); err == nil {
			ns.Start()
			if ns.ReadyForConnections(10 * time.Second) {
				break
			}
			ns.Shutdown()
			ns.WaitForShutdown()
			err = fmt.Errorf("not ready")
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("nats node %s: %v", nd.name, err)
		}
	}
	nd.ns = ns
}

// stop shuts node i down (its clients are disconnected, its Raft groups
// lose the member).
func (c *natsCluster) stop(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	nd := c.nodes[i]
	if nd.ns == nil {
		return
	}
	nd.ns.Shutdown()
	nd.ns.WaitForShutdown()
	nd.ns = nil
}

// running returns the nodes that are up.
func (c *natsCluster) running() []*server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*server.Server
	for _, nd := range c.nodes {
		if nd.ns != nil {
			out = append(out, nd.ns)
		}
	}
	return out
}

// waitMetaLeader waits until some node is the JetStream meta leader and
// returns when that happened.
func (c *natsCluster) waitMetaLeader(timeout time.Duration) time.Time {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, ns := range c.running() {
			if ns.JetStreamIsLeader() {
				return time.Now()
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("no JetStream meta leader within %s", timeout)
	return time.Time{}
}

// streamLeader returns the index of the node leading stream, or -1.
func (c *natsCluster) streamLeader(stream string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, nd := range c.nodes {
		if nd.ns != nil && nd.ns.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// waitConsumerLeader waits until the consumer of stream has a leader and
// returns when.
func (c *natsCluster) waitConsumerLeader(stream, consumer string, timeout time.Duration) time.Time {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, ns := range c.running() {
			if ns.JetStreamIsConsumerLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream, consumer) {
				return time.Now()
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("consumer %s > %s has no leader within %s", stream, consumer, timeout)
	return time.Time{}
}

// waitStreamLeader waits until stream has a leader and returns when.
func (c *natsCluster) waitStreamLeader(stream string, timeout time.Duration) (int, time.Time) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if i := c.streamLeader(stream); i >= 0 {
			return i, time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("stream %s has no leader within %s", stream, timeout)
	return -1, time.Time{}
}

// startNATS runs one JetStream nats-server in the test process on a loopback
// port, the external store two gateways share, and returns its client URL.
func startNATS(t *testing.T) string {
	t.Helper()
	testkit.SkipShort(t, "starts real gateway processes")
	return testkit.StartNATS(t, nil).ClientURL()
}
