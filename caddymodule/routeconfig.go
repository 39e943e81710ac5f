package caddymodule

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/auth"
	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/delivery"
)

// routeConfig builds the delivery settings of this handler.
func (h *Handler) routeConfig() (delivery.QueueConfig, error) {
	cfg := delivery.QueueConfig{
		Name:        h.Name,
		DedupWindow: h.window,
		Logger:      h.logger,
		Observer:    observer{},
	}
	if h.Forward == nil {
		return cfg, nil
	}
	f := h.Forward
	repl := caddy.NewReplacer()
	p := &delivery.Policy{
		URL:          h.forwardURL,
		Timeout:      time.Duration(f.Timeout),
		MaxAttempts:  f.MaxAttempts,
		MaxAge:       time.Duration(f.MaxAge),
		BackoffMin:   time.Duration(f.BackoffMin),
		BackoffMax:   time.Duration(f.BackoffMax),
		Concurrency:  f.Concurrency,
		DeadLetterOn: f.DeadLetterOn,
		MaxQueue:     f.MaxQueue,
	}
	if f.Retain != nil {
		p.Retain = delivery.RetainNone
		if *f.Retain > 0 {
			p.Retain = time.Duration(*f.Retain)
		}
	}
	if f.Rate != "" {
		rate, err := parseRate(f.Rate)
		if err != nil {
			return cfg, fmt.Errorf("forward rate: %v", err)
		}
		p.Rate = rate
	}
	if len(f.HeaderUp) > 0 {
		p.HeaderUp = make(http.Header, len(f.HeaderUp))
		for k, v := range f.HeaderUp {
			p.HeaderUp.Set(k, repl.ReplaceKnown(v, ""))
		}
	}
	if f.Sign != "" {
		secret, err := auth.DecodeStandardWebhookSecret(repl.ReplaceKnown(f.Sign, ""))
		if err != nil {
			return cfg, fmt.Errorf("forward sign: %v", err)
		}
		p.SignSecret = secret
	}
	cfg.Forward = p
	return cfg, nil
}

// parseRate parses "<n>/<unit>" (unit s, m or h) into events per second.
func parseRate(s string) (float64, error) {
	n, unit, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("invalid rate %q (want <n>/<unit>, e.g. 50/s)", s)
	}
	count, err := strconv.ParseFloat(n, 64)
	if err != nil || !(count > 0) || math.IsInf(count, 0) {
		return 0, fmt.Errorf("invalid rate %q: count must be a positive number", s)
	}
	var per time.Duration
	switch unit {
	case "s", "sec", "second":
		per = time.Second
	case "m", "min", "minute":
		per = time.Minute
	case "h", "hour":
		per = time.Hour
	default:
		return 0, fmt.Errorf("invalid rate %q: unit must be s, m or h", s)
	}
	return count / per.Seconds(), nil
}
