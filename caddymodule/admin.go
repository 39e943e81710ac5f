package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/delivery"
)

// adminPrefix is the admin API path of the gateway.
const adminPrefix = "/webhook_gateway/"

// adminTimeout bounds one admin request's store operations.
const adminTimeout = 10 * time.Second

// AdminAPI is the admin.api.webhook_gateway module: queue stats and dead
// letters under Caddy's admin endpoint. Admin modules are not configured and
// are rebuilt on every config load, so it reads the process-wide route pool.
//
//	GET    /webhook_gateway/health                                  200 when the store answers and every route runs, else 503
//	GET    /webhook_gateway/routes                                  stats of every route, and of every orphaned queue
//	GET    /webhook_gateway/routes/<name>                           stats of one route (or orphaned queue)
//	POST   /webhook_gateway/routes/<orphan>/attach?to=<route>       move an orphaned queue into a route
//	POST   /webhook_gateway/routes/<orphan>/drain?to=<url>          deliver an orphaned queue to a URL, then remove it
//	DELETE /webhook_gateway/routes/<orphan>?discard=true            delete an orphaned queue, events included
//	GET    /webhook_gateway/routes/<name>/dead_letters[?limit=n&cursor=c]  list dead letters (Link: rel="next")
//	GET    /webhook_gateway/routes/<name>/dead_letters/<id>         one dead letter, with its body
//	POST   /webhook_gateway/routes/<name>/dead_letters/<id>/replay  deliver it again
//	DELETE /webhook_gateway/routes/<name>/dead_letters/<id>         drop it
//	GET    /webhook_gateway/routes/<name>/events[?since&until&key&status&limit&cursor]  a page of the event history
//	GET    /webhook_gateway/routes/<name>/events/<id>               one event, with its body and forwarded headers
//	POST   /webhook_gateway/routes/<name>/events/<id>/replay        deliver it again
//	POST   /webhook_gateway/routes/<name>/replay                    {"since","until","status"}: deliver a range again
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.webhook_gateway",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes returns the admin routes.
func (a AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: adminPrefix, Handler: caddy.AdminHandlerFunc(a.serve)}}
}

// routeView is a route's stats as the admin API shows them.
type routeView struct {
	delivery.Stats
	// Mode is "forward" or "gate"; empty for an orphaned queue.
	Mode string `json:"mode,omitempty"`
	// RatePerSecond is the route's delivery rate limit (forward rate), 0 for none.
	RatePerSecond float64 `json:"rate_per_second,omitempty"`
	// Orphaned marks a queue in the store that no running route uses.
	Orphaned bool `json:"orphaned"`
	// Truncated: an orphan's pending count stopped at its bound.
	Truncated bool `json:"truncated,omitempty"`
}

func newRouteView(rt *routeState, st delivery.Stats) routeView {
	v := routeView{Stats: st, Mode: "gate", RatePerSecond: rt.queue.Rate()}
	if rt.queue.Forwarding() {
		v.Mode = "forward"
	}
	return v
}

func orphanView(o delivery.OrphanInfo) routeView {
	return routeView{Stats: delivery.Stats{Route: o.Route, Pending: o.Pending, Dead: o.Dead, Stored: o.Stored}, Orphaned: true, Truncated: o.Truncated}
}

