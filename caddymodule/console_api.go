package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/delivery"
)

// The console's JSON endpoints, under <mount>/api/. They reuse the admin API's views and
// handlers (admin.go, admin_events.go), so both show the same figures, and answer errors as
// application/problem+json. GETs change nothing; every other method passes checkStateChange.
//
//	GET    csrf                                          {"token"}: the CSRF token for state-changing requests
//	GET    overview                                      every route: figures, outage, quota, per-minute counts
//	GET    routes/<r>/events?since&until&q&status&cursor a page of the history (q: key or vendor id, or event id)
//	GET    routes/<r>/events/count?since&until&status    {"count","complete"}: what a range replay would send
//	GET    routes/<r>/events/<id>                        one event: body, forwarded headers, attempts
//	POST   routes/<r>/events/<id>/replay                 deliver it again
//	POST   routes/<r>/replay                             {"since","until","status"}: deliver a range again
//	GET    routes/<r>/dead_letters?cursor                a page of dead letters
//	POST   routes/<r>/dead_letters/replay_all            {"include_quarantined"}: replay them all (bounded, paced)
//	GET    routes/<r>/dead_letters/<id>                  one dead letter with its body
//	POST   routes/<r>/dead_letters/<id>/replay           deliver it again
//	DELETE routes/<r>/dead_letters/<id>                  drop it

// Bounds of a console search by text: it reads at most consoleSearchPages pages of the
// history (1,000 events each) per call, then answers what it found with a cursor to go on.
const (
	consoleSearchPages  = 10
	consoleSearchLimit  = 100
	consoleSearchBudget = 4 * time.Second
	// consoleCountTimeout bounds counting a range before a bulk replay; a count that runs out
	// of time is answered as a lower bound ("complete": false).
	consoleCountTimeout = 30 * time.Second
	// consoleReplayAllTimeout bounds one "replay all" click; what is left is replayed by the next.
	consoleReplayAllTimeout = 30 * time.Second
	maxConsoleBody          = 4 << 10
)

func (c *Console) serveAPI(w http.ResponseWriter, r *http.Request, path string) {
	w.Header().Set("Cache-Control", "no-store")
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	if !read && !checkStateChange(w, r) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var err error
	switch {
	case len(parts) == 1 && parts[0] == "csrf" && read:
		err = writeJSON(w, map[string]string{"token": newCSRFToken(time.Now())})
	case len(parts) == 1 && parts[0] == "overview" && read:
		err = writeJSON(w, consoleOverview(ctx))
	case len(parts) >= 3 && parts[0] == "routes":
		rt := findRoute(parts[1])
		if rt == nil {
			err = apiError(http.StatusNotFound, fmt.Sprintf("no running route named %q", parts[1]))
			break
		}
		err = c.serveRouteAPI(ctx, w, r, rt, parts[2:], read)
	default:
		err = apiError(http.StatusNotFound, "no such console endpoint")
	}
	if err != nil {
		writeConsoleError(w, err)
	}
}

func (c *Console) serveRouteAPI(ctx context.Context, w http.ResponseWriter, r *http.Request, rt *routeState, p []string, read bool) error {
	switch {
	case len(p) == 1 && p[0] == "events" && read:
		return consoleEvents(ctx, w, r, rt)
	case len(p) == 2 && p[0] == "events" && p[1] == "count" && read:
		return consoleCount(ctx, w, r, rt)
	case len(p) == 2 && p[0] == "events" && read:
		return serveEvent(ctx, w, rt, p[1])
	case len(p) == 3 && p[0] == "events" && p[2] == "replay" && r.Method == http.MethodPost:
		c.audit(r, rt, "replay event", p[1])
		return serveReplayEvent(ctx, w, rt, p[1])
	case len(p) == 1 && p[0] == "replay" && r.Method == http.MethodPost:
		c.audit(r, rt, "replay range", "")
		return serveReplayRange(ctx, w, r, rt)
	case len(p) == 1 && p[0] == "dead_letters" && read:
		return consoleDeadLetters(ctx, w, r, rt)
	case len(p) == 2 && p[0] == "dead_letters" && p[1] == "replay_all" && r.Method == http.MethodPost:
		c.audit(r, rt, "replay all dead letters", "")
		return consoleReplayAll(ctx, w, r, rt)
	case len(p) == 2 && p[0] == "dead_letters" && read:
		dl, err := rt.queue.DeadLetter(ctx, p[1])
		if err != nil {
			return notFoundOr503(err)
		}
		return writeJSON(w, newDeadLetterView(dl))
	case len(p) == 2 && p[0] == "dead_letters" && r.Method == http.MethodDelete:
		c.audit(r, rt, "delete dead letter", p[1])
		if err := rt.queue.DeleteDeadLetter(ctx, p[1]); err != nil {
			return notFoundOr503(err)
		}
		return writeJSON(w, map[string]string{"deleted": p[1]})
	case len(p) == 3 && p[0] == "dead_letters" && p[2] == "replay" && r.Method == http.MethodPost:
		c.audit(r, rt, "replay dead letter", p[1])
		if err := rt.queue.Replay(ctx, p[1]); err != nil {
			return notFoundOr503(err)
		}
		return writeJSON(w, map[string]string{"replayed": p[1]})
	case len(p) <= 3:
		return apiError(http.StatusMethodNotAllowed, "this console endpoint does not take "+r.Method)
	}
	return apiError(http.StatusNotFound, "no such console endpoint")
}

