package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/loadgen"
	"github.com/webhookgw/caddy-webhook-gateway/cmd/webhooksim/senderauth"
)

// maxLoadDuration bounds a load run, so a typo cannot start an endless one.
const maxLoadDuration = time.Hour

// runLoad drives load and prints (and optionally writes) the result.
func runLoad(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	var cf commonFlags
	cf.register(fs)
	mix := fs.String("mix", "", "send a uniform mix of presets, vendor[:family],... (e.g. idwise,incode:watchlist,attestr); use {vendor} in -url to route them")
	conc := fs.Int("c", 64, "concurrency: workers, each with one request in flight")
	duration := fs.Duration("duration", 10*time.Second, "how long to send")
	warmup := fs.Duration("warmup", 0, "closed-loop warm-up before the measured run (not reported)")
	dup := fs.Float64("dup", 0.1, "share of requests that re-send an earlier accepted event (0..1)")
	rate := fs.Float64("rate", 0, "open loop: arrivals per second (latency from the intended send time); 0 means closed loop")
	maxReq := fs.Int64("n", 0, "stop after this many requests (0: no limit)")
	jsonOut := fs.String("json", "", "write the result as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *duration <= 0 || *duration > maxLoadDuration {
		return fmt.Errorf("-duration must be in (0, %v]", maxLoadDuration)
	}
	refs := []presetRef{{cf.vendor, cf.family}}
	switch {
	case *mix != "":
		var err error
		if refs, err = parseMix(*mix); err != nil {
			return err
		}
	case cf.vendor == "":
		return fmt.Errorf("-vendor or -mix is required")
	}
	targets, err := cf.targets(refs)
	if err != nil {
		return err
	}
	workers := *conc
	client := loadgen.NewClient(workers, cf.timeout)
	signer, err := senderauth.New(cf.auth, client)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := signer.Prepare(ctx); err != nil {
		return fmt.Errorf("fetching the OAuth2 token: %w", err)
	}
	cfg := loadgen.Config{
		Targets: targets, Client: client, Signer: signer, Concurrency: workers,
		Duration: *warmup, DupShare: *dup, Timeout: cf.timeout,
	}
	if *warmup > 0 {
		if _, err := loadgen.Run(ctx, cfg); err != nil {
			return err
		}
	}
	cfg.Duration, cfg.Rate, cfg.MaxRequests = *duration, *rate, *maxReq
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return err
	}
	for _, tg := range targets {
		fmt.Fprintf(out, "target %s\n", tg.URL)
	}
	fmt.Fprint(out, res)
	if *jsonOut != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}
