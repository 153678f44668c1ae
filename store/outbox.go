package store

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The outbox: every event a webhook endpoint (or the callback's own
// webhook_url) wants gets its payload and one delivery per target written
// in the transaction that writes the event, so a crash loses none. The
// webhook package sends them and records each attempt here.

// DeliveryStatus is where a delivery is.
type DeliveryStatus string

// The states of a delivery. Failed means given up: retries exhausted, or
// the endpoint was disabled or deleted.
const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliverySucceeded DeliveryStatus = "succeeded"
	DeliveryFailed    DeliveryStatus = "failed"
)

// Delivery is one event on its way to one target.
type Delivery struct {
	ID string `json:"id"` // "dlv_" + random, sorts by creation
	// EndpointID is the endpoint's ID; empty for a callback's own
	// webhook_url, which is then URL.
	EndpointID string            `json:"webhook_id,omitempty"`
	URL        string            `json:"url,omitempty"`
	EventID    string            `json:"event_id"`
	EventType  string            `json:"event_type"`
	CallbackID string            `json:"callback_id,omitempty"`
	Seq        uint64            `json:"sequence,omitempty"`
	Status     DeliveryStatus    `json:"status"`
	Attempts   []DeliveryAttempt `json:"attempts"`
	// NextAttemptAt is when the next try is due while pending.
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	// Error says why a failed delivery was given up.
	Error     string    `json:"error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Stream names the ordered stream a delivery belongs to: one callback's
// events to one target go in sequence order.
func (d *Delivery) Stream() string {
	target := d.EndpointID
	if target == "" {
		target = "url:" + d.URL
	}
	return target + "\x00" + d.CallbackID
}

// DeliveryAttempt is one try at sending a delivery.
type DeliveryAttempt struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"`
	LatencyMS  float64   `json:"latency_ms"`
	Error      string    `json:"error,omitempty"`
}

// Envelope is the JSON body every webhook delivery carries.
type Envelope struct {
	ID        string       `json:"id"` // the event's ID, stable across retries
	Type      string       `json:"type"`
	CreatedAt time.Time    `json:"created_at"`
	Sequence  uint64       `json:"sequence,omitempty"` // per callback, gap-free
	Data      EnvelopeData `json:"data"`
}

// EnvelopeData is an envelope's data: the callback as it stood after the
// change, the attempt the event belongs to, and the event's own data:
// Call for call.* events, Details for the others.
type EnvelopeData struct {
	Callback *Callback       `json:"callback,omitempty"`
	Attempt  *Attempt        `json:"attempt,omitempty"`
	Call     json.RawMessage `json:"call,omitempty"`
	Details  json.RawMessage `json:"details,omitempty"`
}

// NewSecret returns a fresh signing secret: "whsec_" and 32 random bytes
// in base64, the Standard Webhooks form.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// OnDeliveries sets the function told, after each commit, of the
// deliveries it made pending: the webhook sender's wake-up. It must not
// block.
func (db *DB) OnDeliveries(fn func([]*Delivery)) {
	db.outboxHook.Store(&fn)
}

func (db *DB) notify(ds []*Delivery) {
	if len(ds) == 0 {
		return
	}
	if fn := db.outboxHook.Load(); fn != nil && *fn != nil {
		(*fn)(ds)
	}
}

type outboxHook = atomic.Pointer[func([]*Delivery)]

// CallbackSecret returns the secret that signs deliveries to callbacks' own
// webhook_url, made at the first Open.
func (db *DB) CallbackSecret() (string, error) {
	var s string
	err := db.view("callback webhook secret", func(tx *bolt.Tx) error {
		s = string(tx.Bucket(bktMeta).Get(metaCallbackSecret))
		return nil
	})
	return s, err
}

var metaCallbackSecret = []byte("callback_webhook_secret")

// outbox computes the writes that put evs of cb in the outbox for every
// enabled endpoint that wants them and for cb's webhook_url, and the
// deliveries made. attempt finds attempt n as the transaction sees it.
func (db *DB) outbox(tx *bolt.Tx, cb *Callback, attempt func(n int) *Attempt, evs []Event) ([]write, []*Delivery, error) {
	eps, err := loadEndpoints(tx)
	if err != nil {
		return nil, nil, err
	}
	var (
		writes []write
		ds     []*Delivery
		now    = db.now()
	)
	for i := range evs {
		ev := &evs[i]
		var targets []*Delivery
		for _, e := range eps {
			if e.Enabled && e.Wants(ev.Type) {
				targets = append(targets, &Delivery{EndpointID: e.ID})
			}
		}
		if cb.WebhookURL != "" {
			targets = append(targets, &Delivery{URL: cb.WebhookURL})
		}
		if len(targets) == 0 {
			continue
		}
		body, err := json.Marshal(envelope(cb, ev, attempt))
		if err != nil {
			return nil, nil, errorf("encode webhook payload %s: %w", ev.ID, err)
		}
		writes = append(writes, write{bktPayloads, []byte(ev.ID), body})
		for _, d := range targets {
			d.ID = NewID("dlv_", now)
			d.EventID, d.EventType, d.CallbackID, d.Seq = ev.ID, ev.Type, cb.ID, ev.Seq
			d.Status, d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = DeliveryPending, now, now, now
			w, err := deliveryWrites(d, true)
			if err != nil {
				return nil, nil, err
			}
			writes = append(writes, w...)
			ds = append(ds, d)
		}
	}
	return writes, ds, nil
}