// audit logs a state-changing console request: who (Caddy's authenticated user, when an auth
// handler set one), what, on which route. Never a body.
func (c *Console) audit(r *http.Request, rt *routeState, action, id string) {
	user := ""
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		user, _ = repl.GetString("http.auth.user.id")
	}
	c.logger.Info("console action", zap.String("action", action), zap.String("route", rt.name),
		zap.String("id", id), zap.String("user", user))
}

// writeConsoleError answers an error of the shared admin handlers as problem+json.
func writeConsoleError(w http.ResponseWriter, err error) {
	status, detail := http.StatusInternalServerError, err.Error()
	var ae caddy.APIError
	if errors.As(err, &ae) {
		status = ae.HTTPStatus
		if ae.Err != nil {
			detail = ae.Err.Error()
		}
	}
	code := map[int]string{
		http.StatusBadRequest:          "invalid_request",
		http.StatusNotFound:            "not_found",
		http.StatusMethodNotAllowed:    "method_not_allowed",
		http.StatusConflict:            "conflict",
		http.StatusServiceUnavailable:  "store_unavailable",
		http.StatusInternalServerError: "internal_error",
	}[status]
	if code == "" {
		code = "error"
	}
	writeProblem(w, newProblem(status, code, detail))
}

// consoleRoute is one row of the overview. It carries figures only: never a route's config.
type consoleRoute struct {
	Name     string `json:"name"`
	Mode     string `json:"mode"`
	Vendor   string `json:"vendor,omitempty"`
	Pending  uint64 `json:"pending"`
	InFlight uint64 `json:"in_flight"`
	Dead     uint64 `json:"dead"`
	// QuotaUsed and QuotaMax are the route's use of the store and its max_queue, in bytes.
	QuotaUsed uint64 `json:"quota_used"`
	QuotaMax  uint64 `json:"quota_max,omitempty"`
	// Outage is set while delivery is paused because the application cannot be reached.
	Outage   *consoleOutage `json:"outage,omitempty"`
	Activity routeActivity  `json:"activity"`
	// Error says why the store's figures are missing.
	Error string `json:"error,omitempty"`
}

type consoleOutage struct {
	Since      time.Time `json:"since"`
	ResumeInMS int64     `json:"resume_in_ms"`
}

type overviewView struct {
	Now    time.Time      `json:"now"`
	Routes []consoleRoute `json:"routes"`
}

func consoleOverview(ctx context.Context) overviewView {
	vendors := map[string]string{}
	if a := current.Load(); a != nil {
		a.mu.Lock()
		for name, rh := range a.handles {
			vendors[name] = rh.vendor
		}
		a.mu.Unlock()
	}
	out := overviewView{Now: time.Now().UTC(), Routes: []consoleRoute{}}
	for _, rt := range runningRoutes() {
		row := consoleRoute{Name: rt.name, Mode: "gate", Vendor: vendors[rt.name], Activity: activityOf(rt.name)}
		if rt.queue.Forwarding() {
			row.Mode = "forward"
		}
		if st, err := rt.queue.Stats(ctx); err != nil {
			row.Error = err.Error()
		} else {
			row.Pending, row.InFlight, row.Dead, row.QuotaUsed, row.QuotaMax = st.Pending, st.InFlight, st.Dead, st.Bytes, st.MaxQueue
		}
		if since, resume := rt.queue.Outage(); !since.IsZero() {
			row.Outage = &consoleOutage{Since: since.UTC(), ResumeInMS: resume.Milliseconds()}
		}
		out.Routes = append(out.Routes, row)
	}
	return out
}

