package delivery

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestMaxStore: the embedded server's storage limit is the configured one, not 75% of the disk
// that happened to be free at start.
func TestMaxStore(t *testing.T) {
	s, err := Open(StoreConfig{Dir: t.TempDir(), MaxStore: 64 << 20, ReadyTimeout: 20 * time.Second}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.ns.JetStreamConfig().MaxStore; got != 64<<20 {
		t.Fatalf("JetStream max store %d, want %d", got, 64<<20)
	}
}

// TestQueueQuota: a route past MaxQueue refuses new events with ErrQueueFull, still answers a
// re-sent event as the duplicate it is, and keeps every event it holds.
func TestQueueQuota(t *testing.T) {
	s := openStore(t, t.TempDir())
	p := policy("http://127.0.0.1:1/unused")
	p.MaxQueue = 16 << 10
	r := newRoute(t, s, QueueConfig{Name: "quota", Forward: p})
	accepted := 0
	var err error
	for i := range 200 {
		ev := event(fmt.Sprintf("e%03d", i))
		ev.Body = append(ev.Body[:len(ev.Body)-1], []byte(fmt.Sprintf(`,"pad":"%0500d"}`, i))...)
		var dup bool
		dup, err = r.Accept(testCtx(t), fmt.Sprintf("k%03d", i), ev)
		if err != nil {
			break
		}
		if dup {
			t.Fatalf("event %d answered as a duplicate", i)
		}
		accepted++
	}
	if !errors.Is(err, ErrQueueFull) {
		t.Fatalf("after %d events: %v, want ErrQueueFull", accepted, err)
	}
	if accepted < 5 || accepted > 40 {
		t.Fatalf("a 16 KiB quota took %d events of about 600 bytes", accepted)
	}
	if dup, err := r.Accept(testCtx(t), "k000", event("again")); err != nil || !dup {
		t.Fatalf("re-send on a full route: dup %v, err %v", dup, err)
	}
	// A refusal re-reads the exact use, which the estimates of what was admitted since the last
	// sample overstate a little: a few small quarantined events may still fit, not many.
	quarantined := 0
	for i := range 20 {
		ev := event(fmt.Sprintf("q%02d", i))
		ev.Body = append(ev.Body[:len(ev.Body)-1], []byte(fmt.Sprintf(`,"pad":"%0500d"}`, i))...)
		if _, err = r.Quarantine(testCtx(t), fmt.Sprintf("kq%02d", i), ev, "bad"); err != nil {
			break
		}
		quarantined++
	}
	if !errors.Is(err, ErrQueueFull) || quarantined > 5 {
		t.Fatalf("quarantine on a full route: %v after %d", err, quarantined)
	}
	st, err := r.Stats(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Stored != uint64(accepted) || st.MaxQueue != 16<<10 || st.Bytes == 0 {
		t.Fatalf("stats %+v after %d accepted", st, accepted)
	}
}
