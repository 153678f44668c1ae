package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/bridge"
	"github.com/callbackd/callbackd/store"
)

// publicOnly is a CheckWebhookURL that refuses the hosts a webhook.CheckURL
// without allow_private_urls would, by name, without DNS.
func publicOnly(calls *[]string) func(context.Context, string) error {
	return func(_ context.Context, u string) error {
		if calls != nil {
			*calls = append(*calls, u)
		}
		for _, h := range []string{"//127.", "//localhost", "//10.", "//[::1]"} {
			if strings.Contains(u, h) {
				return fmt.Errorf("webhook URL %s points at a non-public address", u)
			}
		}
		return nil
	}
}

func (v *env) webhook(r WebhookRequest) (*store.Endpoint, string) {
	v.t.Helper()
	ep, secret, err := v.e.CreateWebhook(context.Background(), r)
	if err != nil {
		v.t.Fatalf("CreateWebhook: %v", err)
	}
	return ep, secret
}

func TestWebhookValidation(t *testing.T) {
	tests := []struct {
		name  string
		req   WebhookRequest
		field string
	}{
		{"no url", WebhookRequest{}, "url"},
		{"relative url", WebhookRequest{URL: "/hook"}, "url"},
		{"not http", WebhookRequest{URL: "ftp://example.com/hook"}, "url"},
		{"no host", WebhookRequest{URL: "https:///hook"}, "url"},
		{"credentials", WebhookRequest{URL: "https://u:p@example.com/hook"}, "url"},
		{"too long", WebhookRequest{URL: "https://example.com/" + strings.Repeat("x", MaxURLLen)}, "url"},
		{"private address", WebhookRequest{URL: "http://127.0.0.1:8080/hook"}, "url"},
		{"localhost", WebhookRequest{URL: "http://localhost/hook"}, "url"},
		{"unknown event type", WebhookRequest{URL: "https://example.com/hook", EventTypes: []string{"call.connected", "call.exploded"}}, "event_types[1]"},
		{"ping is not subscribed to", WebhookRequest{URL: "https://example.com/hook", EventTypes: []string{EventPing}}, "event_types[0]"},
		{"description too long", WebhookRequest{URL: "https://example.com/hook", Description: strings.Repeat("é", MaxWebhookDescription+1)}, "description"},
		{"description with a newline", WebhookRequest{URL: "https://example.com/hook", Description: "a\nb"}, "description"},
	}
	v := newEnv(t, Config{CheckWebhookURL: publicOnly(nil)})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep, _, err := v.e.CreateWebhook(context.Background(), tt.req)
			if err == nil {
				t.Fatalf("created %+v", ep)
			}
			fe := asFieldError(t, err)
			if fe.Field != tt.field || fe.Code != CodeInvalidField || fe.Msg == "" {
				t.Errorf("error %q %q %q, want field %q", fe.Field, fe.Code, fe.Msg, tt.field)
			}
		})
	}
	if eps, err := v.e.ListWebhooks(); err != nil || len(eps) != 0 {
		t.Errorf("refused requests stored %d endpoints (%v)", len(eps), err)
	}

	// What is accepted, and how it is stored.
	ep, secret := v.webhook(WebhookRequest{URL: "https://example.com/hook", Description: strings.Repeat("é", MaxWebhookDescription),
		EventTypes: []string{"callback.completed", "call.missed", "callback.completed"}})
	if !strings.HasPrefix(ep.ID, "we_") || !ep.Enabled || !strings.HasPrefix(secret, "whsec_") {
		t.Errorf("created %+v with secret %q", ep, secret)
	}
	if !slices.Equal(ep.EventTypes, []string{"callback.completed", "call.missed"}) {
		t.Errorf("event types %v, want the repeat dropped", ep.EventTypes)
	}
	off := false
	all, _ := v.webhook(WebhookRequest{URL: "https://example.com/all", Enabled: &off})
	if all.Enabled || all.EventTypes != nil {
		t.Errorf("created %+v, want disabled, every event type", all)
	}
	for _, ty := range WebhookEventTypes() {
		v.webhook(WebhookRequest{URL: "https://example.com/" + ty, EventTypes: []string{ty}})
	}
}

