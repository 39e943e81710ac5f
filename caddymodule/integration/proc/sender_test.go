package proc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// sender posts IDWise events the way IDWise does: basic auth, JSON body.
type sender struct {
	client *http.Client
	led    *ledger
}

func newSender(conns int, led *ledger) *sender {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
	}
	return &sender{client: &http.Client{Timeout: 20 * time.Second, Transport: tr}, led: led}
}

func (s *sender) close() { s.client.CloseIdleConnections() }

func eventBody(eventID string) []byte {
	return fmt.Appendf(nil, `{"event":"Finished Journey","body":{"eventId":%q,"journeyId":"j","referenceNo":"r","systemDecision":"Complete"}}`, eventID)
}

// send posts one event to g and records the answer in the ledger.
func (s *sender) send(g *gateway, eventID string) result {
	r := s.post(g.url(), eventID)
	s.led.record(eventID, r)
	return r
}

func (s *sender) post(url, eventID string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(eventBody(eventID)))
	if err != nil {
		return result{err: err}
	}
	req.SetBasicAuth(authUser, authPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return result{err: err}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	r := result{
		status:    resp.StatusCode,
		dup:       resp.Header.Get("X-Webhook-Duplicate") == "true",
		webhookID: resp.Header.Get("X-Webhook-Id"),
	}
	if !r.ok() {
		r.body = string(body)
	}
	return r
}

// firstAck sends event ids (prefix-n) to g until one is acked and returns
// when, or an error when g exits or timeout passes. Events that are not acked
// are recorded in the ledger like any other.
func (s *sender) firstAck(g *gateway, prefix string, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for n := 0; time.Now().Before(deadline); n++ {
		if !g.alive() {
			return time.Time{}, fmt.Errorf("%s exited", g.name)
		}
		if r := s.send(g, fmt.Sprintf("%s-%d", prefix, n)); r.ok() {
			return time.Now(), nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("%s acked nothing within %s", g.name, timeout)
}
