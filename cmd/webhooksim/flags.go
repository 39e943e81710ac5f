package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/loadgen"
	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/senderauth"
	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/vendors"
)

// commonFlags are the flags of send and load: where to send, what, and with which
// credentials.
type commonFlags struct {
	url, vendor, family, event string
	timeout                    time.Duration
	auth                       senderauth.Config
}

// register adds the common flags to fs.
func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.url, "url", "", "gateway URL that receives the webhooks; {vendor} and {family} are replaced per event (required)")
	fs.StringVar(&c.vendor, "vendor", "", "vendor preset: "+strings.Join(vendors.Vendors(), "|"))
	fs.StringVar(&c.family, "family", "", "event family (Incode: onboarding_status, videoselfie, watchlist, face_authentication, session_*; Unico Magic Link: step, document_recapture, results)")
	fs.StringVar(&c.event, "event", "", "one event of the vendor, e.g. finished_journey or \"Finished Journey\" (default: a weighted mix; see `webhooksim list`)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.StringVar(&c.auth.Basic, "basic", "", "HTTP Basic credentials user:pass")
	fs.StringVar(&c.auth.BasicToken, "basic-token", "", "opaque token sent as Authorization: Basic <token> (Attestr)")
	fs.StringVar(&c.auth.APIKey, "api-key", "", "API key Header:Value (no colon: a raw Authorization value, as Unico sends it)")
	fs.StringVar(&c.auth.Bearer, "bearer", "", "static Bearer token")
	fs.StringVar(&c.auth.OAuth2.TokenURL, "oauth2-token-url", "", "OAuth2 token endpoint: fetch a client-credentials token first and send it as Bearer")
	fs.StringVar(&c.auth.OAuth2.ClientID, "client-id", "", "OAuth2 client id")
	fs.StringVar(&c.auth.OAuth2.ClientSecret, "client-secret", "", "OAuth2 client secret")
	fs.StringVar(&c.auth.OAuth2.ClientAuth, "client-auth", "basic", "OAuth2 client authentication: basic (Authorization header, as Incode) or post (form body)")
	fs.StringVar(&c.auth.OAuth2.Scope, "scope", "", "OAuth2 scope to request (optional)")
	fs.StringVar(&c.auth.StandardWebhooksSecret, "std-webhooks-secret", "", "sign bodies with Standard Webhooks headers using this whsec_ secret")
}

// presetRef is one vendor and family of a -mix list.
type presetRef struct{ vendor, family string }

// parseMix reads "vendor[:family],..." into preset references.
func parseMix(s string) ([]presetRef, error) {
	var out []presetRef
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		v, f, _ := strings.Cut(item, ":")
		out = append(out, presetRef{v, f})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-mix %q names no vendor", s)
	}
	return out, nil
}

// targets builds one load target per preset: its events, and the URL with {vendor} and
// {family} replaced.
func (c *commonFlags) targets(refs []presetRef) ([]loadgen.Target, error) {
	if c.url == "" {
		return nil, fmt.Errorf("-url is required")
	}
	var out []loadgen.Target
	for _, ref := range refs {
		evs, err := vendors.Select(ref.vendor, ref.family, c.event)
		if err != nil {
			return nil, err
		}
		gen, err := vendors.NewGenerator(evs)
		if err != nil {
			return nil, err
		}
		family := ref.family
		if family == "" {
			family = vendors.DefaultFamily[ref.vendor]
		}
		url := strings.NewReplacer("{vendor}", ref.vendor, "{family}", family).Replace(c.url)
		out = append(out, loadgen.Target{URL: url, Gen: gen})
	}
	return out, nil
}
