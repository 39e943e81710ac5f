package caddymodule

import (
	"fmt"
	"net/url"

	"github.com/caddyserver/caddy/v2"
)

// checkForwardURL accepts only absolute http and https URLs with a host: the
// delivery client speaks nothing else, and a typo such as ftp:// or a
// missing scheme must fail caddy validate, not every delivery.
func checkForwardURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("forward: invalid URL '%s' (want http://host/... or https://host/...)", s)
	}
	return nil
}

// resolveForwardURL replaces the forward URL's placeholders ({env.APP_URL})
// and checks the result.
func resolveForwardURL(raw string) (string, error) {
	s := caddy.NewReplacer().ReplaceKnown(raw, "")
	if err := checkForwardURL(s); err != nil {
		if s != raw {
			// Not the resolved value: a mistaken variable may hold a secret.
			return "", fmt.Errorf("forward: '%s' does not resolve to an http:// or https:// URL with a host", raw)
		}
		return "", err
	}
	return s, nil
}
