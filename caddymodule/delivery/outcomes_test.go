package delivery

import (
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/internal/testkit"
)

// listAll lists the route's whole history as id -> info.
func listAll(t *testing.T, r *Queue, q EventQuery) map[string]EventInfo {
	t.Helper()
	page, next, err := r.Events(testCtx(t), q)
	if err != nil || next != "" {
		t.Fatalf("events: next=%q err=%v", next, err)
	}
	out := make(map[string]EventInfo, len(page))
	for _, e := range page {
		out[e.ID] = e
	}
	return out
}

// TestOutcomeRecords: every attempt is recorded with the event, so the history lists attempts
// and last status for delivered events, an event acked out of order above the ack floor reads
// delivered at once (the floor is held by an older event waiting an hour for its retry), and one
// event's detail shows its attempt log and when it was delivered. A replay's attempts join the
// log, marked and counted from 1.
func TestOutcomeRecords(t *testing.T) {
	s := openStore(t, t.TempDir())
	var retries atomic.Int32
	up := testkit.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		id := r.Header.Get(HeaderID)
		switch {
		case r.Header.Get(HeaderReplay) != "":
			w.WriteHeader(http.StatusOK)
		case id == "SLOW":
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusServiceUnavailable)
		case id == "RETRY" && retries.Add(1) <= 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	p := policy(up.URL)
	p.BackoffMax = time.Hour
	r := newRoute(t, s, QueueConfig{Name: "outcomes", DedupWindow: time.Hour, Forward: p})
	r.rnd = fixedRand(0)
	r.Start()
	for _, id := range []string{"SLOW", "RETRY", "OK"} {
		if dup, err := r.Accept(testCtx(t), "k-"+id, event(id)); err != nil || dup {
			t.Fatalf("accept %s: dup=%v err=%v", id, dup, err)
		}
	}
	testkit.WaitFor(t, 10*time.Second, "five attempts", func() bool { return up.Count() == 5 })
	var got map[string]EventInfo
	testkit.WaitFor(t, 10*time.Second, "the records of the delivered events", func() bool {
		got = listAll(t, r, EventQuery{})
		return got["RETRY"].Status == StatusDelivered && got["OK"].Status == StatusDelivered
	})
	if floor, err := r.ackFloor(testCtx(t)); err != nil || floor != 0 {
		t.Fatalf("ack floor %d (err %v): the slow event should hold it at 0", floor, err)
	}
	want := map[string]EventInfo{
		"SLOW":  {Status: StatusPending, Attempts: 1, LastStatus: 503},
		"RETRY": {Status: StatusDelivered, Attempts: 3, LastStatus: 200},
		"OK":    {Status: StatusDelivered, Attempts: 1, LastStatus: 200},
	}
	for id, w := range want {
		g := got[id]
		if g.Status != w.Status || g.Attempts != w.Attempts || g.LastStatus != w.LastStatus {
			t.Errorf("%s: status %s, attempts %d, last %d; want %s, %d, %d", id, g.Status, g.Attempts, g.LastStatus, w.Status, w.Attempts, w.LastStatus)
		}
	}
	if d := listAll(t, r, EventQuery{Status: StatusDelivered}); len(d) != 2 || d["SLOW"].ID != "" {
		t.Fatalf("status=delivered lists %v", d)
	}
	if p := listAll(t, r, EventQuery{Status: StatusPending}); len(p) != 1 || p["SLOW"].ID == "" {
		t.Fatalf("status=pending lists %v", p)
	}

	d, err := r.Event(testCtx(t), "RETRY")
	if err != nil {
		t.Fatal(err)
	}
	var statuses []int
	for i, a := range d.AttemptLog {
		statuses = append(statuses, a.Status)
		if a.N != i+1 || a.Replay || a.At.IsZero() || (a.Status != 200) == (a.Error == "") {
			t.Errorf("attempt %d: %+v", i, a)
		}
	}
	if !slices.Equal(statuses, []int{503, 503, 200}) || d.DeliveredAt == nil || d.DeliveredAt.Before(d.ReceivedAt) {
		t.Fatalf("RETRY: attempts %v, delivered at %v (received %v)", statuses, d.DeliveredAt, d.ReceivedAt)
	}
	first := *d.DeliveredAt
	if slow, err := r.Event(testCtx(t), "SLOW"); err != nil || len(slow.AttemptLog) != 1 || slow.DeliveredAt != nil || slow.Status != StatusPending {
		t.Fatalf("SLOW: %+v err=%v", slow, err)
	}

	if err := r.ReplayEvent(testCtx(t), "RETRY"); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "the replay's record", func() bool {
		d, err = r.Event(testCtx(t), "RETRY")
		return err == nil && len(d.AttemptLog) == 4
	})
	last := d.AttemptLog[3]
	if !last.Replay || last.N != 1 || last.Status != 200 || !d.DeliveredAt.Equal(first) {
		t.Fatalf("after the replay: last attempt %+v, delivered at %v (first %v)", last, d.DeliveredAt, first)
	}
	if g := listAll(t, r, EventQuery{Key: "key-RETRY"})["RETRY"]; g.Attempts != 1 || g.LastStatus != 200 || g.Status != StatusDelivered {
		t.Fatalf("RETRY listed after its replay: %+v", g)
	}
}

