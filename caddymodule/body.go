package caddymodule

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Reading a body is the one step an unauthenticated sender can make expensive: on hmac,
// standard_webhooks and auth none routes the whole body is read before anything is verified.
// Three bounds keep that cheap:
//
//   - time: body_timeout (default 10 s) sets a read deadline through http.ResponseController;
//     a body not complete by then gets 408 and the connection is closed;
//   - size: the buffer is sized from Content-Length (at most max_body), never grown by doubling
//     past what was declared;
//   - memory across senders: every body being read holds a share of one process-wide budget
//     (the global body_memory, default 64 MiB); a request that would exceed it gets 503 with
//     Retry-After before anything is read.

// Defaults of the body bounds.
const (
	defaultBodyTimeout = 10 * time.Second
	defaultBodyMemory  = 64 << 20
	// chunkedStep is the first buffer, and the growth step, of a body of unknown length.
	chunkedStep = 32 << 10
)

// memoryBudget is the process-wide budget of body bytes being read at once. The webhook_gateway
// app sets its limit; it is a package variable because it spans every route and every config
// that is live during a reload.
type memoryBudget struct {
	used  atomic.Int64
	limit atomic.Int64
}

var bodyBudget = func() *memoryBudget {
	b := &memoryBudget{}
	b.limit.Store(defaultBodyMemory)
	return b
}()

// acquire reserves n bytes; false means the budget is spent.
func (b *memoryBudget) acquire(n int64) bool {
	if n <= 0 {
		return true
	}
	if b.used.Add(n) > b.limit.Load() {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *memoryBudget) release(n int64) {
	if n > 0 {
		b.used.Add(-n)
	}
}

// errBodyBudget means the process-wide body budget could not cover the body.
var errBodyBudget = errors.New("body memory budget exhausted")

// readBody reads the request body within max_body, body_timeout and the body budget. The
// returned problem is set when the request must be refused.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *problem) {
	rc := http.NewResponseController(w)
	// A connection that cannot take a deadline (HTTP/3) keeps the server's own timeouts.
	if rc.SetReadDeadline(time.Now().Add(h.bodyTimeout)) == nil {
		// Cleared at once after the read: net/http's background read for the next request
		// would otherwise time out while the next handler (gate mode) is still working, and
		// cancel the request's context.
		defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	}
	var reserved int64
	defer func() { bodyBudget.release(reserved) }()

	body, err := readBounded(http.MaxBytesReader(w, r.Body, h.MaxBody), r.ContentLength, h.MaxBody, &reserved)
	switch {
	case err == nil:
		if al, ok := caddyhttp.GetVar(r.Context(), accessLogVar).(*accessLog); ok {
			al.read = len(body)
		}
		return body, nil
	case errors.Is(err, errBodyBudget):
		return nil, &problemBodyBudget
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.Header().Set("Connection", "close")
		return nil, &problemBodyTimeout
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, &problemTooLarge
	}
	return nil, &problemBadBody
}

// readBounded reads src whole. declared is the Content-Length (-1 if unknown); limit bounds
// the body. Every byte of buffer is reserved in bodyBudget first, and added to *reserved.
func readBounded(src io.Reader, declared, limit int64, reserved *int64) ([]byte, error) {
	reserve := func(n int64) error {
		if !bodyBudget.acquire(n) {
			return errBodyBudget
		}
		*reserved += n
		return nil
	}
	if declared >= 0 {
		// net/http stops a body at its Content-Length, so the exact size is the whole buffer;
		// one more byte would only be read by a body longer than declared, which cannot happen.
		if err := reserve(declared); err != nil {
			return nil, err
		}
		buf := make([]byte, declared)
		if _, err := io.ReadFull(src, buf); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return buf, nil
	}
	// Unknown length (chunked): grow by doubling from chunkedStep, never beyond limit+1 (the
	// byte that tells MaxBytesReader the body is too large).
	var buf []byte
	for {
		if len(buf) == cap(buf) {
			grow := min(max(int64(cap(buf)), chunkedStep), limit+1-int64(cap(buf)))
			if grow <= 0 {
				grow = 1
			}
			if err := reserve(grow); err != nil {
				return nil, err
			}
			nb := make([]byte, len(buf), int64(cap(buf))+grow)
			copy(nb, buf)
			buf = nb
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
