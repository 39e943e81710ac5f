package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// parseGlobalOption parses the webhook_gateway global option into the app config:
//
//	webhook_gateway {
//		store embedded [<dir>] [{
//			listen <host:port>
//		}]
//		store nats <url>... {
//			creds <file>
//			replicas <n>
//		}
//		sync always|interval [<duration>]
//		drain_timeout <duration>
//		ready_timeout <duration>
//		max_store <size>
//		body_memory <size>
//	}
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		return nil, d.Err("webhook_gateway: global option given twice")
	}
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "webhook_gateway", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from the global option's tokens.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume the option name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		if seen[sub] {
			return d.Errf("webhook_gateway: duplicate option '%s'", sub)
		}
		seen[sub] = true
		switch sub {
		case "store":
			if err := a.parseStore(d); err != nil {
				return err
			}
		case "sync":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return d.ArgErr()
			}
			switch args[0] {
			case syncPolicyAlways:
				if len(args) == 2 {
					return d.Errf("sync: 'always' takes no duration")
				}
			case syncPolicyInterval:
				if len(args) == 2 {
					dur, err := caddy.ParseDuration(args[1])
					if err != nil || dur <= 0 {
						return d.Errf("sync: invalid interval '%s'", args[1])
					}
					a.SyncInterval = caddy.Duration(dur)
				}
			default:
				return d.Errf("sync: invalid policy '%s' (want always or interval)", args[0])
			}
			a.Sync = args[0]
		case "drain_timeout":
			if err := parseDuration(d, &a.DrainTimeout); err != nil {
				return err
			}
		case "max_store":
			if err := parseSize(d, &a.MaxStore); err != nil {
				return err
			}
		case "body_memory":
			if err := parseSize(d, &a.BodyMemory); err != nil {
				return err
			}
		case "ready_timeout":
			if err := parseDuration(d, &a.ReadyTimeout); err != nil {
				return err
			}
		default:
			return d.Errf("webhook_gateway: unrecognized option '%s'", sub)
		}
	}
	return nil
}

func (a *App) parseStore(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	sc := &StoreConfig{Mode: d.Val()}
	args := d.RemainingArgs()
	switch sc.Mode {
	case storeModeEmbedded:
		if len(args) > 1 {
			return d.ArgErr()
		}
		if len(args) == 1 {
			sc.Dir = args[0]
		}
	case storeModeNATS:
		if len(args) == 0 {
			return d.Errf("store nats: at least one URL is required")
		}
		sc.URLs = args
	default:
		return d.Errf("store: unknown store '%s' (want embedded or nats)", sc.Mode)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		switch {
		case sub == "listen" && sc.Mode == storeModeEmbedded:
			if err := parseOneArg(d, &sc.Listen); err != nil {
				return err
			}
		case sub == "creds" && sc.Mode == storeModeNATS:
			if err := parseOneArg(d, &sc.Creds); err != nil {
				return err
			}
		case sub == "replicas" && sc.Mode == storeModeNATS:
			var s string
			if err := parseOneArg(d, &s); err != nil {
				return err
			}
			n, err := strconv.Atoi(s)
			if err != nil {
				return d.Errf("store nats replicas: invalid count '%s' (want a number, 1-5)", s)
			}
			sc.Replicas = n
		default:
			return d.Errf("store %s: unrecognized subdirective '%s'", sc.Mode, sub)
		}
	}
	a.Store = sc
	return nil
}

// Interface guards.
var _ caddyfile.Unmarshaler = (*App)(nil)