// lossRecorder counts lost outcome records.
type lossRecorder struct {
	recorder
	lost atomic.Int64
}

func (o *lossRecorder) OutcomeLost(_ string, n int) { o.lost.Add(int64(n)) }

// TestOutcomeLossNeverFailsDelivery: with the outcome stream gone, every record is lost, and
// counted, while every event is still delivered once and the history still lists them.
func TestOutcomeLossNeverFailsDelivery(t *testing.T) {
	s := openStore(t, t.TempDir())
	up := testkit.NewUpstream(t, testkit.Status(http.StatusOK))
	obs := &lossRecorder{}
	r := newRoute(t, s, QueueConfig{Name: "lossy", DedupWindow: time.Hour, Forward: policy(up.URL), Observer: obs})
	if err := s.js.DeleteStream(testCtx(t), r.ocStream); err != nil {
		t.Fatal(err)
	}
	r.Start()
	const n = 20
	for i := range n {
		id := "L" + string(rune('A'+i))
		if _, err := r.Accept(testCtx(t), "k-"+id, event(id)); err != nil {
			t.Fatal(err)
		}
	}
	settled(t, r, 10*time.Second)
	testkit.WaitFor(t, 10*time.Second, "the lost records to be counted", func() bool { return obs.lost.Load() == n })
	if up.Count() != n || obs.get(ResultSuccess) != n {
		t.Fatalf("%d deliveries, %d successes, want %d", up.Count(), obs.get(ResultSuccess), n)
	}
	got := listAll(t, r, EventQuery{})
	if len(got) != n {
		t.Fatalf("%d events listed, want %d", len(got), n)
	}
	for id, e := range got {
		if e.Status != StatusDelivered || e.Attempts != 0 {
			t.Fatalf("%s without records: %+v", id, e)
		}
	}
	if d, err := r.Event(testCtx(t), "LA"); err != nil || len(d.AttemptLog) != 0 || d.DeliveredAt != nil || string(d.Body) != `{"id":"LA"}` {
		t.Fatalf("one event without records: %+v err=%v", d, err)
	}
}

