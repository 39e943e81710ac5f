package delivery

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// startEmbedded runs nats-server in this process with JetStream file storage under cfg.Dir and
// connects to it in-process.
func (s *Store) startEmbedded() error {
	if s.cfg.Dir == "" {
		return errors.New("embedded store needs a directory")
	}
	if err := os.MkdirAll(s.cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("create store directory: %w", err)
	}
	unlock, err := lockDir(s.cfg.Dir)
	if err != nil {
		return err
	}
	s.unlock = unlock
	if s.cfg.SyncAlways {
		s.gsync = newGroupSync(s.cfg.Dir)
	}
	opts := &server.Options{
		ServerName: "webhook-gateway",
		JetStream:  true,
		StoreDir:   s.cfg.Dir,
		// SyncAlways is the gateway's group commit (groupsync.go), never the server's
		// fsync per message.
		SyncInterval: s.cfg.SyncInterval,
		MaxPayload:   s.cfg.MaxPayload,
		// JetStreamMaxStore is fixed here rather than left to the server, which computes 75% of
		// the disk that is free at start and never revisits it.
		JetStreamMaxStore: s.cfg.MaxStore,
		NoSigs:            true,
		DontListen:        s.cfg.Listen == "",
	}
	if s.cfg.Listen != "" {
		host, port, err := net.SplitHostPort(s.cfg.Listen)
		if err != nil {
			return fmt.Errorf("store listen address: %w", err)
		}
		if opts.Port, err = strconv.Atoi(port); err != nil {
			return fmt.Errorf("store listen port: %w", err)
		}
		opts.Host = host
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("embedded nats: %w", err)
	}
	ns.SetLoggerV2(serverLogger{s}, false, false, false)
	s.ns = ns
	ns.Start()
	if !ns.ReadyForConnections(s.cfg.ReadyTimeout) {
		return fmt.Errorf("embedded nats not ready after %s", s.cfg.ReadyTimeout)
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns), nats.Name("caddy-webhook-gateway"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect to embedded nats: %w", err)
	}
	s.nc = nc
	return nil
}

// serverLogger sends nats-server's log lines to the store's current logger. Notices (start-up
// banners) go to Debug.
type serverLogger struct{ s *Store }

func (l serverLogger) Noticef(format string, v ...any) { l.write(zap.DebugLevel, format, v) }
func (l serverLogger) Warnf(format string, v ...any)   { l.write(zap.WarnLevel, format, v) }
func (l serverLogger) Fatalf(format string, v ...any)  { l.write(zap.ErrorLevel, format, v) }
func (l serverLogger) Errorf(format string, v ...any)  { l.write(zap.ErrorLevel, format, v) }
func (l serverLogger) Debugf(format string, v ...any)  { l.write(zap.DebugLevel, format, v) }
func (l serverLogger) Tracef(format string, v ...any)  {}

func (l serverLogger) write(lvl zapcore.Level, format string, v []any) {
	log := l.s.logs.Load().nats
	if !log.Core().Enabled(lvl) {
		return
	}
	if ce := log.Check(lvl, fmt.Sprintf(format, v...)); ce != nil {
		ce.Write()
	}
}