func (a AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, adminPrefix), "/"), "/")
	if len(parts) == 1 && parts[0] == "health" {
		if r.Method != http.MethodGet {
			return apiError(http.StatusMethodNotAllowed, "method not allowed")
		}
		return serveHealth(ctx, w)
	}
	if len(parts) == 0 || parts[0] != "routes" {
		return apiError(http.StatusNotFound, "unknown path")
	}
	if len(parts) == 1 {
		if r.Method != http.MethodGet {
			return apiError(http.StatusMethodNotAllowed, "method not allowed")
		}
		out := []routeView{}
		for _, rt := range runningRoutes() {
			st, err := rt.queue.Stats(ctx)
			if err != nil {
				return apiError(http.StatusServiceUnavailable, fmt.Sprintf("stats of route %s: %v", rt.name, err))
			}
			out = append(out, newRouteView(rt, st))
		}
		orphans, err := orphanedQueues(ctx)
		if err != nil {
			return apiError(http.StatusServiceUnavailable, err.Error())
		}
		for _, o := range orphans {
			out = append(out, orphanView(o))
		}
		return writeJSON(w, out)
	}
	rt := findRoute(parts[1])
	if rt == nil {
		return a.serveOrphan(ctx, w, r, parts)
	}
	switch {
	case len(parts) == 2 && r.Method == http.MethodGet:
		st, err := rt.queue.Stats(ctx)
		if err != nil {
			return apiError(http.StatusServiceUnavailable, err.Error())
		}
		return writeJSON(w, newRouteView(rt, st))
	case len(parts) == 3 && parts[2] == "dead_letters" && r.Method == http.MethodGet:
		return serveDeadLetters(ctx, w, r, rt)
	case len(parts) == 4 && parts[2] == "dead_letters" && r.Method == http.MethodGet:
		dl, err := rt.queue.DeadLetter(ctx, parts[3])
		if err != nil {
			return notFoundOr503(err)
		}
		return writeJSON(w, newDeadLetterView(dl))
	case len(parts) == 4 && parts[2] == "dead_letters" && r.Method == http.MethodDelete:
		if err := rt.queue.DeleteDeadLetter(ctx, parts[3]); err != nil {
			return notFoundOr503(err)
		}
		return writeJSON(w, map[string]string{"deleted": parts[3]})
	case len(parts) == 5 && parts[2] == "dead_letters" && parts[4] == "replay" && r.Method == http.MethodPost:
		if err := rt.queue.Replay(ctx, parts[3]); err != nil {
			return notFoundOr503(err)
		}
		return writeJSON(w, map[string]string{"replayed": parts[3]})
	case len(parts) == 3 && parts[2] == "events" && r.Method == http.MethodGet:
		return serveEvents(ctx, w, r, rt)
	case len(parts) == 4 && parts[2] == "events" && r.Method == http.MethodGet:
		return serveEvent(ctx, w, rt, parts[3])
	case len(parts) == 5 && parts[2] == "events" && parts[4] == "replay" && r.Method == http.MethodPost:
		return serveReplayEvent(ctx, w, rt, parts[3])
	case len(parts) == 3 && parts[2] == "replay" && r.Method == http.MethodPost:
		return serveReplayRange(ctx, w, r, rt)
	case len(parts) == 3 && parts[2] == "attach":
		return apiError(http.StatusConflict, fmt.Sprintf("route %q is configured, not orphaned: only an orphaned queue can be attached", rt.name))
	case len(parts) == 2 && r.Method == http.MethodDelete:
		return apiError(http.StatusConflict, fmt.Sprintf("route %q is configured: remove it from the config first", rt.name))
	case len(parts) <= 5:
		return apiError(http.StatusMethodNotAllowed, "method not allowed")
	}
	return apiError(http.StatusNotFound, "unknown path")
}

// serveDeadLetters lists one page of dead letters. The body stays a JSON
// array; the next page's cursor is in X-Next-Cursor and a Link rel="next".
func serveDeadLetters(ctx context.Context, w http.ResponseWriter, r *http.Request, rt *routeState) error {
	page, err := deadLetterPageOf(ctx, r, rt)
	if err != nil {
		return err
	}
	if page.next > 0 {
		c := strconv.FormatUint(page.next, 10)
		w.Header().Set("X-Next-Cursor", c)
		w.Header().Set("Link", fmt.Sprintf("<%sroutes/%s/dead_letters?limit=%d&cursor=%s>; rel=\"next\"", adminPrefix, rt.name, min(page.limit, 1000), c))
	}
	return writeJSON(w, page.list)
}

// deadLetterPage is one page of a route's dead letters, as the admin API and the console list it.
type deadLetterPage struct {
	list  []deadLetterView
	next  uint64 // the cursor of the next page; 0 at the end
	limit int
}

// deadLetterPageOf reads the page that ?limit= (default 100) and ?cursor= ask for.
func deadLetterPageOf(ctx context.Context, r *http.Request, rt *routeState) (deadLetterPage, error) {
	q := r.URL.Query()
	page := deadLetterPage{limit: 100}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return page, apiError(http.StatusBadRequest, "invalid limit")
		}
		page.limit = n
	}
	var cursor uint64
	if s := q.Get("cursor"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return page, apiError(http.StatusBadRequest, fmt.Sprintf("cursor %q: want the next cursor of a previous page", s))
		}
		cursor = n
	}
	list, next, err := rt.queue.DeadLetterPage(ctx, cursor, page.limit)
	if err != nil {
		return page, apiError(http.StatusServiceUnavailable, err.Error())
	}
	page.next = next
	page.list = make([]deadLetterView, 0, len(list))
	for _, dl := range list {
		page.list = append(page.list, newDeadLetterView(dl))
	}
	return page, nil
}

