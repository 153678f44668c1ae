package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/callbackd/callbackd/store"
)

// Errors callers tell apart.
var (
	// ErrFinal: the callback is completed, failed or canceled already.
	ErrFinal = errors.New("callback is final")
	// ErrDraining: the engine is shutting down and takes no new callbacks.
	ErrDraining = errors.New("engine is shutting down")
	// ErrNotFound: no callback or team with that ID.
	ErrNotFound = store.ErrNotFound
	// ErrTeamInUse: a pending callback still names the team.
	ErrTeamInUse = store.ErrTeamInUse
	// ErrConflict: a team with that ID exists already.
	ErrConflict = store.ErrConflict
	// ErrTriggerDisabled: the trigger exists but is disabled, so its
	// events make no callbacks.
	ErrTriggerDisabled = errors.New("trigger is disabled")
	// ErrDuplicate: the trigger made a callback for the same customer
	// within its dedup window; the error is a *DuplicateError.
	ErrDuplicate = store.ErrDuplicate
	// ErrRateLimited: the trigger made as many callbacks as its rate
	// limit allows; the error is a *RateLimitError.
	ErrRateLimited = errors.New("trigger rate limit reached")
)

// DuplicateError names the callback a trigger made for the same customer
// within its dedup window, and when.
type DuplicateError = store.DuplicateError

// RateLimitError is FireTrigger's refusal when the trigger's rate limit
// is used up: RetryAfter is how long until it makes room for one more.
type RateLimitError struct {
	TriggerID  string
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("trigger %s: %v; room again in %v", e.TriggerID, ErrRateLimited, e.RetryAfter)
}

func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// Codes of a FieldError, stable for the API to map onto problem types.
const (
	CodeInvalidNumber         = "invalid_number"
	CodeInvalidField          = "invalid_field"
	CodeInvalidTime           = "invalid_time"
	CodeUnknownTeam           = "unknown_team"
	CodeMetadataTooLarge      = "metadata_too_large"
	CodeDestinationNotAllowed = "destination_not_allowed"
	CodePremiumRate           = "premium_rate"
	CodeDailyLimit            = "daily_limit"
	// CodeInvalidExpression: a trigger's expression does not compile; the
	// message starts with its line and column.
	CodeInvalidExpression = "invalid_expression"
)

// FieldError is a refused request: Field is the JSON path of the offending
// input ("customer.number", "retry.intervals[0]"), Code one of the Code
// constants, Msg a sentence for people.
type FieldError struct {
	Field, Code, Msg string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func fieldErr(field, code, msg string) *FieldError {
	return &FieldError{Field: field, Code: code, Msg: msg}
}

// errStale aborts a transaction whose callback is no longer in the state the
// caller expected (canceled while queued, already dispatched); the caller
// drops what it was doing.
var errStale = errors.New("callback changed meanwhile")

// errInProgress aborts Cancel's transaction when an attempt is running: the
// attempt has to be hung up first.
var errInProgress = errors.New("attempt in progress")
