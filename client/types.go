package client

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The types mirror the JSON of the API (api/openapi.json, served at
// /v1/openapi.json). Times are UTC; an optional time is the zero time when
// absent.

// Page is one page of a list: the items and whether more follow.
type Page[T any] struct {
	Data    []T  `json:"data"`
	HasMore bool `json:"has_more"`
}

// Duration is a time.Duration written in JSON as a Go duration string
// ("2m", "1h30m"), as the API does.
type Duration time.Duration

func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 90s, 2m or 1h30m", b)
	}
	*d = Duration(v)
	return nil
}

// Status is a callback's state.
type Status string

// The states of a callback: scheduled → in_progress → completed, failed or
// canceled (back to scheduled between attempts).
const (
	StatusScheduled  Status = "scheduled"
	StatusInProgress Status = "in_progress"
	StatusCompleted  Status = "completed"
	StatusFailed     Status = "failed"
	StatusCanceled   Status = "canceled"
)

// Final reports whether s is an end state.
func (s Status) Final() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCanceled
}

// Party is a person with a number: a customer, a rep.
type Party struct {
	Number string `json:"number"` // E.164 in answers; national with a country accepted in requests
	Name   string `json:"name,omitempty"`
}

// CallerID is the number and name the customer sees.
type CallerID struct {
	Number string `json:"number,omitempty"`
	Name   string `json:"name,omitempty"`
}

// Window is a business-hours window: a time zone, weekly hours and closed
// dates. In requests, Hours keys may be a day ("mon", "Monday") or a span
// ("mon-fri"); answers use one key per day.
type Window struct {
	TimeZone string              `json:"time_zone"`
	Hours    map[string][]string `json:"hours"` // "mon": ["09:00-12:00", "13:00-17:30"]
	Closed   []string            `json:"closed,omitempty"`
}

// RetryPolicy says when to try again after an attempt that did not connect.
type RetryPolicy struct {
	MaxAttempts           int        `json:"max_attempts,omitempty"` // counts the first attempt
	Intervals             []Duration `json:"intervals,omitempty"`    // waits after attempt 1, 2, ...; the last repeats
	Backoff               *Backoff   `json:"backoff,omitempty"`      // instead of Intervals
	Deadline              time.Time  `json:"deadline,omitzero"`
	DeadlineAfter         Duration   `json:"deadline_after,omitempty"`
	RetryCustomerRejected bool       `json:"retry_customer_rejected,omitempty"`
}

// Backoff is exponential backoff between attempts.
type Backoff struct {
	Base   Duration `json:"base"`
	Factor float64  `json:"factor,omitempty"`
	Max    Duration `json:"max,omitempty"`
	Jitter float64  `json:"jitter,omitempty"`
}

