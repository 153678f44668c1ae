package engine

import (
	"context"
	"time"

	"github.com/callbackd/callbackd/bridge"
	"github.com/callbackd/callbackd/store"
)

// Store is the part of *store.DB the engine uses. It is kept narrow so that
// another backend (a shared database for several nodes) only has to provide
// these methods.
type Store interface {
	Ping() error

	CreateCallback(cb *store.Callback, eventType string, eventData any, idem *store.IdemCommit) (store.Event, error)
	CreateCallbackStarted(cb *store.Callback, events []store.NewEvent, attempt *store.Attempt, idem *store.IdemCommit) ([]store.Event, error)
	CreateCallbackDeduped(cb *store.Callback, events []store.NewEvent, attempt *store.Attempt, idem *store.IdemCommit, dedup *store.DedupCommit) ([]store.Event, error)
	GetCallback(id string) (*store.Callback, error)
	ListCallbacks(f store.CallbackFilter) ([]*store.Callback, bool, error)
	UpdateCallback(id string, fn func(u *store.Update) error) (*store.Callback, []store.Event, error)
	Attempts(callbackID string) ([]*store.Attempt, error)
	Events(callbackID string, afterSeq uint64, limit int) ([]store.Event, error)
	Pending() ([]*store.Callback, error)
	CountByStatus() (map[store.Status]int, error)
	CountCustomerSince(number string, since time.Time) (int, error)

	CreateTeam(t *store.Team) error
	GetTeam(id string) (*store.Team, error)
	ListTeams() ([]*store.Team, error)
	UpdateTeam(id string, fn func(*store.Team) error) (*store.Team, error)
	DeleteTeam(id string) error

	CreateEndpoint(e *store.Endpoint) error
	GetEndpoint(id string) (*store.Endpoint, error)
	ListEndpoints() ([]*store.Endpoint, error)
	UpdateEndpoint(id string, fn func(*store.Endpoint) error) (*store.Endpoint, error)
	DeleteEndpoint(id string) error
	ListDeliveries(endpointID, startingAfter string, limit int) ([]*store.Delivery, bool, error)
	GetDelivery(id string) (*store.Delivery, error)
	RetryDelivery(id string) (*store.Delivery, error)
	CreatePing(endpointID string, data any) (*store.Delivery, error)
	CallbackSecret() (string, error)

	CreateTrigger(t *store.Trigger) error
	GetTrigger(id string) (*store.Trigger, error)
	ListTriggers() ([]*store.Trigger, error)
	UpdateTrigger(id string, fn func(*store.Trigger) error) (*store.Trigger, error)
	DeleteTrigger(id string) error
	PruneDedup(now time.Time) (int, error)
	RecentEvents(eventType string, limit int) ([]store.Envelope, error)
}

// Dialer runs one attempt as a call; *bridge.Bridge is one.
type Dialer interface {
	Run(ctx context.Context, p bridge.Plan) (bridge.Result, error)
}
