package caddymodule

// The argument readers every Caddyfile block of the module uses (the handler's, its forward and
// auth blocks, the global option). They check syntax and types only: the rules on the values are
// Provision's and Validate's (docs/architecture.md, "Config checks").

import (
	"errors"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/auth"
)

// errUnknownSubdirective is what a parseBlock function returns for a name it does not know.
var errUnknownSubdirective = errors.New("unrecognized subdirective")

// parseBlock calls fn for each subdirective of the current block. A name fn does not know
// (errUnknownSubdirective), or a second occurrence of one that is not repeatable, is an error
// that names the block.
func parseBlock(d *caddyfile.Dispenser, block string, repeatable []string, fn func(sub string) error) error {
	once := onceChecker(block, repeatable...)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		if err := once(d, sub); err != nil {
			return err
		}
		if err := fn(sub); err != nil {
			if errors.Is(err, errUnknownSubdirective) {
				return d.Errf("%s: unrecognized subdirective '%s'", block, sub)
			}
			return err
		}
	}
	return nil
}

// onceChecker returns a check that rejects a second occurrence of a
// subdirective in one block, except for the repeatable ones.
func onceChecker(block string, repeatable ...string) func(d *caddyfile.Dispenser, sub string) error {
	seen := map[string]bool{}
	return func(d *caddyfile.Dispenser, sub string) error {
		for _, r := range repeatable {
			if sub == r {
				return nil
			}
		}
		if seen[sub] {
			return d.Errf("%s: duplicate subdirective '%s'", block, sub)
		}
		seen[sub] = true
		return nil
	}
}

// parseArgs reads one or more arguments of the current subdirective.
func parseArgs(d *caddyfile.Dispenser, dst *[]string) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.ArgErr()
	}
	*dst = args
	return nil
}

func parseStdDuration(d *caddyfile.Dispenser, dst *auth.Duration) error {
	var cd caddy.Duration
	if err := parseDuration(d, &cd); err != nil {
		return err
	}
	*dst = auth.Duration(cd)
	return nil
}

// parseOneArg reads exactly one argument of the current subdirective.
func parseOneArg(d *caddyfile.Dispenser, dst *string) error {
	sub := d.Val()
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.Errf("%s: takes one argument", sub)
	}
	return nil
}

// parseValue reads one argument and converts it with conv, which reports whether the text is a
// valid value; the error names the subdirective, the kind of value (what) and the text.
func parseValue[T any](d *caddyfile.Dispenser, dst *T, what string, conv func(string) (T, bool)) error {
	sub := d.Val()
	var s string
	if err := parseOneArg(d, &s); err != nil {
		return err
	}
	v, ok := conv(s)
	if !ok {
		return d.Errf("%s: invalid %s '%s'", sub, what, s)
	}
	*dst = v
	return nil
}

// parseDuration reads one positive duration, such as 30s or 1d.
func parseDuration(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	return parseValue(d, dst, "duration", func(s string) (caddy.Duration, bool) {
		dur, err := caddy.ParseDuration(s)
		return caddy.Duration(dur), err == nil && dur > 0
	})
}

// parseSize reads one positive size, such as 256KB or 2GiB.
func parseSize(d *caddyfile.Dispenser, dst *int64) error {
	return parseValue(d, dst, "size", func(s string) (int64, bool) {
		size, err := humanize.ParseBytes(s)
		return int64(size), err == nil && size > 0 && size <= 1<<62
	})
}

// parsePositiveInt reads one integer above zero.
func parsePositiveInt(d *caddyfile.Dispenser, dst *int) error {
	return parseValue(d, dst, "number", func(s string) (int, bool) {
		n, err := strconv.Atoi(s)
		return n, err == nil && n > 0
	})
}
