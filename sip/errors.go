package sip

import (
	"errors"
	"fmt"
)

// Outcome classifies why a dial did not end in an answered leg.
type Outcome string

const (
	// OutcomeBusy: 486 Busy Here or 600 Busy Everywhere.
	OutcomeBusy Outcome = "busy"
	// OutcomeNoAnswer: 408, 480, or our ring timeout (we sent CANCEL).
	OutcomeNoAnswer Outcome = "no_answer"
	// OutcomeRejected: 403 or 603.
	OutcomeRejected Outcome = "rejected"
	// OutcomeUnreachable: 404, 484, 503, DNS or transport errors, no response at all.
	OutcomeUnreachable Outcome = "unreachable"
	// OutcomeAuthFailed: 401/407 after our credentials were tried, or none configured.
	OutcomeAuthFailed Outcome = "auth_failed"
	// OutcomeFailed: anything else, 3xx included (redirects are not followed).
	OutcomeFailed Outcome = "failed"
	// OutcomeCanceled: the caller's context ended before an answer.
	OutcomeCanceled Outcome = "canceled"
)

var (
	// ErrRingTimeout is the DialError.Err of a dial we cancelled after RingTimeout.
	ErrRingTimeout = errors.New("ring timeout")
	// ErrUnknownTrunk is returned for a DialRequest naming no configured trunk.
	ErrUnknownTrunk = errors.New("unknown trunk")
	// ErrClosed is returned when the UA is not started or already closed.
	ErrClosed = errors.New("sip user agent closed")
)

// DialError is what Dial returns when the call was not answered. Code and Reason
// are the final SIP response when there was one (0 and a description otherwise).
type DialError struct {
	Outcome Outcome
	Code    int
	Reason  string
	Err     error
	// CallID is the INVITE's Call-ID, "" when no INVITE was sent.
	CallID string
}

func (e *DialError) Error() string {
	switch {
	case e.Code != 0 && e.Err != nil:
		return fmt.Sprintf("dial %s: %d %s: %v", e.Outcome, e.Code, e.Reason, e.Err)
	case e.Code != 0:
		return fmt.Sprintf("dial %s: %d %s", e.Outcome, e.Code, e.Reason)
	case e.Err != nil:
		return fmt.Sprintf("dial %s: %v", e.Outcome, e.Err)
	}
	return fmt.Sprintf("dial %s: %s", e.Outcome, e.Reason)
}

func (e *DialError) Unwrap() error { return e.Err }

// classifyCode maps a final non-2xx status code to an Outcome.
func classifyCode(code int) Outcome {
	switch code {
	case 486, 600:
		return OutcomeBusy
	case 408, 480:
		return OutcomeNoAnswer
	case 403, 603:
		return OutcomeRejected
	case 404, 484, 503:
		return OutcomeUnreachable
	case 401, 407:
		return OutcomeAuthFailed
	}
	return OutcomeFailed
}
