package api

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/engine"
	"github.com/callbackd/callbackd/trigger"
)

// *engine.Engine serves the trigger routes.
var _ Triggers = (*engine.Engine)(nil)

// triggerJSON is a trigger as the API shows it.
type triggerJSON struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Condition string          `json:"condition"`
	Mapping   trigger.Mapping `json:"mapping"`
	Dedup     string          `json:"dedup"`
	RateLimit int             `json:"rate_limit"`
	Auth      struct {
		Mode string `json:"mode"`
	} `json:"auth"`
	Enabled   bool      `json:"enabled"`
	URL       string    `json:"url"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Secret    string    `json:"secret"`
}

// hookJSON is the answer to an inbound event.
type hookJSON struct {
	Matched    bool   `json:"matched"`
	Reason     string `json:"reason"`
	Duplicate  bool   `json:"duplicate"`
	CallbackID string `json:"callback_id"`
	Callback   *struct {
		ID       string            `json:"id"`
		Status   string            `json:"status"`
		Metadata map[string]string `json:"metadata"`
		Customer struct {
			Number string `json:"number"`
			Name   string `json:"name"`
		} `json:"customer"`
	} `json:"callback"`
}

// leadTrigger is a valid trigger body: hot leads called back from a rep
// number, each customer once an hour.
func leadTrigger(edit func(b map[string]any)) map[string]any {
	b := map[string]any{
		"name":      "hot leads",
		"condition": "payload.score >= 80",
		"mapping": map[string]any{
			"customer_number": "payload.phone",
			"customer_name":   "payload.?name.orValue('')",
			"rep_number":      "'" + numRep + "'",
			"metadata":        map[string]any{"source": "'form'"},
		},
		"dedup": "1h",
	}
	if edit != nil {
		edit(b)
	}
	return b
}

// in returns v reporting to t, for a subtest.
func (v *realEnv) in(t *testing.T) *realEnv {
	c := *v
	c.harness = v.with(t)
	return &c
}

func (v *realEnv) createTrigger(body map[string]any) triggerJSON {
	v.t.Helper()
	var tr triggerJSON
	v.post("/v1/triggers", body).want(http.StatusCreated).decode(&tr)
	return tr
}

// hook posts payload to the trigger's URL with the credentials its mode
// wants (secret "" sends none).
func (v *realEnv) hook(tr triggerJSON, secret, payload string, headers map[string]string) *response {
	v.t.Helper()
	path := tr.URL
	h := map[string]string{}
	switch tr.Auth.Mode {
	case trigger.AuthTokenHeader:
		h[trigger.HeaderToken] = secret
	case trigger.AuthTokenQuery:
		if secret != "" {
			path += "?token=" + secret
		}
	case trigger.AuthHMACSHA256:
		if secret != "" {
			h[trigger.HeaderSignature] = trigger.Sign(secret, []byte(payload))
		}
	}
	for k, val := range headers {
		h[k] = val
	}
	return v.do(req{method: "POST", path: path, body: payload, headers: h})
}

func hotLead(number string) string { return `{"score": 91, "phone": "` + number + `", "name": "Ada"}` }

func TestTriggersCRUD(t *testing.T) {
	v := newRealEnv(t, -1, Options{})
	created := v.createTrigger(leadTrigger(nil))
	if !strings.HasPrefix(created.ID, "trg_") || created.URL != "/v1/hooks/"+created.ID || !created.Enabled ||
		created.Auth.Mode != trigger.AuthTokenHeader || created.Dedup != "1h" || created.Mapping.CustomerNumber != "payload.phone" ||
		created.CreatedAt.IsZero() || !strings.HasPrefix(created.Secret, "tsec_") {
		t.Fatalf("created %+v", created)
	}
	// The secret is shown on create and rotation only.
	r := v.get("/v1/triggers/" + created.ID).want(http.StatusOK)
	var got triggerJSON
	r.decode(&got)
	if got.ID != created.ID || got.Condition != "payload.score >= 80" || got.Secret != "" || strings.Contains(string(r.body), "tsec_") {
		t.Errorf("GET shows %s", r.body)
	}
	var list struct {
		Data    []triggerJSON `json:"data"`
		HasMore bool          `json:"has_more"`
	}
	r = v.get("/v1/triggers").want(http.StatusOK)
	r.decode(&list)
	if len(list.Data) != 1 || list.HasMore || strings.Contains(string(r.body), "tsec_") {
		t.Errorf("list %s", r.body)
	}
	v.get("/v1/triggers?limit=5").problem(http.StatusBadRequest, CodeUnknownField, "limit")

	// PATCH replaces what it names; null resets enabled to true.
	path := "/v1/triggers/" + created.ID
	var patched triggerJSON
	v.do(req{method: "PATCH", path: path, key: v.admin, body: map[string]any{"enabled": false, "condition": "payload.score >= 90", "rate_limit": 10},
		headers: map[string]string{"Content-Type": "application/merge-patch+json"}}).want(http.StatusOK).decode(&patched)
	if patched.Enabled || patched.Condition != "payload.score >= 90" || patched.RateLimit != 10 || patched.Mapping.RepNumber == "" ||
		patched.Secret != "" || patched.UpdatedAt.Before(created.UpdatedAt) {
		t.Errorf("patched %+v", patched)
	}
	v.do(req{method: "PATCH", path: path, key: v.admin, body: map[string]any{"enabled": nil}}).want(http.StatusOK).decode(&patched)
	if !patched.Enabled {
		t.Errorf("enabled: null left %+v", patched)
	}
	p := v.do(req{method: "PATCH", path: path, key: v.admin, body: map[string]any{"condition": "payload.score >"}}).
		problem(http.StatusUnprocessableEntity, CodeValidation, "condition")
	if p.Reason != "invalid_expression" || !strings.Contains(p.Detail, "line 1, column 16") {
		t.Errorf("bad expression: %+v", p)
	}
	v.do(req{method: "PATCH", path: path, key: v.admin, body: map[string]any{"secret": "tsec_mine"}}).
		problem(http.StatusBadRequest, CodeUnknownField, "secret")
	v.do(req{method: "PATCH", path: "/v1/triggers/trg_none", key: v.admin, body: map[string]any{"enabled": true}}).
		problem(http.StatusNotFound, CodeNotFound, "")
	v.get(path).decode(&got)
	if got.Condition != "payload.score >= 90" {
		t.Errorf("a refused PATCH changed the trigger: %+v", got)
	}

	// Rotation: the new secret works at once, the old one no longer.
	var rotated rotatedSecret
	v.post(path+"/rotate-secret", nil).want(http.StatusOK).decode(&rotated)
	if !strings.HasPrefix(rotated.Secret, "tsec_") || rotated.Secret == created.Secret {
		t.Fatalf("rotated to %q", rotated.Secret)
	}
	v.hook(got, created.Secret, hotLead(numCustomer), nil).problem(http.StatusUnauthorized, CodeUnauthenticated, "")
	v.hook(got, rotated.Secret, hotLead(numCustomer), nil).want(http.StatusCreated)
	v.post("/v1/triggers/trg_none/rotate-secret", nil).problem(http.StatusNotFound, CodeNotFound, "")

	// With an overlap the secret replaced works on beside the new one; the
	// one before it does not.
	var overlapped rotatedSecret
	v.post(path+"/rotate-secret", map[string]any{"overlap": "1h"}).want(http.StatusOK).decode(&overlapped)
	for _, secret := range []string{rotated.Secret, overlapped.Secret} {
		if r := v.hook(got, secret, hotLead(numCustomer), nil); r.code != http.StatusOK {
			t.Errorf("a secret in the overlap: %d %s, want 200 (a duplicate of the first)", r.code, r.body)
		}
	}
	v.hook(got, created.Secret, hotLead(numCustomer), nil).problem(http.StatusUnauthorized, CodeUnauthenticated, "")
	v.post(path+"/rotate-secret", map[string]any{"overlap": "200h"}).problem(http.StatusUnprocessableEntity, CodeValidation, "overlap")
	v.post(path+"/rotate-secret", map[string]any{"overlap": 60}).problem(http.StatusBadRequest, CodeWrongType, "overlap")
	v.post(path+"/rotate-secret", map[string]any{"colour": "red"}).problem(http.StatusBadRequest, CodeUnknownField, "colour")
	rotated = overlapped

	// Idempotent create: the replay is the first answer and makes nothing.
	idem := map[string]string{IdempotencyHeader: "trigger-1"}
	first := v.do(req{method: "POST", path: "/v1/triggers", key: v.admin, body: leadTrigger(nil), headers: idem}).want(http.StatusCreated)
	again := v.do(req{method: "POST", path: "/v1/triggers", key: v.admin, body: leadTrigger(nil), headers: idem}).want(http.StatusCreated)
	if again.header.Get(ReplayedHeader) != "true" || string(again.body) != string(first.body) {
		t.Errorf("replay %s, want %s", again.body, first.body)
	}

	v.do(req{method: "DELETE", path: path, key: v.admin}).want(http.StatusNoContent)
	v.get(path).problem(http.StatusNotFound, CodeNotFound, "")
	v.do(req{method: "DELETE", path: path, key: v.admin}).problem(http.StatusNotFound, CodeNotFound, "")
	v.hook(got, rotated.Secret, hotLead(numCustomer), nil).problem(http.StatusNotFound, CodeNotFound, "")
	v.get("/v1/triggers").decode(&list)
	if len(list.Data) != 1 {
		t.Errorf("%d triggers, want the idempotent one", len(list.Data))
	}
}

func TestTriggersRefused(t *testing.T) {
	v := newRealEnv(t, -1, Options{})
	mapping := func(k string, val any) map[string]any {
		return leadTrigger(func(b map[string]any) { b["mapping"].(map[string]any)[k] = val })
	}
	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   string
		field  string
		detail string // a substring
	}{
		{"malformed JSON", `{"name": `, 400, CodeInvalidJSON, "", ""},
		{"unknown field", leadTrigger(func(b map[string]any) { b["secret"] = "tsec_x" }), 400, CodeUnknownField, "secret", ""},
		{"unknown mapping", mapping("phone", "payload.phone"), 400, CodeUnknownField, "mapping.phone", ""},
		{"wrong type", leadTrigger(func(b map[string]any) { b["rate_limit"] = "10" }), 400, CodeWrongType, "rate_limit", ""},
		{"dedup a number", leadTrigger(func(b map[string]any) { b["dedup"] = 3600 }), 400, CodeWrongType, "dedup", ""},
		{"syntax error", leadTrigger(func(b map[string]any) { b["condition"] = "payload.score >=" }), 422, CodeValidation, "condition",
			"line 1, column 17: Syntax error"},
		{"error on line 2", leadTrigger(func(b map[string]any) { b["condition"] = "payload.a &&\n  payload.b ==" }), 422, CodeValidation, "condition",
			"line 2, column 15"},
		{"unquoted constant", leadTrigger(func(b map[string]any) {
			m := b["mapping"].(map[string]any)
			delete(m, "rep_number")
			m["team"] = "sales"
		}), 422, CodeValidation, "mapping.team", "'sales'"},
		{"no customer number", mapping("customer_number", ""), 422, CodeValidation, "mapping.customer_number", "required"},
		{"no name", leadTrigger(func(b map[string]any) { delete(b, "name") }), 422, CodeValidation, "name", ""},
		{"dedup too long", leadTrigger(func(b map[string]any) { b["dedup"] = "800h" }), 422, CodeValidation, "dedup", ""},
		{"unknown auth mode", leadTrigger(func(b map[string]any) { b["auth"] = map[string]any{"mode": "basic"} }), 422, CodeValidation, "auth.mode", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := v.with(t).post("/v1/triggers", tc.body).problem(tc.status, tc.code, tc.field)
			if !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("detail %q, want %q in it", p.Detail, tc.detail)
			}
		})
	}
	var list struct {
		Data []triggerJSON `json:"data"`
	}
	v.get("/v1/triggers").decode(&list)
	if len(list.Data) != 0 {
		t.Errorf("refused requests stored %d triggers", len(list.Data))
	}
}

// Every trigger route wants the admin scope; the inbound hook wants no key
// but the trigger's secret.
func TestTriggersScopes(t *testing.T) {
	v := newRealEnv(t, -1, Options{})
	tr := v.createTrigger(leadTrigger(nil))
	for _, rt := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/triggers", leadTrigger(nil)},
		{"GET", "/v1/triggers", nil},
		{"GET", "/v1/triggers/" + tr.ID, nil},
		{"PATCH", "/v1/triggers/" + tr.ID, map[string]any{"enabled": false}},
		{"DELETE", "/v1/triggers/" + tr.ID, nil},
		{"POST", "/v1/triggers/" + tr.ID + "/rotate-secret", nil},
	} {
		for _, key := range []string{v.writer, v.reader} {
			v.do(req{method: rt.method, path: rt.path, key: key, body: rt.body}).problem(http.StatusForbidden, CodeForbidden, "")
		}
		v.do(req{method: rt.method, path: rt.path, body: rt.body}).problem(http.StatusUnauthorized, CodeUnauthenticated, "")
	}
	// An API key is no trigger secret, not even the admin's.
	r := v.do(req{method: "POST", path: tr.URL, key: v.admin, body: hotLead(numCustomer)})
	r.problem(http.StatusUnauthorized, CodeUnauthenticated, "")
	if got := r.header.Get("WWW-Authenticate"); got != hookChallenge {
		t.Errorf("WWW-Authenticate %q, want %q", got, hookChallenge)
	}
	v.get(tr.URL).problem(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "")
	v.do(req{method: "POST", path: "/v1/hooks/trg_none", body: `{}`, headers: map[string]string{trigger.HeaderToken: tr.Secret}}).
		problem(http.StatusNotFound, CodeNotFound, "")
	if n := v.countAll(); n != 0 {
		t.Errorf("%d callbacks", n)
	}
}

func TestHookAuth(t *testing.T) {
	v := newRealEnv(t, -1, Options{})
	for _, mode := range []string{trigger.AuthTokenHeader, trigger.AuthTokenQuery, trigger.AuthHMACSHA256} {
		t.Run(mode, func(t *testing.T) {
			v := v.in(t)
			tr := v.createTrigger(leadTrigger(func(b map[string]any) {
				b["auth"] = map[string]any{"mode": mode}
				delete(b, "dedup")
			}))
			payload := hotLead(numCustomer)
			before := v.countAll()
			wrong := strings.Replace(tr.Secret, "tsec_", "tsec_x", 1)
			other := map[string]string{ // every credential, each with the right secret
				trigger.HeaderToken:     tr.Secret,
				trigger.HeaderSignature: trigger.Sign(tr.Secret, []byte(payload)),
			}
			for _, tc := range []struct {
				name    string
				secret  string
				payload string
				headers map[string]string
			}{
				{"none", "", payload, nil},
				{"wrong secret", wrong, payload, nil},
				{"signature of another body", tr.Secret, payload, map[string]string{trigger.HeaderSignature: trigger.Sign(tr.Secret, []byte(`{}`))}},
			} {
				if tc.name == "signature of another body" && mode != trigger.AuthHMACSHA256 {
					continue
				}
				r := v.hook(tr, tc.secret, tc.payload, tc.headers)
				r.problem(http.StatusUnauthorized, CodeUnauthenticated, "")
				if r.header.Get("WWW-Authenticate") != hookChallenge || strings.Contains(string(r.body), tr.Secret) {
					t.Errorf("%s: %v %s", tc.name, r.header, r.body)
				}
			}
			// The other modes' credentials do not count.
			h := map[string]string{}
			for k, val := range other {
				if (k == trigger.HeaderToken) != (mode == trigger.AuthTokenHeader) || (k == trigger.HeaderSignature) != (mode == trigger.AuthHMACSHA256) {
					h[k] = val
				}
			}
			v.do(req{method: "POST", path: tr.URL, body: payload, headers: h}).problem(http.StatusUnauthorized, CodeUnauthenticated, "")
			if mode != trigger.AuthTokenQuery {
				v.do(req{method: "POST", path: tr.URL + "?token=" + tr.Secret, body: payload}).problem(http.StatusUnauthorized, CodeUnauthenticated, "")
			}
			if n := v.countAll(); n != before {
				t.Fatalf("refused events made %d callbacks", n-before)
			}
			var res hookJSON
			v.hook(tr, tr.Secret, payload, nil).want(http.StatusCreated).decode(&res)
			if !res.Matched || res.CallbackID == "" {
				t.Errorf("accepted event: %+v", res)
			}
			v.do(req{method: "DELETE", path: "/v1/triggers/" + tr.ID, key: v.admin}).want(http.StatusNoContent)
		})
	}
}

func TestHookEvents(t *testing.T) {
	v := newRealEnv(t, -1, Options{})
	tr := v.createTrigger(leadTrigger(func(b map[string]any) { delete(b, "dedup") }))
	big := `{"score": 91, "phone": "` + numCustomer2 + `", "notes": "` + strings.Repeat("x", DefaultMaxBody) + `"}`
	for _, tc := range []struct {
		name    string
		payload string
		status  int
		code    string // a problem's; "" for a result
		field   string
		check   func(t *testing.T, r *response)
	}{
		{"matched", hotLead(numCustomer), 201, "", "", func(t *testing.T, r *response) {
			var res hookJSON
			r.decode(&res)
			if !res.Matched || res.Duplicate || res.Callback == nil || res.CallbackID != res.Callback.ID ||
				res.Callback.Customer.Number != numCustomer || res.Callback.Customer.Name != "Ada" || res.Callback.Metadata["source"] != "form" {
				t.Fatalf("result %s", r.body)
			}
			v.waitStatus(res.CallbackID, "completed")
		}},
		{"larger than an API body", big, 201, "", "", nil},
		{"not matched", `{"score": 12, "phone": "` + numCustomer + `"}`, 200, "", "", func(t *testing.T, r *response) {
			var res hookJSON
			r.decode(&res)
			if res.Matched || res.Reason != "condition is false" || res.CallbackID != "" || strings.Contains(string(r.body), "callback") {
				t.Errorf("result %s", r.body)
			}
		}},
		{"condition key missing", `{"phone": "` + numCustomer + `"}`, 200, "", "", func(t *testing.T, r *response) {
			var res hookJSON
			r.decode(&res)
			if res.Matched || !strings.Contains(res.Reason, "payload.score") {
				t.Errorf("result %s", r.body)
			}
		}},
		{"mapped key missing", `{"score": 91, "tel": "` + numCustomer + `"}`, 422, CodeValidation, "mapping.customer_number", func(t *testing.T, r *response) {
			var p Problem
			r.decode(&p)
			if p.Reason != "missing_field" || !strings.Contains(p.Detail, "payload.phone") {
				t.Errorf("problem %+v", p)
			}
		}},
		{"type mismatch", `{"score": "high", "phone": "` + numCustomer + `"}`, 422, CodeValidation, "condition", func(t *testing.T, r *response) {
			var p Problem
			r.decode(&p)
			if p.Reason != "evaluation_error" {
				t.Errorf("problem %+v", p)
			}
		}},
		{"invalid number", hotLead("+4412"), 422, CodeValidation, "mapping.customer_number", nil},
		{"premium number", hotLead(numPremium), 403, CodePremiumRate, "mapping.customer_number", nil},
		{"not allowed", hotLead(numParis), 403, CodeDestinationNotAllowed, "mapping.customer_number", nil},
		{"not JSON", `score=91&phone=x`, 400, CodeInvalidJSON, "", nil},
		{"empty", ``, 400, CodeInvalidJSON, "", nil},
		{"an array", `[{"score": 91}]`, 400, CodeWrongType, "", nil},
		{"too large", `{"x": "` + strings.Repeat("x", trigger.MaxPayloadBytes) + `"}`, 413, CodeBodyTooLarge, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := v.in(t)
			before := v.countAll()
			r := v.hook(tr, tr.Secret, tc.payload, nil)
			if tc.code != "" {
				r.problem(tc.status, tc.code, tc.field)
				if n := v.countAll(); n != before {
					t.Errorf("a refused event made %d callbacks", n-before)
				}
			} else {
				r.want(tc.status)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestHookDedup(t *testing.T) {
	v := newRealEnv(t, -1, Options{})
	tr := v.createTrigger(leadTrigger(nil)) // dedup 1h
	var first, again, other hookJSON
	v.hook(tr, tr.Secret, hotLead(numCustomer), nil).want(http.StatusCreated).decode(&first)
	// The same customer, written otherwise, in another event.
	v.hook(tr, tr.Secret, `{"score": 99, "phone": "+44 20 7946 0123"}`, nil).want(http.StatusOK).decode(&again)
	if !again.Matched || !again.Duplicate || again.CallbackID != first.CallbackID || again.Callback != nil {
		t.Errorf("second event: %+v, want a duplicate of %s", again, first.CallbackID)
	}
	v.hook(tr, tr.Secret, hotLead(numCustomer2), nil).want(http.StatusCreated).decode(&other)
	if other.CallbackID == first.CallbackID {
		t.Error("another customer's event is a duplicate")
	}
	if n := v.countAll(); n != 2 {
		t.Errorf("%d callbacks, want 2", n)
	}
}

func TestHookRateLimit(t *testing.T) {
	v := newRealEnv(t, -1, Options{})
	tr := v.createTrigger(leadTrigger(func(b map[string]any) { b["rate_limit"] = 1; delete(b, "dedup") }))
	v.hook(tr, tr.Secret, hotLead(numCustomer), nil).want(http.StatusCreated)
	r := v.hook(tr, tr.Secret, hotLead(numCustomer2), nil)
	r.problem(http.StatusTooManyRequests, CodeRateLimited, "")
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After %q, want 1 to 60 s", r.header.Get("Retry-After"))
	}
	// Events that do not match are answered as ever.
	v.hook(tr, tr.Secret, `{"score": 1}`, nil).want(http.StatusOK)
	if n := v.countAll(); n != 1 {
		t.Errorf("%d callbacks, want 1", n)
	}
}

func TestHookDisabled(t *testing.T) {
	v := newRealEnv(t, -1, Options{})
	tr := v.createTrigger(leadTrigger(func(b map[string]any) { b["enabled"] = false }))
	if tr.Enabled {
		t.Fatal("created enabled")
	}
	v.hook(tr, tr.Secret, hotLead(numCustomer), nil).problem(http.StatusConflict, CodeTriggerDisabled, "")
	// Authentication comes first: a disabled trigger says nothing to a stranger.
	v.hook(tr, "", hotLead(numCustomer), nil).problem(http.StatusUnauthorized, CodeUnauthenticated, "")
	v.do(req{method: "PATCH", path: "/v1/triggers/" + tr.ID, key: v.admin, body: map[string]any{"enabled": true}}).want(http.StatusOK)
	v.hook(tr, tr.Secret, hotLead(numCustomer), nil).want(http.StatusCreated)
}

// An Idempotency-Key on an inbound event is scoped to the trigger, kept
// only once the event is authenticated, and replays the first answer.
func TestHookIdempotency(t *testing.T) {
	v := newRealEnv(t, -1, Options{})
	tr := v.createTrigger(leadTrigger(func(b map[string]any) { delete(b, "dedup") }))
	idem := map[string]string{IdempotencyHeader: "event-1"}
	v.hook(tr, "", hotLead(numCustomer), idem).problem(http.StatusUnauthorized, CodeUnauthenticated, "")
	first := v.hook(tr, tr.Secret, hotLead(numCustomer), idem).want(http.StatusCreated)
	again := v.hook(tr, tr.Secret, hotLead(numCustomer), idem).want(http.StatusCreated)
	if again.header.Get(ReplayedHeader) != "true" || string(again.body) != string(first.body) {
		t.Errorf("replay %s, want %s", again.body, first.body)
	}
	v.hook(tr, tr.Secret, hotLead(numCustomer2), idem).problem(http.StatusUnprocessableEntity, CodeIdempotencyMismatch, IdempotencyHeader)
	if n := v.countAll(); n != 1 {
		t.Errorf("%d callbacks, want 1", n)
	}
	// The same key from an API client is another key.
	var cb map[string]any
	v.do(req{method: "POST", path: "/v1/callbacks", key: v.writer, body: validCallback(), headers: idem}).want(http.StatusCreated).decode(&cb)
	var res hookJSON
	first.decode(&res)
	if cb["id"] == res.CallbackID {
		t.Error("an API key's Idempotency-Key replayed the hook's answer")
	}
}

// A Service without triggers (the fake) serves their routes as 404.
func TestTriggersNotEnabled(t *testing.T) {
	h, _, _ := newFakeHarness(t, Options{})
	for _, p := range []string{"/v1/triggers", "/v1/triggers/trg_x"} {
		h.get(p).problem(http.StatusNotFound, CodeNotFound, "")
	}
	h.post("/v1/triggers", leadTrigger(nil)).problem(http.StatusNotFound, CodeNotFound, "")
	h.do(req{method: "POST", path: "/v1/hooks/trg_x", body: `{}`}).problem(http.StatusNotFound, CodeNotFound, "")
}
