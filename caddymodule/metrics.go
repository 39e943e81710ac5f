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
	requestsTotal = counterVec("requests_total",
		"Webhook requests by route, vendor and outcome.", "route", "vendor", "outcome")
	queueBytes = gaugeVec("queue_bytes",
		"Bytes a route holds in the store against max_queue (events, history, dedup records, outcome records, dead letters), sampled every few seconds.", "route")
	keyIndexStuck = gaugeVec("key_index_stuck",
		"1 when the route's key index in this process could not take a stored key (no memory to grow): keys that meet it get 503 until a restart.", "route")
	queueMaxBytes = gaugeVec("queue_max_bytes",
		"A route's quota of the store (max_queue), forward mode.", "route")
	queueFullTotal = counterVec("queue_full_total",
		"Events answered 503 because the route's max_queue was used up.", "route")
	tokenRequestsTotal = counterVec("token_requests_total",
		"OAuth2 token endpoint requests by route and result (issued, rejected, throttled).", "route", "result")
	duplicatesTotal = counterVec("duplicates_total",
		"Requests answered as duplicates of an event in the dedup window.", "route", "vendor")
	storeErrorsTotal = counterVec("store_errors_total",
		"Requests answered 503 because the store could not take the event.", "route")
	ackSeconds = histogramVec("ack_duration_seconds",
		"Time from request start to the vendor's ack in forward mode.", []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}, "route")
	deliveriesTotal = counterVec("deliveries_total",
		"Delivery attempts by route and result (success, retry, dead_letter, error).", "route", "result")
	deliverySeconds = histogramVec("delivery_duration_seconds",
		"Duration of one delivery attempt to the application.", prometheus.DefBuckets, "route", "result")
	deadLettersTotal = counterVec("dead_letters_total",
		"Events moved to the dead letters.", "route")
	replaysTotal = counterVec("replays_total",
		"Events of the history queued for delivery again (admin API or CLI replays).", "route")
	outcomesLostTotal = counterVec("outcome_records_lost_total",
		"Records of delivery attempts that could not be written (the events are safe; their history misses the attempts).", "route")
	historyGivenUpTotal = counterVec("history_given_up_bytes_total",
		"Bytes of delivered history purged before its retention to make room under max_queue or max_store.", "route")
	rejectionsTotal = counterVec("rejections_total",
		"Rejected requests by route, vendor and reason (the problem code, a fixed set).", "route", "vendor", "reason")
	queueDepth = gaugeVec("queue_depth",
		"Events by route and state (pending, in_flight, dead), sampled every few seconds.", "route", "state")
)

// allCollectors lists every collector above, in declaration order: each constructor adds its own.
var allCollectors []prometheus.Collector

func collect[C prometheus.Collector](c C) C {
	allCollectors = append(allCollectors, c)
	return c
}

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return collect(prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: name, Help: help,
	}, labels))
}

func gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return collect(prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: name, Help: help,
	}, labels))
}

func histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return collect(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: name, Help: help, Buckets: buckets,
	}, labels))
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

func (observer) OutcomeLost(route string, n int) {
	outcomesLostTotal.WithLabelValues(route).Add(float64(n))
}

func (observer) HistoryGivenUp(route string, bytes int64) {
	historyGivenUpTotal.WithLabelValues(route).Add(float64(bytes))
}
