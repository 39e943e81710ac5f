package auth

import "net/http"

// HeaderSigner is implemented by body methods whose signature also covers request headers
// (Standard Webhooks signs webhook-id and webhook-timestamp; an hmac line with a timestamp
// header signs that header). A header a signature covers cannot be changed without the
// signature failing, so it can be trusted as much as the body.
type HeaderSigner interface {
	// SignedHeaders names the headers the signature covers, including the signature header
	// itself (its value is fixed by what it signs).
	SignedHeaders() []string
}

func (v *hmacVerifier) SignedHeaders() []string { return v.strip }

func (v *standardWebhooksVerifier) SignedHeaders() []string { return v.StripHeaders() }

// BodyProofOnly reports whether the chain's only proof is a body signature: it has body
// methods and no header method. Such a route authenticates the body, not the request: a
// captured request can be replayed with any unsigned header changed.
func (c Chain) BodyProofOnly() bool { return len(c.header) == 0 && len(c.body) > 0 }

// SignedHeader reports whether every body method of the chain signs the header name: a request
// can pass through any one line, so a header is covered only when all of them cover it.
func (c Chain) SignedHeader(name string) bool {
	if len(c.body) == 0 {
		return false
	}
	name = http.CanonicalHeaderKey(name)
	for _, v := range c.body {
		hs, ok := v.(HeaderSigner)
		if !ok {
			return false
		}
		covered := false
		for _, h := range hs.SignedHeaders() {
			if http.CanonicalHeaderKey(h) == name {
				covered = true
				break
			}
		}
		if !covered {
			return false
		}
	}
	return true
}

var (
	_ HeaderSigner = (*hmacVerifier)(nil)
	_ HeaderSigner = (*standardWebhooksVerifier)(nil)
)
