package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/callbackd/callbackd/store"
)

// errCase is a POST /v1/callbacks the API must refuse without storing
// anything.
type errCase struct {
	name    string
	body    any
	headers map[string]string
	status  int
	code    string
	field   string
	reason  string // the engine's code, for validation problems
	engine  bool   // needs the real engine's validation
}

// with returns the valid callback body changed by fn.
func with(fn func(b map[string]any)) map[string]any {
	b := validCallback()
	fn(b)
	return b
}

const validJSON = `{"customer":{"number":"` + numCustomer + `"},"rep_number":"` + numRep + `"}`

// requestErrors are the refusals of the issue, one case each.
func requestErrors() []errCase {
	return []errCase{
		{name: "unknown field", body: with(func(b map[string]any) { b["colour"] = "red" }),
			status: 400, code: CodeUnknownField, field: "colour"},
		{name: "unknown nested field", body: with(func(b map[string]any) { b["customer"].(map[string]any)["nickname"] = "x" }),
			status: 400, code: CodeUnknownField, field: "customer.nickname"},
		{name: "wrong type number", body: with(func(b map[string]any) { b["customer"].(map[string]any)["number"] = 442079460123 }),
			status: 400, code: CodeWrongType, field: "customer.number"},
		{name: "wrong type metadata value", body: with(func(b map[string]any) { b["metadata"] = map[string]any{"order": 42} }),
			status: 400, code: CodeWrongType, field: "metadata"},
		{name: "wrong type scheduled_at", body: with(func(b map[string]any) { b["scheduled_at"] = 1781100000 }),
			status: 400, code: CodeWrongType, field: "scheduled_at"},
		{name: "wrong type team", body: with(func(b map[string]any) { b["team"] = []string{"sales"} }),
			status: 400, code: CodeWrongType, field: "team"},
		{name: "body not an object", body: `[` + validJSON + `]`,
			status: 400, code: CodeWrongType, field: ""},
		{name: "body null", body: `null`,
			status: 400, code: CodeWrongType, field: ""},
		{name: "malformed JSON", body: `{"customer": {"number": "` + numCustomer + `"`,
			status: 400, code: CodeInvalidJSON},
		{name: "syntax error", body: `{"customer" {"number": "` + numCustomer + `"}}`,
			status: 400, code: CodeInvalidJSON},
		{name: "trailing value", body: validJSON + ` {}`,
			status: 400, code: CodeInvalidJSON},
		{name: "trailing garbage", body: validJSON + `garbage`,
			status: 400, code: CodeInvalidJSON},
		{name: "empty body", body: ``,
			status: 400, code: CodeInvalidJSON},
		{name: "wrong content type", body: validJSON, headers: map[string]string{"Content-Type": "text/plain"},
			status: 415, code: CodeUnsupportedMediaType},
		{name: "form content type", body: validJSON, headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			status: 415, code: CodeUnsupportedMediaType},
		{name: "missing content type", body: validJSON, headers: map[string]string{"Content-Type": ""},
			status: 415, code: CodeUnsupportedMediaType},
		{name: "latin1 charset", body: validJSON, headers: map[string]string{"Content-Type": "application/json; charset=iso-8859-1"},
			status: 415, code: CodeUnsupportedMediaType},
		{name: "oversized body", body: with(func(b map[string]any) { b["metadata"] = map[string]any{"big": strings.Repeat("x", DefaultMaxBody)} }),
			status: 413, code: CodeBodyTooLarge},
		{name: "unparsable scheduled_at", body: with(func(b map[string]any) { b["scheduled_at"] = "tomorrow at nine" }),
			status: 422, code: CodeValidation, field: "scheduled_at"},
		{name: "scheduled_at without zone", body: with(func(b map[string]any) { b["scheduled_at"] = "2026-06-10T14:00:00" }),
			status: 422, code: CodeValidation, field: "scheduled_at"},
		{name: "retry unknown field", body: with(func(b map[string]any) { b["retry"] = map[string]any{"colour": "red"} }),
			status: 400, code: CodeUnknownField, field: "retry.colour"},
		{name: "retry wrong type", body: with(func(b map[string]any) { b["retry"] = map[string]any{"max_attempts": "three"} }),
			status: 400, code: CodeWrongType, field: "retry.max_attempts"},
		{name: "retry not an object", body: with(func(b map[string]any) { b["retry"] = "2m" }),
			status: 400, code: CodeWrongType, field: "retry"},

		// Judged by the engine.
		{name: "undialable number", body: with(func(b map[string]any) { b["customer"] = map[string]any{"number": "+4412345"} }),
			status: 422, code: CodeValidation, field: "customer.number", reason: "invalid_number", engine: true},
		{name: "letters for a number", body: with(func(b map[string]any) { b["customer"] = map[string]any{"number": "call me", "country": "GB"} }),
			status: 422, code: CodeValidation, field: "customer.number", reason: "invalid_number", engine: true},
		{name: "national number without country", body: with(func(b map[string]any) { b["customer"] = map[string]any{"number": "020 7946 0123"} }),
			status: 422, code: CodeValidation, field: "customer.country", reason: "invalid_field", engine: true},
		{name: "unknown team", body: with(func(b map[string]any) { delete(b, "rep_number"); b["team"] = "nobody" }),
			status: 422, code: CodeUnknownTeam, field: "team", reason: "unknown_team", engine: true},
		{name: "metadata too large", body: with(func(b map[string]any) { b["metadata"] = map[string]any{"note": strings.Repeat("x", 501)} }),
			status: 422, code: CodeValidation, field: "metadata.note", reason: "metadata_too_large", engine: true},
		{name: "scheduled_at years ahead", body: with(func(b map[string]any) { b["scheduled_at"] = "2099-01-01T00:00:00Z" }),
			status: 422, code: CodeValidation, field: "scheduled_at", reason: "invalid_time", engine: true},
		{name: "retry value refused", body: with(func(b map[string]any) { b["retry"] = map[string]any{"max_attempts": 500} }),
			status: 422, code: CodeValidation, field: "retry.max_attempts", reason: "invalid_field", engine: true},
		{name: "premium rate", body: with(func(b map[string]any) { b["customer"] = map[string]any{"number": numPremium} }),
			status: 403, code: CodePremiumRate, field: "customer.number", reason: "premium_rate", engine: true},
		{name: "destination not allowed", body: with(func(b map[string]any) { b["customer"] = map[string]any{"number": numParis} }),
			status: 403, code: CodeDestinationNotAllowed, field: "customer.number", reason: "destination_not_allowed", engine: true},
	}
}

