package engine

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/callbackd/callbackd/bridge"
	"github.com/callbackd/callbackd/store"
)

// Bounds of a webhook endpoint and its secrets.
const (
	MaxWebhookDescription = 256
	// DefaultSecretOverlap is how long the old secrets of a rotated
	// endpoint keep signing beside the new one.
	DefaultSecretOverlap = 24 * time.Hour
	MaxSecretOverlap     = 7 * 24 * time.Hour
)

// EventPing is the type of the test event TestWebhook sends. It goes to
// the one endpoint asked, never by subscription.
const EventPing = "ping"

// webhookEventTypes are the events an endpoint may subscribe to: every
// type the engine appends to a callback's log.
var webhookEventTypes = []string{
	bridge.EventInitiated, bridge.EventRinging, bridge.EventConnected, bridge.EventCompleted, bridge.EventMissed,
	evScheduled, evAttemptStarted, evRetryScheduled, evCompleted, evFailed, evCanceled,
}

// WebhookEventTypes returns the event types the engine emits, which are
// those an endpoint may subscribe to (EventPing aside).
func WebhookEventTypes() []string { return slices.Clone(webhookEventTypes) }

// WebhookRequest is a webhook endpoint to create, as the API decoded it.
type WebhookRequest struct {
	URL string
	// EventTypes are the events wanted; empty: all.
	EventTypes  []string
	Description string
	// Enabled nil means true.
	Enabled *bool
}

// CreateWebhook validates r and stores the endpoint with a fresh signing
// secret, which it returns too. Validation failures are *FieldError.
func (e *Engine) CreateWebhook(ctx context.Context, r WebhookRequest) (*store.Endpoint, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	ep := &store.Endpoint{URL: r.URL, EventTypes: r.EventTypes, Description: r.Description, Enabled: true}
	if r.Enabled != nil {
		ep.Enabled = *r.Enabled
	}
	if err := checkEndpoint(ep); err != nil {
		return nil, "", err
	}
	if err := e.checkWebhookTarget(ctx, "url", ep.URL); err != nil {
		return nil, "", err
	}
	secret := store.NewSecret()
	ep.Secrets = []store.Secret{{Value: secret, CreatedAt: e.clk.Now().UTC()}}
	if err := e.st.CreateEndpoint(ep); err != nil {
		return nil, "", fmt.Errorf("engine: creating webhook: %w", err)
	}
	e.log.Info("webhook created", "webhook", ep.ID, "host", urlHost(ep.URL), "event_types", ep.EventTypes, "enabled", ep.Enabled)
	return ep, secret, nil
}

// GetWebhook returns an endpoint; ErrNotFound if there is none.
func (e *Engine) GetWebhook(id string) (*store.Endpoint, error) {
	ep, err := e.st.GetEndpoint(id)
	if err != nil {
		return nil, wrapRead("webhook", id, err)
	}
	return ep, nil
}

// ListWebhooks returns every endpoint, oldest first.
func (e *Engine) ListWebhooks() ([]*store.Endpoint, error) {
	eps, err := e.st.ListEndpoints()
	if err != nil {
		return nil, fmt.Errorf("engine: listing webhooks: %w", err)
	}
	return eps, nil
}

// UpdateWebhook applies patch to the stored endpoint and stores the result
// if it is valid. patch may run more than once and must set the same
// fields to the same values each time. The ID, secrets and times are the
// server's. Enabling a disabled endpoint clears why and since when it
// failed; disabling one gives up its pending deliveries (RetryDelivery
// sends them again once it is enabled).
func (e *Engine) UpdateWebhook(ctx context.Context, id string, patch func(*store.Endpoint) error) (*store.Endpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// A changed URL is checked (perhaps resolved in DNS) before the
	// transaction, which must not wait on the network. patch sets the
	// same fields each time it runs, so in the transaction the URL is
	// either the one checked here or the one stored.
	cur, err := e.st.GetEndpoint(id)
	if err != nil {
		return nil, wrapRead("webhook", id, err)
	}
	draft := cloneEndpoint(cur)
	if err := patch(draft); err != nil {
		return nil, err
	}
	if err := checkEndpoint(draft); err != nil {
		return nil, err
	}
	checked := cur.URL
	if draft.URL != cur.URL {
		if err := e.checkWebhookTarget(ctx, "url", draft.URL); err != nil {
			return nil, err
		}
		checked = draft.URL
	}
	ep, err := e.st.UpdateEndpoint(id, func(ep *store.Endpoint) error {
		stored, secrets, wasEnabled, reason := ep.URL, ep.Secrets, ep.Enabled, ep.DisabledReason
		if err := patch(ep); err != nil {
			return err
		}
		if ep.ID != id {
			return fieldErr("id", CodeInvalidField, "cannot be changed")
		}
		if ep.URL != stored && ep.URL != checked {
			return fmt.Errorf("webhook %s: the URL changed meanwhile: %w", id, ErrConflict)
		}
		ep.Secrets = secrets
		switch {
		case ep.Enabled && !wasEnabled:
			ep.DisabledReason, ep.FailingSince = "", time.Time{}
		case !ep.Enabled && wasEnabled:
			ep.DisabledReason = "" // the user's choice: no reason of the server's
		default:
			ep.DisabledReason = reason
		}
		return checkEndpoint(ep)
	})
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return nil, fe
		}
		return nil, wrapWebhook("updating", id, err)
	}
	e.log.Info("webhook updated", "webhook", id, "host", urlHost(ep.URL), "event_types", ep.EventTypes, "enabled", ep.Enabled)
	return ep, nil
}

