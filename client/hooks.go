package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// HooksService is REST Hooks (/v1/hooks), for integration platforms that
// subscribe themselves (Zapier, n8n, Make). It needs a callbacks:read key.
type HooksService struct{ c *Client }

// Subscribe makes an endpoint that receives every event of type event at
// targetURL; keep the ID to unsubscribe.
func (s *HooksService) Subscribe(ctx context.Context, targetURL, event string, opts ...RequestOption) (*Subscription, error) {
	in := map[string]string{"target_url": targetURL, "event": event}
	return doOne[Subscription](ctx, s.c, ep(http.MethodPost, "/v1/hooks/subscriptions"), in, opts)
}

// Unsubscribe removes a subscription (only endpoints made by Subscribe).
func (s *HooksService) Unsubscribe(ctx context.Context, id string, opts ...RequestOption) error {
	return s.c.do(ctx, ep(http.MethodDelete, "/v1/hooks/subscriptions/%s", id), nil, nil, opts)
}

// Samples returns the newest events of one type as webhook bodies, newest
// first; limit is 1 to 100 (0: the server's default, 10).
func (s *HooksService) Samples(ctx context.Context, event string, limit int, opts ...RequestOption) (*Page[*WebhookEvent], error) {
	q := url.Values{}
	q.Set("event", event)
	setInt(q, "limit", limit)
	return doOne[Page[*WebhookEvent]](ctx, s.c, ep(http.MethodGet, "/v1/hooks/samples").with(q), nil, opts)
}

// Health is GET /healthz: nil when the server is alive.
func (c *Client) Health(ctx context.Context, opts ...RequestOption) error {
	return c.do(ctx, ep(http.MethodGet, "/healthz"), nil, nil, opts)
}

// Ready is GET /readyz: the checks of the store and trunks. A server that
// is not ready answers 503, an *Error whose Detail is the answer's body
// (its checks). It is not retried.
func (c *Client) Ready(ctx context.Context, opts ...RequestOption) (*Readiness, error) {
	return doOne[Readiness](ctx, c, ep(http.MethodGet, "/readyz"), nil, append(opts, Retries(0)))
}

// Backup streams a consistent copy of the server's store (GET /v1/backup,
// admin) to w and returns the bytes written. A copy cut short is an error.
func (c *Client) Backup(ctx context.Context, w io.Writer, opts ...RequestOption) (int64, error) {
	resp, err := c.send(ctx, ep(http.MethodGet, "/v1/backup"), nil, opts)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return n, fmt.Errorf("callbackd: GET /v1/backup: copy: %w", err)
	}
	return n, nil
}