// runErrorCases posts each case with a write key and checks the problem
// and that nothing was stored and no idempotency key stays taken.
func runErrorCases(t *testing.T, h *harness, cases []errCase, withEngine bool) {
	t.Helper()
	for _, c := range cases {
		if c.engine && !withEngine {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			h := h.with(t)
			before := h.stored()
			idemKey := "err-" + strings.ReplaceAll(c.name, " ", "-")
			headers := map[string]string{IdempotencyHeader: idemKey}
			for k, v := range c.headers {
				headers[k] = v
			}
			r := h.do(req{method: "POST", path: "/v1/callbacks", key: h.writer, body: c.body, headers: headers})
			p := r.problem(c.status, c.code, c.field)
			if c.reason != "" && p.Reason != c.reason {
				t.Errorf("reason %q, want %q", p.Reason, c.reason)
			}
			if n := h.stored(); n != before {
				t.Errorf("%d callbacks stored after a refused request, want %d", n, before)
			}
			// The refused request released its idempotency key: the same
			// key with a good body works.
			ok := h.do(req{method: "POST", path: "/v1/callbacks", key: h.writer, body: validCallback(), headers: map[string]string{IdempotencyHeader: idemKey}})
			if ok.code != http.StatusCreated {
				t.Errorf("same idempotency key after the refusal: %d %s", ok.code, ok.body)
			}
		})
	}
}

func TestRequestErrors(t *testing.T) {
	h, _, _ := newFakeHarness(t, Options{})
	runErrorCases(t, h, requestErrors(), false)
}

// authCase is a request the key check refuses.
type authCase struct {
	name          string
	method, path  string
	authorization string // the header; "admin", "writer", "reader" and "revoked" name the harness's keys
	status        int
	code          string
}

func authErrors() []authCase {
	return []authCase{
		{"missing key", "POST", "/v1/callbacks", "", 401, CodeUnauthenticated},
		{"not bearer", "POST", "/v1/callbacks", "Basic YWRtaW46YWRtaW4=", 401, CodeUnauthenticated},
		{"empty bearer", "POST", "/v1/callbacks", "Bearer ", 401, CodeUnauthenticated},
		{"wrong key", "POST", "/v1/callbacks", "Bearer cbk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 401, CodeUnauthenticated},
		{"revoked key", "POST", "/v1/callbacks", "revoked", 401, CodeUnauthenticated},
		{"read key writes", "POST", "/v1/callbacks", "reader", 403, CodeForbidden},
		{"read key cancels", "POST", "/v1/callbacks/cb_x/cancel", "reader", 403, CodeForbidden},
		{"write key reads", "GET", "/v1/callbacks", "writer", 403, CodeForbidden},
		{"write key creates a team", "POST", "/v1/teams", "writer", 403, CodeForbidden},
		{"read key deletes a team", "DELETE", "/v1/teams/sales", "reader", 403, CodeForbidden},
		{"write key lists keys", "GET", "/v1/api-keys", "writer", 403, CodeForbidden},
		{"read key creates a key", "POST", "/v1/api-keys", "reader", 403, CodeForbidden},
		{"write key takes a backup", "GET", "/v1/backup", "writer", 403, CodeForbidden},
	}
}

// runAuthCases sends each case with a valid body and checks the refusal
// and that nothing was stored.
func runAuthCases(t *testing.T, h *harness) {
	t.Helper()
	revoked := addKey(t, h.keys, store.ScopeAdmin)
	k, err := h.keys.APIKeyByHash(HashKey(revoked))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.keys.RevokeAPIKey(k.ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range authErrors() {
		t.Run(c.name, func(t *testing.T) {
			h := h.with(t)
			auth := map[string]string{"admin": "Bearer " + h.admin, "writer": "Bearer " + h.writer,
				"reader": "Bearer " + h.reader, "revoked": "Bearer " + revoked}[c.authorization]
			if auth == "" {
				auth = c.authorization
			}
			var body any
			if c.method == "POST" {
				body = validCallback()
			}
			before := h.stored()
			r := h.do(req{method: c.method, path: c.path, body: body,
				headers: map[string]string{"Authorization": auth, IdempotencyHeader: "auth-" + c.name}})
			r.problem(c.status, c.code, "")
			if c.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer: %v", r.header)
			}
			if n := h.stored(); n != before {
				t.Errorf("%d callbacks stored after a refused request, want %d", n, before)
			}
		})
	}
}

func TestAuthErrors(t *testing.T) {
	h, _, keys := newFakeHarness(t, Options{})
	runAuthCases(t, h)
	if recs := keys.records(); len(recs) != 0 {
		t.Errorf("idempotency records after refused requests: %+v", recs)
	}
}
