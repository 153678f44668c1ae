package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/mux"

	"github.com/callbackd/callbackd/engine"
	"github.com/callbackd/callbackd/store"
)

// TestEngineErrorsMapToProblems: each refusal the engine can give becomes
// its problem type, with the field and the engine's code, and nothing is
// stored.
func TestEngineErrorsMapToProblems(t *testing.T) {
	h, svc, _ := newFakeHarness(t, Options{})
	for _, c := range []struct {
		err    error
		status int
		code   string
		field  string
	}{
		{&engine.FieldError{Field: "customer.number", Code: engine.CodeInvalidNumber, Msg: "not a phone number"}, 422, CodeValidation, "customer.number"},
		{&engine.FieldError{Field: "webhook_url", Code: engine.CodeInvalidField, Msg: "must be an absolute http or https URL"}, 422, CodeValidation, "webhook_url"},
		{&engine.FieldError{Field: "scheduled_at", Code: engine.CodeInvalidTime, Msg: "more than a year ahead"}, 422, CodeValidation, "scheduled_at"},
		{&engine.FieldError{Field: "metadata", Code: engine.CodeMetadataTooLarge, Msg: "9000 bytes; at most 8192"}, 422, CodeValidation, "metadata"},
		{&engine.FieldError{Field: "team", Code: engine.CodeUnknownTeam, Msg: `no team "x"`}, 422, CodeUnknownTeam, "team"},
		{&engine.FieldError{Field: "customer.number", Code: engine.CodeDestinationNotAllowed, Msg: "not allowed"}, 403, CodeDestinationNotAllowed, "customer.number"},
		{&engine.FieldError{Field: "customer.number", Code: engine.CodePremiumRate, Msg: "premium-rate numbers are not called"}, 403, CodePremiumRate, "customer.number"},
		{&engine.FieldError{Field: "customer.number", Code: engine.CodeDailyLimit, Msg: "5 callbacks"}, 429, CodeDailyLimit, "customer.number"},
		{engine.ErrDraining, 503, CodeDraining, ""},
		{errors.New("bbolt: disk on fire at /var/lib/secret"), 500, CodeInternal, ""},
	} {
		t.Run(c.code+"/"+c.field, func(t *testing.T) {
			h := h.with(t)
			svc.createErr = func(engine.CallbackRequest) error { return c.err }
			r := h.do(req{method: "POST", path: "/v1/callbacks", key: h.writer, body: validCallback(),
				headers: map[string]string{IdempotencyHeader: "map-" + c.code + c.field}})
			p := r.problem(c.status, c.code, c.field)
			var fe *engine.FieldError
			if errors.As(c.err, &fe) && p.Reason != fe.Code {
				t.Errorf("reason %q, want %q", p.Reason, fe.Code)
			}
			if c.status == 500 && (strings.Contains(string(r.body), "bbolt") || strings.Contains(string(r.body), "/var")) {
				t.Errorf("internal detail leaked: %s", r.body)
			}
			if svc.count() != 0 {
				t.Errorf("stored %d", svc.count())
			}
		})
	}
	svc.createErr = nil
	// The refusals above released their keys.
	h.do(req{method: "POST", path: "/v1/callbacks", key: h.writer, body: validCallback(),
		headers: map[string]string{IdempotencyHeader: "map-" + CodeDailyLimit + "customer.number"}}).want(201)
}

func TestCallbackReadAndCancel(t *testing.T) {
	h, _, _ := newFakeHarness(t, Options{})
	var cb store.Callback
	h.do(req{method: "POST", path: "/v1/callbacks", key: h.writer, body: validCallback()}).want(201).decode(&cb)
	if !strings.HasPrefix(cb.ID, "cb_") || cb.Status != store.Scheduled || cb.Customer.Number != numCustomer {
		t.Fatalf("created %+v", cb)
	}
	var detail map[string]any
	h.do(req{method: "GET", path: "/v1/callbacks/" + cb.ID, key: h.reader}).want(200).decode(&detail)
	if detail["id"] != cb.ID || detail["attempts"] == nil {
		t.Errorf("GET callback: %v, want the callback with attempts []", detail)
	}
	h.do(req{method: "GET", path: "/v1/callbacks/cb_missing", key: h.reader}).problem(404, CodeNotFound, "")

	var canceled store.Callback
	h.do(req{method: "POST", path: "/v1/callbacks/" + cb.ID + "/cancel", key: h.writer}).want(200).decode(&canceled)
	if canceled.Status != store.Canceled {
		t.Errorf("canceled: %+v", canceled)
	}
	p := h.do(req{method: "POST", path: "/v1/callbacks/" + cb.ID + "/cancel", key: h.writer}).problem(409, CodeConflict, "")
	if !strings.Contains(p.Detail, "canceled") {
		t.Errorf("detail %q does not say the status", p.Detail)
	}
	h.do(req{method: "POST", path: "/v1/callbacks/cb_missing/cancel", key: h.writer}).problem(404, CodeNotFound, "")
}

