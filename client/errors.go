package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// ProblemPrefix starts every problem type the server sends; the rest is the
// problem's code (Error.Code).
const ProblemPrefix = "urn:callbackd:problem:"

// Problem codes: the part of a problem's type after ProblemPrefix. They are
// stable; switch on them rather than on titles or details.
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

// Error is an error answer of the server: an RFC 9457 problem
// (application/problem+json), or, from something in between such as a
// proxy, any other non-2xx answer, with Title from the status and Detail
// from the start of the body.
type Error struct {
	// The problem's fields.
	Type   string `json:"type"`   // "urn:callbackd:problem:validation"
	Title  string `json:"title"`  // the same for every problem of a type
	Status int    `json:"status"` // the HTTP status code
	Detail string `json:"detail"` // what happened this time
	// Field is the JSON path of the offending input ("customer.number",
	// "retry.intervals[0]") or the query parameter's name.
	Field string `json:"field,omitempty"`
	// Reason is a finer code for a refused value: invalid_number,
	// invalid_time, unknown_team, premium_rate, ...
	Reason string `json:"reason,omitempty"`

	// Op is the request: "POST /v1/callbacks".
	Op string `json:"-"`
	// RetryAfter is the answer's Retry-After, when it had one.
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("callbackd: ")
	if e.Op != "" {
		b.WriteString(e.Op + ": ")
	}
	fmt.Fprintf(&b, "%d %s", e.Status, e.Title)
	if e.Field != "" {
		fmt.Fprintf(&b, " (%s)", e.Field)
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	return b.String()
}

// Code is the problem's code, Type without ProblemPrefix ("validation");
// empty when the answer was not a callbackd problem.
func (e *Error) Code() string {
	code, ok := strings.CutPrefix(e.Type, ProblemPrefix)
	if !ok {
		return ""
	}
	return code
}

// readError reads a non-2xx answer into an *Error and closes its body.
func readError(e endpoint, resp *http.Response) *Error {
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	apiErr := &Error{}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if ct == "application/problem+json" || ct == "application/json" {
		_ = json.Unmarshal(data, apiErr)
	}
	apiErr.Status = resp.StatusCode // the status line wins over the body
	if apiErr.Title == "" {
		apiErr.Title = http.StatusText(resp.StatusCode)
	}
	if apiErr.Detail == "" && apiErr.Type == "" {
		detail := strings.TrimSpace(string(data))
		if len(detail) > 200 {
			detail = detail[:200] + "..."
		}
		apiErr.Detail = detail
	}
	apiErr.Op = e.String()
	apiErr.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return apiErr
}

// AsError returns the *Error in err's chain, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// StatusCode is the HTTP status of the *Error in err's chain; 0 when the
// server did not answer (a *ConnError) or err is not from the server.
func StatusCode(err error) int {
	if e := AsError(err); e != nil {
		return e.Status
	}
	return 0
}

// IsNotFound reports a 404: no such callback, team, webhook, key, ...
func IsNotFound(err error) bool { return StatusCode(err) == http.StatusNotFound }

// IsUnauthorized reports a 401: no API key, or an unknown or revoked one.
func IsUnauthorized(err error) bool { return StatusCode(err) == http.StatusUnauthorized }

// IsForbidden reports a 403: the key lacks the scope, or the destination is
// refused by the server's guardrails (see Error.Code).
func IsForbidden(err error) bool { return StatusCode(err) == http.StatusForbidden }

// IsConflict reports a 409: the resource's state forbids the request (a
// finished callback cannot be canceled, a team in use cannot be deleted).
func IsConflict(err error) bool { return StatusCode(err) == http.StatusConflict }

// IsInvalid reports a refused request: malformed (400) or invalid (422); the
// *Error's Field names the input at fault.
func IsInvalid(err error) bool {
	s := StatusCode(err)
	return s == http.StatusBadRequest || s == http.StatusUnprocessableEntity
}

// IsRateLimited reports a 429 (after the client's own retries).
func IsRateLimited(err error) bool { return StatusCode(err) == http.StatusTooManyRequests }

// IsConnection reports that the server was not reached or did not answer.
func IsConnection(err error) bool {
	var ce *ConnError
	return errors.As(err, &ce)
}
