//go:build !linux

package loadgen

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// eventLoops is false where there is no epoll: the raw engine's closed loop then runs
// a goroutine per worker, like its open loop.
const eventLoops = false

func runEventLoops(context.Context, Config, []*rawTarget, uint64, time.Time, *atomic.Int64, []*tally) error {
	return errors.New("event loops need Linux")
}