// Callback is a callback as the API shows it.
type Callback struct {
	ID            string            `json:"id"`
	Status        Status            `json:"status"`
	Team          string            `json:"team,omitempty"`
	RepNumber     string            `json:"rep_number,omitempty"`
	Customer      Party             `json:"customer"`
	ScheduledAt   time.Time         `json:"scheduled_at,omitzero"`
	NextAttemptAt time.Time         `json:"next_attempt_at,omitzero"`
	Window        *Window           `json:"window"` // nil: any time
	Retry         RetryPolicy       `json:"retry"`
	WebhookURL    string            `json:"webhook_url,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	AttemptCount  int               `json:"attempt_count"`
	Outcome       string            `json:"outcome,omitempty"` // the last attempt's
	Reason        string            `json:"reason,omitempty"`  // why it failed or was canceled
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
	// Attempts is filled by CallbacksService.Get only.
	Attempts []Attempt `json:"attempts,omitempty"`
}

// Attempt is one try at a callback: the rep legs, the customer leg and
// how it ended.
type Attempt struct {
	CallbackID  string    `json:"callback_id"`
	Number      int       `json:"number"` // 1 for the first
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	Outcome     string    `json:"outcome,omitempty"` // connected, customer_busy, rep_no_answer, ...
	Cause       string    `json:"cause,omitempty"`
	SIPCode     int       `json:"sip_code,omitempty"`
	SIPReason   string    `json:"sip_reason,omitempty"`
	Trunk       string    `json:"trunk,omitempty"`
	Reps        []Leg     `json:"reps,omitempty"`
	Customer    *Leg      `json:"customer,omitempty"`
	ConnectedAt time.Time `json:"connected_at,omitzero"`
	TalkSeconds float64   `json:"talk_seconds,omitempty"`
	HungUpBy    string    `json:"hung_up_by,omitempty"`
}

// Leg is one call of an attempt.
type Leg struct {
	Role       string    `json:"role"` // rep or customer
	Number     string    `json:"number"`
	CallID     string    `json:"call_id,omitempty"`
	Outcome    string    `json:"outcome,omitempty"`
	SIPCode    int       `json:"sip_code,omitempty"`
	SIPReason  string    `json:"sip_reason,omitempty"`
	InvitedAt  time.Time `json:"invited_at,omitzero"`
	RingingAt  time.Time `json:"ringing_at,omitzero"`
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	EndedAt    time.Time `json:"ended_at,omitzero"`
}

// CallbackCreate is the body of CallbacksService.Create. It needs the
// customer and one of Team and RepNumber.
type CallbackCreate struct {
	Customer    Customer          `json:"customer"`
	Team        string            `json:"team,omitempty"`
	RepNumber   string            `json:"rep_number,omitempty"`
	ScheduledAt time.Time         `json:"scheduled_at,omitzero"` // zero: now
	Retry       *RetryPolicy      `json:"retry,omitempty"`       // nil: the team's or the server's
	WebhookURL  string            `json:"webhook_url,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// Customer is the customer of a CallbackCreate: a number in E.164, or a
// national one with its Country (ISO 3166 code such as "GB").
type Customer struct {
	Number  string `json:"number"`
	Country string `json:"country,omitempty"`
	Name    string `json:"name,omitempty"`
}

// The event types of a callback's log (and of webhooks).
const (
	EventCallbackScheduled      = "callback.scheduled"
	EventCallbackAttemptStarted = "callback.attempt_started"
	EventCallbackRetryScheduled = "callback.retry_scheduled"
	EventCallbackCompleted      = "callback.completed"
	EventCallbackFailed         = "callback.failed"
	EventCallbackCanceled       = "callback.canceled"
	EventCallInitiated          = "call.initiated"
	EventCallRinging            = "call.ringing"
	EventCallConnected          = "call.connected"
	EventCallCompleted          = "call.completed"
	EventCallMissed             = "call.missed"
	// EventPing is sent only to webhooks, by WebhooksService.Test.
	EventPing = "ping"
)

// Event is one entry of a callback's ordered event log.
type Event struct {
	ID         string          `json:"id"`
	CallbackID string          `json:"callback_id"`
	Sequence   uint64          `json:"sequence"` // 1, 2, 3, ... without gaps
	Type       string          `json:"type"`
	CreatedAt  time.Time       `json:"created_at"`
	Data       json.RawMessage `json:"data,omitempty"` // see EventData
}

// Final reports whether the event ends the callback's log
// (callback.completed, callback.failed or callback.canceled).
func (e *Event) Final() bool {
	switch e.Type {
	case EventCallbackCompleted, EventCallbackFailed, EventCallbackCanceled:
		return true
	}
	return false
}

// EventData decodes the event's data.
func (e *Event) EventData() (EventData, error) {
	var d EventData
	if len(e.Data) == 0 {
		return d, nil
	}
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return d, fmt.Errorf("event %s (%s) data: %w", e.ID, e.Type, err)
	}
	return d, nil
}

