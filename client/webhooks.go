package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
)

// WebhooksService is /v1/webhooks: the endpoints that receive events,
// their secrets and deliveries. It needs an admin key.
type WebhooksService struct{ c *Client }

// Create makes an endpoint; the answer has its signing secret.
func (s *WebhooksService) Create(ctx context.Context, in *WebhookCreate, opts ...RequestOption) (*WebhookCreated, error) {
	return doOne[WebhookCreated](ctx, s.c, ep(http.MethodPost, "/v1/webhooks"), in, opts)
}

// Get returns an endpoint.
func (s *WebhooksService) Get(ctx context.Context, id string, opts ...RequestOption) (*Webhook, error) {
	return doOne[Webhook](ctx, s.c, ep(http.MethodGet, "/v1/webhooks/%s", id), nil, opts)
}

// List returns every endpoint.
func (s *WebhooksService) List(ctx context.Context, opts ...RequestOption) (*Page[*Webhook], error) {
	return doOne[Page[*Webhook]](ctx, s.c, ep(http.MethodGet, "/v1/webhooks"), nil, opts)
}

// Update changes an endpoint's fields (PATCH): see WebhookUpdate.
func (s *WebhooksService) Update(ctx context.Context, id string, in *WebhookUpdate, opts ...RequestOption) (*Webhook, error) {
	return doOne[Webhook](ctx, s.c, ep(http.MethodPatch, "/v1/webhooks/%s", id), in, opts)
}

// Delete removes an endpoint and gives up its pending deliveries.
func (s *WebhooksService) Delete(ctx context.Context, id string, opts ...RequestOption) error {
	return s.c.do(ctx, ep(http.MethodDelete, "/v1/webhooks/%s", id), nil, nil, opts)
}

// Secret returns the endpoint's current signing secret.
func (s *WebhooksService) Secret(ctx context.Context, id string, opts ...RequestOption) (string, error) {
	return s.secret(ctx, ep(http.MethodGet, "/v1/webhooks/%s/secret", id), nil, opts)
}

// RotateSecret makes a new signing secret and returns it; the old ones
// sign beside it for overlap (nil: the server's default, 24h; 0: stop at
// once; at most 168h).
func (s *WebhooksService) RotateSecret(ctx context.Context, id string, overlap *Duration, opts ...RequestOption) (string, error) {
	body := map[string]any{}
	if overlap != nil {
		body["overlap"] = overlap
	}
	return s.secret(ctx, ep(http.MethodPost, "/v1/webhooks/%s/rotate-secret", id), body, opts)
}

// CallbackSecret returns the secret that signs deliveries to callbacks' own
// webhook_url.
func (s *WebhooksService) CallbackSecret(ctx context.Context, opts ...RequestOption) (string, error) {
	return s.secret(ctx, ep(http.MethodGet, "/v1/webhook-secret"), nil, opts)
}

func (s *WebhooksService) secret(ctx context.Context, e endpoint, in any, opts []RequestOption) (string, error) {
	v, err := doOne[struct {
		Secret string `json:"secret"`
	}](ctx, s.c, e, in, opts)
	if err != nil {
		return "", err
	}
	return v.Secret, nil
}

// DeliveriesParams pages an endpoint's or a callback's deliveries.
type DeliveriesParams struct {
	Limit         int    // 1 to 100; 0: the server's default (20)
	StartingAfter string // the delivery ID after which the page starts
}

// Deliveries returns one page of the endpoint's deliveries, newest first,
// each with every attempt.
func (s *WebhooksService) Deliveries(ctx context.Context, id string, p *DeliveriesParams, opts ...RequestOption) (*Page[*Delivery], error) {
	return deliveriesPage(ctx, s.c, "/v1/webhooks/%s/deliveries", id, p, opts)
}

// AllDeliveries walks the endpoint's deliveries, newest first.
func (s *WebhooksService) AllDeliveries(ctx context.Context, id string, p *DeliveriesParams, opts ...RequestOption) iter.Seq2[*Delivery, error] {
	return allDeliveries(p, func(q *DeliveriesParams) (*Page[*Delivery], error) { return s.Deliveries(ctx, id, q, opts...) })
}

// RetryDelivery sends a delivered or given-up delivery again, now, with the
// same event ID.
func (s *WebhooksService) RetryDelivery(ctx context.Context, id, deliveryID string, opts ...RequestOption) (*Delivery, error) {
	return doOne[Delivery](ctx, s.c, ep(http.MethodPost, "/v1/webhooks/%s/deliveries/%s/retry", id, deliveryID), nil, opts)
}

// deliveriesPage gets one page of the deliveries listed at route (with
// the owner's ID for its %s).
func deliveriesPage(ctx context.Context, c *Client, route, id string, p *DeliveriesParams, opts []RequestOption) (*Page[*Delivery], error) {
	q := url.Values{}
	if p != nil {
		setInt(q, "limit", p.Limit)
		setNonZero(q, "starting_after", p.StartingAfter)
	}
	return doOne[Page[*Delivery]](ctx, c, ep(http.MethodGet, route, id).with(q), nil, opts)
}

// allDeliveries walks the pages page gets, from p on.
func allDeliveries(p *DeliveriesParams, page func(*DeliveriesParams) (*Page[*Delivery], error)) iter.Seq2[*Delivery, error] {
	q := DeliveriesParams{}
	if p != nil {
		q = *p
	}
	return paginate(q.StartingAfter, func(after string) (*Page[*Delivery], error) {
		q.StartingAfter = after
		return page(&q)
	}, func(d *Delivery) string { return d.ID })
}

// Test queues a ping event to this endpoint alone and returns its pending
// delivery.
func (s *WebhooksService) Test(ctx context.Context, id string, opts ...RequestOption) (*Delivery, error) {
	return doOne[Delivery](ctx, s.c, ep(http.MethodPost, "/v1/webhooks/%s/test", id), nil, opts)
}