// envelope is ev of cb as a webhook carries it; attempt (nil: none) finds
// the attempt the event names.
func envelope(cb *Callback, ev *Event, attempt func(n int) *Attempt) Envelope {
	env := Envelope{ID: ev.ID, Type: ev.Type, CreatedAt: ev.CreatedAt, Sequence: ev.Seq,
		Data: EnvelopeData{Callback: cb}}
	if n := attemptOf(ev.Data); n > 0 && attempt != nil {
		env.Data.Attempt = attempt(n)
	}
	if strings.HasPrefix(ev.Type, "call.") {
		env.Data.Call = ev.Data
	} else {
		env.Data.Details = ev.Data
	}
	return env
}

// attemptOf reads the attempt number an event's data names, if any.
func attemptOf(data json.RawMessage) int {
	if len(data) == 0 || !bytes.Contains(data, []byte(`"attempt"`)) {
		return 0
	}
	var v struct {
		Attempt int `json:"attempt"`
	}
	_ = json.Unmarshal(data, &v)
	return v.Attempt
}

// deliveryWrites stores d and keeps the pending index in step; created adds
// it to its endpoint's index, or its callback's for one to the callback's
// own webhook_url.
func deliveryWrites(d *Delivery, created bool) ([]write, error) {
	v, err := json.Marshal(d)
	if err != nil {
		return nil, errorf("encode delivery %s: %w", d.ID, err)
	}
	ws := []write{{bktDeliveries, []byte(d.ID), v}}
	if d.Status == DeliveryPending {
		ws = append(ws, write{bktDeliveriesPending, []byte(d.ID), []byte{}})
	} else {
		ws = append(ws, write{bktDeliveriesPending, []byte(d.ID), nil})
	}
	if created {
		ws = append(ws, write{bktDeliveriesByEndpoint, endpointDeliveryKey(d.indexOwner(), d.ID), []byte{}})
	}
	return ws, nil
}

// indexOwner is the ID d is listed under: its endpoint, or its callback for
// the callback's own webhook_url. The two kinds of ID never collide (we_,
// cb_).
func (d *Delivery) indexOwner() string {
	if d.EndpointID != "" {
		return d.EndpointID
	}
	return d.CallbackID
}

func endpointDeliveryKey(endpoint, delivery string) []byte {
	return []byte(endpoint + "/" + delivery)
}

func loadDelivery(tx *bolt.Tx, id string) (*Delivery, error) {
	v := tx.Bucket(bktDeliveries).Get([]byte(id))
	if v == nil {
		return nil, errorf("delivery %s: %w", id, ErrNotFound)
	}
	d := new(Delivery)
	if err := json.Unmarshal(v, d); err != nil {
		return nil, errorf("decode delivery %s: %w", id, err)
	}
	return d, nil
}

// GetDelivery returns the delivery, or ErrNotFound.
func (db *DB) GetDelivery(id string) (*Delivery, error) {
	var d *Delivery
	err := db.view("get delivery "+id, func(tx *bolt.Tx) error {
		var err error
		d, err = loadDelivery(tx, id)
		return err
	})
	return d, err
}

// Payload returns the body of the event's deliveries, or ErrNotFound.
func (db *DB) Payload(eventID string) ([]byte, error) {
	var b []byte
	err := db.view("payload "+eventID, func(tx *bolt.Tx) error {
		v := tx.Bucket(bktPayloads).Get([]byte(eventID))
		if v == nil {
			return errorf("payload %s: %w", eventID, ErrNotFound)
		}
		b = bytes.Clone(v)
		return nil
	})
	return b, err
}

