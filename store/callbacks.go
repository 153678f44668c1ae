package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// IdemCommit completes an idempotency reservation in the transaction that
// creates the callback, so a crash can never leave a created callback whose
// key would create it again.
type IdemCommit struct {
	Scope, Key  string
	Status      int
	ContentType string
	Render      func(*Callback) ([]byte, error) // the response body for cb as stored
}

// CreateCallback stores cb with its first event (sequence 1) in one
// transaction shared with concurrent creators (one fsync for many). It
// fills in an empty ID (NewID("cb_", CreatedAt)), a zero CreatedAt
// (now), a zero UpdatedAt (CreatedAt) and an empty Status (Scheduled), and
// sets cb.LastSeq to 1. It fails with ErrUnknownTeam when cb.Team names no
// team and ErrConflict when the ID exists; then nothing is written. With
// idem, the idempotency record becomes Done with Render(cb) as its body.
func (db *DB) CreateCallback(cb *Callback, eventType string, eventData any, idem *IdemCommit) (Event, error) {
	if cb.Status == "" {
		cb.Status = Scheduled
	}
	evs, err := db.create(cb, []NewEvent{{Type: eventType, Data: eventData}}, nil, idem, nil)
	if err != nil {
		return Event{}, err
	}
	return evs[0], nil
}

// NewEvent is an event to store with a new callback.
type NewEvent struct {
	Type string
	Data any // encoded as Update.Append does
}

// CreateCallbackStarted stores cb with its attempt already started, in one
// transaction shared with concurrent writers as CreateCallback's: cb, its
// events with sequence numbers 1, 2, ... in order (at least one), and
// attempt, whose Number must be cb.AttemptCount and whose CallbackID is set
// to cb's. An empty Status is InProgress, the only status allowed; the
// other defaults, the refusals (ErrUnknownTeam, ErrConflict: nothing
// written), the indexes and idem are as for CreateCallback. cb.LastSeq is
// set to the last event's sequence number. It returns the events stored.
//
// This lets a callback due now and admitted at once be durable and started
// with one commit instead of two: the attempt may dial once it returns.
func (db *DB) CreateCallbackStarted(cb *Callback, events []NewEvent, attempt *Attempt, idem *IdemCommit) ([]Event, error) {
	if cb.Status == "" {
		cb.Status = InProgress
	}
	switch {
	case cb.Status != InProgress:
		return nil, errorf("create started callback %s: status %q, want %s", cb.ID, cb.Status, InProgress)
	case attempt == nil:
		return nil, errorf("create started callback %s: no attempt", cb.ID)
	case attempt.Number < 1 || attempt.Number != cb.AttemptCount:
		return nil, errorf("create started callback %s: attempt %d with attempt count %d", cb.ID, attempt.Number, cb.AttemptCount)
	}
	return db.create(cb, events, attempt, idem, nil)
}

