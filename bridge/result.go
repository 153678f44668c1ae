package bridge

import (
	"time"

	"github.com/callbackd/callbackd/media"
)

// Outcome is how an attempt ended.
type Outcome string

const (
	Connected        Outcome = "connected"
	RepNoAnswer      Outcome = "rep_no_answer"
	RepBusy          Outcome = "rep_busy"
	RepRejected      Outcome = "rep_rejected"
	CustomerNoAnswer Outcome = "customer_no_answer"
	CustomerBusy     Outcome = "customer_busy"
	CustomerRejected Outcome = "customer_rejected"
	Failed           Outcome = "failed"
)

// Side names who ended a connected call.
type Side string

const (
	HangupRep      Side = "rep"
	HangupCustomer Side = "customer"
	// HangupSystem: our side ended it (context cancelled, media timeout).
	HangupSystem Side = "system"
	// HangupMaxDuration: the plan's maximum call length was reached.
	HangupMaxDuration Side = "max_duration"
)

// Role names a leg.
type Role string

const (
	RoleRep      Role = "rep"
	RoleCustomer Role = "customer"
)

// LegResult is what happened on one leg.
type LegResult struct {
	Role       Role
	Number     string
	CallID     string
	Outcome    string // the sip outcome ("answered", "busy", "no_answer", ...)
	Code       int    // final SIP status code (200 when answered)
	Reason     string
	InvitedAt  time.Time
	RingingAt  time.Time // zero when no 180/183 was seen
	AnsweredAt time.Time
	EndedAt    time.Time
}

// Result is the outcome of Run.
type Result struct {
	Outcome Outcome
	// Cause explains a failed outcome in words, e.g. "rtp port pool exhausted".
	Cause string
	// Code and Reason are the SIP status that decided the outcome.
	Code   int
	Reason string

	Reps     []LegResult // one per rep tried, in order
	Customer LegResult

	ConnectedAt time.Time
	EndedAt     time.Time
	TalkTime    time.Duration
	HungUpBy    Side // set when the call was connected

	Relay media.RelayStats
}

// Event is one step of the call, for the engine to store and publish.
type Event struct {
	Type   string // call.initiated, call.ringing, call.connected, call.completed, call.missed
	Leg    Role
	Number string
	CallID string
	At     time.Time
	Code   int
	Reason string
}

// Event types.
const (
	EventInitiated = "call.initiated"
	EventRinging   = "call.ringing"
	EventConnected = "call.connected"
	EventCompleted = "call.completed"
	EventMissed    = "call.missed"
)