// DeleteWebhook deletes an endpoint and gives up its pending deliveries.
func (e *Engine) DeleteWebhook(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := e.st.DeleteEndpoint(id); err != nil {
		return wrapWebhook("deleting", id, err)
	}
	e.log.Info("webhook deleted", "webhook", id)
	return nil
}

// RotateWebhookSecret gives the endpoint a new signing secret and returns
// it. The secrets it had sign beside the new one for overlap more (0 to
// MaxSecretOverlap; 0: they stop at once), so that receivers can switch
// without losing a delivery; one that was due to stop sooner still does.
// Callers wanting the usual overlap pass DefaultSecretOverlap.
func (e *Engine) RotateWebhookSecret(ctx context.Context, id string, overlap time.Duration) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if overlap < 0 || overlap > MaxSecretOverlap {
		return "", fieldErr("overlap", CodeInvalidField, fmt.Sprintf("must be from 0s to %v", MaxSecretOverlap))
	}
	secret := store.NewSecret()
	_, err := e.st.UpdateEndpoint(id, func(ep *store.Endpoint) error {
		now := e.clk.Now().UTC()
		until := now.Add(overlap)
		keep := []store.Secret{{Value: secret, CreatedAt: now}}
		for _, s := range ep.Secrets {
			if !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt) {
				continue // expired already: no use keeping it
			}
			if s.ExpiresAt.IsZero() || until.Before(s.ExpiresAt) {
				s.ExpiresAt = until
			}
			if overlap > 0 {
				keep = append(keep, s)
			}
		}
		ep.Secrets = keep
		return nil
	})
	if err != nil {
		return "", wrapWebhook("rotating the secret of", id, err)
	}
	e.log.Info("webhook secret rotated", "webhook", id, "overlap", overlap)
	return secret, nil
}

// WebhookSecret returns the endpoint's current signing secret.
func (e *Engine) WebhookSecret(id string) (string, error) {
	ep, err := e.GetWebhook(id)
	if err != nil {
		return "", err
	}
	if len(ep.Secrets) == 0 || !ep.Secrets[0].ExpiresAt.IsZero() {
		return "", fmt.Errorf("engine: webhook %s has no current secret", id)
	}
	return ep.Secrets[0].Value, nil
}

// Deliveries returns the endpoint's deliveries newest first, at most limit
// (1 to 100; 0: 20), starting after the delivery startingAfter, and whether
// more follow. ErrNotFound for an unknown endpoint.
func (e *Engine) Deliveries(webhookID, startingAfter string, limit int) ([]*store.Delivery, bool, error) {
	if _, err := e.GetWebhook(webhookID); err != nil {
		return nil, false, err
	}
	ds, more, err := e.st.ListDeliveries(webhookID, startingAfter, limit)
	if err != nil {
		return nil, false, fmt.Errorf("engine: listing deliveries of webhook %s: %w", webhookID, err)
	}
	return ds, more, nil
}

// RetryDelivery sends a delivery of the endpoint again, due at once; a
// pending one is left as it is. ErrNotFound unless the delivery belongs to
// the endpoint; ErrConflict while the endpoint is disabled.
func (e *Engine) RetryDelivery(ctx context.Context, webhookID, deliveryID string) (*store.Delivery, error) {
	return e.retryDelivery(ctx, "webhook "+webhookID, deliveryID, func(d *store.Delivery) bool {
		return d.EndpointID == webhookID
	})
}

// CallbackDeliveries returns the deliveries to the callback's own
// webhook_url newest first, paged as Deliveries. ErrNotFound for an
// unknown callback.
func (e *Engine) CallbackDeliveries(callbackID, startingAfter string, limit int) ([]*store.Delivery, bool, error) {
	if _, err := e.st.GetCallback(callbackID); err != nil {
		return nil, false, wrapRead("callback", callbackID, err)
	}
	ds, more, err := e.st.ListDeliveries(callbackID, startingAfter, limit)
	if err != nil {
		return nil, false, fmt.Errorf("engine: listing webhook_url deliveries of callback %s: %w", callbackID, err)
	}
	return ds, more, nil
}

