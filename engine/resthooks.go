package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/callbackd/callbackd/store"
)

// Bounds of REST Hooks subscriptions and samples.
const (
	// MaxSubscriptions bounds the endpoints REST Hooks subscribers may
	// make: integrations subscribe per Zap or workflow and sometimes forget
	// to unsubscribe.
	MaxSubscriptions   = 100
	DefaultSampleLimit = 10
	MaxSampleLimit     = 100
)

// Subscribe makes the webhook endpoint of a REST Hooks subscription
// (Zapier, n8n, Make): event's deliveries to targetURL, signed like any
// endpoint's, listed among the webhooks with source rest_hook.
// Validation failures are *FieldError naming target_url or event.
func (e *Engine) Subscribe(ctx context.Context, targetURL, event string) (*store.Endpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkEventType("event", event); err != nil {
		return nil, err
	}
	ep := &store.Endpoint{URL: targetURL, EventTypes: []string{event}, Enabled: true,
		Source: store.SourceRESTHook, Description: "REST Hooks subscription to " + event}
	if err := checkEndpoint(ep); err != nil {
		if fe := (*FieldError)(nil); errors.As(err, &fe) && fe.Field == "url" {
			fe.Field = "target_url"
		}
		return nil, err
	}
	if err := e.checkWebhookTarget(ctx, "target_url", ep.URL); err != nil {
		return nil, err
	}
	eps, err := e.st.ListEndpoints()
	if err != nil {
		return nil, fmt.Errorf("engine: counting subscriptions: %w", err)
	}
	n := 0
	for _, x := range eps {
		if x.Source == store.SourceRESTHook {
			n++
		}
	}
	if n >= MaxSubscriptions {
		return nil, fieldErr("target_url", CodeInvalidField,
			fmt.Sprintf("at most %d REST Hooks subscriptions; unsubscribe unused ones first", MaxSubscriptions))
	}
	ep.Secrets = []store.Secret{{Value: store.NewSecret(), CreatedAt: e.clk.Now().UTC()}}
	if err := e.st.CreateEndpoint(ep); err != nil {
		return nil, fmt.Errorf("engine: creating subscription: %w", err)
	}
	e.log.Info("rest hook subscribed", "webhook", ep.ID, "host", urlHost(ep.URL), "event", event)
	return ep, nil
}

// Unsubscribe deletes a REST Hooks subscription's endpoint. An endpoint
// made with CreateWebhook is not a subscription: ErrNotFound, so that a
// subscriber's key cannot delete the deployment's own webhooks.
func (e *Engine) Unsubscribe(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ep, err := e.st.GetEndpoint(id)
	if err != nil {
		return wrapRead("subscription", id, err)
	}
	if ep.Source != store.SourceRESTHook {
		return fmt.Errorf("engine: subscription %s: %w", id, ErrNotFound)
	}
	if err := e.st.DeleteEndpoint(id); err != nil {
		return wrapWebhook("unsubscribing", id, err)
	}
	e.log.Info("rest hook unsubscribed", "webhook", id)
	return nil
}

// Samples returns up to limit recent events of type event as webhook
// envelopes, newest first (limit 0: DefaultSampleLimit), for integrations
// that poll for sample data before they subscribe.
func (e *Engine) Samples(event string, limit int) ([]store.Envelope, error) {
	if err := checkEventType("event", event); err != nil {
		return nil, err
	}
	switch {
	case limit == 0:
		limit = DefaultSampleLimit
	case limit < 0 || limit > MaxSampleLimit:
		return nil, fieldErr("limit", CodeInvalidField, fmt.Sprintf("must be 1 to %d", MaxSampleLimit))
	}
	envs, err := e.st.RecentEvents(event, limit)
	if err != nil {
		return nil, fmt.Errorf("engine: sampling %s events: %w", event, err)
	}
	return envs, nil
}

func checkEventType(field, t string) error {
	switch {
	case t == "":
		return fieldErr(field, CodeInvalidField, "required: one of "+strings.Join(webhookEventTypes, ", "))
	case !slices.Contains(webhookEventTypes, t):
		return fieldErr(field, CodeInvalidField,
			fmt.Sprintf("unknown event type %q; known: %s", t, strings.Join(webhookEventTypes, ", ")))
	}
	return nil
}
