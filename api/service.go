package api

import (
	"context"
	"time"

	"github.com/callbackd/callbackd/engine"
	"github.com/callbackd/callbackd/store"
)

// Service is what the API asks of the callback engine; *engine.Engine is
// one. Validation failures are *engine.FieldError; engine.ErrNotFound,
// ErrFinal, ErrTeamInUse, ErrConflict and ErrDraining are told apart.
type Service interface {
	Create(ctx context.Context, r engine.CallbackRequest) (*store.Callback, error)
	Cancel(ctx context.Context, id string) (*store.Callback, error)
	Get(id string) (*store.Callback, []*store.Attempt, error)
	List(f store.CallbackFilter) ([]*store.Callback, bool, error)
	Events(id string, afterSeq uint64, limit int) ([]store.Event, error)

	CreateTeam(ctx context.Context, t *store.Team) (*store.Team, error)
	UpdateTeam(ctx context.Context, id string, patch func(*store.Team) error) (*store.Team, error)
	GetTeam(id string) (*store.Team, error)
	ListTeams() ([]*store.Team, error)
	DeleteTeam(ctx context.Context, id string) error
}

// Webhooks is what the API asks of the engine about webhook endpoints and
// their deliveries; *engine.Engine is one. New finds it on the Service by
// a type assertion; a Service without it serves the webhook routes as 404.
// Validation failures are *engine.FieldError; engine.ErrNotFound and
// ErrConflict (a disabled endpoint) are told apart.
type Webhooks interface {
	CreateWebhook(ctx context.Context, r engine.WebhookRequest) (*store.Endpoint, string, error)
	GetWebhook(id string) (*store.Endpoint, error)
	ListWebhooks() ([]*store.Endpoint, error)
	UpdateWebhook(ctx context.Context, id string, patch func(*store.Endpoint) error) (*store.Endpoint, error)
	DeleteWebhook(ctx context.Context, id string) error
	RotateWebhookSecret(ctx context.Context, id string, overlap time.Duration) (string, error)
	WebhookSecret(id string) (string, error)
	Deliveries(webhookID, startingAfter string, limit int) ([]*store.Delivery, bool, error)
	RetryDelivery(ctx context.Context, webhookID, deliveryID string) (*store.Delivery, error)
	CallbackDeliveries(callbackID, startingAfter string, limit int) ([]*store.Delivery, bool, error)
	RetryCallbackDelivery(ctx context.Context, callbackID, deliveryID string) (*store.Delivery, error)
	TestWebhook(ctx context.Context, id string) (*store.Delivery, error)
	CallbackWebhookSecret() (string, error)
}

// Keys is the store of API keys and idempotency records; *store.DB is one.
// The engine does not deal with either, so the API reads them directly.
type Keys interface {
	APIKeyByHash(h [32]byte) (*store.APIKey, error)
	CreateAPIKey(k *store.APIKey) error
	ListAPIKeys() ([]*store.APIKey, error)
	RevokeAPIKey(id string) (*store.APIKey, error)

	ReserveIdempotency(scope, key string, hash [32]byte) (*store.Idempotency, error)
	CompleteIdempotency(scope, key string, status int, contentType string, body []byte) error
	ReleaseIdempotency(scope, key string) error
}

// Check is one readiness condition for /readyz, such as "the store
// answers" or "the trunk is up". Fn should return quickly; it is given a
// context with a deadline.
type Check struct {
	Name string
	Fn   func(context.Context) error
}
