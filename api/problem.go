package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/callbackd/callbackd/engine"
)

// ProblemContentType is the media type of every error response (RFC 9457).
const ProblemContentType = "application/problem+json"

// problemPrefix starts every problem type: the code after it is stable and
// what clients switch on.
const problemPrefix = "urn:callbackd:problem:"

// Problem codes: the last part of a problem's type.
const (
	CodeInvalidJSON           = "invalid-json"
	CodeUnknownField          = "unknown-field"
	CodeWrongType             = "wrong-type"
	CodeBodyTooLarge          = "body-too-large"
	CodeUnsupportedMediaType  = "unsupported-media-type"
	CodeValidation            = "validation"
	CodeUnknownTeam           = "unknown-team"
	CodeDestinationNotAllowed = "destination-not-allowed"
	CodePremiumRate           = "premium-rate"
	CodeDailyLimit            = "daily-limit"
	CodeRateLimited           = "rate-limited"
	CodeTriggerDisabled       = "trigger-disabled"
	CodeUnauthenticated       = "unauthenticated"
	CodeForbidden             = "forbidden"
	CodeNotFound              = "not-found"
	CodeMethodNotAllowed      = "method-not-allowed"
	CodeConflict              = "conflict"
	CodeIdempotencyMismatch   = "idempotency-mismatch"
	CodeIdempotencyInFlight   = "idempotency-in-flight"
	CodeDraining              = "draining"
	CodeInternal              = "internal"
)

// problemKinds gives each code its status and title; the title is the same
// for every problem of a kind, the detail says what happened this time.
var problemKinds = map[string]struct {
	status int
	title  string
}{
	CodeInvalidJSON:           {http.StatusBadRequest, "Malformed JSON"},
	CodeUnknownField:          {http.StatusBadRequest, "Unknown field"},
	CodeWrongType:             {http.StatusBadRequest, "Wrong type"},
	CodeBodyTooLarge:          {http.StatusRequestEntityTooLarge, "Request body too large"},
	CodeUnsupportedMediaType:  {http.StatusUnsupportedMediaType, "Unsupported media type"},
	CodeValidation:            {http.StatusUnprocessableEntity, "Invalid value"},
	CodeUnknownTeam:           {http.StatusUnprocessableEntity, "Unknown team"},
	CodeDestinationNotAllowed: {http.StatusForbidden, "Destination not allowed"},
	CodePremiumRate:           {http.StatusForbidden, "Premium-rate number"},
	CodeDailyLimit:            {http.StatusTooManyRequests, "Daily limit reached"},
	CodeRateLimited:           {http.StatusTooManyRequests, "Rate limited"},
	CodeTriggerDisabled:       {http.StatusConflict, "Trigger disabled"},
	CodeUnauthenticated:       {http.StatusUnauthorized, "Unauthenticated"},
	CodeForbidden:             {http.StatusForbidden, "Forbidden"},
	CodeNotFound:              {http.StatusNotFound, "Not found"},
	CodeMethodNotAllowed:      {http.StatusMethodNotAllowed, "Method not allowed"},
	CodeConflict:              {http.StatusConflict, "Conflict"},
	CodeIdempotencyMismatch:   {http.StatusUnprocessableEntity, "Idempotency key reused"},
	CodeIdempotencyInFlight:   {http.StatusConflict, "Idempotency key in use"},
	CodeDraining:              {http.StatusServiceUnavailable, "Shutting down"},
	CodeInternal:              {http.StatusInternalServerError, "Internal error"},
}

// Problem is an RFC 9457 problem details object. It is also an error, so
// that handlers return it like any other.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	// Field is the JSON path of the offending input ("customer.number",
	// "retry.intervals[0]") or the query parameter's name.
	Field string `json:"field,omitempty"`
	// Reason is the engine's finer code for a refused value
	// (invalid_number, invalid_time, metadata_too_large, ...).
	Reason string `json:"reason,omitempty"`

	code  string
	cause error // logged for internal problems, never sent
}

// newProblem returns the problem of kind code with a detail.
func newProblem(code, field, format string, args ...any) *Problem {
	k, ok := problemKinds[code]
	if !ok {
		code, k = CodeInternal, problemKinds[CodeInternal]
	}
	return &Problem{Type: problemPrefix + code, Title: k.title, Status: k.status,
		Detail: fmt.Sprintf(format, args...), Field: field, code: code}
}

// Code returns the problem's code, the part of Type after the prefix.
func (p *Problem) Code() string { return p.code }

func (p *Problem) Error() string {
	if p.Field != "" {
		return p.code + ": " + p.Field + ": " + p.Detail
	}
	return p.code + ": " + p.Detail
}

func (p *Problem) Unwrap() error { return p.cause }

// internal wraps an unexpected error: the client learns nothing of it, the
// log everything.
func internal(err error) *Problem {
	p := newProblem(CodeInternal, "", "the server could not complete the request; it has been logged")
	p.cause = err
	return p
}

// toProblem maps an error from a handler, the engine or the store onto the
// problem the client sees.
func toProblem(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	var fe *engine.FieldError
	if errors.As(err, &fe) {
		return fieldProblem(fe)
	}
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return newProblem(CodeNotFound, "", "no such resource")
	case errors.Is(err, engine.ErrFinal):
		return newProblem(CodeConflict, "", "the callback is final already")
	case errors.Is(err, engine.ErrTeamInUse):
		return newProblem(CodeConflict, "", "pending callbacks still name the team; cancel them or let them finish first")
	case errors.Is(err, engine.ErrConflict):
		return newProblem(CodeConflict, "", "a resource with that ID exists already")
	case errors.Is(err, engine.ErrDraining):
		return newProblem(CodeDraining, "", "the server is shutting down and takes no new callbacks; retry on another instance or later")
	}
	return internal(err)
}

// fieldProblem maps the engine's refusal codes onto problem types: value
// errors are validation problems that keep the engine's code as Reason;
// guardrail refusals have their own types, since a client handles them
// differently (do not retry; retry tomorrow).
func fieldProblem(fe *engine.FieldError) *Problem {
	code := CodeValidation
	switch fe.Code {
	case engine.CodeUnknownTeam:
		code = CodeUnknownTeam
	case engine.CodeDestinationNotAllowed:
		code = CodeDestinationNotAllowed
	case engine.CodePremiumRate:
		code = CodePremiumRate
	case engine.CodeDailyLimit:
		code = CodeDailyLimit
	}
	p := newProblem(code, fe.Field, "%s", fe.Msg)
	p.Reason = fe.Code
	return p
}

// writeProblem sends p. Internal problems are logged with their cause;
// a canceled request (the client left) is logged quietly.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, p *Problem) {
	if p.code == CodeInternal && p.cause != nil {
		lvl := errorLevel(p.cause)
		s.log.Log(r.Context(), lvl, "api request failed", "method", r.Method, "route", routeOf(r), "err", p.cause)
	}
	// A route with other credentials than an API key (an inbound hook)
	// sets its own challenge.
	if p.code == CodeUnauthenticated && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="callbackd"`)
	}
	body, err := json.Marshal(p)
	if err != nil { // cannot happen: strings and an int
		body = []byte(`{"type":"` + problemPrefix + CodeInternal + `","title":"Internal error","status":500}`)
	}
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	w.Write(append(body, '\n'))
}

// fail writes the problem for err.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.writeProblem(w, r, toProblem(err))
}

func isCanceled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
