package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// StoreConfig selects and tunes the JetStream store.
//
// What a stored event survives. Accept returns only after JetStream's publish ack, and nats-server
// sends that ack only after the message went through the file store (server/stream.go,
// processJetStreamMsg: store.StoreMsg, then the PubAck). For a stream with one replica, the
// embedded case, the file store flushes in place (filestore.go: fip = !AsyncFlush, AsyncFlush only
// when Replicas > 1): writeMsgRecord hands the record to the kernel with a write(2) on the block
// file before StoreMsg returns. Therefore:
//
//   - SyncInterval (the default, every 2 minutes): an acked event is in the kernel's page cache,
//     so it survives a crash of the process (kill -9, panic, OOM kill), but events acked since the
//     last fsync can be lost if the machine loses power or the kernel crashes.
//   - SyncAlways: every publish of the package (events, dead letters, replays) returns only
//     after an fsync of the stream's block files that started after the store's ack, so an acked
//     event also survives a machine crash. The fsyncs are the gateway's own, one round for all
//     the publishes waiting at once (group commit, groupsync.go), not nats-server's SyncAlways,
//     which fsyncs once per message. The rest of the store (consumer positions, the stream's
//     index) follows the sync interval: after a machine crash a delivered event may be
//     delivered again, never lost.
//
// With an external cluster and Replicas > 1, the ack means a quorum of servers stored the
// message in their Raft logs; survival then follows the cluster's own sync settings, which this
// config does not control.
type StoreConfig struct {
	// Dir is the JetStream storage directory of the embedded server (the adapter passes
	// <caddy data dir>/webhook_gateway). It is locked against a second process while open.
	Dir string
	// SnapshotDir holds the routes' key index snapshots, which let a restart skip replaying the
	// dedup window (snapshot.go). Default: <Dir>/keyindex with the embedded store; none with an
	// external cluster unless set (the adapter sets it to a directory under Caddy's data dir).
	SnapshotDir string
	// URLs, when not empty, connects to an external NATS cluster instead of the embedded server.
	URLs []string
	// CredsFile is the NATS credentials file for the external cluster.
	CredsFile string
	// Replicas is the replica count of the route streams on an external cluster; default 1.
	Replicas int
	// SyncAlways makes every publish wait for an fsync that covers it (embedded server only;
	// survives a machine crash). See above.
	SyncAlways bool
	// SyncInterval is the embedded server's background fsync interval when SyncAlways is off;
	// zero means the nats-server default of 2 minutes.
	SyncInterval time.Duration
	// Listen exposes the embedded server on host:port for NATS tools; empty means no listener at
	// all (the gateway connects in-process).
	Listen string
	// ReadyTimeout bounds how long Open waits for the server (recovery of a large store) or the
	// cluster to answer, and how long Queue retries creating the route's streams and consumer
	// (a cluster without a meta or stream leader, another gateway creating them at the same
	// time); default 30s.
	ReadyTimeout time.Duration
	// MaxStore caps the embedded server's JetStream file storage in bytes; zero means
	// nats-server's default (75% of the free disk space when it starts).
	MaxStore int64
	// MaxPayload is the embedded server's largest message (event body plus headers); default 8 MiB.
	// On an external cluster the server's max_payload applies (Store.MaxPayload).
	MaxPayload int32
}

// Default limits of the store.
const (
	defaultReadyTimeout = 30 * time.Second
	defaultMaxPayload   = 8 << 20
	apiTimeout          = 10 * time.Second
	dialTimeout         = 5 * time.Second // one connection attempt to one cluster server
)

// Store is an open JetStream store: the embedded server or a connection to a cluster.
type Store struct {
	cfg      StoreConfig
	logs     atomic.Pointer[storeLogs] // replaced by SetLogger; never nil after Open
	ns       *server.Server            // nil with an external cluster
	nc       *nats.Conn
	js       jetstream.JetStream // wrapped by syncedJS under group commit
	gsync    *groupSync          // group commit of SyncAlways (embedded only), else nil
	replicas int
	unlock   func()

	mu     sync.Mutex
	routes map[*Queue]struct{} // running routes, stopped by Close
	all    map[*Queue]struct{} // routes not closed yet, whose key feeds Close stops
	closed bool
}

