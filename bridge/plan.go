// Package bridge runs one callback attempt as a phone call: it dials the rep and the
// customer through a trunk, plays the whisper, and joins their audio in the relay.
package bridge

import (
	"errors"
	"fmt"
	"time"

	"github.com/callbackd/callbackd/media/audio"
	"github.com/callbackd/callbackd/sip"
)

// Party is one number to call, with the name shown in logs and events.
type Party struct {
	Number string
	Name   string
}

// CallerID is what the called party sees.
type CallerID struct {
	Number string
	Name   string
}

// Plan describes one bridged call attempt.
type Plan struct {
	Trunk    string
	Reps     []Party // tried in order; the next one on no answer, busy or decline
	Customer Party

	RepCallerID      CallerID // shown to the rep (usually the customer's number)
	CustomerCallerID CallerID // shown to the customer (the company's number)

	RepRingTimeout      time.Duration // default 30 s
	CustomerRingTimeout time.Duration // default 45 s
	MaxDuration         time.Duration // 0: no limit

	// Whisper is played to the rep once answered, before the customer is dialled.
	Whisper *audio.Clip
	// RequireAccept makes the rep press 1 after the whisper; anything else, or
	// nothing within AcceptTimeout, counts as a decline and the next rep is tried.
	RequireAccept bool
	AcceptTimeout time.Duration // default 10 s
	// Unreachable is played to the first party when the second cannot be
	// reached, so nobody is hung up on in dead air. Nil: a short tone.
	Unreachable *audio.Clip

	// CustomerFirst dials the customer first and the reps second.
	CustomerFirst bool

	// OnEvent receives each call event as it happens. It must not block.
	OnEvent func(Event)
}

// ErrInvalidPlan is returned (wrapped) when a Plan cannot be run at all.
var ErrInvalidPlan = errors.New("invalid plan")

func (p *Plan) validate() error {
	if p.Trunk == "" {
		return fmt.Errorf("%w: no trunk", ErrInvalidPlan)
	}
	if len(p.Reps) == 0 {
		return fmt.Errorf("%w: no rep number", ErrInvalidPlan)
	}
	for _, r := range p.Reps {
		if err := sip.ValidateNumber(r.Number); err != nil {
			return fmt.Errorf("%w: rep number: %w", ErrInvalidPlan, err)
		}
	}
	if err := sip.ValidateNumber(p.Customer.Number); err != nil {
		return fmt.Errorf("%w: customer number: %w", ErrInvalidPlan, err)
	}
	for _, c := range []CallerID{p.RepCallerID, p.CustomerCallerID} {
		if c.Number != "" {
			if err := sip.ValidateNumber(c.Number); err != nil {
				return fmt.Errorf("%w: caller id: %w", ErrInvalidPlan, err)
			}
		}
		if c.Name != "" {
			if err := sip.ValidateName(c.Name); err != nil {
				return fmt.Errorf("%w: caller name: %w", ErrInvalidPlan, err)
			}
		}
	}
	return nil
}

func (p *Plan) withDefaults() Plan {
	q := *p
	if q.RepRingTimeout <= 0 {
		q.RepRingTimeout = 30 * time.Second
	}
	if q.CustomerRingTimeout <= 0 {
		q.CustomerRingTimeout = 45 * time.Second
	}
	if q.AcceptTimeout <= 0 {
		q.AcceptTimeout = 10 * time.Second
	}
	if q.OnEvent == nil {
		q.OnEvent = func(Event) {}
	}
	return q
}
