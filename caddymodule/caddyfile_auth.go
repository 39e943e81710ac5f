package caddymodule

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/auth"
)

// parseAuthLine parses one `auth <method> …` line (see UnmarshalCaddyfile).
// Secrets stay placeholders here; Provision resolves them.
func parseAuthLine(d *caddyfile.Dispenser) (auth.Config, error) {
	if !d.NextArg() {
		return auth.Config{}, d.Errf("auth: missing method (want none, basic, api_key, bearer, jwt, oauth2, hmac or standard_webhooks)")
	}
	c := auth.Config{Method: d.Val()}
	args := d.RemainingArgs()
	switch c.Method {
	case auth.MethodNone:
		if len(args) != 0 {
			return c, d.Errf("auth none: takes no arguments")
		}
	case auth.MethodBasic:
		switch len(args) {
		case 1: // an opaque token after "Basic ", as Attestr sends
			c.Password = args[0]
		case 2:
			c.Username, c.Password = args[0], args[1]
		default:
			return c, d.Errf("auth basic: want <user> <password> or <opaque-token>")
		}
	case auth.MethodAPIKey:
		if len(args) != 2 {
			return c, d.Errf("auth api_key: want <header> <value>")
		}
		c.Header, c.Value = args[0], args[1]
	case auth.MethodBearer:
		if len(args) != 1 {
			return c, d.Errf("auth bearer: want <token>")
		}
		c.Token = args[0]
	case auth.MethodJWT:
		if len(args) != 0 {
			return c, d.Errf("auth jwt: takes a block, not arguments")
		}
		c.JWT = &auth.JWTConfig{}
		return c, parseJWTBlock(d, c.JWT)
	case auth.MethodOAuth2:
		if len(args) != 0 {
			return c, d.Errf("auth oauth2: takes a block, not arguments")
		}
		c.OAuth2 = &auth.OAuth2Config{}
		return c, parseOAuth2Block(d, c.OAuth2)
	case auth.MethodHMAC:
		if len(args) != 0 {
			return c, d.Errf("auth hmac: takes a block, not arguments")
		}
		c.HMAC = &auth.HMACConfig{}
		return c, parseHMACBlock(d, c.HMAC)
	case auth.MethodStandardWebhooks:
		if len(args) == 0 {
			return c, d.Errf("auth standard_webhooks: want at least one <secret>")
		}
		c.StandardWebhooks = &auth.StandardWebhooksConfig{Secrets: args}
		once := onceChecker("auth standard_webhooks")
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			if err := once(d, d.Val()); err != nil {
				return c, err
			}
			switch d.Val() {
			case "tolerance":
				if err := parseStdDuration(d, &c.StandardWebhooks.Tolerance); err != nil {
					return c, err
				}
			default:
				return c, d.Errf("auth standard_webhooks: unrecognized subdirective '%s'", d.Val())
			}
		}
		return c, nil
	default:
		return c, d.Errf("auth: unknown method '%s' (want none, basic, api_key, bearer, jwt, oauth2, hmac or standard_webhooks)", c.Method)
	}
	if d.NextBlock(d.Nesting()) {
		return c, d.Errf("auth %s: takes no block", c.Method)
	}
	return c, nil
}

func parseJWTBlock(d *caddyfile.Dispenser, j *auth.JWTConfig) error {
	once := onceChecker("auth jwt")
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		if err := once(d, sub); err != nil {
			return err
		}
		var err error
		switch sub {
		case "issuer":
			err = parseOneArg(d, &j.Issuer)
		case "jwks_url":
			err = parseOneArg(d, &j.JWKSURL)
		case "audience":
			err = parseArgs(d, &j.Audience)
		case "scopes":
			err = parseArgs(d, &j.Scopes)
		case "algorithms":
			err = parseArgs(d, &j.Algorithms)
		case "leeway":
			err = parseStdDuration(d, &j.Leeway)
		default:
			return d.Errf("auth jwt: unrecognized subdirective '%s'", sub)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func parseOAuth2Block(d *caddyfile.Dispenser, o *auth.OAuth2Config) error {
	var single auth.OAuth2Client
	once := onceChecker("auth oauth2", "client")
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		if err := once(d, sub); err != nil {
			return err
		}
		var err error
		switch sub {
		case "client_id":
			err = parseOneArg(d, &single.ClientID)
		case "client_secret":
			err = parseOneArg(d, &single.ClientSecret)
		case "client":
			args := d.RemainingArgs()
			if len(args) < 2 {
				return d.Errf("auth oauth2 client: want <id> <secret> [<previous-secret>...]")
			}
			o.Clients = append(o.Clients, auth.OAuth2Client{ClientID: args[0], ClientSecret: args[1], PreviousSecrets: args[2:]})
		case "token_path":
			err = parseOneArg(d, &o.TokenPath)
		case "token_ttl":
			err = parseStdDuration(d, &o.TokenTTL)
		case "scope":
			err = parseOneArg(d, &o.Scope)
		case "audience":
			err = parseOneArg(d, &o.Audience)
		case "signing_secret":
			err = parseArgs(d, &o.SigningSecrets)
		default:
			return d.Errf("auth oauth2: unrecognized subdirective '%s'", sub)
		}
		if err != nil {
			return err
		}
	}
	if single.ClientID != "" || single.ClientSecret != "" {
		o.Clients = append([]auth.OAuth2Client{single}, o.Clients...)
	}
	return nil
}

func parseHMACBlock(d *caddyfile.Dispenser, c *auth.HMACConfig) error {
	once := onceChecker("auth hmac", "secret")
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		if err := once(d, sub); err != nil {
			return err
		}
		var err error
		switch sub {
		case "header":
			err = parseOneArg(d, &c.Header)
		case "secret":
			var more []string
			if err = parseArgs(d, &more); err == nil {
				c.Secrets = append(c.Secrets, more...)
			}
		case "algorithm":
			err = parseOneArg(d, &c.Algorithm)
		case "encoding":
			err = parseOneArg(d, &c.Encoding)
		case "prefix":
			err = parseOneArg(d, &c.Prefix)
		case "format":
			err = parseOneArg(d, &c.Format)
		case "timestamp_header":
			err = parseOneArg(d, &c.TimestampHeader)
		case "tolerance":
			err = parseStdDuration(d, &c.Tolerance)
		case "signed_payload":
			err = parseOneArg(d, &c.SignedPayload)
		default:
			return d.Errf("auth hmac: unrecognized subdirective '%s'", sub)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
