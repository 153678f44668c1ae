package client

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// TriggersService is /v1/triggers (an admin key), and the inbound URL an
// application sends its events to (Fire, with the trigger's secret).
type TriggersService struct{ c *Client }

// How an event sent to a trigger proves where it comes from.
const (
	AuthTokenHeader = "token_header" // X-Callbackd-Token: SECRET (the default)
	AuthTokenQuery  = "token_query"  // ?token=SECRET
	AuthHMACSHA256  = "hmac_sha256"  // X-Callbackd-Signature: sha256=HEX(HMAC-SHA256(SECRET, body))
)

// Trigger turns an application's events (any JSON object, the "payload")
// into callbacks: Condition and the Mapping's values are CEL expressions
// over payload.
type Trigger struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Condition string         `json:"condition,omitempty"` // empty: every event
	Mapping   TriggerMapping `json:"mapping"`
	Dedup     Duration       `json:"dedup,omitempty"`      // a customer is not called again from the trigger within it
	RateLimit int            `json:"rate_limit,omitempty"` // callbacks a minute; 0: no limit
	Auth      TriggerAuth    `json:"auth"`
	Enabled   bool           `json:"enabled"`
	URL       string         `json:"url"` // the path events are POSTed to: "/v1/hooks/trg_..."
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// TriggerMapping says where a callback's fields come from: each is an
// expression over payload ("payload.phone", "'sales'"). CustomerNumber
// and one of Team and RepNumber are required.
type TriggerMapping struct {
	CustomerNumber  string            `json:"customer_number"`
	CustomerName    string            `json:"customer_name,omitempty"`
	CustomerCountry string            `json:"customer_country,omitempty"`
	Team            string            `json:"team,omitempty"`
	RepNumber       string            `json:"rep_number,omitempty"`
	ScheduledAt     string            `json:"scheduled_at,omitempty"`
	Delay           string            `json:"delay,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
}

// TriggerAuth is a trigger's auth mode (AuthTokenHeader, ...).
type TriggerAuth struct {
	Mode string `json:"mode,omitempty"`
}

// TriggerCreated is a new trigger with its secret ("tsec_..."); it can be
// read again only by rotating it.
type TriggerCreated struct {
	Trigger
	Secret string `json:"secret"`
}

// TriggerCreate is the body of TriggersService.Create.
type TriggerCreate struct {
	Name      string         `json:"name"`
	Condition string         `json:"condition,omitempty"`
	Mapping   TriggerMapping `json:"mapping"`
	Dedup     Duration       `json:"dedup,omitempty"`
	RateLimit int            `json:"rate_limit,omitempty"`
	Auth      *TriggerAuth   `json:"auth,omitempty"`
	Enabled   *bool          `json:"enabled,omitempty"` // nil: true
}

// TriggerUpdate is the body of TriggersService.Update: the fields set
// replace the trigger's, whole; Reset names fields to set back to their
// defaults ("condition", "dedup", "rate_limit", "auth", "enabled").
type TriggerUpdate struct {
	Name      *string
	Condition *string
	Mapping   *TriggerMapping
	Dedup     *Duration
	RateLimit *int
	Auth      *TriggerAuth
	Enabled   *bool
	Reset     []string
}

// MarshalJSON writes the fields set, and null for those in Reset.
func (u TriggerUpdate) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	set(m, "name", u.Name)
	set(m, "condition", u.Condition)
	set(m, "mapping", u.Mapping)
	set(m, "dedup", u.Dedup)
	set(m, "rate_limit", u.RateLimit)
	set(m, "auth", u.Auth)
	set(m, "enabled", u.Enabled)
	for _, f := range u.Reset {
		m[f] = nil
	}
	return json.Marshal(m)
}

// HookResult is what a trigger made of an event.
type HookResult struct {
	Matched    bool      `json:"matched"`               // whether the condition held
	Reason     string    `json:"reason,omitempty"`      // why not
	Duplicate  bool      `json:"duplicate,omitempty"`   // within the dedup window: nothing was created
	CallbackID string    `json:"callback_id,omitempty"` // made, or for a duplicate the earlier one
	Callback   *Callback `json:"callback,omitempty"`    // the callback made
}

// Create makes a trigger; the answer has its secret.
func (s *TriggersService) Create(ctx context.Context, in *TriggerCreate, opts ...RequestOption) (*TriggerCreated, error) {
	return doOne[TriggerCreated](ctx, s.c, ep(http.MethodPost, "/v1/triggers"), in, opts)
}

// Get returns a trigger.
func (s *TriggersService) Get(ctx context.Context, id string, opts ...RequestOption) (*Trigger, error) {
	return doOne[Trigger](ctx, s.c, ep(http.MethodGet, "/v1/triggers/%s", id), nil, opts)
}

// List returns every trigger.
func (s *TriggersService) List(ctx context.Context, opts ...RequestOption) (*Page[*Trigger], error) {
	return doOne[Page[*Trigger]](ctx, s.c, ep(http.MethodGet, "/v1/triggers"), nil, opts)
}

// Update changes a trigger's fields (PATCH): see TriggerUpdate.
func (s *TriggersService) Update(ctx context.Context, id string, in *TriggerUpdate, opts ...RequestOption) (*Trigger, error) {
	return doOne[Trigger](ctx, s.c, ep(http.MethodPatch, "/v1/triggers/%s", id), in, opts)
}

// Delete removes a trigger; its URL answers 404 from then on.
func (s *TriggersService) Delete(ctx context.Context, id string, opts ...RequestOption) error {
	return s.c.do(ctx, ep(http.MethodDelete, "/v1/triggers/%s", id), nil, nil, opts)
}

// RotateSecret gives the trigger a new secret and returns it. The one it
// replaces stops working at once, or works on beside it for overlap (at
// most 168h), so that the sender can be switched without losing an event.
func (s *TriggersService) RotateSecret(ctx context.Context, id string, overlap *Duration, opts ...RequestOption) (string, error) {
	var body any
	if overlap != nil {
		body = map[string]any{"overlap": overlap}
	}
	v, err := doOne[struct {
		Secret string `json:"secret"`
	}](ctx, s.c, ep(http.MethodPost, "/v1/triggers/%s/rotate-secret", id), body, opts)
	if err != nil {
		return "", err
	}
	return v.Secret, nil
}

// Fire sends an event to a trigger as an application does (POST
// /v1/hooks/{id}): payload, a JSON object, authenticated with the
// trigger's secret as mode says (empty: AuthTokenHeader), not with the
// client's API key. A payload that does not match the condition is no
// error: see HookResult.
func (s *TriggersService) Fire(ctx context.Context, id, secret, mode string, payload any, opts ...RequestOption) (*HookResult, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("callbackd: trigger %s: encode the payload: %w", id, err)
	}
	e := ep(http.MethodPost, "/v1/hooks/%s", id)
	hook := hookAuth{body: body, header: http.Header{}}
	switch mode {
	case AuthTokenHeader, "":
		hook.header.Set("X-Callbackd-Token", secret)
	case AuthTokenQuery:
		e = e.with(url.Values{"token": {secret}})
	case AuthHMACSHA256:
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		hook.header.Set("X-Callbackd-Signature", "sha256="+hex.EncodeToString(m.Sum(nil)))
	default:
		return nil, fmt.Errorf("callbackd: trigger %s: unknown auth mode %q", id, mode)
	}
	opts = append(opts, func(o *callOptions) { o.hook = &hook })
	return doOne[HookResult](ctx, s.c, e, nil, opts)
}

// hookAuth replaces the API key of a request to an inbound hook: the body
// is sent as it is (an HMAC signs its bytes) with the header.
type hookAuth struct {
	body   []byte
	header http.Header
}
