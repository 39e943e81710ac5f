package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

func TestAcceptDelivered(t *testing.T) {
	s := openStore(t, t.TempDir())
	up := testkit.NewUpstream(t, testkit.Status(http.StatusNoContent))
	secret := []byte("signing-key")
	p := policy(up.URL)
	p.SignSecret = secret
	p.HeaderUp = http.Header{"X-Gateway": {"edge-1"}, "Host": {"app.internal"}}
	r := newRoute(t, s, QueueConfig{Forward: p})
	r.Start()

	received := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := event("01JTEST0000000000000000001")
	ev.ReceivedAt = received
	ev.Header = http.Header{"X-Incode-Trace": {"t-1"}}
	dup, err := r.Accept(testCtx(t), "k1", ev)
	if err != nil || dup {
		t.Fatalf("accept: dup=%v err=%v", dup, err)
	}
	testkit.WaitFor(t, 10*time.Second, "one delivery", func() bool { return up.Count() == 1 })
	settled(t, r, 10*time.Second)

	h := up.Requests()[0]
	want := map[string]string{
		"Content-Type":              "application/json",
		"X-Webhook-Id":              ev.ID,
		"X-Webhook-Vendor":          "incode",
		"X-Webhook-Event":           "onboarding.completed",
		"X-Webhook-Idempotency-Key": "key-" + ev.ID,
		"X-Webhook-Attempt":         "1",
		"X-Webhook-Received-At":     received.Format(time.RFC3339),
		"X-Incode-Trace":            "t-1",
		"X-Gateway":                 "edge-1",
		"Webhook-Id":                ev.ID,
	}
	for k, v := range want {
		if got := h.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if string(h.Body) != string(ev.Body) {
		t.Errorf("body = %q, want %q", h.Body, ev.Body)
	}
	ts := h.Header.Get("Webhook-Timestamp")
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ev.ID + "." + ts + "."))
	mac.Write(ev.Body)
	if got, want := h.Header.Get("Webhook-Signature"), "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("signature = %q, want %q", got, want)
	}
	if sec, _ := strconv.ParseInt(ts, 10, 64); time.Since(time.Unix(sec, 0)) > time.Minute {
		t.Errorf("webhook-timestamp %s is not the attempt time", ts)
	}

	dup, err = r.Accept(testCtx(t), "k1", event("01JTEST0000000000000000002"))
	if err != nil || !dup {
		t.Fatalf("accept after delivery: dup=%v err=%v, want a duplicate", dup, err)
	}
}