// Every event type a callback's log gets is one an endpoint can
// subscribe to, and each of those is seen here: a callback that connects,
// one that fails, one canceled while waiting for its retry.
func TestWebhookEventTypesAreEmitted(t *testing.T) {
	v := newEnv(t, Config{})
	v.d.set(numLondon2, miss(bridge.CustomerRejected, 603))
	v.d.set(numLondon3, miss(bridge.CustomerBusy, 486))
	done := v.create(req(numLondon))
	failed := v.create(req(numLondon2))
	r := req(numLondon3)
	r.Retry = json.RawMessage(`{"max_attempts": 2, "intervals": ["1h"]}`)
	retried := v.create(r)
	v.waitStatus(done.ID, store.Completed)
	v.waitStatus(failed.ID, store.Failed)
	v.waitAttempts(retried.ID, 1)
	if _, err := v.e.Cancel(context.Background(), retried.ID); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, id := range []string{done.ID, failed.ID, retried.ID} {
		for _, ty := range v.checkLog(id) {
			seen[ty] = true
			if !slices.Contains(WebhookEventTypes(), ty) {
				t.Errorf("event type %s is not among the webhook event types", ty)
			}
		}
	}
	for _, ty := range WebhookEventTypes() {
		if !seen[ty] {
			t.Errorf("webhook event type %s was not emitted", ty)
		}
	}
}