// TestReplayDeadEventRemovesDeadLetter: replaying a dead event from the history, by ID or by
// range, queues it from its dead letter and removes the dead letter, as a dead-letter replay
// does: the event is no longer listed dead, and its replay is delivered once.
func TestReplayDeadEventRemovesDeadLetter(t *testing.T) {
	s := openStore(t, t.TempDir())
	up := testkit.NewUpstream(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.Header.Get(HeaderReplay) == "" {
			w.WriteHeader(http.StatusGone)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	p := policy(up.URL)
	p.DeadLetterOn = []int{http.StatusGone}
	r := newRoute(t, s, QueueConfig{Name: "deadreplay", DedupWindow: time.Hour, Forward: p})
	r.Start()
	for _, id := range []string{"D1", "D2"} {
		if _, err := r.Accept(testCtx(t), "k-"+id, event(id)); err != nil {
			t.Fatal(err)
		}
	}
	testkit.WaitFor(t, 10*time.Second, "two dead letters", func() bool {
		st, err := r.Stats(testCtx(t))
		return err == nil && st.Dead == 2 && st.Pending == 0
	})
	if err := r.ReplayEvent(testCtx(t), "D1"); err != nil {
		t.Fatal(err)
	}
	if n, err := r.ReplayRange(testCtx(t), time.Time{}, time.Time{}, StatusDead); err != nil || n != 1 {
		t.Fatalf("range replay of the dead: n=%d err=%v, want the one left", n, err)
	}
	testkit.WaitFor(t, 10*time.Second, "both replays delivered", func() bool { return up.Count() == 4 })
	settled(t, r, 10*time.Second)
	if st, err := r.Stats(testCtx(t)); err != nil || st.Dead != 0 {
		t.Fatalf("dead letters after the replays: %+v err=%v", st, err)
	}
	testkit.WaitFor(t, 10*time.Second, "the replays' records", func() bool {
		got := listAll(t, r, EventQuery{})
		return got["D1"].Status == StatusDelivered && got["D2"].Status == StatusDelivered &&
			got["D1"].LastStatus == 200 && got["D2"].LastStatus == 200
	})
	d, err := r.Event(testCtx(t), "D1")
	if err != nil || len(d.AttemptLog) != 2 || d.AttemptLog[0].Status != 410 || !d.AttemptLog[1].Replay || d.DeliveredAt == nil {
		t.Fatalf("D1 after its replay: %+v err=%v", d, err)
	}
	if n, err := r.ReplayRange(testCtx(t), time.Time{}, time.Time{}, StatusDead); err != nil || n != 0 {
		t.Fatalf("a second range replay of the dead: n=%d err=%v, want none left", n, err)
	}
}

// TestApplyOutcomes: only an event's own settling attempt makes it delivered above the ack
// floor (a replay's success settles the copy), a dead event keeps its dead letter's figures, and
// the listing shows the last attempt recorded.
func TestApplyOutcomes(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	own := outcomeRecord{At: at, N: 2, Status: 200, Done: doneDelivered}
	retry := outcomeRecord{At: at.Add(-time.Minute), N: 1, Status: 503}
	replay := outcomeRecord{At: at.Add(time.Minute), N: 1, Status: 200, Replay: true, Done: doneDelivered}
	for _, tc := range []struct {
		name   string
		in     EventInfo
		recs   []outcomeRecord
		status string
		n, st  int
	}{
		{"own success above the floor", EventInfo{Status: StatusPending}, []outcomeRecord{retry, own}, StatusDelivered, 2, 200},
		{"only a replay succeeded", EventInfo{Status: StatusPending}, []outcomeRecord{retry, replay}, StatusPending, 1, 200},
		{"retrying", EventInfo{Status: StatusPending}, []outcomeRecord{retry}, StatusPending, 1, 503},
		{"dead keeps its dead letter's figures", EventInfo{Status: StatusDead, Attempts: 20, LastStatus: 500}, []outcomeRecord{retry}, StatusDead, 20, 500},
		{"no records", EventInfo{Status: StatusDelivered}, nil, StatusDelivered, 0, 0},
	} {
		info := tc.in
		applyOutcomes(&info, tc.recs)
		if info.Status != tc.status || info.Attempts != tc.n || info.LastStatus != tc.st {
			t.Errorf("%s: %+v, want %s, %d attempts, last %d", tc.name, info, tc.status, tc.n, tc.st)
		}
	}
	log, delivered := attemptLog([]outcomeRecord{retry, own, replay})
	if len(log) != 3 || delivered == nil || !delivered.Equal(own.At) || !log[2].Replay {
		t.Fatalf("attempt log %+v, delivered at %v", log, delivered)
	}
	if !mayBecome(StatusPending, StatusDelivered) || mayBecome(StatusDelivered, StatusPending) || mayBecome(StatusDead, StatusDelivered) {
		t.Fatal("mayBecome")
	}
}
