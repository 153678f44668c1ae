// Package metrics holds callbackd's Prometheus collectors in one registry of
// its own, so that tests can build as many servers as they like and /metrics
// shows only what callbackd defines (plus the Go runtime and process).
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the set of collectors. A nil *Metrics is valid and records
// nothing, so packages can be used without one.
type Metrics struct {
	reg            *prometheus.Registry
	callbacks      *prometheus.GaugeVec
	attempts       *prometheus.CounterVec
	apiLatency     *prometheus.HistogramVec
	triggerLatency prometheus.Histogram
	activeCalls    prometheus.Gauge
	relayPackets   *prometheus.CounterVec
	relayDrops     prometheus.Counter
	webhookTries   *prometheus.CounterVec
	webhookLatency prometheus.Histogram
}

// New returns a fresh set of collectors in a new registry.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		callbacks: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "callbackd_callbacks",
			Help: "Callbacks in the store by status.",
		}, []string{"status"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callbackd_attempts_total",
			Help: "Finished callback attempts by outcome.",
		}, []string{"outcome"}),
		apiLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "callbackd_api_request_duration_seconds",
			Help:    "REST API request latency by method, route template and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"method", "route", "code"}),
		triggerLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "callbackd_trigger_latency_seconds",
			Help:    "Time from a due-now callback's creation to its first INVITE.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		activeCalls: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "callbackd_active_calls",
			Help: "Callback attempts in progress.",
		}),
		relayPackets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callbackd_relay_packets_total",
			Help: "RTP packets relayed between rep and customer, by direction, counted when a call ends.",
		}, []string{"direction"}),
		relayDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callbackd_relay_dropped_packets_total",
			Help: "RTP packets the relay dropped (stray, malformed or unknown payload), counted when a call ends.",
		}),
		webhookTries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callbackd_webhook_attempts_total",
			Help: "Webhook delivery attempts by result: success, failure (to be retried or given up).",
		}, []string{"result"}),
		webhookLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "callbackd_webhook_duration_seconds",
			Help:    "Time a webhook receiver took to answer one delivery attempt.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15},
		}),
	}
	m.reg.MustRegister(m.callbacks, m.attempts, m.apiLatency, m.triggerLatency,
		m.activeCalls, m.relayPackets, m.relayDrops, m.webhookTries, m.webhookLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// SetCallbacks sets the number of callbacks in a status.
func (m *Metrics) SetCallbacks(status string, n int) {
	if m != nil {
		m.callbacks.WithLabelValues(status).Set(float64(n))
	}
}

// MoveCallback counts one callback leaving status from for status to
// (from is empty for a new callback).
func (m *Metrics) MoveCallback(from, to string) {
	if m == nil {
		return
	}
	if from != "" {
		m.callbacks.WithLabelValues(from).Dec()
	}
	if to != "" {
		m.callbacks.WithLabelValues(to).Inc()
	}
}

// Attempt counts a finished attempt.
func (m *Metrics) Attempt(outcome string) {
	if m != nil {
		m.attempts.WithLabelValues(outcome).Inc()
	}
}

// API records one REST request; route is the route's template, not the path,
// so IDs do not explode the label set.
func (m *Metrics) API(method, route string, code int, d time.Duration) {
	if m != nil {
		m.apiLatency.WithLabelValues(method, route, statusText(code)).Observe(d.Seconds())
	}
}

// Trigger records the time from a callback's creation to its first INVITE.
func (m *Metrics) Trigger(d time.Duration) {
	if m != nil {
		m.triggerLatency.Observe(d.Seconds())
	}
}

// CallStarted and CallEnded move the active-calls gauge.
func (m *Metrics) CallStarted() {
	if m != nil {
		m.activeCalls.Inc()
	}
}

// CallEnded is CallStarted's pair; it also adds the call's relay counters.
func (m *Metrics) CallEnded(repToCustomer, customerToRep, dropped uint64) {
	if m == nil {
		return
	}
	m.activeCalls.Dec()
	m.relayPackets.WithLabelValues("rep_to_customer").Add(float64(repToCustomer))
	m.relayPackets.WithLabelValues("customer_to_rep").Add(float64(customerToRep))
	m.relayDrops.Add(float64(dropped))
}

func statusText(code int) string {
	const digits = "0123456789"
	if code < 100 || code > 999 {
		return "other"
	}
	return string([]byte{digits[code/100], digits[code/10%10], digits[code%10]})
}

// WebhookAttempt records one delivery attempt.
func (m *Metrics) WebhookAttempt(ok bool, d time.Duration) {
	if m == nil {
		return
	}
	result := "failure"
	if ok {
		result = "success"
	}
	m.webhookTries.WithLabelValues(result).Inc()
	m.webhookLatency.Observe(d.Seconds())
}