// create stores cb with events (sequence 1, 2, ...) and, when not nil,
// attempt, filling in cb's defaults but its Status. With dedup it refuses a
// duplicate and records cb for the trigger (see CreateCallbackDeduped).
func (db *DB) create(cb *Callback, events []NewEvent, attempt *Attempt, idem *IdemCommit, dedup *DedupCommit) ([]Event, error) {
	now := db.now()
	if cb.CreatedAt.IsZero() {
		cb.CreatedAt = now
	}
	if cb.UpdatedAt.IsZero() {
		cb.UpdatedAt = cb.CreatedAt
	}
	if cb.ID == "" {
		cb.ID = NewID("cb_", cb.CreatedAt)
	}
	if !cb.Status.Valid() {
		return nil, errorf("create callback %s: invalid status %q", cb.ID, cb.Status)
	}
	if len(events) == 0 {
		return nil, errorf("create callback %s: no event", cb.ID)
	}
	evs := make([]Event, len(events))
	evBytes := make([][]byte, len(events))
	for i, ne := range events {
		data, err := marshalData(ne.Data)
		if err != nil {
			return nil, errorf("create callback %s: %s event data: %w", cb.ID, ne.Type, err)
		}
		evs[i] = Event{
			ID:         NewID("evt_", now),
			CallbackID: cb.ID,
			Seq:        uint64(i + 1),
			Type:       ne.Type,
			CreatedAt:  now,
			Data:       data,
		}
		if evBytes[i], err = json.Marshal(evs[i]); err != nil {
			return nil, errorf("create callback %s: encode event: %w", cb.ID, err)
		}
	}
	var attemptKey, attemptBytes []byte
	if attempt != nil {
		if attempt.Number < 1 {
			return nil, errorf("create callback %s: attempt number %d < 1", cb.ID, attempt.Number)
		}
		attempt.CallbackID = cb.ID
		var err error
		if attemptBytes, err = json.Marshal(attempt); err != nil {
			return nil, errorf("create callback %s: encode attempt: %w", cb.ID, err)
		}
		attemptKey = childKey(cb.ID, uint64(attempt.Number))
	}
	cb.LastSeq = uint64(len(evs))
	cbBytes, err := encodeCallback(cb)
	if err != nil {
		return nil, errorf("create callback: %w", err)
	}

	// fn shares its transaction with other writers (see commit.go): it
	// refuses before writing anything, and it only reads cb, so running it
	// again after another writer's storage error gives the same writes.
	var deliveries []*Delivery // the last run's
	fn := func(tx *bolt.Tx) error {
		if tx.Bucket(bktCallbacks).Get([]byte(cb.ID)) != nil {
			return refuse("create callback %s: %w", cb.ID, ErrConflict)
		}
		if cb.Team != "" && tx.Bucket(bktTeams).Get([]byte(cb.Team)) == nil {
			return refuse("create callback: team %q: %w", cb.Team, ErrUnknownTeam)
		}
		dws, err := checkDedup(tx, dedup, cb)
		if err != nil {
			return err
		}
		var idemKey, idemBytes []byte
		if idem != nil {
			idemKey = idemRecordKey(idem.Scope, idem.Key)
			body, err := idem.Render(cb)
			if err != nil {
				return refuse("create callback %s: render idempotent response: %w", cb.ID, err)
			}
			rec, err := loadIdem(tx, idemKey)
			if err != nil {
				return err
			}
			if rec == nil {
				// No reservation (pruned or never made): keep the response
				// anyway; a replay with any body then mismatches, which is
				// the safe answer.
				rec = &Idempotency{Scope: idem.Scope, Key: idem.Key, Boot: db.boot, CreatedAt: now}
			}
			rec.Done, rec.Status, rec.ContentType, rec.Body = true, idem.Status, idem.ContentType, body
			if idemBytes, err = json.Marshal(rec); err != nil {
				return refuse("create callback %s: encode idempotency record: %w", cb.ID, err)
			}
		}
		if err := tx.Bucket(bktCallbacks).Put([]byte(cb.ID), cbBytes); err != nil {
			return err
		}
		for i := range evs {
			if err := tx.Bucket(bktEvents).Put(childKey(cb.ID, evs[i].Seq), evBytes[i]); err != nil {
				return err
			}
		}
		if attempt != nil {
			if err := tx.Bucket(bktAttempts).Put(attemptKey, attemptBytes); err != nil {
				return err
			}
		}
		if !cb.Status.Final() {
			if err := tx.Bucket(bktPending).Put([]byte(cb.ID), []byte(cb.Team)); err != nil {
				return err
			}
		}
		if cb.Customer.Number != "" {
			if err := tx.Bucket(bktByCustomer).Put(customerKey(cb.Customer.Number, cb.ID), timeBytes(cb.CreatedAt)); err != nil {
				return err
			}
		}
		if idem != nil {
			if err := tx.Bucket(bktIdem).Put(idemKey, idemBytes); err != nil {
				return err
			}
		}
		if err := apply(tx, dws); err != nil {
			return err
		}
		ows, ds, err := db.outbox(tx, cb, func(n int) *Attempt {
			if attempt != nil && attempt.Number == n {
				return attempt
			}
			return nil
		}, evs)
		if err != nil {
			return err
		}
		deliveries = ds
		return apply(tx, ows)
	}
	if err := db.update("create callback "+cb.ID, fn); err != nil {
		return nil, err
	}
	db.notify(deliveries)
	return evs, nil
}

// marshalData encodes an event payload; nil stays empty, raw JSON is kept.
func marshalData(v any) (json.RawMessage, error) {
	switch d := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if len(d) == 0 {
			return nil, nil
		}
		if !json.Valid(d) {
			return nil, fmt.Errorf("invalid JSON")
		}
		return d, nil
	}
	return json.Marshal(v)
}