// PendingDeliveries returns every pending delivery, oldest first: what the
// sender loads when it starts.
func (db *DB) PendingDeliveries() ([]*Delivery, error) {
	var out []*Delivery
	err := db.view("pending deliveries", func(tx *bolt.Tx) error {
		return tx.Bucket(bktDeliveriesPending).ForEach(func(k, _ []byte) error {
			d, err := loadDelivery(tx, string(k))
			if err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}

// ListDeliveries returns the endpoint's deliveries newest first, at most
// limit (1..100, 0 = 20), starting after the delivery ID startingAfter,
// and whether more follow. With a callback's ID for endpointID, it returns
// the deliveries to that callback's own webhook_url.
func (db *DB) ListDeliveries(endpointID, startingAfter string, limit int) ([]*Delivery, bool, error) {
	switch {
	case limit <= 0:
		limit = 20
	case limit > 100:
		limit = 100
	}
	var (
		out     []*Delivery
		hasMore bool
	)
	err := db.view("list deliveries of "+endpointID, func(tx *bolt.Tx) error {
		prefix := []byte(endpointID + "/")
		c := tx.Bucket(bktDeliveriesByEndpoint).Cursor()
		var k []byte
		if startingAfter != "" {
			k, _ = c.Seek(endpointDeliveryKey(endpointID, startingAfter))
			if k == nil {
				k, _ = c.Last()
			} else {
				k, _ = c.Prev() // before startingAfter, or before where it would be
			}
		} else {
			k, _ = lastWithPrefix(c, prefix)
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
			if len(out) == limit {
				hasMore = true
				return nil
			}
			d, err := loadDelivery(tx, string(k[len(prefix):]))
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, hasMore, err
}

// RecordAttempt appends a to the pending delivery's attempts and sets its
// status: still pending with the next try at next, succeeded, or failed
// with why. A delivery no longer pending (given up meanwhile) is left as it
// is and ErrConflict returned.
func (db *DB) RecordAttempt(id string, a DeliveryAttempt, status DeliveryStatus, next time.Time, why string) (*Delivery, error) {
	var d *Delivery
	err := db.update("record delivery attempt "+id, func(tx *bolt.Tx) error {
		var err error
		if d, err = loadDelivery(tx, id); err != nil {
			return abort{err}
		}
		if d.Status != DeliveryPending {
			return refuse("record delivery attempt %s: status %s: %w", id, d.Status, ErrConflict)
		}
		d.Attempts = append(d.Attempts, a)
		d.Status, d.Error, d.UpdatedAt = status, why, db.now()
		d.NextAttemptAt = time.Time{}
		if status == DeliveryPending {
			d.NextAttemptAt = next
		}
		ws, err := deliveryWrites(d, false)
		if err != nil {
			return abort{err}
		}
		return apply(tx, ws)
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// RetryDelivery makes a succeeded or failed delivery pending again, due at
// once, and tells the sender. Retrying a pending one changes nothing. A
// delivery whose endpoint is gone or disabled is refused with ErrConflict.
func (db *DB) RetryDelivery(id string) (*Delivery, error) {
	var d *Delivery
	err := db.update("retry delivery "+id, func(tx *bolt.Tx) error {
		var err error
		if d, err = loadDelivery(tx, id); err != nil {
			return abort{err}
		}
		if d.Status == DeliveryPending {
			return nil
		}
		if d.EndpointID != "" {
			e, err := loadEndpoint(tx, d.EndpointID)
			if err != nil {
				return abort{err}
			}
			if !e.Enabled {
				return refuse("retry delivery %s: endpoint %s is disabled: %w", id, e.ID, ErrConflict)
			}
		}
		now := db.now()
		d.Status, d.Error, d.NextAttemptAt, d.UpdatedAt = DeliveryPending, "", now, now
		ws, err := deliveryWrites(d, false)
		if err != nil {
			return abort{err}
		}
		return apply(tx, ws)
	})
	if err != nil {
		return nil, err
	}
	db.notify([]*Delivery{d})
	return d, nil
}

// CreatePing queues a "ping" event to the endpoint, with data as its
// details, and tells the sender.
func (db *DB) CreatePing(endpointID string, data any) (*Delivery, error) {
	raw, err := marshalData(data)
	if err != nil {
		return nil, errorf("ping %s: %w", endpointID, err)
	}
	now := db.now()
	env := Envelope{ID: NewID("evt_", now), Type: "ping", CreatedAt: now, Data: EnvelopeData{Details: raw}}
	body, err := json.Marshal(env)
	if err != nil {
		return nil, errorf("ping %s: %w", endpointID, err)
	}
	d := &Delivery{ID: NewID("dlv_", now), EndpointID: endpointID, EventID: env.ID, EventType: env.Type,
		Status: DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
	ws, err := deliveryWrites(d, true)
	if err != nil {
		return nil, err
	}
	ws = append(ws, write{bktPayloads, []byte(env.ID), body})
	err = db.update("ping "+endpointID, func(tx *bolt.Tx) error {
		e, err := loadEndpoint(tx, endpointID)
		if err != nil {
			return abort{err}
		}
		if !e.Enabled {
			return refuse("ping %s: endpoint is disabled: %w", endpointID, ErrConflict)
		}
		return apply(tx, ws)
	})
	if err != nil {
		return nil, err
	}
	db.notify([]*Delivery{d})
	return d, nil
}

// abandonPending returns the writes that give up the endpoint's pending
// deliveries with why.
func (db *DB) abandonPending(tx *bolt.Tx, endpointID, why string) ([]write, error) {
	var ws []write
	now := db.now()
	err := tx.Bucket(bktDeliveriesPending).ForEach(func(k, _ []byte) error {
		d, err := loadDelivery(tx, string(k))
		if err != nil {
			return err
		}
		if d.EndpointID != endpointID {
			return nil
		}
		d.Status, d.Error, d.NextAttemptAt, d.UpdatedAt = DeliveryFailed, why, time.Time{}, now
		w, err := deliveryWrites(d, false)
		ws = append(ws, w...)
		return err
	})
	return ws, err
}