// serveOrphan answers the requests about a name that no running route has.
func (a AdminAPI) serveOrphan(ctx context.Context, w http.ResponseWriter, r *http.Request, parts []string) error {
	name := parts[1]
	store := orphanStore(ctx, name)
	if store == nil {
		return apiError(http.StatusNotFound, fmt.Sprintf("no route named %q", name))
	}
	switch {
	case len(parts) == 2 && r.Method == http.MethodGet:
		o, err := store.Orphan(ctx, name)
		if err != nil {
			return apiError(http.StatusServiceUnavailable, err.Error())
		}
		return writeJSON(w, orphanView(o))
	case len(parts) == 3 && parts[2] == "attach" && r.Method == http.MethodPost:
		to := findRoute(r.URL.Query().Get("to"))
		if to == nil {
			return apiError(http.StatusBadRequest, fmt.Sprintf("attach: ?to= must name a running route (got %q)", r.URL.Query().Get("to")))
		}
		// Moving a large queue takes longer than one admin call's bound.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Minute)
		defer cancel()
		res, err := to.queue.Attach(actx, name)
		if err != nil {
			return apiError(http.StatusServiceUnavailable, fmt.Sprintf("attach %s to %s: %v (run it again: what was moved is not moved twice)", name, to.name, err))
		}
		return writeJSON(w, res)
	case len(parts) == 3 && parts[2] == "drain" && r.Method == http.MethodPost:
		to := r.URL.Query().Get("to")
		if err := checkForwardURL(to); err != nil {
			return apiError(http.StatusBadRequest, "drain: ?to= "+err.Error())
		}
		if err := startDrain(store, storeKeyOf(store), name, to); err != nil {
			return apiError(http.StatusConflict, err.Error())
		}
		return writeJSONStatus(w, http.StatusAccepted, map[string]string{"draining": name})
	case len(parts) == 2 && r.Method == http.MethodDelete:
		if r.URL.Query().Get("discard") != "true" {
			return apiError(http.StatusBadRequest, "deleting an orphaned queue drops its events: add ?discard=true")
		}
		if err := store.DeleteQueue(ctx, name); err != nil {
			return apiError(http.StatusServiceUnavailable, err.Error())
		}
		return writeJSON(w, map[string]string{"discarded": name})
	}
	return apiError(http.StatusNotFound, fmt.Sprintf("no route named %q (an orphaned queue takes GET, POST .../attach?to=<route>, POST .../drain?to=<url> and DELETE ?discard=true)", name))
}

// openStores lists the open stores with the names of their running routes.
func openStores() map[*delivery.Store]map[string]bool {
	out := map[*delivery.Store]map[string]bool{}
	keys := map[string]*delivery.Store{}
	stores.Range(func(k, v any) bool {
		s := v.(storeHolder).Store
		out[s] = map[string]bool{}
		keys[k.(string)] = s
		return true
	})
	routes.Range(func(k, v any) bool {
		storeKey, _, _ := strings.Cut(k.(string), "\x00")
		if s := keys[storeKey]; s != nil {
			out[s][v.(*routeState).name] = true
		}
		return true
	})
	return out
}

// storeKeyOf is the pool key of an open store.
func storeKeyOf(s *delivery.Store) string {
	key := ""
	stores.Range(func(k, v any) bool {
		if v.(storeHolder).Store == s {
			key = k.(string)
			return false
		}
		return true
	})
	return key
}

// orphanedQueues lists the queues with undelivered events or dead letters
// that no running route uses, sorted by name.
func orphanedQueues(ctx context.Context) ([]delivery.OrphanInfo, error) {
	var out []delivery.OrphanInfo
	for store, running := range openStores() {
		names, err := store.RouteNames(ctx)
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			if running[name] {
				continue
			}
			o, err := store.Orphan(ctx, name)
			if err != nil {
				return nil, err
			}
			if o.Pending > 0 || o.Dead > 0 {
				out = append(out, o)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Route < out[j].Route })
	return out, nil
}

