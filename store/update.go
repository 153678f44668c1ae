package store

import (
	"encoding/json"

	bolt "go.etcd.io/bbolt"
)

// Update is the view of one callback inside an UpdateCallback transaction.
// Attempts put and events appended are held until fn returns without
// error, so a refused update writes nothing (the transaction is shared
// with other writers and cannot be rolled back for one of them).
type Update struct {
	Callback *Callback

	db       *DB
	tx       *bolt.Tx
	seq      uint64            // the newest event's sequence number
	attempts map[uint64][]byte // number -> encoded attempt, put by fn
	order    []uint64          // attempt numbers in the order first put
	events   []Event
	encoded  [][]byte // events, encoded
	// deliveries are the outbox entries the events made.
	deliveries []*Delivery
}

// write is one key to put (or delete, when value is nil).
type write struct {
	bucket     []byte
	key, value []byte
}

// UpdateCallback loads the callback into u.Callback and runs fn in one write
// transaction. fn changes the callback and may read and put attempts and
// append events; its error writes nothing and is returned (wrapped,
// errors.Is works). Afterwards the pending index follows the status and
// UpdatedAt is set. It returns the callback as stored and the events
// appended. fn runs once: if the shared transaction has to be retried
// because another writer in it failed, the writes fn led to are replayed.
func (db *DB) UpdateCallback(id string, fn func(u *Update) error) (*Callback, []Event, error) {
	var (
		prepared bool // on the first run: fn's outcome is kept for reruns
		u        *Update
		writes   []write
		refusal  error
	)
	err := db.update("update callback "+id, func(tx *bolt.Tx) error {
		if !prepared {
			prepared = true
			u, writes, refusal = db.prepareUpdate(tx, id, fn)
		}
		if refusal != nil {
			return refusal
		}
		return apply(tx, writes)
	})
	if err != nil {
		return nil, nil, err
	}
	db.notify(u.deliveries)
	return u.Callback, u.events, nil
}

// prepareUpdate runs fn and returns the writes that store its result, or a
// refusal.
func (db *DB) prepareUpdate(tx *bolt.Tx, id string, fn func(u *Update) error) (*Update, []write, error) {
	cb, err := loadCallback(tx, id)
	if err != nil {
		return nil, nil, abort{err}
	}
	oldStatus, oldNumber, oldTeam := cb.Status, cb.Customer.Number, cb.Team
	u := &Update{Callback: cb, db: db, tx: tx, seq: cb.LastSeq}
	err = fn(u)
	u.tx = nil // fn may keep u; it must not reach the transaction later
	if err != nil {
		return nil, nil, refuse("update callback %s: %w", id, err)
	}
	cb = u.Callback
	switch {
	case cb == nil || cb.ID != id:
		return nil, nil, refuse("update callback %s: fn replaced the callback or its ID", id)
	case !cb.Status.Valid():
		return nil, nil, refuse("update callback %s: invalid status %q", id, cb.Status)
	case oldStatus.Final() && cb.Status != oldStatus:
		return nil, nil, refuse("update callback %s: status %s is final (to %s): %w", id, oldStatus, cb.Status, ErrConflict)
	}
	cb.UpdatedAt = db.now()
	cb.LastSeq = u.seq // whatever fn did to it, the log decides
	v, err := encodeCallback(cb)
	if err != nil {
		return nil, nil, refuse("update callback %s: %w", id, err)
	}
	writes := []write{{bktCallbacks, []byte(id), v}}
	for _, n := range u.order {
		writes = append(writes, write{bktAttempts, childKey(id, n), u.attempts[n]})
	}
	for i, ev := range u.events {
		writes = append(writes, write{bktEvents, childKey(id, ev.Seq), u.encoded[i]})
	}
	switch {
	case cb.Status.Final() && !oldStatus.Final():
		writes = append(writes, write{bktPending, []byte(id), nil})
	case !cb.Status.Final() && (oldStatus.Final() || cb.Team != oldTeam):
		writes = append(writes, write{bktPending, []byte(id), []byte(cb.Team)})
	}
	if cb.Customer.Number != oldNumber {
		if oldNumber != "" {
			writes = append(writes, write{bktByCustomer, customerKey(oldNumber, id), nil})
		}
		if cb.Customer.Number != "" {
			writes = append(writes, write{bktByCustomer, customerKey(cb.Customer.Number, id), timeBytes(cb.CreatedAt)})
		}
	}
	ows, ds, err := db.outbox(tx, cb, func(n int) *Attempt {
		u.tx = tx
		defer func() { u.tx = nil }()
		a, _ := u.Attempt(n)
		return a
	}, u.events)
	if err != nil {
		return nil, nil, abort{err}
	}
	u.deliveries = ds
	return u, append(writes, ows...), nil
}

func apply(tx *bolt.Tx, writes []write) error {
	for _, w := range writes {
		b := tx.Bucket(w.bucket)
		var err error
		if w.value == nil {
			err = b.Delete(w.key)
		} else {
			err = b.Put(w.key, w.value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Attempt returns attempt n of the callback as it stands in this update
// (put by fn, else stored), or ErrNotFound.
func (u *Update) Attempt(n int) (*Attempt, error) {
	if u.tx == nil {
		return nil, errorf("attempt %s/%d: Update used after its transaction", u.Callback.ID, n)
	}
	v, ok := u.attempts[uint64(n)]
	if !ok {
		v = u.tx.Bucket(bktAttempts).Get(childKey(u.Callback.ID, uint64(n)))
	}
	if v == nil || n < 1 {
		return nil, errorf("attempt %s/%d: %w", u.Callback.ID, n, ErrNotFound)
	}
	a := new(Attempt)
	if err := json.Unmarshal(v, a); err != nil {
		return nil, errorf("decode attempt %s/%d: %w", u.Callback.ID, n, err)
	}
	return a, nil
}

// PutAttempt inserts or replaces the attempt with a.Number (>= 1). Its
// CallbackID is set to the callback's.
func (u *Update) PutAttempt(a *Attempt) error {
	if a.Number < 1 {
		return errorf("put attempt %s: number %d < 1", u.Callback.ID, a.Number)
	}
	a.CallbackID = u.Callback.ID
	v, err := json.Marshal(a)
	if err != nil {
		return errorf("encode attempt %s/%d: %w", u.Callback.ID, a.Number, err)
	}
	n := uint64(a.Number)
	if u.attempts == nil {
		u.attempts = make(map[uint64][]byte)
	}
	if _, ok := u.attempts[n]; !ok {
		u.order = append(u.order, n)
	}
	u.attempts[n] = v
	return nil
}

// Append adds an event with the next sequence number (gap-free: the
// sequence lives in the callback record, which this transaction holds) and
// returns it.
func (u *Update) Append(eventType string, data any) (*Event, error) {
	raw, err := marshalData(data)
	if err != nil {
		return nil, errorf("append %s to %s: encode data: %w", eventType, u.Callback.ID, err)
	}
	now := u.db.now()
	ev := Event{
		ID:         NewID("evt_", now),
		CallbackID: u.Callback.ID,
		Seq:        u.seq + 1,
		Type:       eventType,
		CreatedAt:  now,
		Data:       raw,
	}
	v, err := json.Marshal(ev)
	if err != nil {
		return nil, errorf("append %s to %s: %w", eventType, u.Callback.ID, err)
	}
	u.seq = ev.Seq
	u.Callback.LastSeq = ev.Seq
	u.events = append(u.events, ev)
	u.encoded = append(u.encoded, v)
	return &ev, nil
}
