package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/callbackd/callbackd/store"
)

func TestSubscribe(t *testing.T) {
	ctx := context.Background()
	v := newEnv(t, Config{CheckWebhookURL: publicOnly(nil)})
	for _, tc := range []struct {
		name, url, event, field string
	}{
		{"no event", "https://hooks.zapier.example/1", "", "event"},
		{"unknown event", "https://hooks.zapier.example/1", "call.answered", "event"},
		{"ping", "https://hooks.zapier.example/1", EventPing, "event"},
		{"no url", "", "callback.completed", "target_url"},
		{"not http", "ftp://hooks.zapier.example/1", "callback.completed", "target_url"},
		{"private address", "http://10.0.0.7/hook", "callback.completed", "target_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.e.Subscribe(ctx, tc.url, tc.event)
			if fe := asFieldError(t, err); fe.Field != tc.field {
				t.Errorf("field %q, want %q (%v)", fe.Field, tc.field, err)
			}
		})
	}

	ep, err := v.e.Subscribe(ctx, "https://hooks.zapier.example/1", "callback.completed")
	if err != nil {
		t.Fatal(err)
	}
	if ep.Source != store.SourceRESTHook || !ep.Enabled || len(ep.EventTypes) != 1 || ep.EventTypes[0] != "callback.completed" || len(ep.Secrets) != 1 {
		t.Errorf("subscription %+v", ep)
	}
	own, _ := v.webhook(WebhookRequest{URL: "https://example.com/hook"})
	if err := v.e.Unsubscribe(ctx, own.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Unsubscribe of an endpoint made with CreateWebhook: %v, want ErrNotFound", err)
	}
	if _, err := v.e.GetWebhook(own.ID); err != nil {
		t.Errorf("the endpoint is gone: %v", err)
	}
	if err := v.e.Unsubscribe(ctx, ep.ID); err != nil {
		t.Fatal(err)
	}
	if err := v.e.Unsubscribe(ctx, ep.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Unsubscribe: %v, want ErrNotFound", err)
	}

	// The cap counts subscriptions only.
	for i := range MaxSubscriptions {
		if _, err := v.e.Subscribe(ctx, fmt.Sprintf("https://hooks.zapier.example/%d", i), "call.missed"); err != nil {
			t.Fatalf("subscription %d: %v", i, err)
		}
	}
	if _, err := v.e.Subscribe(ctx, "https://hooks.zapier.example/x", "call.missed"); asFieldError(t, err).Field != "target_url" {
		t.Errorf("subscription past the cap: %v", err)
	}
	v.webhook(WebhookRequest{URL: "https://example.com/still-fine"})
}

func TestSamples(t *testing.T) {
	v := newEnv(t, Config{})
	if _, err := v.e.Samples("call.answered", 0); asFieldError(t, err).Field != "event" {
		t.Errorf("unknown event type: %v", err)
	}
	if _, err := v.e.Samples("call.missed", MaxSampleLimit+1); asFieldError(t, err).Field != "limit" {
		t.Errorf("limit too large: %v", err)
	}
	envs, err := v.e.Samples("callback.scheduled", 0)
	if err != nil || len(envs) != 0 {
		t.Fatalf("samples before any callback: %v, %v", envs, err)
	}
}
