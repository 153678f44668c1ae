package store

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Trigger is a stored trigger: an inbound URL that turns an application's
// events into callbacks. Spec is the trigger's definition as the API took
// it (package trigger's Spec, compiled by the caller; the store keeps it
// opaque); the other fields are what the store and the inbound request
// need without compiling it.
type Trigger struct {
	ID      string          `json:"id"` // "trg_" + random
	Name    string          `json:"name"`
	Enabled bool            `json:"enabled"`
	Spec    json.RawMessage `json:"spec,omitempty"`
	// DedupWindow is the spec's dedup window, for callers that do not
	// compile the spec (it is in the spec's own JSON).
	DedupWindow time.Duration `json:"-"`
	// Secret authenticates the inbound requests (a token or an HMAC key):
	// kept out of the API's JSON.
	Secret string `json:"-"`
	// PreviousSecret, after a rotation with an overlap, still
	// authenticates until PreviousUntil.
	PreviousSecret string    `json:"-"`
	PreviousUntil  time.Time `json:"-"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

type triggerRecord struct {
	*Trigger
	Secret         string        `json:"secret"`
	PreviousSecret string        `json:"previous_secret,omitempty"`
	PreviousUntil  time.Time     `json:"previous_until,omitzero"`
	DedupWindow    time.Duration `json:"dedup_window_ns,omitempty"`
}

// NewTriggerSecret returns a fresh trigger secret: "tsec_" and 32 random
// bytes in URL-safe base64, so it can travel in a query string.
func NewTriggerSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "tsec_" + base64.RawURLEncoding.EncodeToString(b)
}

func encodeTrigger(t *Trigger) ([]byte, error) {
	if len(t.Spec) > 0 && !json.Valid(t.Spec) {
		return nil, errorf("encode trigger %s: the spec is not valid JSON", t.ID)
	}
	// Without HTML escaping, the spec's expressions are stored as written
	// (payload.score >= 80, not \u003e=).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	rec := triggerRecord{Trigger: t, Secret: t.Secret, PreviousSecret: t.PreviousSecret, PreviousUntil: t.PreviousUntil,
		DedupWindow: t.DedupWindow}
	if err := enc.Encode(rec); err != nil {
		return nil, errorf("encode trigger %s: %w", t.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func decodeTrigger(b []byte) (*Trigger, error) {
	rec := triggerRecord{Trigger: new(Trigger)}
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, errorf("decode trigger: %w", err)
	}
	rec.Trigger.Secret, rec.Trigger.DedupWindow = rec.Secret, rec.DedupWindow
	rec.Trigger.PreviousSecret, rec.Trigger.PreviousUntil = rec.PreviousSecret, rec.PreviousUntil
	return rec.Trigger, nil
}

// CreateTrigger stores a new trigger, filling in an empty ID
// (NewID("trg_", now)), an empty Secret (NewTriggerSecret), CreatedAt and
// UpdatedAt; ErrConflict if the ID exists. A Spec that is not valid JSON
// is an error.
func (db *DB) CreateTrigger(t *Trigger) error {
	now := db.now()
	if t.ID == "" {
		t.ID = NewID("trg_", now)
	}
	if t.Secret == "" {
		t.Secret = NewTriggerSecret()
	}
	t.CreatedAt, t.UpdatedAt = now, now
	v, err := encodeTrigger(t)
	if err != nil {
		return err
	}
	return db.update("create trigger "+t.ID, func(tx *bolt.Tx) error {
		b := tx.Bucket(bktTriggers)
		if b.Get([]byte(t.ID)) != nil {
			return refuse("create trigger %s: %w", t.ID, ErrConflict)
		}
		return b.Put([]byte(t.ID), v)
	})
}

// GetTrigger returns the trigger, with its Secret, or ErrNotFound.
func (db *DB) GetTrigger(id string) (*Trigger, error) {
	var t *Trigger
	err := db.view("get trigger "+id, func(tx *bolt.Tx) error {
		var err error
		t, err = loadTrigger(tx, id)
		return err
	})
	return t, err
}

func loadTrigger(tx *bolt.Tx, id string) (*Trigger, error) {
	v := tx.Bucket(bktTriggers).Get([]byte(id))
	if v == nil {
		return nil, errorf("trigger %s: %w", id, ErrNotFound)
	}
	return decodeTrigger(v)
}

// ListTriggers returns every trigger, oldest first.
func (db *DB) ListTriggers() ([]*Trigger, error) {
	var out []*Trigger
	err := db.view("list triggers", func(tx *bolt.Tx) error {
		return tx.Bucket(bktTriggers).ForEach(func(_, v []byte) error {
			t, err := decodeTrigger(v)
			if err != nil {
				return err
			}
			out = append(out, t)
			return nil
		})
	})
	return out, err
}

// UpdateTrigger runs fn on the stored trigger in one transaction and
// stores the result with a new UpdatedAt; fn's error writes nothing and is
// returned (wrapped). The ID and CreatedAt cannot change; the Secret may
// (rotation). fn runs once: a rerun of the shared transaction replays its
// outcome.
func (db *DB) UpdateTrigger(id string, fn func(*Trigger) error) (*Trigger, error) {
	var (
		prepared bool
		t        *Trigger
		v        []byte
		refusal  error
	)
	err := db.update("update trigger "+id, func(tx *bolt.Tx) error {
		if !prepared {
			prepared = true
			t, v, refusal = db.prepareTriggerUpdate(tx, id, fn)
		}
		if refusal != nil {
			return refusal
		}
		return tx.Bucket(bktTriggers).Put([]byte(id), v)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (db *DB) prepareTriggerUpdate(tx *bolt.Tx, id string, fn func(*Trigger) error) (*Trigger, []byte, error) {
	t, err := loadTrigger(tx, id)
	if err != nil {
		return nil, nil, abort{err}
	}
	created := t.CreatedAt
	if err := fn(t); err != nil {
		return nil, nil, refuse("update trigger %s: %w", id, err)
	}
	switch {
	case t.ID != id:
		return nil, nil, refuse("update trigger %s: the ID cannot change (to %q)", id, t.ID)
	case t.Secret == "":
		return nil, nil, refuse("update trigger %s: the secret cannot be empty", id)
	}
	t.CreatedAt, t.UpdatedAt = created, db.now()
	v, err := encodeTrigger(t)
	if err != nil {
		return nil, nil, abort{err}
	}
	return t, v, nil
}

// DeleteTrigger deletes the trigger and its dedup records; callbacks it
// made stay. ErrNotFound if there is none.
func (db *DB) DeleteTrigger(id string) error {
	return db.update("delete trigger "+id, func(tx *bolt.Tx) error {
		if tx.Bucket(bktTriggers).Get([]byte(id)) == nil {
			return refuse("delete trigger %s: %w", id, ErrNotFound)
		}
		// Collected first: deleting while iterating makes bbolt's cursor
		// skip keys.
		ws := []write{{bktTriggers, []byte(id), nil}}
		prefix := []byte(DedupKeyFor(id, ""))
		c := tx.Bucket(bktTriggerDedup).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			ws = append(ws, write{bktTriggerDedup, append([]byte(nil), k...), nil})
		}
		return apply(tx, ws)
	})
}

// ErrDuplicate: a trigger made a callback for the same number within its
// dedup window. The error is a *DuplicateError naming that callback.
var ErrDuplicate = errors.New("duplicate of a recent callback")

// DuplicateError is CreateCallbackDeduped's refusal: the callback the
// trigger made for the number within the window, and when.
type DuplicateError struct {
	CallbackID string
	At         time.Time
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("%v: callback %s created %s", ErrDuplicate, e.CallbackID, e.At.UTC().Format(time.RFC3339))
}

func (e *DuplicateError) Unwrap() error { return ErrDuplicate }

// DedupCommit asks CreateCallbackDeduped to refuse the callback when the
// trigger made one for Number within Window, and to record it otherwise.
type DedupCommit struct {
	TriggerID string
	// Number is the customer's number as deduplicated (normalise it, E.164);
	// empty: the callback's Customer.Number.
	Number string
	// Window is the dedup window; 0 or less: no check and no record.
	Window time.Duration
}

// dedupRecord is the newest callback a trigger made for a number.
type dedupRecord struct {
	CallbackID string    `json:"callback_id"`
	At         time.Time `json:"at"`    // the callback's CreatedAt
	Until      time.Time `json:"until"` // At + the window then: PruneDedup's clock
}

// DedupKeyFor is the key of the dedup record of triggerID and number.
func DedupKeyFor(triggerID, number string) string {
	return triggerID + "|" + number
}

// CreateCallbackDeduped stores a callback a trigger made, as CreateCallback
// (attempt nil: an empty Status is Scheduled) or CreateCallbackStarted
// (attempt set, with its rules) do, and with dedup, in the same
// transaction: when the trigger made a callback for the number less than
// dedup.Window before cb.CreatedAt, it refuses with a *DuplicateError
// (errors.Is ErrDuplicate) and writes nothing; otherwise cb becomes the
// number's newest callback for the trigger. Concurrent creates for one
// trigger and number therefore make one callback per window. A nil dedup
// is no deduplication.
func (db *DB) CreateCallbackDeduped(cb *Callback, events []NewEvent, attempt *Attempt, idem *IdemCommit, dedup *DedupCommit) ([]Event, error) {
	if dedup != nil && dedup.TriggerID == "" {
		return nil, errorf("create callback %s: dedup without a trigger ID", cb.ID)
	}
	if attempt == nil {
		if cb.Status == "" {
			cb.Status = Scheduled
		}
		return db.create(cb, events, nil, idem, dedup)
	}
	// As CreateCallbackStarted.
	if cb.Status == "" {
		cb.Status = InProgress
	}
	switch {
	case cb.Status != InProgress:
		return nil, errorf("create started callback %s: status %q, want %s", cb.ID, cb.Status, InProgress)
	case attempt.Number < 1 || attempt.Number != cb.AttemptCount:
		return nil, errorf("create started callback %s: attempt %d with attempt count %d", cb.ID, attempt.Number, cb.AttemptCount)
	}
	return db.create(cb, events, attempt, idem, dedup)
}

// checkDedup is create's part of CreateCallbackDeduped: in tx, before
// create writes anything, it refuses a duplicate or returns the write that
// records cb. It only reads, so a rerun on the same state gives the same
// answer; an earlier create in the same transaction counts.
func checkDedup(tx *bolt.Tx, d *DedupCommit, cb *Callback) ([]write, error) {
	if d == nil || d.Window <= 0 {
		return nil, nil
	}
	number := d.Number
	if number == "" {
		number = cb.Customer.Number
	}
	if number == "" {
		return nil, refuse("create callback %s: dedup for trigger %s without a number", cb.ID, d.TriggerID)
	}
	key := []byte(DedupKeyFor(d.TriggerID, number))
	if v := tx.Bucket(bktTriggerDedup).Get(key); v != nil {
		var rec dedupRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return nil, fmt.Errorf("decode dedup record of trigger %s: %w", d.TriggerID, err)
		}
		if cb.CreatedAt.Before(rec.At.Add(d.Window)) {
			return nil, refuse("create callback %s: trigger %s: %w", cb.ID, d.TriggerID,
				&DuplicateError{CallbackID: rec.CallbackID, At: rec.At})
		}
	}
	v, err := json.Marshal(dedupRecord{CallbackID: cb.ID, At: cb.CreatedAt, Until: cb.CreatedAt.Add(d.Window)})
	if err != nil {
		return nil, refuse("create callback %s: encode dedup record: %w", cb.ID, err)
	}
	return []write{{bktTriggerDedup, key, v}}, nil
}

// PruneDedup deletes the dedup records whose window ended at or before
// now (as it was when they were written) and returns how many.
func (db *DB) PruneDedup(now time.Time) (int, error) {
	n := 0
	err := db.update("prune dedup records", func(tx *bolt.Tx) error {
		n = 0
		var (
			rec    dedupRecord
			doomed []write
		)
		err := tx.Bucket(bktTriggerDedup).ForEach(func(k, v []byte) error {
			rec = dedupRecord{}
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode dedup record: %w", err)
			}
			if !rec.Until.After(now) {
				doomed = append(doomed, write{bktTriggerDedup, append([]byte(nil), k...), nil})
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Deleting while iterating makes bbolt's cursor skip keys.
		if err := apply(tx, doomed); err != nil {
			return err
		}
		n = len(doomed)
		return nil
	})
	return n, err
}