func TestTeamsFake(t *testing.T) {
	h, svc, _ := newFakeHarness(t, Options{})
	team := map[string]any{
		"id": "sales", "name": "Sales", "strategy": "round_robin",
		"reps":             []map[string]any{{"number": numRep, "name": "Bo"}, {"number": numRep2}},
		"window":           map[string]any{"time_zone": "Europe/London", "hours": map[string]any{"mon-fri": []string{"09:00-17:30"}}},
		"retry":            map[string]any{"max_attempts": 3, "intervals": []string{"2m", "10m"}},
		"whisper":          "sales.wav",
		"rep_ring_timeout": "20s",
	}
	var created store.Team
	h.post("/v1/teams", team).want(201).decode(&created)
	if created.ID != "sales" || len(created.Reps) != 2 || created.Window.Zone == nil || created.Retry.MaxAttempts != 3 {
		t.Fatalf("created %+v", created)
	}
	h.post("/v1/teams", team).problem(409, CodeConflict, "id")
	h.post("/v1/teams", map[string]any{"id": "x", "reps": []any{}}).problem(422, CodeValidation, "reps")
	h.post("/v1/teams", map[string]any{"id": "x", "window": map[string]any{"time_zone": "Mars/Olympus", "hours": map[string]any{"mon": []string{"09:00-17:00"}}}}).
		problem(422, CodeValidation, "window.time_zone")
	h.post("/v1/teams", map[string]any{"id": "x", "window": map[string]any{"time_zone": "UTC", "hours": map[string]any{"mon": []string{"9 to 5"}}}}).
		problem(422, CodeValidation, "-")
	h.post("/v1/teams", map[string]any{"id": "x", "window": map[string]any{"zone": "UTC"}}).problem(400, CodeUnknownField, "window.zone")
	h.post("/v1/teams", map[string]any{"id": "x", "retry": map[string]any{"intervals": "2m"}}).problem(400, CodeWrongType, "retry.intervals")
	if p := h.post("/v1/teams", map[string]any{"id": "x", "rep_ring_timeout": 20}).problem(400, CodeWrongType, "rep_ring_timeout"); !strings.Contains(p.Detail, "duration") {
		t.Errorf("detail %q", p.Detail)
	}
	h.post("/v1/teams", map[string]any{"id": "x", "rep_ring_timeout": "20 s"}).problem(422, CodeValidation, "rep_ring_timeout")
	h.post("/v1/teams", map[string]any{"id": "x", "created_at": "2026-01-01T00:00:00Z"}).problem(400, CodeUnknownField, "created_at")
	h.post("/v1/teams", map[string]any{"id": "x", "reps": []map[string]any{{"number": numRep, "phone": "x"}}}).problem(400, CodeUnknownField, "reps[0].phone")

	var list struct {
		Data    []store.Team `json:"data"`
		HasMore bool         `json:"has_more"`
	}
	h.do(req{method: "GET", path: "/v1/teams", key: h.reader}).want(200).decode(&list)
	if len(list.Data) != 1 || list.Data[0].ID != "sales" {
		t.Errorf("list %+v", list)
	}
	h.do(req{method: "GET", path: "/v1/teams/sales", key: h.reader}).want(200)
	h.do(req{method: "GET", path: "/v1/teams/none", key: h.reader}).problem(404, CodeNotFound, "")

	// PATCH replaces the fields it names, whole, and keeps the others;
	// null resets one.
	var patched store.Team
	h.do(req{method: "PATCH", path: "/v1/teams/sales", key: h.admin,
		body: map[string]any{"name": "Inside sales", "retry": map[string]any{"max_attempts": 2}, "whisper": nil}}).want(200).decode(&patched)
	if patched.Name != "Inside sales" || patched.Retry.MaxAttempts != 2 || len(patched.Retry.Intervals) != 0 ||
		patched.Whisper != "" || len(patched.Reps) != 2 || patched.Strategy != "round_robin" || patched.Window.Zone == nil {
		t.Errorf("patched %+v", patched)
	}
	h.do(req{method: "PATCH", path: "/v1/teams/sales", key: h.admin, body: `{"name":"x"}`,
		headers: map[string]string{"Content-Type": "application/merge-patch+json"}}).want(200)
	h.do(req{method: "PATCH", path: "/v1/teams/sales", key: h.admin, body: map[string]any{"nom": "x"}}).problem(400, CodeUnknownField, "nom")
	h.do(req{method: "PATCH", path: "/v1/teams/none", key: h.admin, body: map[string]any{"name": "x"}}).problem(404, CodeNotFound, "")

	svc.inUse["sales"] = true
	h.do(req{method: "DELETE", path: "/v1/teams/sales", key: h.admin}).problem(409, CodeConflict, "")
	svc.inUse["sales"] = false
	r := h.do(req{method: "DELETE", path: "/v1/teams/sales", key: h.admin}).want(204)
	if len(r.body) != 0 {
		t.Errorf("204 with a body: %s", r.body)
	}
	h.do(req{method: "DELETE", path: "/v1/teams/sales", key: h.admin}).problem(404, CodeNotFound, "")
}

