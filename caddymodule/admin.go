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
//	GET    /webhook_gateway/routes                                  stats of every route
//	GET    /webhook_gateway/routes/<name>                           stats of one route
//	GET    /webhook_gateway/routes/<name>/dead_letters[?limit=n]    list dead letters
//	GET    /webhook_gateway/routes/<name>/dead_letters/<id>         one dead letter, with its body
//	POST   /webhook_gateway/routes/<name>/dead_letters/<id>/replay  deliver it again
//	DELETE /webhook_gateway/routes/<name>/dead_letters/<id>         drop it
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

func (a AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, adminPrefix), "/"), "/")
	if len(parts) == 0 || parts[0] != "routes" {
		return apiError(http.StatusNotFound, "unknown path")
	}
	if len(parts) == 1 {
		if r.Method != http.MethodGet {
			return apiError(http.StatusMethodNotAllowed, "method not allowed")
		}
		var out []delivery.Stats
		for _, rt := range runningRoutes() {
			st, err := rt.route.Stats(ctx)
			if err != nil {
				return apiError(http.StatusServiceUnavailable, fmt.Sprintf("stats of route %s: %v", rt.name, err))
			}
			out = append(out, st)
		}
		return writeJSON(w, out)
	}
	rt := findRoute(parts[1])
	if rt == nil {
		return apiError(http.StatusNotFound, fmt.Sprintf("no route named %q", parts[1]))
	}
	switch {
	case len(parts) == 2 && r.Method == http.MethodGet:
		st, err := rt.route.Stats(ctx)
		if err != nil {
			return apiError(http.StatusServiceUnavailable, err.Error())
		}
		return writeJSON(w, st)
	case len(parts) == 3 && parts[2] == "dead_letters" && r.Method == http.MethodGet:
		limit := 100
		if s := r.URL.Query().Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 {
				return apiError(http.StatusBadRequest, "invalid limit")
			}
			limit = n
		}
		list, err := rt.route.DeadLetters(ctx, limit)
		if err != nil {
			return apiError(http.StatusServiceUnavailable, err.Error())
		}
		out := make([]deadLetterView, 0, len(list))
		for _, dl := range list {
			out = append(out, newDeadLetterView(dl))
		}
		return writeJSON(w, out)
	case len(parts) == 4 && parts[2] == "dead_letters" && r.Method == http.MethodGet:
		dl, err := rt.route.DeadLetter(ctx, parts[3])
		if err != nil {
			return notFoundOr503(err)
		}
		return writeJSON(w, newDeadLetterView(dl))
	case len(parts) == 4 && parts[2] == "dead_letters" && r.Method == http.MethodDelete:
		if err := rt.route.DeleteDeadLetter(ctx, parts[3]); err != nil {
			return notFoundOr503(err)
		}
		return writeJSON(w, map[string]string{"deleted": parts[3]})
	case len(parts) == 5 && parts[2] == "dead_letters" && parts[4] == "replay" && r.Method == http.MethodPost:
		if err := rt.route.Replay(ctx, parts[3]); err != nil {
			return notFoundOr503(err)
		}
		return writeJSON(w, map[string]string{"replayed": parts[3]})
	case len(parts) <= 5:
		return apiError(http.StatusMethodNotAllowed, "method not allowed")
	}
	return apiError(http.StatusNotFound, "unknown path")
}

// deadLetterView is a dead letter as the admin API shows it: a JSON body
// inline, anything else as a string.
type deadLetterView struct {
	delivery.DeadLetter
	Body json.RawMessage `json:"body,omitempty"`
}

func newDeadLetterView(dl delivery.DeadLetter) deadLetterView {
	v := deadLetterView{DeadLetter: dl}
	if len(dl.Body) > 0 {
		if json.Valid(dl.Body) {
			v.Body = dl.Body
		} else {
			v.Body, _ = json.Marshal(string(dl.Body))
		}
	}
	v.DeadLetter.Body = nil
	return v
}

// runningRoutes lists the routes of the running configs, sorted by name.
func runningRoutes() []*routeRuntime {
	var out []*routeRuntime
	routes.Range(func(_, v any) bool {
		out = append(out, v.(*routeRuntime))
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func findRoute(name string) *routeRuntime {
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
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Interface guards.
var _ caddy.AdminRouter = AdminAPI{}
