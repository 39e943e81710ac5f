package delivery

import (
	"errors"
	"net/http"
	"sort"
	"testing"
	"time"
)

func TestBackoffBounds(t *testing.T) {
	lo := func(int64) int64 { return 0 }
	hi := func(n int64) int64 { return n - 1 }
	for _, tc := range []struct {
		name     string
		min, max time.Duration
		attempt  int
		rnd      func(int64) int64
		want     time.Duration
	}{
		{"first attempt is the floor", time.Second, 10 * time.Minute, 1, hi, time.Second},
		{"second attempt low", time.Second, 10 * time.Minute, 2, lo, time.Second},
		{"second attempt high", time.Second, 10 * time.Minute, 2, hi, 2 * time.Second},
		{"fifth attempt high", time.Second, 10 * time.Minute, 5, hi, 16 * time.Second},
		{"capped at max", time.Second, 10 * time.Minute, 30, hi, 10 * time.Minute},
		{"huge attempt does not overflow", time.Second, 10 * time.Minute, 1 << 20, hi, 10 * time.Minute},
		{"max below min", time.Second, time.Millisecond, 3, hi, time.Second},
		{"zero min", 0, time.Second, 1, hi, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := backoff(tc.min, tc.max, tc.attempt, tc.rnd); got != tc.want {
				t.Fatalf("backoff = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	p := Policy{BackoffMin: time.Second, BackoffMax: time.Minute}
	now := time.Unix(1_700_000_000, 0)
	far := now.Add(time.Hour)
	hi := func(n int64) int64 { return n - 1 }
	for _, tc := range []struct {
		name     string
		attempt  int
		ra       time.Duration
		hasRA    bool
		deadline time.Time
		want     time.Duration
	}{
		{"backoff", 3, 0, false, far, 4 * time.Second},
		{"retry-after wins", 3, 30 * time.Second, true, far, 30 * time.Second},
		{"retry-after capped", 3, time.Hour, true, far, time.Minute},
		{"retry-after floored", 3, 0, true, far, time.Second},
		{"deadline shortens", 3, 0, false, now.Add(1500 * time.Millisecond), 1500 * time.Millisecond},
		{"past deadline", 3, 0, false, now.Add(-time.Second), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryDelay(&p, tc.attempt, tc.ra, tc.hasRA, hi, now, tc.deadline); got != tc.want {
				t.Fatalf("delay = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"120", 2 * time.Minute, true},
		{" 5 ", 5 * time.Second, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseRetryAfter(tc.in, now)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("parseRetryAfter(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestValidRouteName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"unico", true},
		{"incode_onboarding-2", true},
		{"", false},
		{"Unico", false},
		{"a.b", false},
		{"a b", false},
		{"a*", false},
		{"a>", false},
		{string(make([]byte, 65)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidRouteName(tc.name)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidName)) {
				t.Fatalf("ValidRouteName(%q) = %v", tc.name, err)
			}
		})
	}
}

func TestNewID(t *testing.T) {
	const n = 10000
	ids := make([]string, n)
	seen := make(map[string]bool, n)
	for i := range ids {
		ids[i] = NewID()
		if len(ids[i]) != 26 || validToken("id", ids[i]) != nil || seen[ids[i]] {
			t.Fatalf("bad or repeated id %q", ids[i])
		}
		seen[ids[i]] = true
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("ids made in sequence do not sort in sequence")
	}
}

func TestHeaderSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain":     "plain",
		"a\tb":      "a\tb",
		"a\r\nX: y": "a%0D%0AX: y",
		"\x00\x7f":  "%00%7F",
	} {
		if got := HeaderSafe(in); got != want {
			t.Errorf("HeaderSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEventRoundTrip(t *testing.T) {
	ev := &Event{
		ID: "01JEVT00000000000000000001", Vendor: "idwise", Type: "journey\ncompleted", Key: "k",
		ReceivedAt: time.Date(2026, 1, 1, 0, 0, 0, 123, time.UTC), ContentType: "application/json",
		Header: http.Header{"x-trace": {"1", "2"}, "Bad Name": {"x"}, "X-Bad-Value": {"a\r\nb"}},
		Body:   []byte("{}"),
	}
	got, err := decodeEvent(encodeEvent(ev, 0), ev.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != ev.ID || got.Vendor != ev.Vendor || got.Type != "journey%0Acompleted" || !got.ReceivedAt.Equal(ev.ReceivedAt) ||
		got.ContentType != ev.ContentType || len(got.Header) != 1 || len(got.Header["X-Trace"]) != 2 {
		t.Fatalf("round trip = %+v", got)
	}
	if _, err := decodeEvent(nil, nil); err == nil {
		t.Fatal("decoded a message without an event id")
	}
}

func TestMarkersAhead(t *testing.T) {
	var m markersAhead
	for _, s := range []uint64{5, 3, 9, 7, 7} {
		m.add(s)
	}
	if n := m.count(0); n != 4 {
		t.Fatalf("count above 0: %d, want 4", n)
	}
	m.passed(5)
	if n := m.count(0); n != 2 {
		t.Fatalf("after passing 5: %d, want 2 (7 and 9)", n)
	}
	if n := m.count(8); n != 1 {
		t.Fatalf("count above 8: %d, want 1", n)
	}
}
