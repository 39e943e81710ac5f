package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/delivery"
)

// replayTimeout bounds one range replay: queueing is a store write per event, far longer than
// one admin call's usual bound for a large range.
const replayTimeout = 5 * time.Minute

// maxReplayBody bounds the JSON body of a range replay request.
const maxReplayBody = 4 << 10

// eventView is one event of the history as the admin API shows it.
type eventView struct {
	delivery.EventDetail
	Body json.RawMessage `json:"body,omitempty"`
}

func newEventView(d delivery.EventDetail) eventView {
	return eventView{EventDetail: d, Body: bodyJSON(d.Body)}
}

// eventPage is one page of a route's history.
type eventPage struct {
	Events     []delivery.EventInfo `json:"events"`
	NextCursor string               `json:"next_cursor,omitempty"`
}

// serveEvents lists one page of a route's history:
// ?since=&until= (RFC 3339), key=, status=pending|delivered|dead, limit= (1 to 1000), cursor=.
func serveEvents(ctx context.Context, w http.ResponseWriter, r *http.Request, rt *routeState) error {
	q, err := eventQueryOf(r.URL.Query())
	if err != nil {
		return apiError(http.StatusBadRequest, err.Error())
	}
	list, next, err := rt.queue.Events(ctx, q)
	if errors.Is(err, delivery.ErrInvalidName) {
		return apiError(http.StatusBadRequest, err.Error())
	}
	if err != nil {
		return apiError(http.StatusServiceUnavailable, err.Error())
	}
	if list == nil {
		list = []delivery.EventInfo{}
	}
	return writeJSON(w, eventPage{Events: list, NextCursor: next})
}

func eventQueryOf(v url.Values) (delivery.EventQuery, error) {
	var q delivery.EventQuery
	var err error
	if q.Since, err = timeParam(v, "since"); err != nil {
		return q, err
	}
	if q.Until, err = timeParam(v, "until"); err != nil {
		return q, err
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return q, errors.New("since must be before until")
	}
	q.Key = v.Get("key")
	if len(q.Key) > maxEventKeyParam {
		return q, fmt.Errorf("key: at most %d bytes", maxEventKeyParam)
	}
	q.Status = v.Get("status")
	if !delivery.ValidStatus(q.Status) {
		return q, fmt.Errorf("status %q: want pending, delivered or dead", q.Status)
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > 1000 {
			return q, fmt.Errorf("limit %q: want 1 to 1000", s)
		}
		q.Limit = n
	}
	if s := v.Get("cursor"); s != "" {
		if n, err := strconv.ParseUint(s, 10, 64); err != nil || n == 0 {
			return q, fmt.Errorf("cursor %q: want the next_cursor of a previous page", s)
		}
		q.Cursor = s
	}
	return q, nil
}

// maxEventKeyParam bounds the key a history query filters on (keys longer than that are never
// stored in clear in full).
const maxEventKeyParam = 1024

func timeParam(v url.Values, name string) (time.Time, error) {
	s := v.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want an RFC 3339 time such as 2026-01-02T15:04:05Z", name, s)
	}
	return t, nil
}

// serveEvent answers one event of the history, with its body and forwarded headers.
func serveEvent(ctx context.Context, w http.ResponseWriter, rt *routeState, id string) error {
	d, err := rt.queue.Event(ctx, id)
	if err != nil {
		return eventError(err)
	}
	return writeJSON(w, newEventView(d))
}

// serveReplayEvent queues one event of the history for delivery again.
func serveReplayEvent(ctx context.Context, w http.ResponseWriter, rt *routeState, id string) error {
	if !rt.queue.Forwarding() {
		return apiError(http.StatusConflict, fmt.Sprintf("route %q is in gate mode: nothing to deliver to", rt.name))
	}
	if err := rt.queue.ReplayEvent(ctx, id); err != nil {
		return eventError(err)
	}
	return writeJSON(w, map[string]int{"replayed": 1})
}

// replayRequest is the body of a range replay.
type replayRequest struct {
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until"`
	Status string    `json:"status"`
}

// serveReplayRange queues every event of the history in a time range (and with a status) for
// delivery again, and answers {"replayed": n}.
func serveReplayRange(ctx context.Context, w http.ResponseWriter, r *http.Request, rt *routeState) error {
	if !rt.queue.Forwarding() {
		return apiError(http.StatusConflict, fmt.Sprintf("route %q is in gate mode: nothing to deliver to", rt.name))
	}
	var req replayRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxReplayBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return apiError(http.StatusBadRequest, fmt.Sprintf(`replay: want a JSON body {"since": RFC 3339, "until": RFC 3339, "status": pending|delivered|dead}: %v`, err))
	}
	if req.Since.IsZero() {
		return apiError(http.StatusBadRequest, "replay: since is required (an RFC 3339 time)")
	}
	if !req.Until.IsZero() && !req.Since.Before(req.Until) {
		return apiError(http.StatusBadRequest, "replay: since must be before until")
	}
	if !delivery.ValidStatus(req.Status) {
		return apiError(http.StatusBadRequest, fmt.Sprintf("replay: status %q: want pending, delivered or dead", req.Status))
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), replayTimeout)
	defer cancel()
	n, err := rt.queue.ReplayRange(rctx, req.Since, req.Until, req.Status)
	if err != nil {
		return apiError(http.StatusServiceUnavailable, fmt.Sprintf("replay: %d events queued, then: %v", n, err))
	}
	return writeJSON(w, map[string]int{"replayed": n})
}

func eventError(err error) error {
	if delivery.IsEventNotFound(err) {
		return apiError(http.StatusNotFound, err.Error())
	}
	return apiError(http.StatusServiceUnavailable, err.Error())
}