// orphanStore returns the open store that holds a queue named name with no
// running route, or nil.
func orphanStore(ctx context.Context, name string) *delivery.Store {
	if delivery.ValidRouteName(name) != nil {
		return nil
	}
	for store, running := range openStores() {
		if running[name] {
			continue
		}
		names, err := store.RouteNames(ctx)
		if err != nil {
			continue
		}
		for _, n := range names {
			if n == name {
				return store
			}
		}
	}
	return nil
}

// healthPing bounds the store check of the health endpoint, well inside a
// probe's timeout.
const healthPing = 2 * time.Second

func pingStore(ctx context.Context, store *delivery.Store) error {
	ctx, cancel := context.WithTimeout(ctx, healthPing)
	defer cancel()
	return store.Ping(ctx)
}

// healthView is the answer of GET /webhook_gateway/health.
type healthView struct {
	Status string        `json:"status"` // "ready" or "unavailable"
	Store  string        `json:"store,omitempty"`
	Error  string        `json:"error,omitempty"`
	Routes []routeHealth `json:"routes"`
}

type routeHealth struct {
	Route   string `json:"route"`
	Mode    string `json:"mode"`
	Running bool   `json:"running"`
}

// serveHealth reports ready (200) when the running config's store answers and
// each of its routes is attached, with delivery workers running in forward
// mode; otherwise 503 with the reason. It is the readiness probe.
func serveHealth(ctx context.Context, w http.ResponseWriter) error {
	hv := healthView{Status: "unavailable", Routes: []routeHealth{}}
	status := http.StatusServiceUnavailable
	a := current.Load()
	if a == nil {
		hv.Error = "no webhook_gateway app is running (not started yet, or the config has none)"
		return writeJSONStatus(w, status, hv)
	}
	a.mu.Lock()
	store := a.store
	hv.Store = a.storeKind()
	names := make([]string, 0, len(a.handles))
	for name := range a.handles {
		names = append(names, name)
	}
	sort.Strings(names)
	ready := store != nil
	for _, name := range names {
		rh := a.handles[name]
		h := routeHealth{Route: name, Mode: "gate"}
		if rh.cfg.Forward != nil {
			h.Mode = "forward"
		}
		rt := rh.rt.Load()
		h.Running = rt != nil && (rh.cfg.Forward == nil || rt.queue.Running())
		ready = ready && h.Running
		hv.Routes = append(hv.Routes, h)
	}
	a.mu.Unlock()
	if store == nil {
		hv.Error = "the store is not open"
	} else if err := pingStore(ctx, store); err != nil {
		hv.Error = err.Error()
		ready = false
	} else if !ready {
		hv.Error = "a route is not running"
	}
	if ready {
		hv.Status, status = "ready", http.StatusOK
	}
	return writeJSONStatus(w, status, hv)
}

// bodyJSON is a stored body as the admin API shows it: a JSON body inline,
// anything else as a JSON string, nothing for an empty one.
func bodyJSON(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	if json.Valid(b) {
		return b
	}
	out, _ := json.Marshal(string(b))
	return out
}

// deadLetterView is a dead letter as the admin API shows it: a JSON body
// inline, anything else as a string.
type deadLetterView struct {
	delivery.DeadLetter
	Body json.RawMessage `json:"body,omitempty"`
}

func newDeadLetterView(dl delivery.DeadLetter) deadLetterView {
	v := deadLetterView{DeadLetter: dl, Body: bodyJSON(dl.Body)}
	v.DeadLetter.Body = nil
	return v
}

// runningRoutes lists the routes of the running configs, sorted by name.
func runningRoutes() []*routeState {
	var out []*routeState
	routes.Range(func(_, v any) bool {
		out = append(out, v.(*routeState))
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func findRoute(name string) *routeState {
	for _, rt := range runningRoutes() {
		if rt.name == name {
			return rt
		}
	}
	return nil
}

func notFoundOr503(err error) error {
	if delivery.IsNotFound(err) {
		return apiError(http.StatusNotFound, err.Error())
	}
	return apiError(http.StatusServiceUnavailable, err.Error())
}

func apiError(status int, msg string) error {
	return caddy.APIError{HTTPStatus: status, Err: fmt.Errorf("%s", msg)}
}

func writeJSON(w http.ResponseWriter, v any) error {
	return writeJSONStatus(w, http.StatusOK, v)
}

func writeJSONStatus(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Interface guards.
var _ caddy.AdminRouter = AdminAPI{}
