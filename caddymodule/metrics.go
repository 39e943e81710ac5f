package caddymodule

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webhookgw/caddy-webhook-gateway/caddymodule/delivery"
)

// The collectors are created once and registered into every config's registry,
// so their values survive config reloads. Labels are bounded: route name,
// vendor, outcome, result, reason (a problem code), status. Never an IP, a key or a URL.
const (
	metricsNamespace = "caddy"
	metricsSubsystem = "webhook_gateway"
)

var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "requests_total", Help: "Webhook requests by route, vendor and outcome.",
	}, []string{"route", "vendor", "outcome"})
	queueBytes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "queue_bytes", Help: "Bytes a route holds in the store (events, dedup records, dead letters), sampled every few seconds.",
	}, []string{"route"})
	queueMaxBytes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "queue_max_bytes", Help: "A route's quota of the store (max_queue), forward mode.",
	}, []string{"route"})
	queueFullTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "queue_full_total", Help: "Events answered 503 because the route's max_queue was used up.",
	}, []string{"route"})
	tokenRequestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "token_requests_total", Help: "OAuth2 token endpoint requests by route and result (issued, rejected, throttled).",
	}, []string{"route", "result"})
	duplicatesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "duplicates_total", Help: "Requests answered as duplicates of an event in the dedup window.",
	}, []string{"route", "vendor"})
	storeErrorsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "store_errors_total", Help: "Requests answered 503 because the store could not take the event.",
	}, []string{"route"})
	ackSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "ack_duration_seconds", Help: "Time from request start to the vendor's ack in forward mode.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"route"})
	deliveriesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "deliveries_total", Help: "Delivery attempts by route and result (success, retry, dead_letter, error).",
	}, []string{"route", "result"})
	deliverySeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "delivery_duration_seconds", Help: "Duration of one delivery attempt to the application.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route", "result"})
	deadLettersTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "dead_letters_total", Help: "Events moved to the dead letters.",
	}, []string{"route"})
	replaysTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "replays_total", Help: "Events of the history queued for delivery again (admin API or CLI replays).",
	}, []string{"route"})
	rejectionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "rejections_total", Help: "Rejected requests by route, vendor and reason (the problem code, a fixed set).",
	}, []string{"route", "vendor", "reason"})
	queueDepth = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem,
		Name: "queue_depth", Help: "Events by route and state (pending, in_flight, dead), sampled every few seconds.",
	}, []string{"route", "state"})
)

var allCollectors = []prometheus.Collector{
	queueBytes, queueMaxBytes, queueFullTotal, tokenRequestsTotal, requestsTotal, duplicatesTotal, storeErrorsTotal, ackSeconds,
	deliveriesTotal, deliverySeconds, deadLettersTotal, queueDepth,
	rejectionsTotal, replaysTotal,
}

// registerMetrics puts the collectors into a config's registry. Registering the
// same collector twice (several handlers in one config) is expected and ignored.
func registerMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	for _, c := range allCollectors {
		if err := reg.Register(c); err != nil {
			if _, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); !ok {
				return fmt.Errorf("registering metrics: %v", err)
			}
		}
	}
	return nil
}

// observer feeds the delivery workers' events into the collectors.
type observer struct{}

func (observer) Attempt(route, result string, _ int, latency time.Duration) {
	deliveriesTotal.WithLabelValues(route, result).Inc()
	deliverySeconds.WithLabelValues(route, result).Observe(latency.Seconds())
	switch result {
	case delivery.ResultSuccess:
		countEvent(route, countDelivered)
	case delivery.ResultRetry, delivery.ResultDeadLetter:
		countEvent(route, countFailed)
	}
}

func (observer) DeadLettered(route string) {
	deadLettersTotal.WithLabelValues(route).Inc()
}

func (observer) Replayed(route string, n int) {
	replaysTotal.WithLabelValues(route).Add(float64(n))
}