func TestAcceptConcurrentSameKey(t *testing.T) {
	s := openStore(t, t.TempDir())
	up := testkit.NewUpstream(t, testkit.Status(http.StatusOK))
	r := newRoute(t, s, QueueConfig{Forward: policy(up.URL)})
	r.Start()

	const n = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dup, err := r.Accept(testCtx(t), "same-key", event(NewID()))
			if err != nil {
				t.Errorf("accept %d: %v", i, err)
				return
			}
			if !dup {
				mu.Lock()
				stored++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if stored != 1 {
		t.Fatalf("%d of %d concurrent accepts stored the event, want 1", stored, n)
	}
	testkit.WaitFor(t, 10*time.Second, "one delivery", func() bool { return up.Count() == 1 })
	settled(t, r, 10*time.Second)
	if got := up.Count(); got != 1 {
		t.Fatalf("upstream saw %d deliveries, want 1", got)
	}
}

func TestDedupWindowExpiry(t *testing.T) {
	s := openStore(t, t.TempDir())
	up := testkit.NewUpstream(t, testkit.Status(http.StatusOK))
	clock := &fakeClock{}
	r := newRoute(t, s, QueueConfig{DedupWindow: time.Hour, Forward: policy(up.URL)})
	r.now = clock.now
	r.Start()

	accept := func(id string) bool {
		t.Helper()
		dup, err := r.Accept(testCtx(t), "k", event(id))
		if err != nil {
			t.Fatalf("accept %s: %v", id, err)
		}
		return dup
	}
	if accept("01JWIN00000000000000000001") {
		t.Fatal("first accept is a duplicate")
	}
	if !accept("01JWIN00000000000000000002") {
		t.Fatal("second accept while queued is not a duplicate")
	}
	testkit.WaitFor(t, 10*time.Second, "delivery", func() bool { return up.Count() == 1 })
	settled(t, r, 10*time.Second)
	clock.advance(59 * time.Minute)
	if !accept("01JWIN00000000000000000003") {
		t.Fatal("accept inside the window is not a duplicate")
	}
	clock.advance(2 * time.Minute)
	if accept("01JWIN00000000000000000004") {
		t.Fatal("accept after the window is a duplicate")
	}
	testkit.WaitFor(t, 10*time.Second, "second delivery", func() bool { return up.Count() == 2 })
	if got := up.Requests()[1].Header.Get(HeaderID); got != "01JWIN00000000000000000004" {
		t.Fatalf("second delivery is %s", got)
	}
}

func TestAcceptRejects(t *testing.T) {
	s := openStore(t, t.TempDir())
	fwd := newRoute(t, s, QueueConfig{Name: "fwd", Forward: policy("http://127.0.0.1:1")})
	gate := newRoute(t, s, QueueConfig{Name: "gate"})
	for _, tc := range []struct {
		name string
		r    *Queue
		key  string
		ev   *Event
		want error
	}{
		{"key with a dot", fwd, "a.b", event("01JREJ00000000000000000001"), ErrInvalidName},
		{"empty key", fwd, "", event("01JREJ00000000000000000001"), ErrInvalidName},
		{"wildcard key", fwd, "*", event("01JREJ00000000000000000001"), ErrInvalidName},
		{"bad event id", fwd, "k", event("id with space"), ErrInvalidName},
		{"gate mode", gate, "k", event("01JREJ00000000000000000001"), ErrGateMode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.r.Accept(testCtx(t), tc.key, tc.ev); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestGateSeenRecord(t *testing.T) {
	s := openStore(t, t.TempDir())
	clock := &fakeClock{}
	r := newRoute(t, s, QueueConfig{DedupWindow: 10 * time.Minute})
	r.now = clock.now
	seen := func() bool {
		t.Helper()
		ok, err := r.Seen(testCtx(t), "gk")
		if err != nil {
			t.Fatalf("seen: %v", err)
		}
		return ok
	}
	if seen() {
		t.Fatal("unknown key seen")
	}
	if err := r.Record(testCtx(t), "gk"); err != nil {
		t.Fatalf("record: %v", err)
	}
	if !seen() {
		t.Fatal("recorded key not seen")
	}
	clock.advance(11 * time.Minute)
	if seen() {
		t.Fatal("key seen after the window")
	}
	if err := r.Record(testCtx(t), "gk"); err != nil {
		t.Fatalf("record again: %v", err)
	}
	if !seen() {
		t.Fatal("key recorded again not seen")
	}
}

func TestCloseReopen(t *testing.T) {
	dir := t.TempDir()
	up := testkit.NewUpstream(t, testkit.Status(http.StatusOK))
	cfg := QueueConfig{Forward: policy(up.URL)}

	s1 := openStore(t, dir)
	r1 := newRoute(t, s1, cfg) // never started: the events wait in the store
	ids := []string{"01JREO00000000000000000001", "01JREO00000000000000000002", "01JREO00000000000000000003"}
	for i, id := range ids {
		if dup, err := r1.Accept(testCtx(t), "key"+strconv.Itoa(i), event(id)); err != nil || dup {
			t.Fatalf("accept %s: dup=%v err=%v", id, dup, err)
		}
	}
	if err := s1.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	s2 := openStore(t, dir)
	r2 := newRoute(t, s2, cfg)
	if dup, err := r2.Accept(testCtx(t), "key0", event("01JREO00000000000000000009")); err != nil || !dup {
		t.Fatalf("accept of a queued key after reopen: dup=%v err=%v", dup, err)
	}
	r2.Start()
	testkit.WaitFor(t, 10*time.Second, "three deliveries", func() bool { return up.Count() == 3 })
	settled(t, r2, 10*time.Second)
	if err := r2.Stop(time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := s2.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	s3 := openStore(t, dir)
	r3 := newRoute(t, s3, cfg)
	if dup, err := r3.Accept(testCtx(t), "key1", event("01JREO00000000000000000010")); err != nil || !dup {
		t.Fatalf("accept of a delivered key after reopen: dup=%v err=%v", dup, err)
	}
	got := map[string]bool{}
	for _, h := range up.Requests() {
		got[h.Header.Get(HeaderID)] = true
	}
	for _, id := range ids {
		if !got[id] {
			t.Errorf("event %s not delivered", id)
		}
	}
}

func TestStoreDirLocked(t *testing.T) {
	dir := t.TempDir()
	openStore(t, dir)
	if s, err := Open(StoreConfig{Dir: dir}, nil); err == nil {
		_ = s.Close()
		t.Fatal("a second store opened the same directory")
	}
}

// TestPermanentRefusal: a message the store can never take (headers over its
// 64 KiB limit) is reported as permanent, so the adapter does not answer a 503
// the vendor would retry forever. The adapter bounds keys, so only a caller
// that skips the bound can get here.
func TestPermanentRefusal(t *testing.T) {
	s := openStore(t, t.TempDir())
	r := newRoute(t, s, QueueConfig{Forward: policy("http://127.0.0.1:1")})
	ev := event("01JPERM0000000000000000001")
	ev.Key = strings.Repeat("k", 70<<10)
	_, err := r.Accept(testCtx(t), "kperm", ev)
	if err == nil || !IsPermanent(err) {
		t.Fatalf("Accept = %v, want a permanent refusal", err)
	}
	if IsPermanent(errors.New("store: context deadline exceeded")) {
		t.Fatal("a timeout counted as permanent")
	}
}

// TestForwardedHeadersBounded: vendor headers past the budget are not stored,
// so no sender can make an event too big for the store's header limit.
func TestForwardedHeadersBounded(t *testing.T) {
	ev := event("01JHDR00000000000000000001")
	ev.Header = http.Header{}
	for i := range 100 {
		ev.Header.Set(fmt.Sprintf("X-Trace-%03d", i), strings.Repeat("v", 3<<10))
	}
	ev.Header.Set("X-Huge", strings.Repeat("h", 5<<10))
	h := encodeEvent(ev, 0)
	size := 0
	for k, vs := range h {
		if strings.HasPrefix(k, hdrFwdPfx) {
			for _, v := range vs {
				size += len(k) + len(v) + 4
			}
		}
	}
	if size > maxForwardedHeaderBytes {
		t.Fatalf("%d bytes of forwarded headers stored, want ≤ %d", size, maxForwardedHeaderBytes)
	}
	if h.Get(hdrFwdPfx+"X-Huge") != "" {
		t.Fatal("a value over the per-value bound was kept")
	}
	if h.Get(hdrFwdPfx+"X-Trace-000") == "" {
		t.Fatal("the first headers within the budget were dropped")
	}
}
