package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"

	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/loadgen"
	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/senderauth"
)

// shownHeaders are the response headers send prints, when present.
var shownHeaders = []string{
	"Content-Type", "X-Webhook-Id", "X-Webhook-Duplicate", "WWW-Authenticate", "Retry-After", "Allow",
}

// runSend sends one webhook (twice with -resend) and prints what came back.
func runSend(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs)
	resend := fs.Bool("resend", false, "send the identical webhook a second time (the gateway should ack it as a duplicate)")
	quiet := fs.Bool("q", false, "do not print the request body")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cf.vendor == "" {
		return fmt.Errorf("-vendor is required")
	}
	targets, err := cf.targets([]presetRef{{cf.vendor, cf.family}})
	if err != nil {
		return err
	}
	tg := targets[0]
	client := loadgen.NewClient(1, cf.timeout)
	signer, err := senderauth.New(cf.auth, client)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := signer.Prepare(ctx); err != nil {
		return fmt.Errorf("fetching the OAuth2 token: %w", err)
	}
	if cf.auth.OAuth2.TokenURL != "" {
		fmt.Fprintf(out, "oauth2: token fetched from %s\n", cf.auth.OAuth2.TokenURL)
	}
	msg := tg.Gen.Next(rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())))
	ev := msg.Event
	fmt.Fprintf(out, "> POST %s\n> vendor %s", tg.URL, ev.Vendor)
	if ev.Family != "" {
		fmt.Fprintf(out, ", family %s", ev.Family)
	}
	fmt.Fprintf(out, ", event %s, %d bytes\n", ev.Name, len(msg.Body))
	if !*quiet {
		fmt.Fprintf(out, "> %s\n", msg.Body)
	}
	rounds := 1
	if *resend {
		rounds = 2
	}
	ok := true
	for i := range rounds {
		if i > 0 {
			fmt.Fprintln(out, "> (the same webhook again)")
		}
		a, err := loadgen.Send(ctx, client, signer, tg.URL, msg, true)
		if err != nil && a == nil {
			return err
		}
		printAnswer(out, a)
		if err := checkAck(a); err != nil {
			return err
		}
		ok = ok && a.Status >= 200 && a.Status < 300
	}
	if !ok {
		return fmt.Errorf("the gateway did not accept the webhook")
	}
	return nil
}

// checkAck refuses a 2xx that the gateway did not write: the gateway marks
// every ack with X-Webhook-Id (stored or passed on) or X-Webhook-Duplicate. A
// bare 2xx comes from something else (a site or path without a webhook route,
// Caddy's empty 200), and a vendor would count it as delivered while the event
// went nowhere.
func checkAck(a *loadgen.Answer) error {
	if a.Status < 200 || a.Status > 299 {
		return nil
	}
	if a.Header.Get("X-Webhook-Id") != "" || a.Header.Get("X-Webhook-Duplicate") == "true" {
		return nil
	}
	return fmt.Errorf("got %d without X-Webhook-Id: the webhook_gateway handler did not answer (wrong URL, or a path with no webhook route); the event was not stored", a.Status)
}

// printAnswer prints the status, the headers of interest and the body.
func printAnswer(out io.Writer, a *loadgen.Answer) {
	fmt.Fprintf(out, "< %d %s\n", a.Status, http.StatusText(a.Status))
	for _, h := range shownHeaders {
		if v := a.Header.Values(h); len(v) > 0 {
			fmt.Fprintf(out, "< %s: %s\n", h, strings.Join(v, ", "))
		}
	}
	if len(a.Body) > 0 {
		fmt.Fprintf(out, "<\n%s\n", strings.TrimRight(string(a.Body), "\n"))
	}
}
