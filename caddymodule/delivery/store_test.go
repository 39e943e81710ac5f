package delivery

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestSetLoggerRedirectsStoreAndServerLines: after SetLogger, the lines of the
// embedded nats-server and of the store itself go to the new logger only, so a
// store that outlives its first config never writes to that config's closed
// log writers.
func TestSetLoggerRedirectsStoreAndServerLines(t *testing.T) {
	firstCore, first := observer.New(zapcore.DebugLevel)
	secondCore, second := observer.New(zapcore.DebugLevel)
	firstLog, secondLog := zap.New(firstCore), zap.New(secondCore)

	s, err := Open(StoreConfig{Dir: t.TempDir(), ReadyTimeout: 20 * time.Second}, firstLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	if prev := s.SetLogger(secondLog); prev != firstLog {
		t.Fatalf("SetLogger returned %p, want the logger Open was given (%p)", prev, firstLog)
	}
	if s.Logger() != secondLog {
		t.Fatal("Logger is not the one just set")
	}
	before := first.Len()
	s.ns.Warnf("probe %d", 1) // a line of nats-server itself
	s.Logger().Info("store probe")

	if got := second.FilterMessage("probe 1").FilterLoggerName("nats").Len(); got != 1 {
		t.Errorf("the new logger got %d nats-server probe lines, want 1; it has %v", got, second.All())
	}
	if got := second.FilterMessage("store probe").Len(); got != 1 {
		t.Errorf("the new logger got %d store probe lines, want 1", got)
	}
	if first.Len() != before {
		t.Errorf("the first logger still gets lines after SetLogger: %v", first.All()[before:])
	}

	s.SetLogger(nil) // no logs, and no panic
	s.ns.Warnf("probe %d", 2)
	if second.FilterMessage("probe 2").Len() != 0 {
		t.Error("SetLogger(nil) left the old logger in place")
	}
}
