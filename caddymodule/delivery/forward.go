package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/auth"
)

const (
	userAgent = "caddy-webhook-gateway"
	maxDrain  = 64 << 10
)

// outcome is the result of one delivery attempt.
type outcome struct {
	status        int
	err           error // transport error or non-2xx status, never with secrets or bodies
	retryAfter    time.Duration
	hasRetryAfter bool
	latency       time.Duration
}

func (o outcome) ok() bool { return o.err == nil }

// forward makes one attempt to deliver ev to p.URL.
func forward(ctx context.Context, client *http.Client, p *Policy, ev *Event, attempt int, now func() time.Time) outcome {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(ev.Body))
	if err != nil {
		return outcome{err: fmt.Errorf("build request: %w", unwrapURLError(err))}
	}
	setHeaders(req, p, ev, attempt, now())
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return outcome{err: unwrapURLError(err), latency: time.Since(start)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	_ = resp.Body.Close()
	o := outcome{status: resp.StatusCode, latency: time.Since(start)}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return o
	}
	o.err = fmt.Errorf("application answered %d", resp.StatusCode)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		o.err = fmt.Errorf("application answered %d (redirects are not followed)", resp.StatusCode)
	}
	o.retryAfter, o.hasRetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now())
	return o
}

// setHeaders writes the forwarded request's header: vendor extras, then header_up, then the
// gateway's own fields, which always win.
func setHeaders(req *http.Request, p *Policy, ev *Event, attempt int, now time.Time) {
	h := make(http.Header, len(ev.Header)+len(p.HeaderUp)+10)
	for k, vs := range ev.Header {
		h[k] = vs
	}
	for k, vs := range p.HeaderUp {
		if len(vs) == 0 {
			continue
		}
		if http.CanonicalHeaderKey(k) == "Host" {
			req.Host = vs[0]
			continue
		}
		h[http.CanonicalHeaderKey(k)] = vs
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", userAgent)
	}
	if ev.ContentType != "" {
		h.Set("Content-Type", ev.ContentType)
	}
	h.Set(HeaderID, ev.ID)
	setNonEmpty(h, HeaderVendor, ev.Vendor)
	setNonEmpty(h, HeaderEvent, ev.Type)
	setNonEmpty(h, HeaderIdempotencyKey, ev.Key)
	h.Set(HeaderAttempt, strconv.Itoa(attempt))
	h.Set(HeaderReceivedAt, ev.ReceivedAt.UTC().Format(time.RFC3339))
	if ev.Replay {
		h.Set(HeaderReplay, "true")
	} else {
		h.Del(HeaderReplay) // only the gateway says what is a replay
	}
	if p.SignSecret != nil {
		h.Set(HeaderSignatureID, ev.ID)
		h.Set(HeaderSignatureTime, strconv.FormatInt(now.Unix(), 10))
		h.Set(HeaderSignature, auth.SignStandardWebhook(p.SignSecret, ev.ID, now, ev.Body))
	}
	req.Header = h
}

func setNonEmpty(h http.Header, k, v string) {
	if v != "" {
		h.Set(k, v)
	} else {
		h.Del(k)
	}
}

// unwrapURLError drops the *url.Error wrapper, whose text repeats the forward URL (which may
// carry a token in its query).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("attempt timed out")
		}
		return ue.Err
	}
	return err
}
