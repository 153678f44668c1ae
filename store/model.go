package store

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/callbackd/callbackd/schedule"
)

// Status is where a callback is in its life.
type Status string

// The states of a callback. Completed, Failed and Canceled are final.
const (
	Scheduled  Status = "scheduled"
	InProgress Status = "in_progress"
	Completed  Status = "completed"
	Failed     Status = "failed"
	Canceled   Status = "canceled"
)

// Final reports whether s is a state a callback never leaves.
func (s Status) Final() bool { return s == Completed || s == Failed || s == Canceled }

// Valid reports whether s is one of the five states.
func (s Status) Valid() bool {
	switch s {
	case Scheduled, InProgress, Completed, Failed, Canceled:
		return true
	}
	return false
}

// Errors callers tell apart.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict: a record with that ID exists already (create), or the
	// record changed since it was read (an Update whose check failed).
	ErrConflict = errors.New("conflict")
	// ErrIdempotencyMismatch: the idempotency key was used before with
	// another request body.
	ErrIdempotencyMismatch = errors.New("idempotency key reused with another request")
	// ErrIdempotencyInFlight: a request with the same key is running now.
	ErrIdempotencyInFlight = errors.New("idempotency key in use by a request in flight")
	ErrClosed              = errors.New("store closed")
	// ErrUnknownTeam: a callback names a team that does not exist.
	ErrUnknownTeam = errors.New("unknown team")
	// ErrTeamInUse: the team cannot be deleted while a pending (scheduled
	// or in progress) callback names it.
	ErrTeamInUse = errors.New("team in use by a pending callback")
	// ErrLocked: Open could not get the file lock in time; another
	// process (usually a running server) has the store open.
	ErrLocked = errors.New("store file locked by another process")
	// ErrCorrupt: the file is not a bbolt database or is damaged.
	ErrCorrupt = errors.New("store file is not a valid database")
)

// Party is a phone number with an optional display name.
type Party struct {
	Number string `json:"number"`
	Name   string `json:"name,omitempty"`
}

// Callback is one requested callback. Its Window and Retry are the effective
// ones, fixed at creation (the team's, overlaid by the request's override),
// so changing a team later does not move callbacks already promised.
type Callback struct {
	ID        string `json:"id"` // "cb_" + random
	Status    Status `json:"status"`
	Team      string `json:"team,omitempty"` // team ID
	RepNumber string `json:"rep_number,omitempty"`
	Customer  Party  `json:"customer"`
	// ScheduledAt is the time the application asked for (zero: now).
	ScheduledAt time.Time `json:"scheduled_at,omitzero"`
	// NextAttemptAt is when the next attempt is due; zero unless Scheduled.
	NextAttemptAt time.Time         `json:"next_attempt_at,omitzero"`
	Window        schedule.Window   `json:"window"`
	Retry         schedule.Policy   `json:"retry"`
	WebhookURL    string            `json:"webhook_url,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	// AttemptCount is the number of attempts started so far.
	AttemptCount int `json:"attempt_count"`
	// Outcome is the last attempt's outcome; Reason says why a final
	// callback ended as it did (a schedule reason such as "max_attempts",
	// "canceled_by_api", "deadline").
	Outcome   string    `json:"outcome,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// LastSeq is the sequence number of the callback's newest event.
	LastSeq uint64 `json:"-"`
}

// Leg is one SIP leg of an attempt.
type Leg struct {
	Role       string    `json:"role"` // rep or customer
	Number     string    `json:"number"`
	CallID     string    `json:"call_id,omitempty"`
	Outcome    string    `json:"outcome,omitempty"` // answered, busy, no_answer, ...
	Code       int       `json:"sip_code,omitempty"`
	Reason     string    `json:"sip_reason,omitempty"`
	InvitedAt  time.Time `json:"invited_at,omitzero"`
	RingingAt  time.Time `json:"ringing_at,omitzero"`
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	EndedAt    time.Time `json:"ended_at,omitzero"`
}

// Attempt is one try at a callback: one call, rep first (or customer first).
type Attempt struct {
	CallbackID string    `json:"callback_id"`
	Number     int       `json:"number"` // 1 for the first
	StartedAt  time.Time `json:"started_at"`
	// FinishedAt and Outcome are zero while the attempt runs. Outcome is a
	// bridge outcome (connected, customer_no_answer, ...) or "interrupted"
	// for an attempt the process died in.
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	Outcome     string    `json:"outcome,omitempty"`
	Cause       string    `json:"cause,omitempty"`
	Code        int       `json:"sip_code,omitempty"`
	Reason      string    `json:"sip_reason,omitempty"`
	Trunk       string    `json:"trunk,omitempty"`
	Reps        []Leg     `json:"reps,omitempty"`
	Customer    *Leg      `json:"customer,omitempty"`
	ConnectedAt time.Time `json:"connected_at,omitzero"`
	TalkSeconds float64   `json:"talk_seconds,omitempty"`
	HungUpBy    string    `json:"hung_up_by,omitempty"`
}

// Event is one entry of a callback's ordered log.
type Event struct {
	ID         string    `json:"id"` // "evt_" + random
	CallbackID string    `json:"callback_id"`
	Seq        uint64    `json:"sequence"` // 1, 2, 3, ... per callback, no gaps
	Type       string    `json:"type"`
	CreatedAt  time.Time `json:"created_at"`
	// Data is the event's payload (for call.* events the leg, SIP code and
	// reason; for callback.* the status, reason and next attempt time).
	Data json.RawMessage `json:"data,omitempty"`
}

// Team is a group of reps who share business hours and a retry policy.
type Team struct {
	ID                  string            `json:"id"` // chosen by the user ("sales") or "team_" + random
	Name                string            `json:"name"`
	Reps                []Party           `json:"reps"`     // in the order they are tried
	Strategy            string            `json:"strategy"` // sequential or round_robin
	Window              schedule.Window   `json:"window"`
	Retry               schedule.Policy   `json:"retry"`
	RepRingTimeout      schedule.Duration `json:"rep_ring_timeout,omitzero"`
	CustomerRingTimeout schedule.Duration `json:"customer_ring_timeout,omitzero"`
	// Whisper is a WAV file name played to the rep (empty: the configured default).
	Whisper   string    `json:"whisper,omitempty"`
	CallerID  Party     `json:"caller_id,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// NextRep is the round-robin cursor: the index of the rep tried first
	// next time.
	NextRep int `json:"-"`
}

// The API key scopes.
const (
	ScopeCallbacksWrite = "callbacks:write"
	ScopeCallbacksRead  = "callbacks:read"
	ScopeAdmin          = "admin"
)

// APIKey is a key's record. The secret itself is never stored: Hash is its
// SHA-256, enough for a 256-bit random secret and fast on every request.
type APIKey struct {
	ID        string    `json:"id"` // "key_" + random
	Name      string    `json:"name"`
	Prefix    string    `json:"prefix"` // the secret's first characters, to recognise it
	Hash      [32]byte  `json:"-"`
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Idempotency is a POST's idempotency record, scoped by API key.
type Idempotency struct {
	Scope    string   // the API key ID
	Key      string   // the Idempotency-Key header
	BodyHash [32]byte // SHA-256 of method, path and body
	// Done is false while the first request runs.
	Done        bool
	Boot        string // the process that reserved it (Store.Boot at the time)
	Status      int
	ContentType string
	Body        []byte
	CreatedAt   time.Time
}
