//go:build linux

package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/vendors"
)

// The closed loop of the raw engine runs, on Linux, as epoll event loops, the way wrk
// does: one loop per two CPUs (at least one), each on its own OS thread, driving its
// share of the workers' connections with non-blocking system calls. A worker is a
// state machine (idle, connecting, writing, reading) instead of a goroutine, so a
// response costs one read when epoll reports it: no goroutine to park and wake, no read
// tried before the wait, and mostly no scheduler handoff around the wait (see
// pollNow). The other Ps stay with the rest of the process (an in-process
// application, the collector). The open loop keeps a goroutine per worker: its arrivals need timers
// finer than epoll's millisecond timeout.

const eventLoops = true

// epollET is EPOLLET as the unsigned event mask (syscall declares it negative).
const epollET = 1 << 31

// Worker states.
const (
	evIdle = iota
	evConnecting
	evWriting
	evReading
	evDone
)

// evWorker is one worker of an event loop: its tally, its connections (one per target,
// opened on demand) and the request in flight.
type evWorker struct {
	slot   int // index in its loop's workers: the events' user data
	t      *tally
	r      *rand.Rand
	recent []sent
	fds    []int   // per target, -1 when closed
	gens   []int32 // per target: bumped on every new connection, to drop stale events
	state  int
	target int
	msg    vendors.Message
	dup    bool
	sentAt time.Time
	out    []byte // the request, out[off:] still to write
	off    int
	// waitingOut is set while the connection is watched for EPOLLOUT (a partial write).
	waitingOut bool
	in         []byte // the response read so far
	hdr        http.Header
	rd         bytes.Reader
	br         *bufio.Reader
}

// evTarget is a raw target with its resolved address.
type evTarget struct {
	*rawTarget
	sa     syscall.Sockaddr
	family int
}

func resolveTargets(raws []*rawTarget) ([]evTarget, error) {
	ts := make([]evTarget, len(raws))
	for i, rt := range raws {
		a, err := net.ResolveTCPAddr("tcp", rt.addr)
		if err != nil {
			return nil, err
		}
		if ip4 := a.IP.To4(); ip4 != nil {
			sa := &syscall.SockaddrInet4{Port: a.Port}
			copy(sa.Addr[:], ip4)
			ts[i] = evTarget{rt, sa, syscall.AF_INET}
		} else {
			sa := &syscall.SockaddrInet6{Port: a.Port}
			copy(sa.Addr[:], a.IP.To16())
			ts[i] = evTarget{rt, sa, syscall.AF_INET6}
		}
	}
	return ts, nil
}

// runEventLoops runs the closed loop of c over the raw targets until end (or
// MaxRequests, or ctx), filling one tally per worker.
func runEventLoops(ctx context.Context, c Config, raws []*rawTarget, seed uint64, end time.Time, tickets *atomic.Int64, tallies []*tally) error {
	targets, err := resolveTargets(raws)
	if err != nil {
		return err
	}
	loops := max(min(runtime.GOMAXPROCS(0)/2, c.Concurrency), 1)
	errs := make([]error, loops)
	var wg sync.WaitGroup
	for l := range loops {
		var ws []*evWorker
		for w := l; w < c.Concurrency; w += loops {
			ew := &evWorker{slot: len(ws), t: tallies[w], r: rand.New(rand.NewPCG(seed, uint64(w))),
				fds: make([]int, len(targets)), gens: make([]int32, len(targets)), hdr: make(http.Header, 4),
				br: bufio.NewReaderSize(nil, maxHeaderLine)}
			for i := range ew.fds {
				ew.fds[i] = -1
			}
			ws = append(ws, ew)
		}
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			lp := &evLoop{c: c, targets: targets, workers: ws, end: end, tickets: tickets}
			errs[l] = lp.run(ctx)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// evLoop is one event loop and its workers.
type evLoop struct {
	c       Config
	targets []evTarget
	workers []*evWorker
	end     time.Time
	tickets *atomic.Int64
	epfd    int
}

func (lp *evLoop) run(ctx context.Context) error {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll: %v", err)
	}
	lp.epfd = epfd
	defer func() {
		for _, w := range lp.workers {
			for ti := range w.fds {
				lp.closeConn(w, ti)
			}
		}
		syscall.Close(epfd)
	}()
	events := make([]syscall.EpollEvent, 2*len(lp.workers)+1)
	for {
		if ctx.Err() != nil {
			return nil // the run was cut off: requests in flight do not count
		}
		active := 0
		for _, w := range lp.workers {
			if w.state == evIdle {
				lp.start(ctx, w)
			}
			if w.state != evDone {
				active++
			}
		}
		if active == 0 {
			return nil
		}
		// Wake up for the earliest request deadline, and at least every 100 ms to see ctx.
		wait := 100 * time.Millisecond
		now := time.Now()
		for _, w := range lp.workers {
			if w.state != evIdle && w.state != evDone {
				wait = min(wait, w.sentAt.Add(lp.c.Timeout).Sub(now))
			}
		}
		// First a raw poll that does not wait; only when nothing is ready, a wait the
		// runtime knows about, so that it can give the P to other goroutines meanwhile.
		n, err := pollNow(epfd, events)
		if n == 0 && err == nil {
			n, err = syscall.EpollWait(epfd, events, max(int((wait+time.Millisecond-1)/time.Millisecond), 0))
		}
		if err != nil && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("epoll: %v", err)
		}
		for _, ev := range events[:max(n, 0)] {
			w := lp.workers[ev.Fd]
			ti, gen := int(ev.Pad>>20), ev.Pad&(1<<20-1)
			if ti != w.target || gen != w.gens[ti]&(1<<20-1) || w.fds[ti] < 0 {
				continue // an event of a connection closed since
			}
			lp.handle(ctx, w, ev.Events)
		}
		now = time.Now()
		for _, w := range lp.workers {
			if (w.state == evConnecting || w.state == evWriting || w.state == evReading) && now.Sub(w.sentAt) >= lp.c.Timeout {
				lp.fail(w, errTimeout)
			}
		}
	}
}

