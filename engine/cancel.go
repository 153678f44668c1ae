package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/callbackd/callbackd/store"
)

// Cancel ends a callback. A scheduled one is canceled at once; for one in
// progress the call is hung up first and the callback is canceled when the
// attempt's outcome is stored; a final one gives ErrFinal (with the
// callback). If the attempt finishes on its own meanwhile, the callback
// ends as the attempt decided: completed (ErrFinal) or, for a retry,
// canceled before it is tried again.
func (e *Engine) Cancel(ctx context.Context, id string) (*store.Callback, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var from store.Status
		cb, _, err := e.st.UpdateCallback(id, func(u *store.Update) error {
			c := u.Callback
			from = c.Status
			switch {
			case c.Status.Final():
				return ErrFinal
			case c.Status == store.InProgress:
				if e.running(id) {
					return errInProgress
				}
				// in_progress with no attempt running here: its outcome
				// could not be stored (a store error). Runs register
				// before their start is written and leave after their
				// outcome is, so none can be on its way while this
				// transaction holds the store.
				if _, err := e.interruptLast(u); err != nil {
					return err
				}
			}
			c.Status, c.Reason, c.NextAttemptAt = store.Canceled, ReasonCanceled, time.Time{}
			_, err := u.Append(evCanceled, finalData{Reason: ReasonCanceled})
			return err
		})
		switch {
		case err == nil:
			e.disarm(id)
			e.moved(cb, from, cb.AttemptCount)
			return cb, nil
		case errors.Is(err, ErrFinal):
			cb, gerr := e.st.GetCallback(id)
			if gerr != nil {
				return nil, fmt.Errorf("engine: reading callback %s: %w", id, gerr)
			}
			return cb, ErrFinal
		case errors.Is(err, errInProgress):
			if err := e.hangUp(ctx, id); err != nil {
				return nil, err
			}
			// The attempt's outcome is stored now: canceled by us, final
			// on its own (the next turn says ErrFinal), or a retry that
			// the next turn cancels.
			cb, err := e.st.GetCallback(id)
			if err != nil {
				return nil, fmt.Errorf("engine: reading callback %s: %w", id, err)
			}
			if cb.Status == store.Canceled {
				return cb, nil
			}
		case errors.Is(err, store.ErrNotFound):
			return nil, ErrNotFound
		default:
			return nil, fmt.Errorf("engine: canceling callback %s: %w", id, err)
		}
	}
}

// hangUp cuts the running attempt of callback id and waits until its
// outcome is stored.
func (e *Engine) hangUp(ctx context.Context, id string) error {
	e.mu.Lock()
	r := e.runs[id]
	if r != nil {
		r.cutLocked(cutCancel)
	}
	e.mu.Unlock()
	if r == nil {
		// The attempt stored its outcome and left between our look at
		// the store and at the registry; the next look sees the outcome.
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-r.done:
		return nil
	}
}

// running reports whether an attempt of callback id runs in this process.
func (e *Engine) running(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.runs[id] != nil
}
