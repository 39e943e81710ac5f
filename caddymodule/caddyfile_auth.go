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
		return c, parseBlock(d, "auth standard_webhooks", nil, func(sub string) error {
			if sub == "tolerance" {
				return parseStdDuration(d, &c.StandardWebhooks.Tolerance)
			}
			return errUnknownSubdirective
		})
	default:
		return c, d.Errf("auth: unknown method '%s' (want none, basic, api_key, bearer, jwt, oauth2, hmac or standard_webhooks)", c.Method)
	}
	if d.NextBlock(d.Nesting()) {
		return c, d.Errf("auth %s: takes no block", c.Method)
	}
	return c, nil
}

func parseJWTBlock(d *caddyfile.Dispenser, j *auth.JWTConfig) error {
	return parseBlock(d, "auth jwt", nil, func(sub string) error {
		switch sub {
		case "issuer":
			return parseOneArg(d, &j.Issuer)
		case "jwks_url":
			return parseOneArg(d, &j.JWKSURL)
		case "audience":
			return parseArgs(d, &j.Audience)
		case "scopes":
			return parseArgs(d, &j.Scopes)
		case "algorithms":
			return parseArgs(d, &j.Algorithms)
		case "leeway":
			return parseStdDuration(d, &j.Leeway)
		}
		return errUnknownSubdirective
	})
}

func parseOAuth2Block(d *caddyfile.Dispenser, o *auth.OAuth2Config) error {
	var single auth.OAuth2Client
	if err := parseBlock(d, "auth oauth2", []string{"client"}, func(sub string) error {
		switch sub {
		case "client_id":
			return parseOneArg(d, &single.ClientID)
		case "client_secret":
			return parseOneArg(d, &single.ClientSecret)
		case "client":
			args := d.RemainingArgs()
			if len(args) < 2 {
				return d.Errf("auth oauth2 client: want <id> <secret> [<previous-secret>...]")
			}
			o.Clients = append(o.Clients, auth.OAuth2Client{ClientID: args[0], ClientSecret: args[1], PreviousSecrets: args[2:]})
		case "token_path":
			return parseOneArg(d, &o.TokenPath)
		case "token_ttl":
			return parseStdDuration(d, &o.TokenTTL)
		case "scope":
			return parseOneArg(d, &o.Scope)
		case "audience":
			return parseOneArg(d, &o.Audience)
		case "signing_secret":
			return parseArgs(d, &o.SigningSecrets)
		default:
			return errUnknownSubdirective
		}
		return nil
	}); err != nil {
		return err
	}
	if single.ClientID != "" || single.ClientSecret != "" {
		o.Clients = append([]auth.OAuth2Client{single}, o.Clients...)
	}
	return nil
}

func parseHMACBlock(d *caddyfile.Dispenser, c *auth.HMACConfig) error {
	return parseBlock(d, "auth hmac", []string{"secret"}, func(sub string) error {
		switch sub {
		case "header":
			return parseOneArg(d, &c.Header)
		case "secret":
			var more []string
			if err := parseArgs(d, &more); err != nil {
				return err
			}
			c.Secrets = append(c.Secrets, more...)
		case "algorithm":
			return parseOneArg(d, &c.Algorithm)
		case "encoding":
			return parseOneArg(d, &c.Encoding)
		case "prefix":
			return parseOneArg(d, &c.Prefix)
		case "format":
			return parseOneArg(d, &c.Format)
		case "timestamp_header":
			return parseOneArg(d, &c.TimestampHeader)
		case "tolerance":
			return parseStdDuration(d, &c.Tolerance)
		case "signed_payload":
			return parseOneArg(d, &c.SignedPayload)
		default:
			return errUnknownSubdirective
		}
		return nil
	})
}
