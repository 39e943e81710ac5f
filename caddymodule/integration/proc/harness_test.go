package proc

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// The route every test configures: IDWise preset, basic auth, one name, so
// that two replicas on one NATS cluster share its queue and dedup window.
const (
	routeName    = "idwise"
	routePath    = "/webhooks/idwise"
	authUser     = "u"
	authPassword = "p"
	keyPrefix    = "idwise:" // the preset's idempotency key is idwise:{body.eventId}
)

// Bounds of the harness's waits.
const (
	readyTimeout = 60 * time.Second // process start plus store recovery
	exitTimeout  = 15 * time.Second // after SIGKILL
	stopTimeout  = 30 * time.Second // after SIGTERM (grace period plus drain)
)

// parallel runs fn(i) for i in [0, n) on workers goroutines and returns when
// all are done.
func parallel(workers, n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}

// eventIDs returns n unique event ids for one test run.
func eventIDs(prefix string, n int) []string {
	run := time.Now().UnixNano()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%x-%06d", prefix, run, i)
	}
	return ids
}
