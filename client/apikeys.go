package client

import (
	"context"
	"net/http"
)

// APIKeysService is /v1/api-keys; it needs an admin key.
type APIKeysService struct{ c *Client }

// Create makes a key; its Secret is in this answer only.
func (s *APIKeysService) Create(ctx context.Context, in *APIKeyCreate, opts ...RequestOption) (*APIKeyCreated, error) {
	return doOne[APIKeyCreated](ctx, s.c, ep(http.MethodPost, "/v1/api-keys"), in, opts)
}

// List returns every key, revoked ones too, without secrets.
func (s *APIKeysService) List(ctx context.Context, opts ...RequestOption) (*Page[*APIKey], error) {
	return doOne[Page[*APIKey]](ctx, s.c, ep(http.MethodGet, "/v1/api-keys"), nil, opts)
}

// Revoke revokes a key at once.
func (s *APIKeysService) Revoke(ctx context.Context, id string, opts ...RequestOption) (*APIKey, error) {
	return doOne[APIKey](ctx, s.c, ep(http.MethodPost, "/v1/api-keys/%s/revoke", id), nil, opts)
}
