package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Decision is the outcome of the header step of a Chain.
type Decision int

const (
	// Fail means no auth line passed and none is left to try: answer 401.
	Fail Decision = iota
	// Pass means the request is authenticated (or the route has no auth line).
	Pass
	// NeedBody means no header method passed, but body methods remain: read the body within
	// max_body, then call CheckBody.
	NeedBody
)

// String returns "fail", "pass" or "need_body".
func (d Decision) String() string {
	switch d {
	case Pass:
		return "pass"
	case NeedBody:
		return "need_body"
	default:
		return "fail"
	}
}

// RequestChallenger is implemented by verifiers whose WWW-Authenticate value depends on the
// request, such as the bearer schemes, which add error="invalid_token" when a token was
// presented (RFC 6750 §3.1).
type RequestChallenger interface {
	ChallengeFor(h http.Header) string
}

// TokenServer is implemented by the oauth2 verifier: it is the token endpoint of the route.
type TokenServer interface {
	// TokenPath is the request path the endpoint answers on.
	TokenPath() string
	// ServeToken answers one token request, including its errors. source is the sender's
	// address, the key (with the client id) of the failure throttle.
	ServeToken(w http.ResponseWriter, r *http.Request, source string) TokenResult
}

// Chain is the auth lines of one route, with any-of semantics: a request passes when any line
// passes. Header methods are tried first, before the body is read; body methods (signatures)
// only when no header method passed. A Chain is immutable and safe for concurrent use.
type Chain struct {
	header     []Verifier
	body       []Verifier
	challenges []string
	strip      []string
	tokens     []TokenServer
}

// NewChain groups verifiers by phase. An empty chain means no auth is configured: every
// request passes (the adapter warns about it).
func NewChain(vs []Verifier) Chain {
	var c Chain
	seenChallenge := map[string]bool{}
	seenStrip := map[string]bool{}
	for _, v := range vs {
		if v == nil {
			continue
		}
		if v.Phase() == PhaseBody {
			c.body = append(c.body, v)
		} else {
			c.header = append(c.header, v)
		}
		if ch := v.Challenge(); ch != "" && !seenChallenge[ch] {
			seenChallenge[ch] = true
			c.challenges = append(c.challenges, ch)
		}
		for _, h := range v.StripHeaders() {
			h = http.CanonicalHeaderKey(h)
			if !seenStrip[h] {
				seenStrip[h] = true
				c.strip = append(c.strip, h)
			}
		}
		if ts, ok := v.(TokenServer); ok {
			c.tokens = append(c.tokens, ts)
		}
	}
	return c
}

// BuildChain builds every auth line of a route and checks the rules that span lines: "none"
// cannot be combined with another line, and two oauth2 lines cannot share a token path.
func BuildChain(cs []Config, o Options) (Chain, error) {
	vs := make([]Verifier, 0, len(cs))
	paths := map[string]bool{}
	for _, c := range cs {
		if c.Method == MethodNone && len(cs) > 1 {
			return Chain{}, errors.New("auth none: cannot be combined with other auth lines")
		}
		v, err := Build(c, o)
		if err != nil {
			return Chain{}, err
		}
		if ts, ok := v.(TokenServer); ok {
			if paths[ts.TokenPath()] {
				return Chain{}, fmt.Errorf("auth oauth2: token_path %s is used by two auth lines", ts.TokenPath())
			}
			paths[ts.TokenPath()] = true
		}
		vs = append(vs, v)
	}
	return NewChain(vs), nil
}

// Empty reports whether no auth line is configured.
func (c Chain) Empty() bool { return len(c.header) == 0 && len(c.body) == 0 }

// CheckHeaders runs the header methods. It returns Pass as soon as one passes, NeedBody when
// none passed but body methods are configured, and Fail otherwise.
func (c Chain) CheckHeaders(ctx context.Context, r *Request) Decision {
	if c.Empty() {
		return Pass
	}
	for _, v := range c.header {
		if v.Verify(ctx, r) == nil {
			return Pass
		}
	}
	if len(c.body) > 0 {
		return NeedBody
	}
	return Fail
}

// CheckBody runs the body methods on r.Body, the exact raw bytes received. It reports whether
// one of them passed. An empty chain passes.
func (c Chain) CheckBody(ctx context.Context, r *Request) bool {
	if c.Empty() {
		return true
	}
	for _, v := range c.body {
		if v.Verify(ctx, r) == nil {
			return true
		}
	}
	return false
}

// Challenges lists the distinct WWW-Authenticate values of the chain, one per scheme, for a 401.
func (c Chain) Challenges() []string { return c.challenges }

// ChallengesFor is Challenges adapted to a failed request: bearer schemes add
// error="invalid_token" when the request presented a bearer token (RFC 6750 §3.1).
func (c Chain) ChallengesFor(h http.Header) []string {
	var out []string
	seen := map[string]bool{}
	for _, group := range [][]Verifier{c.header, c.body} {
		for _, v := range group {
			ch := v.Challenge()
			if rc, ok := v.(RequestChallenger); ok {
				ch = rc.ChallengeFor(h)
			}
			if ch != "" && !seen[ch] {
				seen[ch] = true
				out = append(out, ch)
			}
		}
	}
	return out
}

// StripHeaders is the union of the credential headers of every line, canonicalized, so the
// forwarder can remove them before delivering the event.
func (c Chain) StripHeaders() []string { return c.strip }

// TokenServers lists the token endpoints of the chain's oauth2 lines.
func (c Chain) TokenServers() []TokenServer { return c.tokens }

// TokenServer returns the token endpoint that answers on path, if any.
func (c Chain) TokenServer(path string) (TokenServer, bool) {
	for _, ts := range c.tokens {
		if ts.TokenPath() == path {
			return ts, true
		}
	}
	return nil, false
}
