package caddymodule

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// Console is the webhook_gateway_console handler: the operator console, a page and its JSON
// endpoints, for the routes of this process (read in-process, as the admin API reads them). It
// has no auth of its own: mount it on a loopback or internal site behind Caddy's basic_auth or
// forward_auth. It never shows a route's config (secrets, forward URLs), shows bodies only on
// one event's or one dead letter's detail, and refuses every state-changing request that is
// not same-origin or lacks its CSRF token.
//
// The page uses relative URLs only, so it works under any path. The handler serves its paths
// from the root ("/", "/app.js", "/api/..."): under handle_path, which strips the mount path,
// nothing is to be set; under route or handle, which keep it, set Prefix to the mount path.
type Console struct {
	// Prefix is the path the console is mounted at, stripped from the request path before the
	// console routes it, e.g. "/console" for `route /console/*`. A request outside it gets 404.
	// Default: none (the request path is the console's own, as under handle_path).
	Prefix string `json:"prefix,omitempty"`

	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Console) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.webhook_gateway_console",
		New: func() caddy.Module { return new(Console) },
	}
}

// Provision gets the logger.
func (c *Console) Provision(ctx caddy.Context) error {
	c.logger = ctx.Logger()
	return nil
}

// Validate checks the prefix.
func (c *Console) Validate() error {
	if c.Prefix != "" && (!strings.HasPrefix(c.Prefix, "/") || strings.HasSuffix(c.Prefix, "/")) {
		return fmt.Errorf("webhook_gateway_console prefix %q: want a path that starts with / and does not end with / (e.g. /console)", c.Prefix)
	}
	return nil
}

// Security headers of every console answer. The page loads only its own script and style
// (no inline code, nothing from another host) and may not be framed.
const consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

func setConsoleHeaders(h http.Header) {
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// ServeHTTP answers the console's paths; it never calls next.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	setConsoleHeaders(w.Header())
	path := r.URL.Path
	if c.Prefix != "" {
		rest, ok := strings.CutPrefix(path, c.Prefix)
		if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
			writeProblem(w, problemConsoleNotFound)
			return nil
		}
		if rest == "" {
			// The page's relative URLs need the trailing slash.
			http.Redirect(w, r, c.Prefix+"/", http.StatusMovedPermanently)
			return nil
		}
		path = rest
	}
	if api, ok := strings.CutPrefix(path, "/api/"); ok {
		c.serveAPI(w, r, api)
		return nil
	}
	if path == "" {
		path = "/"
	}
	serveConsoleAsset(w, r, path)
	return nil
}

var problemConsoleNotFound = newProblem(http.StatusNotFound, "not_found", "no such console page or endpoint")

func parseCaddyfileConsole(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	c := new(Console)
	err := c.UnmarshalCaddyfile(h.Dispenser)
	return c, err
}

// UnmarshalCaddyfile sets up the console from Caddyfile tokens. Syntax:
//
//	webhook_gateway_console [<matcher>] [{
//		prefix <path>
//	}]
func (c *Console) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "prefix":
			if c.Prefix != "" {
				return d.Err("prefix given twice")
			}
			if !d.NextArg() {
				return d.ArgErr()
			}
			c.Prefix = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized subdirective '%s'", d.Val())
		}
	}
	return nil
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Console)(nil)
	_ caddy.Validator             = (*Console)(nil)
	_ caddyhttp.MiddlewareHandler = (*Console)(nil)
	_ caddyfile.Unmarshaler       = (*Console)(nil)
)
