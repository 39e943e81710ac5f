package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// A route's default name is what identifies it to the vendor, the site and
// the path, never where it forwards to: moving the application must not
// strand the route's queue under a name no route uses any more.
//
// Caddy's Caddyfile adapter hands a directive only its own tokens, and by then
// it has cut the path matcher out of `handle <path>` (the server block's
// tokens are edited in place). Every token keeps its file and line, though,
// so the adapter re-parses the directive's Caddyfile with caddyfile.Parse
// (imports and {$ENV} included, no directive run), finds the server block
// that holds this directive, and reads the block's first address and the path
// matcher around the directive. The re-parsed tokens must match the
// directive's own, so a Caddyfile that is not on disk (a config POSTed to
// /load) never borrows names from another file, and a site that imports
// tokens from another file is not re-parsed: both fall back to the JSON
// default (vendor and family).

// tokenPos identifies a Caddyfile token.
type tokenPos struct {
	file string
	line int
	text string
}

func posOf(t caddyfile.Token) tokenPos { return tokenPos{t.File, t.Line, t.Text} }

// caddyfileRouteName returns the default name of the directive at h (its
// dispenser before the first Next), or "" when it cannot be derived.
func caddyfileRouteName(h httpcaddyfile.Helper) string {
	if h.IsNamedRoute() {
		return ""
	}
	var own []tokenPos
	for h.Next() {
		own = append(own, posOf(h.Token()))
	}
	h.Reset()
	if len(own) == 0 || own[0].file == "" {
		return ""
	}
	// A site that imports tokens from another file is not re-parsed: the
	// directive's own file might be an imported fragment, whose first words
	// would read as a site address.
	if files := h.Caddyfiles(); len(files) != 1 || files[0] != own[0].file {
		return ""
	}
	blocks := parsedCaddyfile(h, own[0].file)
	for _, sb := range blocks {
		for _, seg := range sb.Segments {
			toks := make([]tokenPos, len(seg))
			for i, t := range seg {
				toks[i] = posOf(t)
			}
			path, found := pathAround(toks, own)
			if !found {
				continue
			}
			if !siteAddresses(sb.Keys) {
				return "" // a fragment parsed on its own: its first words are no site
			}
			host := ""
			if addr, err := httpcaddyfile.ParseAddress(sb.Keys[0].Text); err == nil {
				host = addr.Host
			}
			return sanitizeRouteName(host + "/" + path)
		}
	}
	return ""
}

// siteAddresses reports whether keys read as site addresses (a host with a
// dot, a port, a scheme, or localhost) rather than the directive and matcher
// of a fragment that was parsed on its own ("handle /webhooks/x").
func siteAddresses(keys []caddyfile.Token) bool {
	if len(keys) == 0 {
		return false
	}
	for _, k := range keys {
		t := strings.ToLower(k.Text)
		if !strings.ContainsAny(t, ".:") && t != "localhost" {
			return false
		}
	}
	return true
}

// parsedCaddyfile parses file once per adaptation (cached in the Helper's
// State); nil if it cannot be read or parsed.
func parsedCaddyfile(h httpcaddyfile.Helper, file string) []caddyfile.ServerBlock {
	key := "webhook_gateway.parsed:" + file
	if v, ok := h.State[key]; ok {
		blocks, _ := v.([]caddyfile.ServerBlock)
		return blocks
	}
	var blocks []caddyfile.ServerBlock
	if body, err := os.ReadFile(file); err == nil {
		blocks, _ = caddyfile.Parse(file, body)
	}
	if h.State != nil {
		h.State[key] = blocks
	}
	return blocks
}

// pathAround finds the directive whose tokens are own in a segment and returns
// the path matcher ("/webhooks/x") on its own line, else the innermost one of
// the blocks that enclose it. found is false when the directive is not there.
func pathAround(seg, own []tokenPos) (path string, found bool) {
	var stack []string
	lineStart := 0
	for i, t := range seg {
		if i > 0 && t.line != seg[i-1].line {
			lineStart = i
		}
		switch {
		case t == own[0]:
			own, matcher := matchDirective(seg[i:], own)
			if !own {
				return "", false
			}
			if strings.HasPrefix(matcher, "/") {
				return matcher, true
			}
			for j := len(stack) - 1; j >= 0; j-- {
				if stack[j] != "" {
					return stack[j], true
				}
			}
			return "", true
		case t.text == "{":
			p := ""
			for _, prev := range seg[lineStart:i] {
				if strings.HasPrefix(prev.text, "/") {
					p = prev.text
					break
				}
			}
			stack = append(stack, p)
		case t.text == "}" && len(stack) > 0:
			stack = stack[:len(stack)-1]
		}
	}
	return "", false
}

// matchDirective reports whether seg starts with the directive's tokens own,
// allowing the one matcher token the adapter removed from own; it returns
// that matcher ("" if none).
func matchDirective(seg, own []tokenPos) (ok bool, matcher string) {
	if len(seg) < len(own) {
		return false, ""
	}
	if equalTokens(seg[:len(own)], own) {
		return true, ""
	}
	if len(seg) > len(own) && seg[0] == own[0] && equalTokens(seg[2:len(own)+1], own[1:]) {
		return true, seg[1].text
	}
	return false, ""
}

func equalTokens(a, b []tokenPos) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sanitizeRouteName turns a site host and path into a valid route name:
// lower case, each run of other characters one '_', at most 64 characters
// (a longer one keeps its start and gets 8 hex of its hash).
func sanitizeRouteName(s string) string {
	var b strings.Builder
	under := false
	for _, c := range strings.ToLower(s) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' {
			b.WriteRune(c)
			under = false
		} else if !under {
			b.WriteByte('_')
			under = true
		}
	}
	name := strings.Trim(b.String(), "_-")
	if len(name) > 64 {
		sum := sha256.Sum256([]byte(name))
		name = strings.TrimRight(name[:55], "_-") + "_" + hex.EncodeToString(sum[:4])
	}
	return name
}
