package engine

import (
	"errors"
	"fmt"

	"github.com/callbackd/callbackd/store"
)

// causeInterrupted is an interrupted attempt's cause.
const causeInterrupted = "the server stopped during the attempt"

// recoverInterrupted handles a callback found in_progress at start: the
// process ended during its attempt, which may or may not have dialled. The
// attempt is recorded as interrupted and the policy decides what follows.
func (e *Engine) recoverInterrupted(cb *store.Callback) (*store.Callback, error) {
	now := e.clk.Now()
	n := cb.AttemptCount
	out, _, err := e.st.UpdateCallback(cb.ID, func(u *store.Update) error {
		c := u.Callback
		if c.Status != store.InProgress {
			return errStale
		}
		n = c.AttemptCount
		a, err := e.interruptLast(u)
		if err != nil {
			return err
		}
		return e.decide(u, n, a.Outcome, now)
	})
	if errors.Is(err, errStale) {
		return e.st.GetCallback(cb.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("engine: recovering callback %s: %w", cb.ID, err)
	}
	// The gauges are set from the store's counts after recovery.
	e.m.Attempt(out.Outcome)
	e.log.Info("callback attempt interrupted by a restart", "callback", out.ID, "attempt", n, "status", out.Status, "next_attempt_at", out.NextAttemptAt, "reason", out.Reason)
	return out, nil
}

// interruptLast records the callback's last attempt as interrupted, unless
// it has an outcome already, and returns it.
func (e *Engine) interruptLast(u *store.Update) (*store.Attempt, error) {
	c := u.Callback
	a, err := u.Attempt(c.AttemptCount)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Written in the same transaction as the status, so this
		// should not happen; record the attempt rather than lose it.
		a = &store.Attempt{CallbackID: c.ID, Number: c.AttemptCount, StartedAt: c.UpdatedAt, Trunk: e.cfg.Trunk}
	case err != nil:
		return nil, err
	}
	if a.FinishedAt.IsZero() {
		a.FinishedAt, a.Outcome, a.Cause = e.clk.Now(), outcomeInterrupted, causeInterrupted
	}
	if err := u.PutAttempt(a); err != nil {
		return nil, err
	}
	c.Outcome = a.Outcome
	return a, nil
}