// A callback's own webhook_url goes through the same check.
func TestCreateChecksWebhookURL(t *testing.T) {
	var calls []string
	v := newEnv(t, Config{CheckWebhookURL: publicOnly(&calls)})
	r := req(numLondon)
	r.ScheduledAt = t0.Add(time.Hour)
	r.WebhookURL = "http://10.0.0.7/hook"
	_, err := v.e.Create(context.Background(), r)
	if fe := asFieldError(t, err); fe.Field != "webhook_url" || fe.Code != CodeInvalidField || !strings.Contains(fe.Msg, "non-public") {
		t.Errorf("error %+v", fe)
	}
	r.WebhookURL = "https://example.com/hook"
	cb := v.create(r)
	if cb.WebhookURL != r.WebhookURL {
		t.Errorf("webhook_url %q", cb.WebhookURL)
	}
	// A malformed URL is refused before the check is asked.
	r.WebhookURL = "ftp://example.com"
	if _, err := v.e.Create(context.Background(), r); asFieldError(t, err).Field != "webhook_url" {
		t.Errorf("error %v", err)
	}
	if !slices.Equal(calls, []string{"http://10.0.0.7/hook", "https://example.com/hook"}) {
		t.Errorf("CheckWebhookURL asked about %v", calls)
	}

	// A canceled request is not a refused URL.
	v2 := newEnv(t, Config{CheckWebhookURL: func(ctx context.Context, u string) error {
		<-ctx.Done()
		return fmt.Errorf("lookup: %w", ctx.Err())
	}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = v2.e.CreateWebhook(ctx, WebhookRequest{URL: "https://example.com/hook"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled create: %v", err)
	}
}

func TestUpdateWebhook(t *testing.T) {
	var calls []string
	v := newEnv(t, Config{CheckWebhookURL: publicOnly(&calls)})
	ep, secret := v.webhook(WebhookRequest{URL: "https://example.com/hook", Description: "orders"})
	ctx := context.Background()

	// Refused patches change nothing.
	for _, tc := range []struct {
		name  string
		patch func(*store.Endpoint)
		field string
	}{
		{"empty url", func(e *store.Endpoint) { e.URL = "" }, "url"},
		{"private url", func(e *store.Endpoint) { e.URL = "http://127.0.0.1/hook" }, "url"},
		{"unknown type", func(e *store.Endpoint) { e.EventTypes = []string{"callback.exploded"} }, "event_types[0]"},
		{"id", func(e *store.Endpoint) { e.ID = "we_other" }, "id"},
	} {
		_, err := v.e.UpdateWebhook(ctx, ep.ID, func(e *store.Endpoint) error { tc.patch(e); return nil })
		if fe := asFieldError(t, err); fe.Field != tc.field {
			t.Errorf("%s: field %q, want %q", tc.name, fe.Field, tc.field)
		}
	}
	got, err := v.e.GetWebhook(ep.ID)
	if err != nil || got.URL != ep.URL || got.Description != "orders" || got.EventTypes != nil {
		t.Fatalf("after refused patches: %+v, %v", got, err)
	}

	calls = nil
	up, err := v.e.UpdateWebhook(ctx, ep.ID, func(e *store.Endpoint) error {
		e.URL, e.EventTypes, e.Description = "https://example.org/new", []string{"callback.failed"}, ""
		return nil
	})
	if err != nil || up.URL != "https://example.org/new" || !slices.Equal(up.EventTypes, []string{"callback.failed"}) || up.Description != "" {
		t.Fatalf("update: %+v, %v", up, err)
	}
	if !slices.Equal(calls, []string{"https://example.org/new"}) {
		t.Errorf("checked %v, want the new URL once", calls)
	}
	if s, _ := v.e.WebhookSecret(ep.ID); s != secret {
		t.Error("an update changed the secret")
	}
	// An unchanged URL is not checked again (it may resolve differently
	// today; that is the sender's business).
	calls = nil
	if _, err := v.e.UpdateWebhook(ctx, ep.ID, func(e *store.Endpoint) error { e.Description = "again"; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 0 {
		t.Errorf("checked %v for an unchanged URL", calls)
	}

	// The sender disabled it after a 410; enabling clears why.
	if _, err := v.db.UpdateEndpoint(ep.ID, func(e *store.Endpoint) error {
		e.Enabled, e.DisabledReason, e.FailingSince = false, "410 Gone", t0
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	keep, err := v.e.UpdateWebhook(ctx, ep.ID, func(e *store.Endpoint) error { e.Description = "still off"; return nil })
	if err != nil || keep.Enabled || keep.DisabledReason != "410 Gone" {
		t.Errorf("an unrelated patch of a disabled endpoint: %+v, %v", keep, err)
	}
	on, err := v.e.UpdateWebhook(ctx, ep.ID, func(e *store.Endpoint) error { e.Enabled = true; return nil })
	if err != nil || !on.Enabled || on.DisabledReason != "" || !on.FailingSince.IsZero() {
		t.Errorf("re-enabled: %+v, %v", on, err)
	}
	off, err := v.e.UpdateWebhook(ctx, ep.ID, func(e *store.Endpoint) error { e.Enabled = false; return nil })
	if err != nil || off.Enabled || off.DisabledReason != "" {
		t.Errorf("disabled by the user: %+v, %v", off, err)
	}

	if _, err := v.e.UpdateWebhook(ctx, "we_none", func(*store.Endpoint) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of an unknown webhook: %v", err)
	}
	if err := v.e.DeleteWebhook(ctx, ep.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.GetWebhook(ep.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("get after delete: %v", err)
	}
	if err := v.e.DeleteWebhook(ctx, ep.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete again: %v", err)
	}
}

func TestRotateWebhookSecret(t *testing.T) {
	v := newEnv(t, Config{})
	ctx := context.Background()
	ep, first := v.webhook(WebhookRequest{URL: "https://example.com/hook"})
	active := func(at time.Time) []string {
		t.Helper()
		e, err := v.e.GetWebhook(ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		return e.ActiveSecrets(at)
	}
	if got := active(t0); !slices.Equal(got, []string{first}) {
		t.Fatalf("active %v", got)
	}

	second, err := v.e.RotateWebhookSecret(ctx, ep.ID, time.Hour)
	if err != nil || second == first || !strings.HasPrefix(second, "whsec_") {
		t.Fatalf("rotate: %q, %v", second, err)
	}
	if cur, _ := v.e.WebhookSecret(ep.ID); cur != second {
		t.Errorf("current secret %q, want the new one", cur)
	}
	if got := active(t0.Add(59 * time.Minute)); !slices.Equal(got, []string{second, first}) {
		t.Errorf("during the overlap: %v, want both, newest first", got)
	}
	if got := active(t0.Add(time.Hour)); !slices.Equal(got, []string{second}) {
		t.Errorf("after the overlap: %v, want the new one only", got)
	}

	// A second rotation does not lengthen the first secret's overlap.
	v.clk.Advance(10 * time.Minute)
	third, err := v.e.RotateWebhookSecret(ctx, ep.ID, DefaultSecretOverlap)
	if err != nil {
		t.Fatal(err)
	}
	if got := active(t0.Add(30 * time.Minute)); !slices.Equal(got, []string{third, second, first}) {
		t.Errorf("two rotations: %v", got)
	}
	if got := active(t0.Add(2 * time.Hour)); !slices.Equal(got, []string{third, second}) {
		t.Errorf("after the first overlap: %v", got)
	}
	if got := active(t0.Add(10*time.Minute + DefaultSecretOverlap)); !slices.Equal(got, []string{third}) {
		t.Errorf("after the default overlap: %v", got)
	}

	// Expired secrets are dropped at the next rotation; overlap 0 drops
	// the others at once.
	v.clk.Advance(2 * time.Hour)
	if _, err := v.e.RotateWebhookSecret(ctx, ep.ID, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if e, _ := v.e.GetWebhook(ep.ID); len(e.Secrets) != 3 {
		t.Errorf("%d secrets kept, want 3 (the first had expired)", len(e.Secrets))
	}
	last, err := v.e.RotateWebhookSecret(ctx, ep.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := v.e.GetWebhook(ep.ID); len(e.Secrets) != 1 || e.Secrets[0].Value != last || !e.Secrets[0].ExpiresAt.IsZero() {
		t.Errorf("after an overlap of 0: %+v", e.Secrets)
	}

	for _, d := range []time.Duration{-time.Second, MaxSecretOverlap + time.Second} {
		_, err := v.e.RotateWebhookSecret(ctx, ep.ID, d)
		if fe := asFieldError(t, err); fe.Field != "overlap" {
			t.Errorf("overlap %v: %+v", d, fe)
		}
	}
	if _, err := v.e.RotateWebhookSecret(ctx, "we_none", time.Hour); !errors.Is(err, ErrNotFound) {
		t.Errorf("rotate unknown: %v", err)
	}
	if _, err := v.e.WebhookSecret("we_none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("secret of unknown: %v", err)
	}
}

func TestWebhookDeliveries(t *testing.T) {
	v := newEnv(t, Config{})
	ctx := context.Background()
	a, _ := v.webhook(WebhookRequest{URL: "https://example.com/a"})
	b, _ := v.webhook(WebhookRequest{URL: "https://example.com/b", EventTypes: []string{evCanceled}})

	r := req(numLondon)
	r.ScheduledAt = t0.Add(time.Hour)
	cb := v.create(r)
	if _, err := v.e.Cancel(ctx, cb.ID); err != nil {
		t.Fatal(err)
	}
	da, more, err := v.e.Deliveries(a.ID, "", 0)
	if err != nil || more || len(da) != 2 || da[0].EventType != evCanceled || da[1].EventType != evScheduled {
		t.Fatalf("deliveries of a: %v, %v, %v", da, more, err)
	}
	db, _, err := v.e.Deliveries(b.ID, "", 0)
	if err != nil || len(db) != 1 || db[0].EventType != evCanceled {
		t.Fatalf("deliveries of b: %v, %v", db, err)
	}
	page, more, err := v.e.Deliveries(a.ID, "", 1)
	if err != nil || !more || len(page) != 1 || page[0].ID != da[0].ID {
		t.Errorf("first page: %v, %v, %v", page, more, err)
	}
	page, more, err = v.e.Deliveries(a.ID, da[0].ID, 1)
	if err != nil || more || len(page) != 1 || page[0].ID != da[1].ID {
		t.Errorf("second page: %v, %v, %v", page, more, err)
	}
	if _, _, err := v.e.Deliveries("we_none", "", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("deliveries of an unknown webhook: %v", err)
	}

	// A delivery is retried only through its own webhook.
	if _, err := v.e.RetryDelivery(ctx, b.ID, da[0].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("retry through another webhook: %v, want not found", err)
	}
	if _, err := v.e.RetryDelivery(ctx, a.ID, "dlv_none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("retry of an unknown delivery: %v", err)
	}
	// Disabling gives up the pending ones; they are retried once enabled.
	if _, err := v.e.UpdateWebhook(ctx, a.ID, func(e *store.Endpoint) error { e.Enabled = false; return nil }); err != nil {
		t.Fatal(err)
	}
	failed, _ := v.db.GetDelivery(da[0].ID)
	if failed.Status != store.DeliveryFailed {
		t.Fatalf("after disabling: %+v", failed)
	}
	if _, err := v.e.RetryDelivery(ctx, a.ID, da[0].ID); !errors.Is(err, ErrConflict) {
		t.Errorf("retry while disabled: %v, want conflict", err)
	}
	if _, err := v.e.TestWebhook(ctx, a.ID); !errors.Is(err, ErrConflict) {
		t.Errorf("ping while disabled: %v, want conflict", err)
	}
	if _, err := v.e.UpdateWebhook(ctx, a.ID, func(e *store.Endpoint) error { e.Enabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	d, err := v.e.RetryDelivery(ctx, a.ID, da[0].ID)
	if err != nil || d.Status != store.DeliveryPending || d.Error != "" {
		t.Errorf("retry: %+v, %v", d, err)
	}

	// A ping.
	ping, err := v.e.TestWebhook(ctx, b.ID)
	if err != nil || ping.EventType != EventPing || ping.Status != store.DeliveryPending || ping.EndpointID != b.ID {
		t.Fatalf("ping: %+v, %v", ping, err)
	}
	body, err := v.db.Payload(ping.EventID)
	if err != nil {
		t.Fatal(err)
	}
	var env store.Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	var details map[string]string
	if err := json.Unmarshal(env.Data.Details, &details); err != nil || env.Type != EventPing || details["webhook_id"] != b.ID || details["message"] == "" {
		t.Errorf("ping payload %s", body)
	}
	if _, err := v.e.TestWebhook(ctx, "we_none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ping of an unknown webhook: %v", err)
	}

	s, err := v.e.CallbackWebhookSecret()
	if err != nil || !strings.HasPrefix(s, "whsec_") {
		t.Errorf("callback secret %q, %v", s, err)
	}
}
