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

func parseDuration(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	sub := d.Val()
	var s string
	if err := parseOneArg(d, &s); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil || dur <= 0 {
		return d.Errf("%s: invalid duration '%s'", sub, s)
	}
	*dst = caddy.Duration(dur)
	return nil
}

// parseSize reads one size argument such as 256KB or 2GiB; it must be positive.
func parseSize(d *caddyfile.Dispenser, dst *int64) error {
	sub := d.Val()
	var s string
	if err := parseOneArg(d, &s); err != nil {
		return err
	}
	size, err := humanize.ParseBytes(s)
	if err != nil || size == 0 || size > 1<<62 {
		return d.Errf("%s: invalid size '%s'", sub, s)
	}
	*dst = int64(size)
	return nil
}

func parsePositiveInt(d *caddyfile.Dispenser, dst *int) error {
	sub := d.Val()
	var s string
	if err := parseOneArg(d, &s); err != nil {
		return err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return d.Errf("%s: invalid number '%s' (want a positive integer)", sub, s)
	}
	*dst = n
	return nil
}