// RetryCallbackDelivery sends a delivery to the callback's own webhook_url
// again, due at once; a pending one is left as it is. ErrNotFound unless
// the delivery is one of those.
func (e *Engine) RetryCallbackDelivery(ctx context.Context, callbackID, deliveryID string) (*store.Delivery, error) {
	return e.retryDelivery(ctx, "callback "+callbackID, deliveryID, func(d *store.Delivery) bool {
		return d.EndpointID == "" && d.CallbackID == callbackID
	})
}

// retryDelivery makes the delivery pending again if owned says it is
// whose (an endpoint's, or a callback's webhook_url); ErrNotFound if not.
func (e *Engine) retryDelivery(ctx context.Context, whose, deliveryID string, owned func(*store.Delivery) bool) (*store.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d, err := e.st.GetDelivery(deliveryID)
	if err != nil {
		return nil, wrapRead("delivery", deliveryID, err)
	}
	if !owned(d) {
		return nil, fmt.Errorf("engine: %s has no delivery %s: %w", whose, deliveryID, ErrNotFound)
	}
	if d, err = e.st.RetryDelivery(deliveryID); err != nil {
		return nil, fmt.Errorf("engine: retrying delivery %s of %s: %w", deliveryID, whose, err)
	}
	e.log.Info("webhook delivery retried", "of", whose, "delivery", deliveryID)
	return d, nil
}

// pingData is the details of a ping event.
type pingData struct {
	WebhookID string `json:"webhook_id"`
	Message   string `json:"message"`
}

// TestWebhook queues a ping event to the endpoint and returns its
// delivery. ErrConflict while the endpoint is disabled.
func (e *Engine) TestWebhook(ctx context.Context, id string) (*store.Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d, err := e.st.CreatePing(id, pingData{WebhookID: id, Message: "callbackd test event"})
	if err != nil {
		return nil, wrapWebhook("pinging", id, err)
	}
	e.log.Info("webhook ping queued", "webhook", id, "delivery", d.ID)
	return d, nil
}

// CallbackWebhookSecret returns the secret that signs the deliveries to
// callbacks' own webhook_url.
func (e *Engine) CallbackWebhookSecret() (string, error) {
	s, err := e.st.CallbackSecret()
	if err != nil {
		return "", fmt.Errorf("engine: reading the callback webhook secret: %w", err)
	}
	if s == "" {
		return "", errors.New("engine: the store has no callback webhook secret")
	}
	return s, nil
}

func wrapWebhook(what, id string, err error) error {
	return fmt.Errorf("engine: %s webhook %s: %w", what, id, err)
}

// checkEndpoint validates the user's fields of ep and normalises them in
// place: event types without repeats, nil for all.
func checkEndpoint(ep *store.Endpoint) error {
	if ep.URL == "" {
		return fieldErr("url", CodeInvalidField, "required: where to send the events")
	}
	if err := checkURLSyntax("url", ep.URL); err != nil {
		return err
	}
	var types []string
	for i, t := range ep.EventTypes {
		if err := checkEventType(fmt.Sprintf("event_types[%d]", i), t); err != nil {
			return err
		}
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	ep.EventTypes = types
	d := ep.Description
	switch {
	case !utf8.ValidString(d) || utf8.RuneCountInString(d) > MaxWebhookDescription:
		return fieldErr("description", CodeInvalidField, fmt.Sprintf("at most %d characters of UTF-8", MaxWebhookDescription))
	case strings.ContainsFunc(d, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fieldErr("description", CodeInvalidField, "control characters are not allowed")
	}
	return nil
}

// checkWebhookTarget asks Config.CheckWebhookURL whether webhooks may be
// sent to u (a public address, unless private ones are allowed).
func (e *Engine) checkWebhookTarget(ctx context.Context, field, u string) error {
	if e.cfg.CheckWebhookURL == nil {
		return nil
	}
	if err := e.cfg.CheckWebhookURL(ctx, u); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr // the client left; the URL may be fine
		}
		return fieldErr(field, CodeInvalidField, err.Error())
	}
	return nil
}

// urlHost is what the log shows of a webhook URL: its path or query may
// hold a token (many receivers authenticate so).
func urlHost(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Host
}

func cloneEndpoint(ep *store.Endpoint) *store.Endpoint {
	c := *ep
	c.EventTypes = slices.Clone(ep.EventTypes)
	c.Secrets = slices.Clone(ep.Secrets)
	return &c
}
