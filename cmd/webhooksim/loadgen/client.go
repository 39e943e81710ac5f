package loadgen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/senderauth"
	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/vendors"
)

// UserAgent is sent with every simulated webhook.
const UserAgent = "webhooksim/1"

// maxDrain bounds the response body read to keep a connection reusable.
const maxDrain = 1 << 20

// NewClient returns an HTTP/1.1 client with keep-alive that keeps up to conns idle
// connections to one host, with an overall per-request timeout.
func NewClient(conns int, timeout time.Duration) *http.Client {
	conns = max(conns, 1)
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
			ForceAttemptHTTP2:   false,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Answer is what came back for one webhook.
type Answer struct {
	// Status is the HTTP status code; 0 with a transport error.
	Status int
	// Header is the response header.
	Header http.Header
	// Body is the response body when it was asked for.
	Body []byte
}

// Duplicate reports whether the gateway acked the webhook as a duplicate.
func (a *Answer) Duplicate() bool { return a.Header.Get("X-Webhook-Duplicate") == "true" }

// Send posts one message to url with the signer's credentials. With keepBody the
// response body (up to 1 MiB) is returned; otherwise it is drained and dropped.
func Send(ctx context.Context, c *http.Client, s *senderauth.Signer, url string, m vendors.Message, keepBody bool) (*Answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(m.Body))
	if err != nil {
		return nil, err
	}
	req.Header = http.Header{
		"Content-Type": {"application/json"},
		"User-Agent":   {UserAgent},
	}
	if s != nil {
		if err := s.Apply(ctx, req.Header, m.IDs.MessageID(), m.Body, time.Now()); err != nil {
			return nil, err
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	a := &Answer{Status: resp.StatusCode, Header: resp.Header}
	if keepBody {
		a.Body, err = io.ReadAll(io.LimitReader(resp.Body, maxDrain))
	} else {
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	}
	if err != nil {
		return a, err
	}
	return a, nil
}

// errorKind names a transport error for the report.
func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, errProtocol):
		return "malformed response"
	case strings.Contains(err.Error(), "oauth2 token"):
		return "oauth2 token"
	}
	return "other"
}