// consoleEventPage is a page of a text search: the events found and the cursor to search on.
type consoleEventPage struct {
	eventPage
	// Scanned counts the events of the history this page read.
	Scanned int `json:"scanned"`
}

// consoleEvents lists a page of a route's history. q, when given, matches the idempotency key
// by substring (most presets build the key from the vendor's own id, such as IDWise's eventId
// or Unico's processId) or the gateway's event id exactly; without q it is the admin API's listing.
func consoleEvents(ctx context.Context, w http.ResponseWriter, r *http.Request, rt *routeState) error {
	v := r.URL.Query()
	text := strings.TrimSpace(v.Get("q"))
	if text == "" {
		return serveEvents(ctx, w, r, rt)
	}
	if len(text) > maxEventKeyParam {
		return apiError(http.StatusBadRequest, fmt.Sprintf("q: at most %d bytes", maxEventKeyParam))
	}
	q, err := eventQueryOf(v)
	if err != nil {
		return apiError(http.StatusBadRequest, err.Error())
	}
	limit := q.Limit
	if limit == 0 {
		limit = consoleSearchLimit
	}
	want := delivery.HeaderSafe(text)
	out := consoleEventPage{eventPage: eventPage{Events: []delivery.EventInfo{}}}
	cursor := q.Cursor
	start := time.Now()
	for range consoleSearchPages {
		page, next, err := rt.queue.Events(ctx, delivery.EventQuery{Since: q.Since, Until: q.Until, Status: q.Status, Limit: 1000, Cursor: cursor})
		if err != nil {
			return apiError(http.StatusServiceUnavailable, err.Error())
		}
		out.Scanned += len(page)
		for _, e := range page {
			if e.ID == text || strings.Contains(e.Key, want) {
				out.Events = append(out.Events, e)
			}
		}
		cursor = next
		// Stop while the request's deadline leaves room for one more page's budget.
		if cursor == "" || len(out.Events) >= limit || time.Since(start) > consoleSearchBudget {
			break
		}
	}
	out.NextCursor = cursor
	return writeJSON(w, out)
}

// consoleCount counts what a range replay with the same since, until and status would send.
func consoleCount(ctx context.Context, w http.ResponseWriter, r *http.Request, rt *routeState) error {
	q, err := eventQueryOf(r.URL.Query())
	if err != nil {
		return apiError(http.StatusBadRequest, err.Error())
	}
	if q.Since.IsZero() {
		return apiError(http.StatusBadRequest, "since is required (a range replay needs it)")
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), consoleCountTimeout)
	defer cancel()
	n, complete, err := rt.queue.CountEvents(cctx, q.Since, q.Until, q.Status)
	if err != nil {
		return apiError(http.StatusServiceUnavailable, err.Error())
	}
	return writeJSON(w, map[string]any{"count": n, "complete": complete})
}

// consoleDeadLetters lists a page of dead letters: {"dead_letters": [...], "next_cursor": "…"}.
func consoleDeadLetters(ctx context.Context, w http.ResponseWriter, r *http.Request, rt *routeState) error {
	page, err := deadLetterPageOf(ctx, r, rt)
	if err != nil {
		return err
	}
	out := struct {
		DeadLetters []deadLetterView `json:"dead_letters"`
		NextCursor  string           `json:"next_cursor,omitempty"`
	}{DeadLetters: page.list}
	if page.next > 0 {
		out.NextCursor = strconv.FormatUint(page.next, 10)
	}
	return writeJSON(w, out)
}

// consoleReplayAll replays a route's dead letters, bounded and paced (Queue.ReplayAllDeadLetters),
// for at most consoleReplayAllTimeout; "more" in the answer says that another click goes on.
func consoleReplayAll(ctx context.Context, w http.ResponseWriter, r *http.Request, rt *routeState) error {
	var req struct {
		IncludeQuarantined bool `json:"include_quarantined"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxConsoleBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		return apiError(http.StatusBadRequest, fmt.Sprintf(`replay_all: want a JSON body {"include_quarantined": bool}: %v`, err))
	}
	if !rt.queue.Forwarding() {
		return apiError(http.StatusConflict, fmt.Sprintf("route %q is in gate mode: nothing to deliver to", rt.name))
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), consoleReplayAllTimeout)
	defer cancel()
	res, err := rt.queue.ReplayAllDeadLetters(rctx, req.IncludeQuarantined)
	if err != nil {
		return apiError(http.StatusServiceUnavailable, fmt.Sprintf("replay all: %d replayed, then: %v", res.Replayed, err))
	}
	return writeJSON(w, res)
}
