package delivery

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/dedup/keyindex"
)

// TestKeyIndexInsertFailureFailsClosed: once the key index cannot take a stored key, the
// feed stops there. Before, it went on applying later messages, so a compare-and-set that
// lost to the missing key's message caught up past it, found the key absent, and stored it
// a second time: a false "new". Now that publish waits for a feed that never gets there and
// fails (503), even after the index has room again.
func TestKeyIndexInsertFailureFailsClosed(t *testing.T) {
	// One table that cannot grow: full after some hundred keys.
	tuneIndex = func(c *keyindex.Config) { c.Shards, c.MaxKeys = 1, 1 }
	t.Cleanup(func() { tuneIndex = nil })
	s := openStore(t, t.TempDir())
	const window = 4 * time.Second
	r := newRoute(t, s, QueueConfig{DedupWindow: window})
	record := func(key string, within time.Duration) error {
		ctx, cancel := context.WithTimeout(testCtx(t), within)
		defer cancel()
		return r.Record(ctx, key)
	}

	// Fill the index.
	n := 0
	for ; ; n++ {
		if n == 50_000 {
			t.Fatal("the bounded index never filled")
		}
		if err := record(fmt.Sprintf("a%d", n), 5*time.Second); err != nil {
			break
		}
	}
	t.Logf("index full after %d keys", n)
	// Half a window later the first keys are still in the window, and the table that
	// refused a key is still full: the next key that lands in it is stored in the stream but
	// not in the index.
	time.Sleep(window / 2)
	missing := ""
	for i := range 10_000 {
		if k := fmt.Sprintf("c%d", i); record(k, time.Second) != nil {
			missing = k
			break
		}
	}
	if missing == "" {
		t.Fatal("no key refused by the full table")
	}
	// Once the first keys are past the window the tables have room again; the missing key's
	// copy is still in it.
	time.Sleep(window/2 + 1500*time.Millisecond)
	took := 0
	for i := range 8 {
		if record(fmt.Sprintf("b%d", i), 300*time.Millisecond) == nil {
			took++
		}
	}
	if took == 0 {
		t.Fatal("no new key recorded once the index had room")
	}
	if err := record(missing, 500*time.Millisecond); err == nil {
		t.Fatal(`the key the index missed was recorded again within its window: a false "new"`)
	}
	if st, err := r.Stats(testCtx(t)); err != nil || !st.KeyIndexStuck {
		t.Fatalf("stats %+v (%v): want key_index_stuck", st, err)
	}
}