// pollNow is epoll_wait with a zero timeout as a raw system call. Under load something
// is usually ready, and a raw call spares the scheduler's bookkeeping around a system
// call; a wait that may block must not be raw, or the loop would hold its P from the
// rest of the process (an in-process application among them) while it sleeps.
func pollNow(epfd int, events []syscall.EpollEvent) (int, error) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_WAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// errTimeout is a request that got no answer within Timeout; errorKind names it
// "timeout".
var errTimeout error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "request timed out" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// start takes the worker's next ticket and sends its request, or marks it done.
func (lp *evLoop) start(ctx context.Context, w *evWorker) {
	i := lp.tickets.Add(1) - 1
	now := time.Now()
	if (lp.c.MaxRequests > 0 && i >= lp.c.MaxRequests) || !now.Before(lp.end) {
		w.state = evDone
		return
	}
	w.target, w.msg, w.dup = next(lp.c, w.r, w.recent)
	w.sentAt = now
	out, err := buildRequest(ctx, w.out[:0], lp.targets[w.target].head, w.hdr, lp.c.Signer, w.msg, now)
	if err != nil {
		w.finish(0, false, err)
		return
	}
	w.out, w.off, w.in = out, 0, w.in[:0]
	if w.fds[w.target] < 0 {
		lp.connect(w)
		return
	}
	w.state = evWriting
	lp.write(w)
}

// connect opens a non-blocking connection to the worker's target and registers it.
func (lp *evLoop) connect(w *evWorker) {
	t := lp.targets[w.target]
	fd, err := syscall.Socket(t.family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		w.finish(0, false, err)
		return
	}
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	w.fds[w.target] = fd
	w.gens[w.target]++
	if err := lp.watch(w, syscall.EPOLL_CTL_ADD, true); err != nil {
		lp.fail(w, err)
		return
	}
	switch err := syscall.Connect(fd, t.sa); {
	case err == nil:
		w.state = evWriting
		lp.write(w)
	case errors.Is(err, syscall.EINPROGRESS):
		w.state = evConnecting
	default:
		lp.fail(w, err)
	}
}

// watch registers (op ADD) or changes (op MOD) the events of the worker's connection:
// always readable, edge-triggered; writable only while a connect or a write waits for
// it, since every freed send buffer would otherwise wake the loop.
func (lp *evLoop) watch(w *evWorker, op int, writable bool) error {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET,
		Fd: int32(w.slot), Pad: int32(w.target)<<20 | w.gens[w.target]&(1<<20-1)}
	if writable {
		ev.Events |= syscall.EPOLLOUT
	}
	return syscall.EpollCtl(lp.epfd, op, w.fds[w.target], &ev)
}