// Open starts the embedded server (or connects to the cluster given by cfg.URLs) and waits,
// at most cfg.ReadyTimeout, until JetStream answers. A cluster that cannot be reached, or has
// no meta leader, is retried within that time: it fails Open only if it does not come back.
func Open(cfg StoreConfig, log *zap.Logger) (*Store, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = defaultReadyTimeout
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = defaultMaxPayload
	}
	deadline := time.Now().Add(cfg.ReadyTimeout)
	s := &Store{cfg: cfg, replicas: 1, routes: make(map[*Queue]struct{}), all: make(map[*Queue]struct{})}
	s.SetLogger(log)
	var err error
	if len(cfg.URLs) > 0 {
		if cfg.Replicas > 1 {
			s.replicas = cfg.Replicas
		}
		err = s.connect()
	} else {
		err = s.startEmbedded()
	}
	if err != nil {
		s.shutdown()
		return nil, err
	}
	s.js, err = jetstream.New(s.nc, jetstream.WithDefaultTimeout(apiTimeout))
	if err == nil && s.gsync != nil {
		s.js = syncedJS{JetStream: s.js, gs: s.gsync}
	}
	if err == nil {
		err = retryStore(deadline, firstAttempt, log, "jetstream account info", func(ctx context.Context) error {
			_, err := s.js.AccountInfo(ctx)
			return err
		})
	}
	if err != nil {
		s.shutdown()
		return nil, fmt.Errorf("jetstream not available: %w", err)
	}
	return s, nil
}

// connect dials the external cluster. A cluster that cannot be reached yet does not fail it:
// the connection starts in the reconnecting state (RetryOnFailedConnect), and Open's readiness
// check waits for it.
func (s *Store) connect() error {
	opts := []nats.Option{
		nats.Name("caddy-webhook-gateway"),
		nats.Timeout(dialTimeout),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			s.Logger().Warn("nats disconnected", zap.Error(err))
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			s.Logger().Info("nats reconnected", zap.String("server", c.ConnectedUrlRedacted()))
		}),
	}
	if s.cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(s.cfg.CredsFile))
	}
	nc, err := nats.Connect(strings.Join(s.cfg.URLs, ","), opts...)
	if err != nil {
		return fmt.Errorf("connect to nats: %w", err)
	}
	s.nc = nc
	return nil
}

// storeLogs are the store's own logger and the one nats-server's lines go to.
type storeLogs struct{ main, nats *zap.Logger }

// SetLogger makes l the store's logger, for its own lines and for nats-server's, and returns the
// previous one. The store outlives the config whose logger it was opened with, and Caddy closes a
// config's log writers when that config is unloaded, so each config that uses the store installs
// its own. Nil means no logs.
func (s *Store) SetLogger(l *zap.Logger) (prev *zap.Logger) {
	if l == nil {
		l = zap.NewNop()
	}
	if old := s.logs.Swap(&storeLogs{main: l, nats: l.Named("nats")}); old != nil {
		prev = old.main
	}
	return prev
}

// Logger is the store's current logger (see SetLogger).
func (s *Store) Logger() *zap.Logger { return s.logs.Load().main }

// Ping reports whether JetStream answers.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// MaxPayload is the largest message the store takes: an event body plus its headers (a few
// hundred bytes plus the forwarded vendor headers) must fit.
func (s *Store) MaxPayload() int64 {
	return s.nc.MaxPayload()
}

// eventHeadroom is the room an event's headers may take within the store's message limit: the
// forwarded vendor headers (at most maxForwardedHeaderBytes) plus the gateway's own, with margin.
const eventHeadroom = 64 << 10

// MaxEventBody is the largest body the store can take as one event.
func (s *Store) MaxEventBody() int64 {
	return s.MaxPayload() - eventHeadroom
}

// Close stops the routes that are still running (without drain: their in-flight deliveries are
// redelivered later), closes the connection and shuts the embedded server down.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	running := make([]*Queue, 0, len(s.routes))
	for r := range s.routes {
		running = append(running, r)
	}
	open := make([]*Queue, 0, len(s.all))
	for r := range s.all {
		open = append(open, r)
	}
	s.mu.Unlock()
	var errs []error
	for _, r := range running {
		if err := r.Stop(0); err != nil {
			errs = append(errs, err)
		}
	}
	for _, r := range open {
		r.closeFeed()
	}
	s.shutdown()
	return errors.Join(errs...)
}

func (s *Store) shutdown() {
	if s.nc != nil {
		// Flush so that the last acks and naks (of a drain that timed out) reach the server.
		_ = s.nc.FlushTimeout(time.Second)
		s.nc.Close()
	}
	if s.ns != nil {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	}
	if s.unlock != nil {
		s.unlock()
		s.unlock = nil
	}
}

func (s *Store) register(r *Queue, running bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if running {
		s.routes[r] = struct{}{}
	} else {
		delete(s.routes, r)
	}
}

// track keeps the routes whose key feeds Close must stop.
func (s *Store) track(r *Queue, open bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if open {
		s.all[r] = struct{}{}
	} else {
		delete(s.all, r)
	}
}

// ensureStream creates the stream or updates it to cfg, retrying until deadline. Concurrent
// creators converge: whichever request loses (a timeout, "already in use") is retried, and
// CreateOrUpdateStream then finds the stream and updates it to the same config.
func (s *Store) ensureStream(deadline time.Time, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	var st jetstream.Stream
	err := retryStore(deadline, readyAttempt, s.Logger(), "create stream "+cfg.Name, func(ctx context.Context) error {
		var err error
		st, err = s.js.CreateOrUpdateStream(ctx, cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create stream %s: %w", cfg.Name, err)
	}
	return st, nil
}