// EventData is the data of any event type; each type fills some fields:
// callback.scheduled NextAttemptAt; callback.attempt_started Attempt;
// callback.retry_scheduled Attempt, NextAttemptAt, Outcome; the final
// events Attempt, Outcome, Reason, TalkSeconds; call.* Attempt, Leg,
// Number, CallID, SIPCode, SIPReason, At.
type EventData struct {
	Attempt       int       `json:"attempt,omitempty"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	Outcome       string    `json:"outcome,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	TalkSeconds   float64   `json:"talk_seconds,omitempty"`
	Leg           string    `json:"leg,omitempty"` // rep or customer
	Number        string    `json:"number,omitempty"`
	CallID        string    `json:"call_id,omitempty"`
	SIPCode       int       `json:"sip_code,omitempty"`
	SIPReason     string    `json:"sip_reason,omitempty"`
	At            time.Time `json:"at,omitzero"`
}

// Team is a group of reps with their business hours and policies.
type Team struct {
	ID                  string      `json:"id"`
	Name                string      `json:"name"`
	Reps                []Party     `json:"reps"`
	Strategy            string      `json:"strategy"` // sequential or round_robin
	Window              *Window     `json:"window"`
	Retry               RetryPolicy `json:"retry"`
	RepRingTimeout      Duration    `json:"rep_ring_timeout,omitempty"`
	CustomerRingTimeout Duration    `json:"customer_ring_timeout,omitempty"`
	Whisper             string      `json:"whisper,omitempty"`
	CallerID            *CallerID   `json:"caller_id,omitempty"`
	CreatedAt           time.Time   `json:"created_at"`
	UpdatedAt           time.Time   `json:"updated_at"`
}

// TeamCreate is the body of TeamsService.Create; only Reps is required.
type TeamCreate struct {
	ID                  string       `json:"id,omitempty"` // generated ("team_...") when empty
	Name                string       `json:"name,omitempty"`
	Reps                []Party      `json:"reps"`
	Strategy            string       `json:"strategy,omitempty"`
	Window              *Window      `json:"window,omitempty"`
	Retry               *RetryPolicy `json:"retry,omitempty"`
	RepRingTimeout      Duration     `json:"rep_ring_timeout,omitempty"`
	CustomerRingTimeout Duration     `json:"customer_ring_timeout,omitempty"`
	Whisper             string       `json:"whisper,omitempty"`
	CallerID            *CallerID    `json:"caller_id,omitempty"`
}

// TeamUpdate is the body of TeamsService.Update: the fields set (not nil)
// replace the team's, whole; Reset names fields to set back to their
// defaults ("window", "caller_id", "rep_ring_timeout", ...).
type TeamUpdate struct {
	Name                *string
	Reps                []Party
	Strategy            *string
	Window              *Window
	Retry               *RetryPolicy
	RepRingTimeout      *Duration
	CustomerRingTimeout *Duration
	Whisper             *string
	CallerID            *CallerID
	Reset               []string
}

// MarshalJSON writes the fields set, and null for those in Reset.
func (u TeamUpdate) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	set(m, "name", u.Name)
	if u.Reps != nil {
		m["reps"] = u.Reps
	}
	set(m, "strategy", u.Strategy)
	set(m, "window", u.Window)
	set(m, "retry", u.Retry)
	set(m, "rep_ring_timeout", u.RepRingTimeout)
	set(m, "customer_ring_timeout", u.CustomerRingTimeout)
	set(m, "whisper", u.Whisper)
	set(m, "caller_id", u.CallerID)
	for _, f := range u.Reset {
		m[f] = nil
	}
	return json.Marshal(m)
}

func set[T any](m map[string]any, name string, v *T) {
	if v != nil {
		m[name] = v
	}
}