// handle acts on the events of the worker's connection.
func (lp *evLoop) handle(ctx context.Context, w *evWorker, events uint32) {
	switch w.state {
	case evIdle, evDone:
		// The server closed a kept-alive connection between requests (its idle timeout,
		// a reload): that edge will not come again, so drop the connection now and let
		// the next request dial, as net/http's pool does.
		if events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
			lp.closeConn(w, w.target)
		}
	case evConnecting:
		if events&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) == 0 {
			return
		}
		soErr, err := syscall.GetsockoptInt(w.fds[w.target], syscall.SOL_SOCKET, syscall.SO_ERROR)
		if err == nil && soErr != 0 {
			err = syscall.Errno(soErr)
		}
		if err != nil {
			lp.fail(w, err)
			return
		}
		w.state = evWriting
		if err := lp.watch(w, syscall.EPOLL_CTL_MOD, false); err != nil {
			lp.fail(w, err)
			return
		}
		lp.write(w)
	case evWriting:
		if events&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
			lp.write(w)
		}
	case evReading:
		if events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
			lp.read(w)
		}
	}
}

// write sends what is left of the request; once it is all out, the worker waits for the
// answer (edge-triggered: the next EPOLLIN is the answer's arrival). A write the socket
// cannot take whole waits for EPOLLOUT, which is watched only then.
func (lp *evLoop) write(w *evWorker) {
	fd := w.fds[w.target]
	for w.off < len(w.out) {
		n, err := syscall.Write(fd, w.out[w.off:])
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			if !w.waitingOut {
				if err := lp.watch(w, syscall.EPOLL_CTL_MOD, true); err != nil {
					lp.fail(w, err)
					return
				}
				w.waitingOut = true
			}
			return
		case err != nil:
			lp.fail(w, err)
			return
		}
		w.off += n
	}
	if w.waitingOut {
		if err := lp.watch(w, syscall.EPOLL_CTL_MOD, false); err != nil {
			lp.fail(w, err)
			return
		}
		w.waitingOut = false
	}
	w.state = evReading
}

// read takes in what arrived and answers the request once its response is complete.
func (lp *evLoop) read(w *evWorker) {
	fd := w.fds[w.target]
	eof := false
	for {
		if len(w.in) == cap(w.in) {
			w.in = append(w.in, make([]byte, max(4096, cap(w.in)))...)[:len(w.in)]
		}
		n, err := syscall.Read(fd, w.in[len(w.in):cap(w.in)])
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.EAGAIN) {
			break
		}
		if err != nil {
			lp.fail(w, err)
			return
		}
		if n == 0 {
			eof = true
			break
		}
		room := cap(w.in) - len(w.in)
		w.in = w.in[:len(w.in)+n]
		if len(w.in) > maxDrain+maxHeaderLine {
			lp.fail(w, errProtocol)
			return
		}
		if n < room {
			// A short read emptied the socket; anything later raises a new edge. wrk
			// reads the same way, sparing the read that would return EAGAIN.
			break
		}
	}
	w.rd.Reset(w.in)
	w.br.Reset(&w.rd)
	status, dup, keep, err := readResponse(w.br)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		if eof {
			lp.fail(w, io.ErrUnexpectedEOF)
		}
		return // not complete yet
	}
	if err != nil {
		lp.fail(w, err)
		return
	}
	if !keep || eof {
		lp.closeConn(w, w.target)
	}
	w.finish(status, dup, nil)
	if status >= 200 && status < 300 && !w.dup && lp.c.DupShare > 0 {
		w.recent = remember(w.recent, sent{w.target, w.msg}, w.r)
	}
}

// fail ends the request in flight with a transport error and drops its connection.
func (lp *evLoop) fail(w *evWorker, err error) {
	lp.closeConn(w, w.target)
	w.finish(0, false, err)
}

func (lp *evLoop) closeConn(w *evWorker, ti int) {
	if fd := w.fds[ti]; fd >= 0 {
		_ = syscall.Close(fd) // also removes it from the epoll set
		w.fds[ti] = -1
		if ti == w.target {
			w.waitingOut = false
		}
	}
}

// finish records the request's outcome and makes the worker idle.
func (w *evWorker) finish(status int, dupAck bool, err error) {
	lat := time.Since(w.sentAt)
	if w.dup {
		w.t.dupSent++
	}
	if err != nil {
		w.t.record(lat, 0, false, errorKind(err))
	} else {
		w.t.record(lat, status, dupAck, "")
	}
	w.state = evIdle
}
