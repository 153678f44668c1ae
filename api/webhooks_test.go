package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/engine"
	"github.com/callbackd/callbackd/store"
	"github.com/callbackd/callbackd/webhook"
)

// Public addresses that need no DNS (TEST-NET-3), for webhook.CheckURL.
const (
	hookURL  = "https://203.0.113.10/hook"
	hookURL2 = "https://203.0.113.11/other"
)

// newWebhookEnv is the real engine and store with webhook URLs checked as
// the server checks them when private URLs are not allowed.
func newWebhookEnv(t *testing.T) *realEnv {
	t.Helper()
	return newRealEnvConfig(t, -1, Options{}, func(c *engine.Config) {
		c.CheckWebhookURL = func(ctx context.Context, u string) error { return webhook.CheckURL(ctx, u, false) }
	})
}

// webhookJSON is an endpoint as the API shows it, with what it must never
// show.
type webhookJSON struct {
	ID             string     `json:"id"`
	URL            string     `json:"url"`
	EventTypes     []string   `json:"event_types"`
	Description    string     `json:"description"`
	Enabled        bool       `json:"enabled"`
	DisabledReason string     `json:"disabled_reason"`
	FailingSince   *time.Time `json:"failing_since"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	Secret         string     `json:"secret"`
	Secrets        any        `json:"secrets"`
}

type deliveryPage struct {
	Data    []store.Delivery `json:"data"`
	HasMore bool             `json:"has_more"`
}

func (v *realEnv) createWebhook(body map[string]any) webhookJSON {
	v.t.Helper()
	var w webhookJSON
	v.post("/v1/webhooks", body).want(http.StatusCreated).decode(&w)
	return w
}

func TestWebhooksCRUD(t *testing.T) {
	v := newWebhookEnv(t)
	created := v.createWebhook(map[string]any{"url": hookURL, "event_types": []string{"callback.completed", "callback.failed"}, "description": "CRM"})
	if !strings.HasPrefix(created.ID, "we_") || created.URL != hookURL || !created.Enabled || created.Description != "CRM" ||
		len(created.EventTypes) != 2 || created.CreatedAt.IsZero() || created.Secrets != nil {
		t.Fatalf("created %+v", created)
	}
	if !strings.HasPrefix(created.Secret, "whsec_") {
		t.Fatalf("created without its secret: %+v", created)
	}

	// The secret is shown on create and by the secret route only.
	r := v.get("/v1/webhooks/" + created.ID).want(http.StatusOK)
	var got webhookJSON
	r.decode(&got)
	if got.ID != created.ID || got.URL != hookURL || got.Secret != "" || strings.Contains(string(r.body), created.Secret) || strings.Contains(string(r.body), "whsec_") {
		t.Errorf("GET shows %s", r.body)
	}
	r = v.get("/v1/webhooks").want(http.StatusOK)
	var list struct {
		Data    []webhookJSON `json:"data"`
		HasMore bool          `json:"has_more"`
	}
	r.decode(&list)
	if len(list.Data) != 1 || list.HasMore || strings.Contains(string(r.body), "whsec_") {
		t.Errorf("list %s", r.body)
	}
	var sec webhookSecret
	v.get("/v1/webhooks/" + created.ID + "/secret").want(http.StatusOK).decode(&sec)
	if sec.Secret != created.Secret {
		t.Errorf("secret %q, want the one shown at creation", sec.Secret)
	}

	// Every type by default, shown as an empty list.
	all := v.createWebhook(map[string]any{"url": hookURL2, "enabled": false})
	if all.EventTypes == nil || len(all.EventTypes) != 0 || all.Enabled {
		t.Errorf("created %+v, want event_types [] and disabled", all)
	}

	// PATCH replaces what it names, merge-patch or JSON.
	var patched webhookJSON
	r = v.do(req{method: "PATCH", path: "/v1/webhooks/" + created.ID, key: v.admin, body: map[string]any{"event_types": nil, "description": "all of it"},
		headers: map[string]string{"Content-Type": "application/merge-patch+json"}}).want(http.StatusOK)
	r.decode(&patched)
	if len(patched.EventTypes) != 0 || patched.Description != "all of it" || patched.URL != hookURL || !patched.Enabled ||
		patched.UpdatedAt.Before(created.UpdatedAt) || strings.Contains(string(r.body), "whsec_") {
		t.Errorf("patched %s", r.body)
	}
	v.do(req{method: "PATCH", path: "/v1/webhooks/" + all.ID, key: v.admin, body: map[string]any{"enabled": true}}).want(http.StatusOK).decode(&patched)
	if !patched.Enabled {
		t.Errorf("enabled: %+v", patched)
	}
	v.do(req{method: "PATCH", path: "/v1/webhooks/" + all.ID, key: v.admin, body: map[string]any{"url": "http://10.1.2.3/hook"}}).
		problem(http.StatusUnprocessableEntity, CodeValidation, "url")
	v.do(req{method: "PATCH", path: "/v1/webhooks/" + all.ID, key: v.admin, body: map[string]any{"url": nil}}).
		problem(http.StatusUnprocessableEntity, CodeValidation, "url")
	v.do(req{method: "PATCH", path: "/v1/webhooks/" + all.ID, key: v.admin, body: map[string]any{"secret": "whsec_x"}}).
		problem(http.StatusBadRequest, CodeUnknownField, "secret")
	v.do(req{method: "PATCH", path: "/v1/webhooks/" + all.ID, key: v.admin, body: `{}`, headers: map[string]string{"Content-Type": "text/plain"}}).
		problem(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "")
	v.do(req{method: "PATCH", path: "/v1/webhooks/we_none", key: v.admin, body: map[string]any{"enabled": true}}).
		problem(http.StatusNotFound, CodeNotFound, "")
	v.get("/v1/webhooks/" + all.ID).decode(&got)
	if got.URL != hookURL2 {
		t.Errorf("a refused PATCH changed the endpoint: %+v", got)
	}

	v.do(req{method: "DELETE", path: "/v1/webhooks/" + all.ID, key: v.admin}).want(http.StatusNoContent)
	v.get("/v1/webhooks/"+all.ID).problem(http.StatusNotFound, CodeNotFound, "")
	v.do(req{method: "DELETE", path: "/v1/webhooks/" + all.ID, key: v.admin}).problem(http.StatusNotFound, CodeNotFound, "")
	v.get("/v1/webhooks/we_none/secret").problem(http.StatusNotFound, CodeNotFound, "")
	v.get("/v1/webhooks?limit=5").problem(http.StatusBadRequest, CodeUnknownField, "limit")

	// Idempotent create: the replay is the first answer and makes nothing.
	idem := map[string]string{IdempotencyHeader: "hook-1"}
	body := map[string]any{"url": hookURL2}
	first := v.do(req{method: "POST", path: "/v1/webhooks", key: v.admin, body: body, headers: idem}).want(http.StatusCreated)
	again := v.do(req{method: "POST", path: "/v1/webhooks", key: v.admin, body: body, headers: idem}).want(http.StatusCreated)
	if again.header.Get(ReplayedHeader) != "true" || string(again.body) != string(first.body) {
		t.Errorf("replay %s (%s), want %s", again.body, again.header.Get(ReplayedHeader), first.body)
	}
	v.do(req{method: "POST", path: "/v1/webhooks", key: v.admin, body: map[string]any{"url": hookURL}, headers: idem}).
		problem(http.StatusUnprocessableEntity, CodeIdempotencyMismatch, IdempotencyHeader)
	v.get("/v1/webhooks").decode(&list)
	if len(list.Data) != 2 {
		t.Errorf("%d endpoints, want 2", len(list.Data))
	}
}

func TestWebhooksRefused(t *testing.T) {
	v := newWebhookEnv(t)
	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"malformed JSON", `{"url": `, 400, CodeInvalidJSON, ""},
		{"not an object", `["` + hookURL + `"]`, 400, CodeWrongType, ""},
		{"unknown field", map[string]any{"url": hookURL, "secret": "whsec_mine"}, 400, CodeUnknownField, "secret"},
		{"wrong type url", map[string]any{"url": 42}, 400, CodeWrongType, "url"},
		{"wrong type event_types", map[string]any{"url": hookURL, "event_types": "call.connected"}, 400, CodeWrongType, "event_types"},
		{"wrong type enabled", map[string]any{"url": hookURL, "enabled": "yes"}, 400, CodeWrongType, "enabled"},
		{"no url", map[string]any{"description": "x"}, 422, CodeValidation, "url"},
		{"relative url", map[string]any{"url": "/hook"}, 422, CodeValidation, "url"},
		{"ftp url", map[string]any{"url": "ftp://203.0.113.10/hook"}, 422, CodeValidation, "url"},
		{"credentials", map[string]any{"url": "https://me:pw@203.0.113.10/hook"}, 422, CodeValidation, "url"},
		{"loopback url", map[string]any{"url": "http://127.0.0.1:9000/hook"}, 422, CodeValidation, "url"},
		{"private url", map[string]any{"url": "http://192.168.1.20/hook"}, 422, CodeValidation, "url"},
		{"link-local url", map[string]any{"url": "http://169.254.169.254/latest/meta-data"}, 422, CodeValidation, "url"},
		{"ipv6 loopback url", map[string]any{"url": "http://[::1]/hook"}, 422, CodeValidation, "url"},
		{"unknown event type", map[string]any{"url": hookURL, "event_types": []string{"callback.completed", "callback.exploded"}}, 422, CodeValidation, "event_types[1]"},
		{"long description", map[string]any{"url": hookURL, "description": strings.Repeat("x", engine.MaxWebhookDescription+1)}, 422, CodeValidation, "description"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := v.with(t).post("/v1/webhooks", tc.body).problem(tc.status, tc.code, tc.field)
			if tc.name == "loopback url" && !strings.Contains(p.Detail, "loopback") {
				t.Errorf("detail %q does not say why", p.Detail)
			}
		})
	}
	v.do(req{method: "POST", path: "/v1/webhooks", key: v.admin, body: map[string]any{"url": hookURL}, headers: map[string]string{"Content-Type": "text/plain"}}).
		problem(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "")
	var list struct {
		Data []webhookJSON `json:"data"`
	}
	v.get("/v1/webhooks").want(http.StatusOK).decode(&list)
	if len(list.Data) != 0 {
		t.Errorf("refused requests stored %d endpoints", len(list.Data))
	}

	// A callback's own webhook_url is held to the same rule.
	v.do(req{method: "POST", path: "/v1/callbacks", key: v.writer, body: with(func(b map[string]any) { b["webhook_url"] = "http://127.0.0.1/hook" })}).
		problem(http.StatusUnprocessableEntity, CodeValidation, "webhook_url")
	if n := v.countAll(); n != 0 {
		t.Errorf("%d callbacks stored", n)
	}
}

// Every webhook route wants the admin scope.
func TestWebhooksScopes(t *testing.T) {
	v := newWebhookEnv(t)
	w := v.createWebhook(map[string]any{"url": hookURL})
	for _, rt := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/webhooks", map[string]any{"url": hookURL}},
		{"GET", "/v1/webhooks", nil},
		{"GET", "/v1/webhooks/" + w.ID, nil},
		{"PATCH", "/v1/webhooks/" + w.ID, map[string]any{"enabled": false}},
		{"DELETE", "/v1/webhooks/" + w.ID, nil},
		{"GET", "/v1/webhooks/" + w.ID + "/secret", nil},
		{"POST", "/v1/webhooks/" + w.ID + "/rotate-secret", nil},
		{"GET", "/v1/webhooks/" + w.ID + "/deliveries", nil},
		{"POST", "/v1/webhooks/" + w.ID + "/deliveries/dlv_x/retry", nil},
		{"POST", "/v1/webhooks/" + w.ID + "/test", nil},
		{"GET", "/v1/webhook-secret", nil},
	} {
		for _, key := range []string{v.writer, v.reader} {
			r := v.do(req{method: rt.method, path: rt.path, key: key, body: rt.body})
			r.problem(http.StatusForbidden, CodeForbidden, "")
			if strings.Contains(string(r.body), "whsec_") {
				t.Errorf("%s %s: a refused request shows a secret", rt.method, rt.path)
			}
		}
		v.do(req{method: rt.method, path: rt.path, body: rt.body}).problem(http.StatusUnauthorized, CodeUnauthenticated, "")
	}
	var got webhookJSON
	v.get("/v1/webhooks/" + w.ID).want(http.StatusOK).decode(&got)
	if !got.Enabled {
		t.Error("a forbidden PATCH disabled the endpoint")
	}
}

func TestWebhookSecretRotation(t *testing.T) {
	v := newWebhookEnv(t)
	w := v.createWebhook(map[string]any{"url": hookURL})
	var rotated webhookSecret
	v.post("/v1/webhooks/"+w.ID+"/rotate-secret", map[string]any{"overlap": "1h"}).want(http.StatusOK).decode(&rotated)
	if !strings.HasPrefix(rotated.Secret, "whsec_") || rotated.Secret == w.Secret {
		t.Fatalf("rotated to %q", rotated.Secret)
	}
	var cur webhookSecret
	v.get("/v1/webhooks/" + w.ID + "/secret").decode(&cur)
	if cur.Secret != rotated.Secret {
		t.Errorf("current secret %q, want the new one", cur.Secret)
	}
	ep, err := v.db.GetEndpoint(w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ep.Secrets) != 2 || ep.Secrets[1].Value != w.Secret || time.Until(ep.Secrets[1].ExpiresAt).Round(time.Minute) != time.Hour {
		t.Errorf("secrets after a 1h rotation: %+v", ep.Secrets)
	}
	// No body: the default overlap, which does not lengthen the first.
	v.do(req{method: "POST", path: "/v1/webhooks/" + w.ID + "/rotate-secret", key: v.admin}).want(http.StatusOK)
	ep, _ = v.db.GetEndpoint(w.ID)
	if len(ep.Secrets) != 3 || time.Until(ep.Secrets[1].ExpiresAt).Round(time.Minute) != engine.DefaultSecretOverlap ||
		time.Until(ep.Secrets[2].ExpiresAt).Round(time.Minute) != time.Hour {
		t.Errorf("secrets after a default rotation: %+v", ep.Secrets)
	}
	if n := len(ep.ActiveSecrets(time.Now())); n != 3 {
		t.Errorf("%d secrets sign now, want 3", n)
	}
	v.post("/v1/webhooks/"+w.ID+"/rotate-secret", map[string]any{"overlap": "0s"}).want(http.StatusOK)
	if ep, _ = v.db.GetEndpoint(w.ID); len(ep.ActiveSecrets(time.Now())) != 1 {
		t.Errorf("after an overlap of 0s: %+v", ep.Secrets)
	}

	path := "/v1/webhooks/" + w.ID + "/rotate-secret"
	v.post(path, map[string]any{"overlap": "8d"}).problem(http.StatusUnprocessableEntity, CodeValidation, "overlap")
	v.post(path, map[string]any{"overlap": "169h"}).problem(http.StatusUnprocessableEntity, CodeValidation, "overlap")
	v.post(path, map[string]any{"overlap": "-1h"}).problem(http.StatusUnprocessableEntity, CodeValidation, "overlap")
	v.post(path, map[string]any{"overlap": 3600}).problem(http.StatusBadRequest, CodeWrongType, "overlap")
	v.post(path, map[string]any{"ttl": "1h"}).problem(http.StatusBadRequest, CodeUnknownField, "ttl")
	v.do(req{method: "POST", path: path, key: v.admin, body: `{"overlap":"1h"}`, headers: map[string]string{"Content-Type": "text/plain"}}).
		problem(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "")
	v.post("/v1/webhooks/we_none/rotate-secret", nil).problem(http.StatusNotFound, CodeNotFound, "")

	var cs webhookSecret
	v.get("/v1/webhook-secret").want(http.StatusOK).decode(&cs)
	stored, _ := v.db.CallbackSecret()
	if cs.Secret == "" || cs.Secret != stored {
		t.Errorf("callback webhook secret %q, the store's %q", cs.Secret, stored)
	}
	v.get("/v1/webhook-secret?x=1").problem(http.StatusBadRequest, CodeUnknownField, "x")
}

func TestWebhookDeliveries(t *testing.T) {
	v := newWebhookEnv(t)
	w := v.createWebhook(map[string]any{"url": hookURL})
	other := v.createWebhook(map[string]any{"url": hookURL2, "event_types": []string{"callback.canceled"}})
	// Three callbacks for later, each canceled: six events for w.
	for range 3 {
		cb := v.createCallback(with(func(b map[string]any) { b["scheduled_at"] = later() }))
		v.post("/v1/callbacks/"+cb.ID+"/cancel", nil).want(http.StatusOK)
	}

	var all []store.Delivery
	after := ""
	for range 10 {
		path := "/v1/webhooks/" + w.ID + "/deliveries?limit=4"
		if after != "" {
			path += "&starting_after=" + after
		}
		var p deliveryPage
		v.get(path).want(http.StatusOK).decode(&p)
		all = append(all, p.Data...)
		if !p.HasMore {
			break
		}
		after = p.Data[len(p.Data)-1].ID
	}
	if len(all) != 6 {
		t.Fatalf("%d deliveries, want 6", len(all))
	}
	for i, d := range all {
		if i > 0 && d.ID >= all[i-1].ID {
			t.Errorf("not newest first: %s after %s", d.ID, all[i-1].ID)
		}
		if d.EndpointID != w.ID || d.Status != store.DeliveryPending || d.Attempts == nil || d.EventID == "" || d.Seq == 0 {
			t.Errorf("delivery %+v", d)
		}
	}
	var p deliveryPage
	v.get("/v1/webhooks/" + other.ID + "/deliveries").want(http.StatusOK).decode(&p)
	if len(p.Data) != 3 || p.Data[0].EventType != "callback.canceled" {
		t.Errorf("the filtered endpoint got %+v", p.Data)
	}
	r := v.get("/v1/webhooks/" + w.ID + "/deliveries?limit=1")
	if !strings.Contains(string(r.body), `"attempts":[]`) {
		t.Errorf("attempts not shown as a list: %s", r.body)
	}
	v.get("/v1/webhooks/"+w.ID+"/deliveries?limit=101").problem(http.StatusUnprocessableEntity, CodeValidation, "limit")
	v.get("/v1/webhooks/"+w.ID+"/deliveries?after=1").problem(http.StatusBadRequest, CodeUnknownField, "after")
	v.get("/v1/webhooks/we_none/deliveries").problem(http.StatusNotFound, CodeNotFound, "")

	// Retry: through its own webhook only; refused while it is disabled.
	d := all[0]
	var retried store.Delivery
	v.post("/v1/webhooks/"+w.ID+"/deliveries/"+d.ID+"/retry", nil).want(http.StatusAccepted).decode(&retried)
	if retried.ID != d.ID || retried.Status != store.DeliveryPending {
		t.Errorf("retried %+v", retried)
	}
	v.post("/v1/webhooks/"+other.ID+"/deliveries/"+d.ID+"/retry", nil).problem(http.StatusNotFound, CodeNotFound, "")
	v.post("/v1/webhooks/"+w.ID+"/deliveries/dlv_none/retry", nil).problem(http.StatusNotFound, CodeNotFound, "")
	v.do(req{method: "PATCH", path: "/v1/webhooks/" + w.ID, key: v.admin, body: map[string]any{"enabled": false}}).want(http.StatusOK)
	if got, _ := v.db.GetDelivery(d.ID); got.Status != store.DeliveryFailed {
		t.Fatalf("disabling left %+v", got)
	}
	v.post("/v1/webhooks/"+w.ID+"/deliveries/"+d.ID+"/retry", nil).problem(http.StatusConflict, CodeConflict, "")
	v.post("/v1/webhooks/"+w.ID+"/test", nil).problem(http.StatusConflict, CodeConflict, "")
	v.do(req{method: "PATCH", path: "/v1/webhooks/" + w.ID, key: v.admin, body: map[string]any{"enabled": true}}).want(http.StatusOK)
	v.post("/v1/webhooks/"+w.ID+"/deliveries/"+d.ID+"/retry", nil).want(http.StatusAccepted).decode(&retried)
	if retried.Status != store.DeliveryPending || retried.Error != "" {
		t.Errorf("retried after enabling: %+v", retried)
	}
}

func TestWebhookPing(t *testing.T) {
	v := newWebhookEnv(t)
	w := v.createWebhook(map[string]any{"url": hookURL, "event_types": []string{"callback.completed"}})
	var d store.Delivery
	idem := map[string]string{IdempotencyHeader: "ping-1"}
	r := v.do(req{method: "POST", path: "/v1/webhooks/" + w.ID + "/test", key: v.admin, headers: idem}).want(http.StatusAccepted)
	r.decode(&d)
	if d.EventType != engine.EventPing || d.Status != store.DeliveryPending || d.EndpointID != w.ID || !strings.HasPrefix(d.ID, "dlv_") {
		t.Fatalf("ping delivery %+v", d)
	}
	// A replay makes no second ping.
	again := v.do(req{method: "POST", path: "/v1/webhooks/" + w.ID + "/test", key: v.admin, headers: idem}).want(http.StatusAccepted)
	if again.header.Get(ReplayedHeader) != "true" || string(again.body) != string(r.body) {
		t.Errorf("replay %s", again.body)
	}
	var p deliveryPage
	v.get("/v1/webhooks/" + w.ID + "/deliveries").decode(&p)
	if len(p.Data) != 1 || p.Data[0].ID != d.ID || p.Data[0].Status != store.DeliveryPending {
		t.Errorf("deliveries %+v, want the one pending ping", p.Data)
	}
	body, err := v.db.Payload(d.EventID)
	if err != nil {
		t.Fatal(err)
	}
	var env store.Envelope
	var details map[string]string
	if err := json.Unmarshal(body, &env); err != nil || env.Type != engine.EventPing || env.ID != d.EventID ||
		json.Unmarshal(env.Data.Details, &details) != nil || details["webhook_id"] != w.ID {
		t.Errorf("ping payload %s", body)
	}
	v.post("/v1/webhooks/we_none/test", nil).problem(http.StatusNotFound, CodeNotFound, "")
}

// A Service without webhooks (the fake) serves their routes as 404.
func TestWebhooksNotEnabled(t *testing.T) {
	h, _, _ := newFakeHarness(t, Options{})
	for _, p := range []string{"/v1/webhooks", "/v1/webhooks/we_x", "/v1/webhook-secret"} {
		h.get(p).problem(http.StatusNotFound, CodeNotFound, "")
	}
	h.post("/v1/webhooks", map[string]any{"url": hookURL}).problem(http.StatusNotFound, CodeNotFound, "")
}
