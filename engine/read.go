package engine

import (
	"errors"
	"fmt"

	"github.com/callbackd/callbackd/store"
)

// Get returns a callback with its attempts.
func (e *Engine) Get(id string) (*store.Callback, []*store.Attempt, error) {
	cb, err := e.st.GetCallback(id)
	if err != nil {
		return nil, nil, wrapRead("callback", id, err)
	}
	as, err := e.st.Attempts(id)
	if err != nil {
		return nil, nil, wrapRead("attempts of", id, err)
	}
	return cb, as, nil
}

// List returns callbacks newest first, as the filter selects.
func (e *Engine) List(f store.CallbackFilter) ([]*store.Callback, bool, error) {
	items, more, err := e.st.ListCallbacks(f)
	if err != nil {
		return nil, false, fmt.Errorf("engine: listing callbacks: %w", err)
	}
	return items, more, nil
}

// Events returns a callback's events after the sequence number afterSeq,
// in order; ErrNotFound for an unknown callback.
func (e *Engine) Events(id string, afterSeq uint64, limit int) ([]store.Event, error) {
	evs, err := e.st.Events(id, afterSeq, limit)
	if err != nil {
		return nil, wrapRead("events of", id, err)
	}
	if len(evs) == 0 {
		// An empty page and an unknown callback look alike here.
		if _, err := e.st.GetCallback(id); err != nil {
			return nil, wrapRead("callback", id, err)
		}
	}
	return evs, nil
}

func wrapRead(what, id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("engine: %s %s: %w", what, id, ErrNotFound)
	}
	return fmt.Errorf("engine: reading %s %s: %w", what, id, err)
}
