// Package api is callbackd's REST API on gorilla/mux: the routes under /v1,
// Bearer authentication with hashed API keys and scopes (and, for a
// trigger's inbound URL, the trigger's secret), strict JSON
// decoding, RFC 9457 problem responses, Idempotency-Key handling for every
// POST, the health and readiness probes, Prometheus metrics and the OpenAPI
// document.
//
// The package knows HTTP and JSON only. It hands decoded requests to a
// Service (the engine) and reads API keys and idempotency records through
// Keys (the store), so it is tested with small fakes as well as with the
// real engine over a real store.
package api
