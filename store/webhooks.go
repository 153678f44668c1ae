package store

import (
	"encoding/json"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Endpoint is a webhook subscription: where events go and which ones.
type Endpoint struct {
	ID          string   `json:"id"` // "we_" + random
	URL         string   `json:"url"`
	EventTypes  []string `json:"event_types,omitempty"` // empty: every type
	Description string   `json:"description,omitempty"`
	Enabled     bool     `json:"enabled"`
	// Source is SourceRESTHook for an endpoint a REST Hooks subscription
	// made (its subscriber may delete it); empty for the others.
	Source string `json:"source,omitempty"`
	// DisabledReason says why callbackd disabled it (a 410, failing for
	// days); empty when the user did or when enabled.
	DisabledReason string `json:"disabled_reason,omitempty"`
	// FailingSince is the first failed delivery since the last success.
	FailingSince time.Time `json:"failing_since,omitzero"`
	// Secrets sign deliveries: the newest first; an older one is still sent
	// until its ExpiresAt, so receivers can switch over without a gap.
	Secrets   []Secret  `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SourceRESTHook marks an endpoint made by POST /v1/hooks/subscriptions.
const SourceRESTHook = "rest_hook"

// Secret is one signing secret of an endpoint.
type Secret struct {
	Value     string    `json:"value"` // "whsec_" + base64
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"` // zero: current
}

// Wants reports whether the endpoint subscribes to events of type t.
func (e *Endpoint) Wants(t string) bool {
	return len(e.EventTypes) == 0 || slices.Contains(e.EventTypes, t)
}

// ActiveSecrets returns the secrets to sign with at now, newest first.
func (e *Endpoint) ActiveSecrets(now time.Time) []string {
	var out []string
	for _, s := range e.Secrets {
		if s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt) {
			out = append(out, s.Value)
		}
	}
	return out
}

type endpointRecord struct {
	*Endpoint
	Secrets []Secret `json:"secrets"`
}

func encodeEndpoint(e *Endpoint) ([]byte, error) {
	b, err := json.Marshal(endpointRecord{Endpoint: e, Secrets: e.Secrets})
	if err != nil {
		return nil, errorf("encode endpoint %s: %w", e.ID, err)
	}
	return b, nil
}

func decodeEndpoint(b []byte) (*Endpoint, error) {
	rec := endpointRecord{Endpoint: new(Endpoint)}
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, errorf("decode endpoint: %w", err)
	}
	rec.Endpoint.Secrets = rec.Secrets
	return rec.Endpoint, nil
}

// CreateEndpoint stores a new endpoint, filling in an empty ID
// (NewID("we_", now)), CreatedAt and UpdatedAt; ErrConflict if the ID
// exists.
func (db *DB) CreateEndpoint(e *Endpoint) error {
	now := db.now()
	if e.ID == "" {
		e.ID = NewID("we_", now)
	}
	e.CreatedAt, e.UpdatedAt = now, now
	v, err := encodeEndpoint(e)
	if err != nil {
		return err
	}
	return db.update("create endpoint "+e.ID, func(tx *bolt.Tx) error {
		b := tx.Bucket(bktEndpoints)
		if b.Get([]byte(e.ID)) != nil {
			return refuse("create endpoint %s: %w", e.ID, ErrConflict)
		}
		return b.Put([]byte(e.ID), v)
	})
}

// GetEndpoint returns the endpoint, or ErrNotFound.
func (db *DB) GetEndpoint(id string) (*Endpoint, error) {
	var e *Endpoint
	err := db.view("get endpoint "+id, func(tx *bolt.Tx) error {
		var err error
		e, err = loadEndpoint(tx, id)
		return err
	})
	return e, err
}

func loadEndpoint(tx *bolt.Tx, id string) (*Endpoint, error) {
	v := tx.Bucket(bktEndpoints).Get([]byte(id))
	if v == nil {
		return nil, errorf("endpoint %s: %w", id, ErrNotFound)
	}
	return decodeEndpoint(v)
}

// ListEndpoints returns every endpoint, oldest first.
func (db *DB) ListEndpoints() ([]*Endpoint, error) {
	var out []*Endpoint
	err := db.view("list endpoints", func(tx *bolt.Tx) error {
		var err error
		out, err = loadEndpoints(tx)
		return err
	})
	return out, err
}

func loadEndpoints(tx *bolt.Tx) ([]*Endpoint, error) {
	var out []*Endpoint
	err := tx.Bucket(bktEndpoints).ForEach(func(_, v []byte) error {
		e, err := decodeEndpoint(v)
		if err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// UpdateEndpoint runs fn on the stored endpoint in one transaction and
// stores the result with a new UpdatedAt; fn's error writes nothing and is
// returned (wrapped). The ID and CreatedAt cannot change. Disabling an
// endpoint gives up its pending deliveries (failed, "endpoint disabled"
// and the DisabledReason); RetryDelivery can send them again once it is
// enabled.
func (db *DB) UpdateEndpoint(id string, fn func(*Endpoint) error) (*Endpoint, error) {
	var (
		prepared bool
		e        *Endpoint
		ws       []write
		refusal  error
	)
	err := db.update("update endpoint "+id, func(tx *bolt.Tx) error {
		if !prepared {
			prepared = true
			e, ws, refusal = db.prepareEndpointUpdate(tx, id, fn)
		}
		if refusal != nil {
			return refusal
		}
		return apply(tx, ws)
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

func (db *DB) prepareEndpointUpdate(tx *bolt.Tx, id string, fn func(*Endpoint) error) (*Endpoint, []write, error) {
	e, err := loadEndpoint(tx, id)
	if err != nil {
		return nil, nil, abort{err}
	}
	created, wasEnabled := e.CreatedAt, e.Enabled
	if err := fn(e); err != nil {
		return nil, nil, refuse("update endpoint %s: %w", id, err)
	}
	if e.ID != id {
		return nil, nil, refuse("update endpoint %s: the ID cannot change (to %q)", id, e.ID)
	}
	e.CreatedAt, e.UpdatedAt = created, db.now()
	v, err := encodeEndpoint(e)
	if err != nil {
		return nil, nil, abort{err}
	}
	ws := []write{{bktEndpoints, []byte(id), v}}
	if wasEnabled && !e.Enabled {
		why := "endpoint disabled"
		if e.DisabledReason != "" {
			why += ": " + e.DisabledReason
		}
		aw, err := db.abandonPending(tx, id, why)
		if err != nil {
			return nil, nil, err
		}
		ws = append(ws, aw...)
	}
	return e, ws, nil
}

// DeleteEndpoint deletes the endpoint and gives up its pending deliveries
// (status failed, "endpoint deleted"); its delivery history stays
// readable by ID. ErrNotFound if there is none.
func (db *DB) DeleteEndpoint(id string) error {
	return db.update("delete endpoint "+id, func(tx *bolt.Tx) error {
		if tx.Bucket(bktEndpoints).Get([]byte(id)) == nil {
			return refuse("delete endpoint %s: %w", id, ErrNotFound)
		}
		ws, err := db.abandonPending(tx, id, "endpoint deleted")
		if err != nil {
			return err
		}
		if err := apply(tx, ws); err != nil {
			return err
		}
		return tx.Bucket(bktEndpoints).Delete([]byte(id))
	})
}
