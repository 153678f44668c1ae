package client

import (
	"context"
	"net/http"
)

// TeamsService is /v1/teams. Writing needs an admin key; reading, a
// callbacks:read one.
type TeamsService struct{ c *Client }

// Create makes a team.
func (s *TeamsService) Create(ctx context.Context, in *TeamCreate, opts ...RequestOption) (*Team, error) {
	return doOne[Team](ctx, s.c, ep(http.MethodPost, "/v1/teams"), in, opts)
}

// Get returns a team.
func (s *TeamsService) Get(ctx context.Context, id string, opts ...RequestOption) (*Team, error) {
	return doOne[Team](ctx, s.c, ep(http.MethodGet, "/v1/teams/%s", id), nil, opts)
}

// List returns every team.
func (s *TeamsService) List(ctx context.Context, opts ...RequestOption) (*Page[*Team], error) {
	return doOne[Page[*Team]](ctx, s.c, ep(http.MethodGet, "/v1/teams"), nil, opts)
}

// Update changes a team's fields (PATCH): see TeamUpdate.
func (s *TeamsService) Update(ctx context.Context, id string, in *TeamUpdate, opts ...RequestOption) (*Team, error) {
	return doOne[Team](ctx, s.c, ep(http.MethodPatch, "/v1/teams/%s", id), in, opts)
}

// Delete removes a team; one that pending callbacks use is a conflict.
func (s *TeamsService) Delete(ctx context.Context, id string, opts ...RequestOption) error {
	return s.c.do(ctx, ep(http.MethodDelete, "/v1/teams/%s", id), nil, nil, opts)
}

// doOne sends a request and decodes the answer into a new T.
func doOne[T any](ctx context.Context, c *Client, e endpoint, in any, opts []RequestOption) (*T, error) {
	var v T
	if err := c.do(ctx, e, in, &v, opts); err != nil {
		return nil, err
	}
	return &v, nil
}