// runAPIKeys creates, lists and revokes a key, and checks the revoked key
// is refused and that the secret is shown once and stored hashed.
func runAPIKeys(t *testing.T, h *harness) {
	t.Helper()
	var created struct {
		store.APIKey
		Secret string `json:"secret"`
	}
	h.post("/v1/api-keys", map[string]any{"name": "web form", "scopes": []string{"callbacks:write", "callbacks:read", "callbacks:write"}}).
		want(201).decode(&created)
	if !strings.HasPrefix(created.ID, "key_") || !strings.HasPrefix(created.Secret, "cbk_") ||
		created.Prefix != created.Secret[:KeyPrefixLen] || len(created.Scopes) != 2 || created.CreatedAt.IsZero() {
		t.Fatalf("created %+v", created)
	}
	stored, err := h.keys.APIKeyByHash(HashKey(created.Secret))
	if err != nil || stored.ID != created.ID {
		t.Fatalf("the key is not found by its hash: %v", err)
	}
	h.do(req{method: "GET", path: "/v1/callbacks", key: created.Secret}).want(200)

	list := h.get("/v1/api-keys").want(200)
	if bytes.Contains(list.body, []byte(created.Secret)) || bytes.Contains(list.body, []byte(`"hash"`)) {
		t.Errorf("list shows the secret or hash: %s", list.body)
	}
	var page struct {
		Data []store.APIKey `json:"data"`
	}
	list.decode(&page)
	found := false
	for _, k := range page.Data {
		found = found || k.ID == created.ID
	}
	if !found {
		t.Errorf("created key not listed: %s", list.body)
	}

	var revoked store.APIKey
	h.post("/v1/api-keys/"+created.ID+"/revoke", nil).want(200).decode(&revoked)
	if revoked.RevokedAt.IsZero() {
		t.Errorf("revoked %+v", revoked)
	}
	p := h.do(req{method: "GET", path: "/v1/callbacks", key: created.Secret}).problem(401, CodeUnauthenticated, "")
	if !strings.Contains(p.Detail, "revoked") {
		t.Errorf("detail %q", p.Detail)
	}
	h.post("/v1/api-keys/"+created.ID+"/revoke", nil).want(200) // idempotent
	h.post("/v1/api-keys/key_missing/revoke", nil).problem(404, CodeNotFound, "")

	for _, c := range []struct {
		body  any
		field string
	}{
		{map[string]any{"scopes": []string{"admin"}}, "name"},
		{map[string]any{"name": "x"}, "scopes"},
		{map[string]any{"name": "x", "scopes": []string{"callbacks:read", "root"}}, "scopes[1]"},
		{map[string]any{"name": strings.Repeat("n", 101), "scopes": []string{"admin"}}, "name"},
	} {
		h.post("/v1/api-keys", c.body).problem(422, CodeValidation, c.field)
	}
	h.post("/v1/api-keys", map[string]any{"name": "x", "scopes": []string{"admin"}, "secret": "mine"}).problem(400, CodeUnknownField, "secret")
}

