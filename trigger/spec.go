package trigger

import (
	"time"

	"github.com/callbackd/callbackd/schedule"
)

// Spec is a trigger as the user saves it (the JSON the API takes).
type Spec struct {
	Name string `json:"name"`
	// Condition is a CEL expression over payload that decides whether an
	// event becomes a callback; empty matches every event.
	Condition string  `json:"condition,omitempty"`
	Mapping   Mapping `json:"mapping"`
	// Dedup is a window ("24h"): a customer number this trigger made a
	// callback for is not called again from it within the window. 0: none.
	Dedup schedule.Duration `json:"dedup,omitzero"`
	// RateLimit is the most callbacks this trigger makes a minute; 0: no
	// limit.
	RateLimit int  `json:"rate_limit,omitempty"`
	Auth      Auth `json:"auth,omitzero"`
	Enabled   bool `json:"enabled"`
}

// Mapping says where the callback's fields come from: each value is a CEL
// expression over payload (a constant is a quoted string literal, 'sales').
// See the package documentation for the types.
type Mapping struct {
	CustomerNumber  string `json:"customer_number"`
	CustomerName    string `json:"customer_name,omitempty"`
	CustomerCountry string `json:"customer_country,omitempty"` // for national numbers
	Team            string `json:"team,omitempty"`
	RepNumber       string `json:"rep_number,omitempty"`
	ScheduledAt     string `json:"scheduled_at,omitempty"` // RFC 3339 string or timestamp
	Delay           string `json:"delay,omitempty"`        // duration string ("10m") or duration
	// Metadata maps each metadata name to an expression.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Auth says how an inbound request proves it comes from the application.
type Auth struct {
	// Mode is AuthTokenHeader (also when empty), AuthTokenQuery or
	// AuthHMACSHA256.
	Mode string `json:"mode,omitempty"`
}

// The authentication modes.
const (
	// AuthTokenHeader: the secret in the X-Callbackd-Token header.
	AuthTokenHeader = "token_header"
	// AuthTokenQuery: the secret in the token query parameter, for senders
	// that can set nothing but the URL.
	AuthTokenQuery = "token_query"
	// AuthHMACSHA256: X-Callbackd-Signature: sha256=<hex HMAC-SHA256 of the
	// raw body keyed with the secret>.
	AuthHMACSHA256 = "hmac_sha256"
)

// Limits.
const (
	// MaxExpressionLength bounds each expression, in bytes.
	MaxExpressionLength = 2048
	// MaxCost bounds one expression's evaluation, in CEL cost units (about
	// one per operation; comprehensions pay per element).
	MaxCost = 200_000
	// MaxPayloadBytes bounds the inbound JSON.
	MaxPayloadBytes = 1 << 20
	// MaxMetadata bounds the metadata mapping's entries (the engine's
	// limit on a callback's metadata keys).
	MaxMetadata = 50
	// MaxNameLen bounds Spec.Name, in bytes.
	MaxNameLen = 100
	// MaxDedup bounds the dedup window.
	MaxDedup = 30 * 24 * time.Hour
)

// Request is the callback a matched event asks for: the fields of the
// engine's callback request, unvalidated (the engine checks the numbers,
// the team and the times as for any other request).
type Request struct {
	CustomerNumber  string
	CustomerName    string
	CustomerCountry string
	Team            string // empty when RepNumber is set
	RepNumber       string
	ScheduledAt     time.Time     // zero: not mapped
	Delay           time.Duration // 0: not mapped; the callback is due this long after the event
	Metadata        map[string]string
}

// Result is what Evaluate made of one event.
type Result struct {
	Matched bool
	// Reason says why an event did not match: "condition is false", or a
	// missing key ("condition: payload.score is missing").
	Reason   string
	Callback Request // set when Matched
}
