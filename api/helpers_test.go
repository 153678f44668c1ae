package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/testlog"
	"github.com/callbackd/callbackd/metrics"
	"github.com/callbackd/callbackd/store"
)

// harness is a Server with an admin, a write-only and a read-only key.
type harness struct {
	t                     *testing.T
	srv                   *Server
	keys                  Keys
	admin, writer, reader string
	// stored counts the callbacks the backend holds, for the tests that
	// check a refused request stored nothing.
	stored func() int
}

// newFakeHarness serves a fake service and key store.
func newFakeHarness(t *testing.T, o Options) (*harness, *fakeService, *fakeKeys) {
	t.Helper()
	keys := newFakeKeys()
	svc := newFakeService(keys)
	h := newHarness(t, svc, keys, o)
	h.stored = svc.count
	return h, svc, keys
}

func newHarness(t *testing.T, svc Service, keys Keys, o Options) *harness {
	t.Helper()
	if o.Log == nil {
		o.Log = testLogger(t)
	}
	h := &harness{t: t, srv: New(svc, keys, o), keys: keys}
	h.admin = addKey(t, keys, store.ScopeAdmin)
	h.writer = addKey(t, keys, store.ScopeCallbacksWrite)
	h.reader = addKey(t, keys, store.ScopeCallbacksRead)
	return h
}

// with returns h reporting to t, for a subtest.
func (h *harness) with(t *testing.T) *harness {
	c := *h
	c.t = t
	return &c
}

// addKey stores a new key with scopes and returns its secret.
func addKey(t *testing.T, keys Keys, scopes ...string) string {
	t.Helper()
	secret, hash := NewKeySecret()
	k := &store.APIKey{ID: store.NewID("key_", time.Now()), Name: "test " + strings.Join(scopes, ","),
		Prefix: secret[:KeyPrefixLen], Hash: hash, Scopes: scopes, CreatedAt: time.Now().UTC()}
	if err := keys.CreateAPIKey(k); err != nil {
		t.Fatalf("create key: %v", err)
	}
	return secret
}

func testLogger(t *testing.T) *slog.Logger { return testlog.New(t, slog.LevelDebug) }

// response is a recorded response.
type response struct {
	t      *testing.T
	code   int
	header http.Header
	body   []byte
}

// req describes a request: a body that is a string or []byte is sent as
// is, anything else as JSON; Content-Type is application/json for any
// body unless headers set it.
type req struct {
	method, path, key string
	body              any
	headers           map[string]string
}

func (h *harness) do(r req) *response {
	h.t.Helper()
	var rd io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	hr := httptest.NewRequest(r.method, r.path, rd)
	if r.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.key != "" {
		hr.Header.Set("Authorization", "Bearer "+r.key)
	}
	for k, v := range r.headers {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, hr)
	return &response{t: h.t, code: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// get, post and friends are do with an admin key.
func (h *harness) get(path string) *response {
	h.t.Helper()
	return h.do(req{method: "GET", path: path, key: h.admin})
}

func (h *harness) post(path string, body any) *response {
	h.t.Helper()
	return h.do(req{method: "POST", path: path, key: h.admin, body: body})
}

// decode decodes the body into v, failing the test if it is not JSON.
func (r *response) decode(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		r.t.Fatalf("response %d %q: %v", r.code, r.body, err)
	}
}

// want fails unless the status is code.
func (r *response) want(code int) *response {
	r.t.Helper()
	if r.code != code {
		r.t.Fatalf("status %d, want %d: %s", r.code, code, r.body)
	}
	return r
}

// problem checks that the response is the problem code with status and,
// if field is not "-", that field.
func (r *response) problem(status int, code, field string) Problem {
	r.t.Helper()
	r.want(status)
	if ct := r.header.Get("Content-Type"); ct != ProblemContentType {
		r.t.Errorf("Content-Type %q, want %q", ct, ProblemContentType)
	}
	var p Problem
	r.decode(&p)
	if p.Type != problemPrefix+code {
		r.t.Errorf("type %q, want %q (%s)", p.Type, problemPrefix+code, r.body)
	}
	if p.Status != status || p.Title == "" || p.Detail == "" {
		r.t.Errorf("problem %+v: want status %d, a title and a detail", p, status)
	}
	if field != "-" && p.Field != field {
		r.t.Errorf("field %q, want %q (%s)", p.Field, field, r.body)
	}
	return p
}

// validCallback is a body the fake and the real engine accept.
func validCallback() map[string]any {
	return map[string]any{
		"customer":   map[string]any{"number": numCustomer, "name": "Ada"},
		"rep_number": numRep,
		"metadata":   map[string]any{"order": "42"},
	}
}

// Numbers libphonenumber accepts (London).
const (
	numCustomer  = "+442079460123"
	numCustomer2 = "+442079460124"
	numRep       = "+442079460001"
	numRep2      = "+442079460002"
	numPremium   = "+19005550123" // US 900: premium rate
	numParis     = "+33142685300"
)

// newMetrics returns a fresh metrics set.
func newMetrics() *metrics.Metrics { return metrics.New() }