func TestAPIKeysFake(t *testing.T) {
	h, _, _ := newFakeHarness(t, Options{})
	runAPIKeys(t, h)
}

func TestNewKeySecret(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s, h := NewKeySecret()
		if !strings.HasPrefix(s, "cbk_") || len(s) != 4+43 {
			t.Fatalf("secret %q", s)
		}
		raw, err := base64.RawURLEncoding.DecodeString(s[4:])
		if err != nil || len(raw) != 32 {
			t.Fatalf("secret %q: %v", s, err)
		}
		if h != HashKey(s) || seen[s] {
			t.Fatalf("hash or uniqueness")
		}
		seen[s] = true
	}
}

func TestHealth(t *testing.T) {
	var mu sync.Mutex
	trunkErr := error(nil)
	h, _, _ := newFakeHarness(t, Options{Checks: []Check{
		{Name: "store", Fn: func(context.Context) error { return nil }},
		{Name: "trunk:main", Fn: func(context.Context) error { mu.Lock(); defer mu.Unlock(); return trunkErr }},
	}})
	var health map[string]string
	h.do(req{method: "GET", path: "/healthz"}).want(200).decode(&health)
	if health["status"] != "ok" {
		t.Errorf("healthz %v", health)
	}
	var ready readiness
	h.do(req{method: "GET", path: "/readyz"}).want(200).decode(&ready)
	if ready.Status != "ok" || ready.Checks["store"] != "ok" || ready.Checks["trunk:main"] != "ok" {
		t.Errorf("readyz %+v", ready)
	}
	mu.Lock()
	trunkErr = errors.New("trunk main down: no answer to OPTIONS")
	mu.Unlock()
	ready = readiness{}
	h.do(req{method: "GET", path: "/readyz"}).want(503).decode(&ready)
	if ready.Status != "unavailable" || ready.Checks["store"] != "ok" || !strings.Contains(ready.Checks["trunk:main"], "down") {
		t.Errorf("readyz %+v", ready)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	h, _, _ := newFakeHarness(t, Options{})
	h.do(req{method: "GET", path: "/metrics"}).problem(404, CodeNotFound, "")

	h, _, _ = newFakeHarness(t, Options{Metrics: newMetrics()})
	h.do(req{method: "POST", path: "/v1/callbacks", key: h.writer, body: validCallback()}).want(201)
	h.do(req{method: "GET", path: "/v1/callbacks/cb_123", key: h.reader}).want(404)
	h.do(req{method: "GET", path: "/nowhere"}).want(404)
	r := h.do(req{method: "GET", path: "/metrics"}).want(200)
	for _, want := range []string{
		`callbackd_api_request_duration_seconds_count{code="201",method="POST",route="/v1/callbacks"} 1`,
		`callbackd_api_request_duration_seconds_count{code="404",method="GET",route="/v1/callbacks/{id}"} 1`,
		`callbackd_api_request_duration_seconds_count{code="404",method="GET",route="unmatched"} 1`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(string(r.body), "cb_123") {
		t.Errorf("metrics label a path, not the route template")
	}
}

// panicService panics in Create.
type panicService struct{ *fakeService }

func (panicService) Create(context.Context, engine.CallbackRequest) (*store.Callback, error) {
	panic("boom")
}

func TestRecoverAnswersInternal(t *testing.T) {
	keys := newFakeKeys()
	var logs bytes.Buffer
	var mu sync.Mutex
	h := newHarness(t, panicService{newFakeService(keys)}, keys, Options{Log: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))})
	r := h.do(req{method: "POST", path: "/v1/callbacks", key: h.writer, body: validCallback(),
		headers: map[string]string{IdempotencyHeader: "panic"}})
	p := r.problem(500, CodeInternal, "")
	if strings.Contains(p.Detail, "boom") {
		t.Errorf("panic value leaked: %s", r.body)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "boom") || !strings.Contains(logs.String(), "stack") {
		t.Errorf("panic not logged: %s", logs.String())
	}
	if recs := keys.records(); len(recs) != 0 {
		t.Errorf("the panicking request kept its idempotency key: %+v", recs)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// TestRequestLog checks the one line per request and that it carries
// neither the secret nor the query.
func TestRequestLog(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, _, _ := newFakeHarness(t, Options{Log: log})
	h.do(req{method: "GET", path: "/v1/callbacks?customer=%2B442079460123", key: h.reader}).want(200)
	mu.Lock()
	defer mu.Unlock()
	out := logs.String()
	if !strings.Contains(out, "api request") || !strings.Contains(out, "route=/v1/callbacks") || !strings.Contains(out, "status=200") {
		t.Errorf("no request line: %s", out)
	}
	if strings.Contains(out, h.reader) || strings.Contains(out, "Bearer") || strings.Contains(out, "442079460123") {
		t.Errorf("log leaks: %s", out)
	}
}

func TestRoutingProblems(t *testing.T) {
	h, _, _ := newFakeHarness(t, Options{})
	h.do(req{method: "GET", path: "/v1/nothing", key: h.admin}).problem(404, CodeNotFound, "")
	r := h.do(req{method: "PUT", path: "/v1/teams/sales", key: h.admin, body: "{}"})
	r.problem(405, CodeMethodNotAllowed, "")
	if got := r.header.Get("Allow"); got != "GET, PATCH, DELETE" {
		t.Errorf("Allow %q", got)
	}
	r = h.do(req{method: "DELETE", path: "/v1/callbacks", key: h.admin})
	r.problem(405, CodeMethodNotAllowed, "")
	if got := r.header.Get("Allow"); got != "GET, POST" {
		t.Errorf("Allow %q", got)
	}
	// Routed and public (the document's own tests are in openapi_test.go).
	if r := h.do(req{method: "GET", path: "/v1/openapi.json"}); r.code == http.StatusNotFound || r.code == http.StatusUnauthorized {
		t.Errorf("GET /v1/openapi.json: %d", r.code)
	}
}

// TestRoutes pins the route table the OpenAPI document describes.
func TestRoutes(t *testing.T) {
	h, _, _ := newFakeHarness(t, Options{})
	var got []string
	err := h.srv.Router().Walk(func(rt *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		p, _ := rt.GetPathTemplate()
		ms, _ := rt.GetMethods()
		for _, m := range ms {
			got = append(got, m+" "+p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"POST /v1/callbacks", "GET /v1/callbacks", "GET /v1/callbacks/{id}", "POST /v1/callbacks/{id}/cancel",
		"GET /v1/callbacks/{id}/events", "GET /v1/callbacks/{id}/deliveries", "POST /v1/callbacks/{id}/deliveries/{delivery_id}/retry",
		"POST /v1/teams", "GET /v1/teams", "GET /v1/teams/{id}", "PATCH /v1/teams/{id}",
		"DELETE /v1/teams/{id}", "POST /v1/api-keys", "GET /v1/api-keys", "POST /v1/api-keys/{id}/revoke",
		"POST /v1/webhooks", "GET /v1/webhooks", "GET /v1/webhooks/{id}", "PATCH /v1/webhooks/{id}", "DELETE /v1/webhooks/{id}",
		"GET /v1/webhooks/{id}/secret", "POST /v1/webhooks/{id}/rotate-secret", "GET /v1/webhooks/{id}/deliveries",
		"POST /v1/webhooks/{id}/deliveries/{delivery_id}/retry", "POST /v1/webhooks/{id}/test", "GET /v1/webhook-secret",
		"POST /v1/hooks/subscriptions", "DELETE /v1/hooks/subscriptions/{id}", "GET /v1/hooks/samples",
		"POST /v1/triggers", "GET /v1/triggers", "GET /v1/triggers/{id}", "PATCH /v1/triggers/{id}", "DELETE /v1/triggers/{id}",
		"POST /v1/triggers/{id}/rotate-secret", "POST /v1/hooks/{trigger_id:trg_[0-9a-z]+}",
		"GET /v1/backup", "GET /healthz", "GET /readyz", "GET /metrics", "GET /v1/openapi.json",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("routes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
