package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func parseCaddyfileHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	name := caddyfileRouteName(h)
	if err := m.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	if m.Name == "" {
		m.Name = name
	}
	return m, nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	webhook_gateway [<matcher>] {
//		name <id>
//		vendor <preset> [<event-family>]
//		allow_ips <cidr|ip>...
//		auth none
//		auth basic <user> <password>
//		auth basic <opaque-token>
//		auth api_key <header> <value>
//		auth bearer <token>
//		auth jwt {
//			issuer <url>
//			jwks_url <url>
//			audience <aud>...
//			scopes <scope>...
//			algorithms <alg>...
//			leeway <duration>
//		}
//		auth oauth2 {
//			client_id <id>
//			client_secret <secret>
//			client <id> <secret> [<previous-secret>...]
//			token_path <path>
//			token_ttl <duration>
//			scope <scope>
//			audience <aud>
//			signing_secret <secret>...
//		}
//		auth hmac {
//			header <field>
//			secret <secret>...
//			algorithm sha1|sha256|sha512
//			encoding hex|base64
//			prefix <prefix>
//			format plain|stripe
//			timestamp_header <field>
//			tolerance <duration>
//			signed_payload <template>
//		}
//		auth standard_webhooks <secret>... [{
//			tolerance <duration>
//		}]
//		max_body <size>
//		body_timeout <duration>
//		schema <preset-schema-name|file>
//		on_invalid reject|quarantine
//		idempotency_key <template> [<fallback-template>...]
//		dedup_window <duration>
//		ack <status> [<json-body>]
//		forward <url> {
//			timeout <duration>
//			max_attempts <n>
//			max_age <duration>
//			retain <duration>
//			backoff <min> <max>
//			concurrency <n>
//			rate <n>/<unit>
//			dead_letter_on <status>...
//			header_up <field> <value>
//			sign <secret>
//			max_queue <size>
//		}
//	}
//
// auth lines repeat, and a request passes if any of them passes. Every other
// subdirective may appear once.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	return parseBlock(d, "webhook_gateway", []string{"auth", "allow_ips"}, func(sub string) error {
		switch sub {
		case "name":
			return parseOneArg(d, &h.Name)
		case "vendor":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return d.ArgErr()
			}
			h.Vendor = args[0]
			if len(args) == 2 {
				h.Family = args[1]
			}
		case "allow_ips":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.AllowIPs = append(h.AllowIPs, args...)
		case "auth":
			a, aerr := parseAuthLine(d)
			if aerr != nil {
				return aerr
			}
			h.Auth = append(h.Auth, a)
		case "max_body":
			return parseSize(d, &h.MaxBody)
		case "body_timeout":
			return parseDuration(d, &h.BodyTimeout)
		case "schema":
			return parseOneArg(d, &h.Schema)
		case "on_invalid":
			return parseOneArg(d, &h.OnInvalid)
		case "idempotency_key":
			h.IdempotencyKey = d.RemainingArgs()
			if len(h.IdempotencyKey) == 0 {
				return d.ArgErr()
			}
		case "dedup_window":
			return parseDuration(d, &h.DedupWindow)
		case "ack":
			return h.parseAck(d)
		case "forward":
			return h.parseForward(d)
		default:
			return errUnknownSubdirective
		}
		return nil
	})
}

func (h *Handler) parseAck(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) < 1 || len(args) > 2 {
		return d.ArgErr()
	}
	status, err := strconv.Atoi(args[0])
	if err != nil {
		return d.Errf("ack: invalid status '%s' (want a number, 200-299)", args[0])
	}
	h.Ack = &AckConfig{Status: status}
	if len(args) == 2 {
		h.Ack.Body = args[1]
	}
	return nil
}

func (h *Handler) parseForward(d *caddyfile.Dispenser) error {
	f := &ForwardConfig{}
	if !d.NextArg() {
		return d.ArgErr()
	}
	f.URL = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	if err := parseBlock(d, "forward", []string{"header_up"}, func(sub string) error {
		switch sub {
		case "timeout":
			return parseDuration(d, &f.Timeout)
		case "max_attempts":
			return parsePositiveInt(d, &f.MaxAttempts)
		case "max_age":
			return parseDuration(d, &f.MaxAge)
		case "retain":
			var s string
			if err := parseOneArg(d, &s); err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(s)
			if err != nil {
				return d.Errf("forward retain: invalid duration '%s'", s)
			}
			v := caddy.Duration(dur)
			f.Retain = &v
		case "backoff":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.ArgErr()
			}
			lo, err1 := caddy.ParseDuration(args[0])
			hi, err2 := caddy.ParseDuration(args[1])
			if err1 != nil || err2 != nil || lo <= 0 || hi <= 0 {
				return d.Errf("forward backoff: invalid durations '%s' '%s' (want <min> <max>, both positive)", args[0], args[1])
			}
			f.BackoffMin, f.BackoffMax = caddy.Duration(lo), caddy.Duration(hi)
		case "concurrency":
			return parsePositiveInt(d, &f.Concurrency)
		case "rate":
			return parseOneArg(d, &f.Rate)
		case "dead_letter_on":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, a := range args {
				code, cerr := strconv.Atoi(a)
				if cerr != nil {
					return d.Errf("forward dead_letter_on: invalid status '%s' (want a number)", a)
				}
				f.DeadLetterOn = append(f.DeadLetterOn, code)
			}
		case "header_up":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.ArgErr()
			}
			if f.HeaderUp == nil {
				f.HeaderUp = map[string]string{}
			}
			f.HeaderUp[args[0]] = args[1]
		case "sign":
			return parseOneArg(d, &f.Sign)
		case "max_queue":
			return parseSize(d, &f.MaxQueue)
		default:
			return errUnknownSubdirective
		}
		return nil
	}); err != nil {
		return err
	}
	h.Forward = f
	return nil
}

// Interface guards.
var _ caddyfile.Unmarshaler = (*Handler)(nil)