// Webhook is a webhook endpoint: where events are POSTed, signed.
type Webhook struct {
	ID             string    `json:"id"`
	URL            string    `json:"url"`
	EventTypes     []string  `json:"event_types"` // empty: every type
	Description    string    `json:"description,omitempty"`
	Enabled        bool      `json:"enabled"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	FailingSince   time.Time `json:"failing_since,omitzero"`
	Source         string    `json:"source,omitempty"` // "rest_hook" for HooksService subscriptions
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// WebhookCreated is a new endpoint with its signing secret.
type WebhookCreated struct {
	Webhook
	Secret string `json:"secret"` // "whsec_..."
}

// WebhookCreate is the body of WebhooksService.Create.
type WebhookCreate struct {
	URL         string   `json:"url"`
	EventTypes  []string `json:"event_types,omitempty"` // empty: every type
	Description string   `json:"description,omitempty"`
	Enabled     *bool    `json:"enabled,omitempty"` // nil: true
}

// WebhookUpdate is the body of WebhooksService.Update: the fields set
// replace the endpoint's; Reset names fields to set back to their defaults
// ("event_types": every type, "description", "enabled": true).
type WebhookUpdate struct {
	URL         *string
	EventTypes  []string
	Description *string
	Enabled     *bool
	Reset       []string
}

// MarshalJSON writes the fields set, and null for those in Reset.
func (u WebhookUpdate) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	set(m, "url", u.URL)
	if u.EventTypes != nil {
		m["event_types"] = u.EventTypes
	}
	set(m, "description", u.Description)
	set(m, "enabled", u.Enabled)
	for _, f := range u.Reset {
		m[f] = nil
	}
	return json.Marshal(m)
}

// Delivery is one event sent (or to be sent) to one endpoint, with every
// attempt.
type Delivery struct {
	ID            string            `json:"id"`
	WebhookID     string            `json:"webhook_id,omitempty"`
	URL           string            `json:"url,omitempty"`
	EventID       string            `json:"event_id"`
	EventType     string            `json:"event_type"`
	CallbackID    string            `json:"callback_id,omitempty"`
	Sequence      uint64            `json:"sequence,omitempty"`
	Status        string            `json:"status"` // pending, succeeded or failed
	Attempts      []DeliveryAttempt `json:"attempts"`
	NextAttemptAt time.Time         `json:"next_attempt_at,omitzero"`
	Error         string            `json:"error,omitempty"`
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
}

// DeliveryAttempt is one POST of a delivery.
type DeliveryAttempt struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"`
	LatencyMS  float64   `json:"latency_ms"`
	Error      string    `json:"error,omitempty"`
}

// WebhookEvent is the body of a webhook delivery, and a sample of
// HooksService.Samples.
type WebhookEvent struct {
	ID        string           `json:"id"` // the event's ID: the webhook-id header, the same on every retry
	Type      string           `json:"type"`
	CreatedAt time.Time        `json:"created_at"`
	Sequence  uint64           `json:"sequence,omitempty"`
	Data      WebhookEventData `json:"data"`
}

// WebhookEventData is the callback as it stood just after the event, the
// attempt it belongs to, and the event's own data: Call for call.* events,
// Details for the others.
type WebhookEventData struct {
	Callback *Callback      `json:"callback,omitempty"`
	Attempt  *Attempt       `json:"attempt,omitempty"`
	Call     *EventData     `json:"call,omitempty"`
	Details  map[string]any `json:"details,omitempty"`
}

// The scopes of an API key.
const (
	ScopeCallbacksWrite = "callbacks:write"
	ScopeCallbacksRead  = "callbacks:read"
	ScopeAdmin          = "admin"
)

// APIKey is an API key, without its secret.
type APIKey struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Prefix    string    `json:"prefix"` // the secret's first characters
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// APIKeyCreated is a new key with its secret, which is shown only this once.
type APIKeyCreated struct {
	APIKey
	Secret string `json:"secret"`
}

// APIKeyCreate is the body of APIKeysService.Create.
type APIKeyCreate struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

// Subscription is a REST Hooks subscription: an endpoint made for one
// event type, whose Secret signs its deliveries.
type Subscription struct {
	ID        string    `json:"id"` // a webhook endpoint's ID ("we_...")
	TargetURL string    `json:"target_url"`
	Event     string    `json:"event"`
	Secret    string    `json:"secret"`
	CreatedAt time.Time `json:"created_at"`
}

// Readiness is the answer of /readyz.
type Readiness struct {
	Status string            `json:"status"` // ok or unavailable
	Checks map[string]string `json:"checks"` // name: "ok" or the error
}