// GetCallback returns the callback with that ID, or ErrNotFound.
func (db *DB) GetCallback(id string) (*Callback, error) {
	var cb *Callback
	err := db.view("get callback "+id, func(tx *bolt.Tx) error {
		var err error
		cb, err = loadCallback(tx, id)
		return err
	})
	return cb, err
}

func loadCallback(tx *bolt.Tx, id string) (*Callback, error) {
	v := tx.Bucket(bktCallbacks).Get([]byte(id))
	if v == nil {
		return nil, errorf("callback %s: %w", id, ErrNotFound)
	}
	return decodeCallback(v)
}

// CallbackFilter selects callbacks for ListCallbacks.
type CallbackFilter struct {
	Status        Status    // "" = any
	Team          string    // "" = any
	Customer      string    // E.164 number, exact
	CreatedFrom   time.Time // inclusive, zero = none
	CreatedTo     time.Time // exclusive, zero = none
	StartingAfter string    // a callback ID: return the ones created before it (newest first)
	Limit         int       // 1..100, 0 = 20
}

// idSkew is how far a callback's CreatedAt may lie from the time in its ID
// (a caller that sets both from separate clock reads) and still be found
// by a created-time range.
const idSkew = time.Minute

// ListCallbacks returns the callbacks f selects, newest first, at most
// f.Limit of them, and whether more follow (the next page starts after the
// last item's ID). It walks the narrowest index f allows: the customer's
// numbers, the pending index for scheduled and in-progress, else all.
func (db *DB) ListCallbacks(f CallbackFilter) (items []*Callback, hasMore bool, err error) {
	if f.Status != "" && !f.Status.Valid() {
		return nil, false, errorf("list callbacks: unknown status %q", f.Status)
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = 20
	case limit > 100:
		limit = 100
	}
	// The upper seek bound: the smaller of the cursor and the created-to time
	// (moved by idSkew so an ID whose clock read ran ahead is not missed).
	var upper string
	if !f.CreatedTo.IsZero() {
		upper = idPrefixAt("cb_", f.CreatedTo.Add(idSkew))
	}
	if f.StartingAfter != "" && (upper == "" || f.StartingAfter < upper) {
		upper = f.StartingAfter
	}
	var stopBefore string
	if !f.CreatedFrom.IsZero() {
		stopBefore = idPrefixAt("cb_", f.CreatedFrom.Add(-idSkew))
	}

	err = db.view("list callbacks", func(tx *bolt.Tx) error {
		cbs := tx.Bucket(bktCallbacks)
		var (
			c      *bolt.Cursor
			prefix []byte // keys of the index walked start with it
			direct bool   // walking the callbacks bucket itself: v is the record
		)
		switch {
		case f.Customer != "":
			c, prefix = tx.Bucket(bktByCustomer).Cursor(), []byte(f.Customer+"|")
		case f.Status == Scheduled || f.Status == InProgress:
			c = tx.Bucket(bktPending).Cursor()
		default:
			c, direct = cbs.Cursor(), true
		}
		// Position on the newest key below upper (exclusive) within prefix.
		var k, v []byte
		if upper != "" {
			seek := append(append([]byte{}, prefix...), upper...)
			if k, _ = c.Seek(seek); k == nil {
				k, v = lastWithPrefix(c, prefix)
			} else {
				k, v = c.Prev()
			}
		} else {
			k, v = lastWithPrefix(c, prefix)
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			id := string(k[len(prefix):])
			if stopBefore != "" && id < stopBefore {
				break
			}
			if f.StartingAfter != "" && id >= f.StartingAfter {
				continue
			}
			if !direct {
				if v = cbs.Get([]byte(id)); v == nil {
					continue // index entry without record: ignore
				}
			}
			cb, err := decodeCallback(v)
			if err != nil {
				return err
			}
			if !matches(cb, f) {
				continue
			}
			if len(items) == limit {
				hasMore = true
				return nil
			}
			items = append(items, cb)
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return items, hasMore, nil
}

// lastWithPrefix positions c on the last key starting with prefix (the last
// key at all for an empty prefix).
func lastWithPrefix(c *bolt.Cursor, prefix []byte) ([]byte, []byte) {
	if len(prefix) == 0 {
		return c.Last()
	}
	// The first key after every key with this prefix: prefix with its last
	// byte incremented ('|' + 1, never overflowing).
	end := append([]byte{}, prefix...)
	end[len(end)-1]++
	if k, _ := c.Seek(end); k == nil {
		return c.Last()
	}
	return c.Prev()
}

func matches(cb *Callback, f CallbackFilter) bool {
	switch {
	case f.Status != "" && cb.Status != f.Status,
		f.Team != "" && cb.Team != f.Team,
		f.Customer != "" && cb.Customer.Number != f.Customer,
		!f.CreatedFrom.IsZero() && cb.CreatedAt.Before(f.CreatedFrom),
		!f.CreatedTo.IsZero() && !cb.CreatedAt.Before(f.CreatedTo):
		return false
	}
	return true
}

// Attempts returns the callback's attempts by number; ErrNotFound if there
// is no such callback.
func (db *DB) Attempts(callbackID string) ([]*Attempt, error) {
	var out []*Attempt
	err := db.view("attempts of "+callbackID, func(tx *bolt.Tx) error {
		if tx.Bucket(bktCallbacks).Get([]byte(callbackID)) == nil {
			return errorf("attempts: callback %s: %w", callbackID, ErrNotFound)
		}
		prefix := childPrefix(callbackID)
		c := tx.Bucket(bktAttempts).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			a := new(Attempt)
			if err := json.Unmarshal(v, a); err != nil {
				return fmt.Errorf("decode attempt %s/%d: %w", callbackID, childNumber(k), err)
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

// Events returns the callback's events with Seq > afterSeq in order, at
// most limit of them (limit <= 0: all); ErrNotFound if there is no such
// callback.
func (db *DB) Events(callbackID string, afterSeq uint64, limit int) ([]Event, error) {
	var out []Event
	err := db.view("events of "+callbackID, func(tx *bolt.Tx) error {
		if tx.Bucket(bktCallbacks).Get([]byte(callbackID)) == nil {
			return errorf("events: callback %s: %w", callbackID, ErrNotFound)
		}
		prefix := childPrefix(callbackID)
		c := tx.Bucket(bktEvents).Cursor()
		for k, v := c.Seek(childKey(callbackID, afterSeq+1)); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if limit > 0 && len(out) == limit {
				break
			}
			var ev Event
			if err := json.Unmarshal(v, &ev); err != nil {
				return fmt.Errorf("decode event %s/%d: %w", callbackID, childNumber(k), err)
			}
			out = append(out, ev)
		}
		return nil
	})
	return out, err
}

// Pending returns every callback that is scheduled or in progress, by ID
// (creation order), from the pending index.
func (db *DB) Pending() ([]*Callback, error) {
	var out []*Callback
	err := db.view("pending", func(tx *bolt.Tx) error {
		cbs := tx.Bucket(bktCallbacks)
		return tx.Bucket(bktPending).ForEach(func(k, _ []byte) error {
			v := cbs.Get(k)
			if v == nil {
				return fmt.Errorf("pending index names missing callback %s", k)
			}
			cb, err := decodeCallback(v)
			if err != nil {
				return err
			}
			out = append(out, cb)
			return nil
		})
	})
	return out, err
}

// CountByStatus counts the callbacks in each status (all five present).
func (db *DB) CountByStatus() (map[Status]int, error) {
	counts := map[Status]int{Scheduled: 0, InProgress: 0, Completed: 0, Failed: 0, Canceled: 0}
	err := db.view("count by status", func(tx *bolt.Tx) error {
		var rec struct {
			Status Status `json:"status"`
		}
		return tx.Bucket(bktCallbacks).ForEach(func(k, v []byte) error {
			rec.Status = ""
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode callback %s: %w", k, err)
			}
			counts[rec.Status]++
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}

// CountCustomerSince counts the callbacks for number created at or after
// since (the per-number daily guardrail), from the customer index.
func (db *DB) CountCustomerSince(number string, since time.Time) (int, error) {
	n := 0
	err := db.view("count customer", func(tx *bolt.Tx) error {
		// Newest first, stopping once the IDs are well before since: a
		// number's old history is not read on every create.
		prefix := []byte(number + "|")
		stop := idPrefixAt("cb_", since.Add(-idSkew))
		c := tx.Bucket(bktByCustomer).Cursor()
		for k, v := lastWithPrefix(c, prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			if id := string(k[len(prefix):]); id < stop {
				break
			}
			if !bytesTime(v).Before(since) {
				n++
			}
		}
		return nil
	})
	return n, err
}
