package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/callbackd/callbackd/bridge"
	"github.com/callbackd/callbackd/engine"
	"github.com/callbackd/callbackd/metrics"
	"github.com/callbackd/callbackd/schedule"
	"github.com/callbackd/callbackd/store"
	"github.com/callbackd/callbackd/trigger"
)

// The OpenAPI document is written by hand, so these tests hold it to the
// code three ways: it is a well-formed 3.1 document; its paths and methods
// are exactly the router's; and real responses, from the real engine over
// a real store, have the statuses, media types and shapes it documents.
// Schemas are checked by a small JSON Schema 2020-12 subset below (no
// modules beyond the ones the server uses).

// Numbers libphonenumber accepts (London); the dialer makes oasBusy busy.
const (
	oasCustomer = "+442079460123"
	oasBusy     = "+442079460124"
	oasRep      = "+442079460001"
	oasRep2     = "+442079460002"
	oasPremium  = "+19005550123"
)

// oasHook is the inbound event of a trigger: no API key but the
// trigger's secret, and a body that is the application's own JSON.
const oasHook = "POST /v1/hooks/{trigger_id}"

// oasPublic are the operations without an API key.
var oasPublic = []string{"GET /healthz", "GET /readyz", "GET /metrics", "GET /v1/openapi.json", oasHook}

var oasMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// oasDoc is the parsed document.
type oasDoc struct {
	root map[string]any
	res  map[string]*regexp.Regexp
}

// oasOp is one operation: its path template, method and object.
type oasOp struct {
	path, method string // method upper case
	op, item     map[string]any
}

func (o oasOp) key() string { return o.method + " " + o.path }

func loadOpenAPI(t *testing.T) *oasDoc {
	t.Helper()
	var root map[string]any
	if err := json.Unmarshal(openAPIDocument, &root); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	return &oasDoc{root: root, res: map[string]*regexp.Regexp{}}
}

// resolve follows a local JSON pointer reference ("#/components/...").
func (d *oasDoc) resolve(ref string) (any, error) {
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, fmt.Errorf("$ref %q: only local references are used", ref)
	}
	frag, err := url.PathUnescape(frag)
	if err != nil {
		return nil, fmt.Errorf("$ref %q: %w", ref, err)
	}
	var cur any = d.root
	if frag == "" {
		return cur, nil
	}
	for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("$ref %q: no %q", ref, tok)
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("$ref %q: no index %q", ref, tok)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("$ref %q: %q is inside a scalar", ref, tok)
		}
	}
	return cur, nil
}

// deref returns v itself or, for {"$ref": ...}, what it points at.
func (d *oasDoc) deref(t *testing.T, v any) map[string]any {
	t.Helper()
	m, _ := v.(map[string]any)
	if ref, ok := m["$ref"].(string); ok {
		target, err := d.resolve(ref)
		if err != nil {
			t.Fatal(err)
		}
		m, _ = target.(map[string]any)
	}
	return m
}

func (d *oasDoc) operations() []oasOp {
	var ops []oasOp
	paths, _ := d.root["paths"].(map[string]any)
	for p, item := range paths {
		it, _ := item.(map[string]any)
		for _, m := range oasMethods {
			if op, ok := it[m].(map[string]any); ok {
				ops = append(ops, oasOp{path: p, method: strings.ToUpper(m), op: op, item: it})
			}
		}
	}
	slices.SortFunc(ops, func(a, b oasOp) int { return strings.Compare(a.key(), b.key()) })
	return ops
}

func (d *oasDoc) operation(method, path string) (oasOp, bool) {
	for _, o := range d.operations() {
		if o.method == method && o.path == path {
			return o, true
		}
	}
	return oasOp{}, false
}

// walk calls fn for every object in the document, with its JSON path.
func walk(v any, at string, fn func(m map[string]any, at string)) {
	switch v := v.(type) {
	case map[string]any:
		fn(v, at)
		for _, k := range sortedKeys(v) {
			walk(v[k], at+"/"+k, fn)
		}
	case []any:
		for i, e := range v {
			walk(e, at+"/"+strconv.Itoa(i), fn)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestOpenAPIDocument(t *testing.T) {
	d := loadOpenAPI(t)
	ops := d.operations()

	t.Run("version", func(t *testing.T) {
		if v, _ := d.root["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
			t.Errorf("openapi %q, want 3.1.x", v)
		}
		info, _ := d.root["info"].(map[string]any)
		if info["title"] == nil || info["version"] == nil {
			t.Errorf("info needs title and version: %v", info)
		}
		if len(ops) == 0 {
			t.Fatal("no operations")
		}
	})

	t.Run("refs", func(t *testing.T) {
		used := map[string]bool{}
		walk(d.root, "#", func(m map[string]any, at string) {
			ref, ok := m["$ref"].(string)
			if !ok {
				return
			}
			if _, err := d.resolve(ref); err != nil {
				t.Errorf("%s: %v", at, err)
			}
			used[ref] = true
		})
		comps, _ := d.root["components"].(map[string]any)
		for _, kind := range []string{"schemas", "parameters", "headers", "responses"} {
			m, _ := comps[kind].(map[string]any)
			for name := range m {
				if ref := "#/components/" + kind + "/" + name; !used[ref] {
					t.Errorf("%s is never referenced", ref)
				}
			}
		}
	})

	t.Run("examples", func(t *testing.T) {
		// Every "examples" array of a schema holds values of that schema.
		c := &schemaCheck{doc: d, strict: true}
		walk(d.root, "#", func(m map[string]any, at string) {
			exs, ok := m["examples"].([]any)
			if !ok {
				return
			}
			for i, ex := range exs {
				for _, e := range c.validate(m, ex, "$") {
					t.Errorf("%s/examples/%d: %s", at, i, e)
				}
			}
		})
	})

	t.Run("operations", func(t *testing.T) {
		ids := map[string]string{}
		for _, o := range ops {
			id, _ := o.op["operationId"].(string)
			switch {
			case id == "":
				t.Errorf("%s: no operationId", o.key())
			case ids[id] != "":
				t.Errorf("%s: operationId %q is %s's too", o.key(), id, ids[id])
			default:
				ids[id] = o.key()
			}
			rs, _ := o.op["responses"].(map[string]any)
			if len(rs) == 0 {
				t.Errorf("%s: no responses", o.key())
			}
			for code, r := range rs {
				if _, err := strconv.Atoi(code); err != nil && code != "default" {
					t.Errorf("%s: response %q is not a status code", o.key(), code)
				}
				if desc, _ := d.deref(t, r)["description"].(string); desc == "" {
					t.Errorf("%s %s: no description", o.key(), code)
				}
			}
			if o.method == http.MethodPost && !hasParam(d, t, o, "header", IdempotencyHeader) {
				t.Errorf("%s: no %s parameter", o.key(), IdempotencyHeader)
			}
			if body, ok := o.op["requestBody"]; ok {
				for mt, media := range d.deref(t, body)["content"].(map[string]any) {
					s := d.deref(t, media.(map[string]any)["schema"])
					if s["additionalProperties"] != false && o.key() != oasHook {
						t.Errorf("%s %s: request body schema lets undocumented fields through", o.key(), mt)
					}
				}
			}
		}
	})

	t.Run("path parameters", func(t *testing.T) {
		name := regexp.MustCompile(`\{([^}]+)\}`)
		for _, o := range ops {
			for _, m := range name.FindAllStringSubmatch(o.path, -1) {
				if !hasParam(d, t, o, "path", m[1]) {
					t.Errorf("%s: {%s} is not a path parameter", o.key(), m[1])
				}
			}
			for _, p := range params(d, t, o) {
				if p["in"] == "path" && !strings.Contains(o.path, "{"+p["name"].(string)+"}") {
					t.Errorf("%s: path parameter %v is not in the path", o.key(), p["name"])
				}
			}
		}
	})

	t.Run("security and scopes", func(t *testing.T) {
		for _, o := range ops {
			sec, ok := o.op["security"].([]any)
			if !ok {
				t.Errorf("%s: no security of its own", o.key())
				continue
			}
			scope, _ := o.op["x-required-scope"].(string)
			desc, _ := o.op["description"].(string)
			if slices.Contains(oasPublic, o.key()) {
				if len(sec) != 0 || scope != "" {
					t.Errorf("%s: public, but security %v, scope %q", o.key(), sec, scope)
				}
				continue
			}
			if len(sec) != 1 || sec[0].(map[string]any)["bearerAuth"] == nil {
				t.Errorf("%s: security %v, want bearerAuth", o.key(), sec)
			}
			if !slices.Contains(validScopes, scope) || !strings.Contains(desc, "`"+scope+"`") {
				t.Errorf("%s: x-required-scope %q must be a scope named in the description %q", o.key(), scope, desc)
			}
			rs := o.op["responses"].(map[string]any)
			for _, code := range []string{"401", "403"} {
				if rs[code] == nil {
					t.Errorf("%s: authenticated, but no %s response", o.key(), code)
				}
			}
		}
	})

	t.Run("problems", func(t *testing.T) {
		// Each problem type listed under a status is one the server
		// answers with that status, and the Problem schema knows them all.
		schemas := d.root["components"].(map[string]any)["schemas"].(map[string]any)
		enum := schemas["Problem"].(map[string]any)["properties"].(map[string]any)["type"].(map[string]any)["enum"].([]any)
		var want []any
		for code := range problemKinds {
			want = append(want, problemPrefix+code)
		}
		slices.SortFunc(want, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
		got := slices.Clone(enum)
		slices.SortFunc(got, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Problem.type enum %v, want the problem kinds %v", got, want)
		}
		for _, o := range ops {
			for code, r := range o.op["responses"].(map[string]any) {
				r := d.deref(t, r)
				content, _ := r["content"].(map[string]any)
				media, isProblem := content[ProblemContentType].(map[string]any)
				types, _ := r["x-problem-types"].([]any)
				if !isProblem {
					if len(types) > 0 {
						t.Errorf("%s %s: problem types without a problem body", o.key(), code)
					}
					continue
				}
				if ref, _ := media["schema"].(map[string]any)["$ref"].(string); ref != "#/components/schemas/Problem" {
					t.Errorf("%s %s: problem body is %q, not the Problem schema", o.key(), code, ref)
				}
				if len(types) == 0 {
					t.Errorf("%s %s: no x-problem-types", o.key(), code)
				}
				for _, ty := range types {
					kind, ok := problemKinds[strings.TrimPrefix(ty.(string), problemPrefix)]
					if !ok || strconv.Itoa(kind.status) != code {
						t.Errorf("%s %s: problem type %v is not answered with %s", o.key(), code, ty, code)
					}
				}
			}
		}
	})
}

// params returns the operation's parameters and its path's.
func params(d *oasDoc, t *testing.T, o oasOp) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, list := range []any{o.item["parameters"], o.op["parameters"]} {
		ps, _ := list.([]any)
		for _, p := range ps {
			out = append(out, d.deref(t, p))
		}
	}
	return out
}

func hasParam(d *oasDoc, t *testing.T, o oasOp, in, name string) bool {
	t.Helper()
	for _, p := range params(d, t, o) {
		if p["in"] == in && p["name"] == name {
			return true
		}
	}
	return false
}

// normalisePath makes path templates comparable: "{id}", "{name}" and
// "{id:[a-z]+}" are all "{}".
var pathVar = regexp.MustCompile(`\{[^{}]*\}`)

func normalisePath(p string) string { return pathVar.ReplaceAllString(p, "{}") }

func TestOpenAPIRoutes(t *testing.T) {
	d := loadOpenAPI(t)
	documented := map[string]bool{}
	for _, o := range d.operations() {
		documented[o.method+" "+normalisePath(o.path)] = true
	}
	// Nothing is called while walking, so no dependencies are needed.
	srv := New(nil, nil, Options{})
	routed := map[string]bool{}
	err := srv.Router().Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tmpl, err := route.GetPathTemplate()
		if err != nil {
			return fmt.Errorf("a route without a path template: %w", err)
		}
		methods, err := route.GetMethods()
		if err != nil {
			t.Errorf("route %s answers every method; the document lists methods", tmpl)
			return nil
		}
		for _, m := range methods {
			routed[m+" "+normalisePath(tmpl)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	if len(routed) == 0 {
		t.Fatal("the router has no routes")
	}
	for _, k := range sortedKeys(routed) {
		if !documented[k] {
			t.Errorf("%s is routed but not documented", k)
		}
	}
	for _, k := range sortedKeys(documented) {
		if !routed[k] {
			t.Errorf("%s is documented but not routed", k)
		}
	}
}

func TestOpenAPIServe(t *testing.T) {
	srv := New(nil, nil, Options{})
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != JSONContentType {
		t.Fatalf("GET /v1/openapi.json: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if !bytes.Equal(rec.Body.Bytes(), openAPIDocument) {
		t.Error("the served document is not the embedded one")
	}
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	r := httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil)
	r.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, r)
	if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("If-None-Match with the ETag: %d, %d bytes; want 304 and none", rec.Code, rec.Body.Len())
	}
}

// TestOpenAPIValidator proves the schema checker below refuses what it
// should, so that the response tests cannot pass by checking nothing.
func TestOpenAPIValidator(t *testing.T) {
	d := loadOpenAPI(t)
	ref := func(name string) any { return map[string]any{"$ref": "#/components/schemas/" + name} }
	ok := `{"id":"cb_01m8hhkx527shacjb2ydqyk9kv","status":"scheduled","rep_number":"+442079460001",
		"customer":{"number":"+442079460123"},"window":null,"retry":{"max_attempts":6},"attempt_count":0,
		"created_at":"2026-06-10T14:00:00Z","updated_at":"2026-06-10T14:00:00Z"}`
	edit := func(f func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(ok), &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	for _, tc := range []struct {
		name, schema, value string
		want                string // part of an error; "" = valid
	}{
		{"valid", "Callback", ok, ""},
		{"missing required", "Callback", edit(func(m map[string]any) { delete(m, "status") }), "status: required"},
		{"undocumented", "Callback", edit(func(m map[string]any) { m["colour"] = "red" }), "colour: undocumented"},
		{"nested undocumented", "Callback", edit(func(m map[string]any) { m["customer"].(map[string]any)["x"] = 1 }), "customer.x: undocumented"},
		{"enum", "Callback", edit(func(m map[string]any) { m["status"] = "done" }), "status: not one of"},
		{"pattern", "Callback", edit(func(m map[string]any) { m["rep_number"] = "07700900123" }), `"07700900123" does not match`},
		{"type", "Callback", edit(func(m map[string]any) { m["attempt_count"] = "0" }), "attempt_count: want integer"},
		{"integer", "Callback", edit(func(m map[string]any) { m["attempt_count"] = 1.5 }), "attempt_count: want integer"},
		{"date-time", "Callback", edit(func(m map[string]any) { m["created_at"] = "yesterday" }), `"yesterday" is not a date-time`},
		{"nullable", "Callback", edit(func(m map[string]any) { m["window"] = "always" }), "window: want object or null"},
		{"maximum", "Callback", edit(func(m map[string]any) { m["retry"] = map[string]any{"max_attempts": 21} }), "max_attempts: 21 is above 20"},
		{"event data by type", "Event", `{"id":"evt_01m8hhkx527shacjb2ydqyk9kv","callback_id":"cb_x","sequence":1,
			"type":"call.initiated","created_at":"2026-06-10T14:00:00Z","data":{"next_attempt_at":"2026-06-10T14:00:00Z"}}`, "data.attempt: required"},
		{"oneOf", "CallbackCreate", `{"customer":{"number":"+442079460123"},"team":"a","rep_number":"+442079460001"}`, "2 of oneOf"},
		{"closed request", "CallbackCreate", `{"customer":{"number":"+442079460123"},"team":"a","colour":"red"}`, "colour: not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tc.value), &v); err != nil {
				t.Fatal(err)
			}
			errs := (&schemaCheck{doc: d, strict: true}).validate(ref(tc.schema), v, "$")
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("valid value refused: %v", errs)
			case tc.want != "" && len(errs) == 0:
				t.Errorf("invalid value accepted, want %q", tc.want)
			case tc.want != "" && !strings.Contains(strings.Join(errs, "; "), tc.want):
				t.Errorf("errors %v, want one with %q", errs, tc.want)
			}
		})
	}
}

// oasEnv is the API over the real engine and a store in t.TempDir, with
// a key per scope, whose every response is checked against the document.
type oasEnv struct {
	t    *testing.T
	doc  *oasDoc
	srv  *Server
	db   *store.DB
	keys map[string]string // "admin", "write", "read", "read+write" -> secret
	// seen counts the responses checked per operation and status.
	seen map[string]bool
}

func newOASEnv(t *testing.T) *oasEnv {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "callbackd.db"), store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	log := slog.New(slog.DiscardHandler)
	m := metrics.New()
	cfg := engine.Config{Trunk: "trunk1", Guard: engine.Guardrails{Allow: []string{"+44", "+1"}, PerNumberPerDay: -1}}
	e, err := engine.New(cfg, db, oasDialer{}, schedule.System, log, m)
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatalf("start engine: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("engine shutdown: %v", err)
		}
	})
	srv := New(e, db, Options{Log: log, Metrics: m,
		Checks: []Check{{Name: "store", Fn: func(context.Context) error { return db.Ping() }}}})
	srv.SetBackup(db.Backup)
	env := &oasEnv{t: t, doc: loadOpenAPI(t), srv: srv, db: db, keys: map[string]string{}, seen: map[string]bool{}}
	for name, scopes := range map[string][]string{
		"admin": {store.ScopeAdmin}, "write": {store.ScopeCallbacksWrite}, "read": {store.ScopeCallbacksRead},
		"read+write": {store.ScopeCallbacksRead, store.ScopeCallbacksWrite},
	} {
		secret, hash := NewKeySecret()
		k := &store.APIKey{ID: store.NewID("key_", time.Now()), Name: name, Prefix: secret[:KeyPrefixLen], Hash: hash,
			Scopes: scopes, CreatedAt: time.Now().UTC()}
		if err := db.CreateAPIKey(k); err != nil {
			t.Fatalf("create key: %v", err)
		}
		env.keys[name] = secret
	}
	return env
}

// oasCall is a request: tmpl is the documented path template it uses,
// path the concrete path (with its query); path "" means tmpl. A body
// that is a string is sent as is, anything else as JSON.
type oasCall struct {
	method, tmpl, path, key string
	body                    any
	header                  map[string]string
}

// oasResp is a checked response; v is its JSON body, decoded.
type oasResp struct {
	code   int
	header http.Header
	body   []byte
	v      map[string]any
}

func (env *oasEnv) do(c oasCall) oasResp {
	env.t.Helper()
	path := c.path
	if path == "" {
		path = c.tmpl
	}
	var rd io.Reader
	switch b := c.body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			env.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	r := httptest.NewRequest(c.method, path, rd)
	if c.body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		r.Header.Set("Authorization", "Bearer "+env.keys[c.key])
	}
	for k, v := range c.header {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	env.srv.ServeHTTP(rec, r)
	resp := oasResp{code: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	env.check(c.method, c.tmpl, &resp)
	return resp
}

// want fails the test unless the status is code.
func (r oasResp) want(t *testing.T, code int) oasResp {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d: %s", r.code, code, r.body)
	}
	return r
}

// check holds a response to what the document says of the operation:
// the status is documented, the media type is one of the status's, and a
// JSON body has the schema's required properties and no others.
func (env *oasEnv) check(method, tmpl string, resp *oasResp) {
	t := env.t
	t.Helper()
	op, ok := env.doc.operation(method, tmpl)
	if !ok {
		t.Errorf("%s %s is not documented", method, tmpl)
		return
	}
	where := fmt.Sprintf("%s %s %d", method, tmpl, resp.code)
	env.seen[fmt.Sprintf("%s %d", op.key(), resp.code)] = true
	rs := op.op["responses"].(map[string]any)
	r, ok := rs[strconv.Itoa(resp.code)]
	if !ok {
		r, ok = rs["default"]
	}
	if !ok {
		t.Errorf("%s: status not documented (body %s)", where, resp.body)
		return
	}
	rm := env.doc.deref(t, r)
	content, _ := rm["content"].(map[string]any)
	if len(content) == 0 {
		if len(bytes.TrimSpace(resp.body)) > 0 {
			t.Errorf("%s: documented without a body, sent %q", where, resp.body)
		}
		return
	}
	mt, _, err := mime.ParseMediaType(resp.header.Get("Content-Type"))
	if err != nil {
		t.Errorf("%s: Content-Type %q: %v", where, resp.header.Get("Content-Type"), err)
		return
	}
	media, ok := content[mt].(map[string]any)
	if !ok {
		t.Errorf("%s: media type %s not documented (%v)", where, mt, sortedKeys(content))
		return
	}
	if mt != JSONContentType && mt != ProblemContentType {
		return
	}
	var v any
	if err := json.Unmarshal(resp.body, &v); err != nil {
		t.Errorf("%s: body is not JSON: %v", where, err)
		return
	}
	resp.v, _ = v.(map[string]any)
	for _, e := range (&schemaCheck{doc: env.doc, strict: true}).validate(media["schema"], v, "$") {
		t.Errorf("%s: %s", where, e)
	}
	if mt == ProblemContentType {
		types, _ := rm["x-problem-types"].([]any)
		if !slices.Contains(types, any(resp.v["type"])) {
			t.Errorf("%s: problem type %v is not among the documented %v", where, resp.v["type"], types)
		}
	}
	if resp.code == http.StatusUnauthorized && resp.header.Get("WWW-Authenticate") == "" {
		t.Errorf("%s: no WWW-Authenticate", where)
	}
}

// waitFor polls GET path until ok accepts the body, for at most 5 s.
func (env *oasEnv) waitFor(tmpl, path string, ok func(v map[string]any) bool) map[string]any {
	env.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := env.do(oasCall{method: http.MethodGet, tmpl: tmpl, path: path, key: "read"}).want(env.t, http.StatusOK)
		if ok(r.v) {
			return r.v
		}
		if time.Now().After(deadline) {
			env.t.Fatalf("GET %s: still %s", path, r.body)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOpenAPIResponses(t *testing.T) {
	env := newOASEnv(t)
	const (
		callbacks = "/v1/callbacks"
		callback  = "/v1/callbacks/{id}"
		cancel    = "/v1/callbacks/{id}/cancel"
		events    = "/v1/callbacks/{id}/events"
		teams     = "/v1/teams"
		team      = "/v1/teams/{id}"
	)
	post := func(tmpl, path, key string, body any, hdr map[string]string) oasResp {
		t.Helper()
		return env.do(oasCall{method: http.MethodPost, tmpl: tmpl, path: path, key: key, body: body, header: hdr})
	}
	get := func(tmpl, path string) oasResp {
		t.Helper()
		return env.do(oasCall{method: http.MethodGet, tmpl: tmpl, path: path, key: "admin"})
	}
	final := func(v map[string]any) bool {
		return store.Status(fmt.Sprint(v["status"])).Final()
	}

	// Teams.
	post(teams, "", "admin", map[string]any{
		"id": "sales", "name": "Sales", "strategy": "round_robin",
		"reps":   []any{map[string]any{"number": oasRep, "name": "Bob"}, map[string]any{"number": "+44 20 7946 0002"}},
		"window": map[string]any{"time_zone": "Europe/London", "hours": map[string]any{"mon-sun": []any{"00:00-24:00"}}, "closed": []any{"2099-12-25"}},
		"retry":  map[string]any{"max_attempts": 3, "intervals": []any{"1h"}}, "rep_ring_timeout": "20s",
		"caller_id": map[string]any{"number": oasRep2, "name": "Shop"},
	}, nil).want(t, http.StatusCreated)
	post(teams, "", "admin", map[string]any{"reps": []any{map[string]any{"number": oasRep}},
		"retry": map[string]any{"backoff": map[string]any{"base": "1m", "jitter": 0.5}, "deadline_after": "48h"}},
		nil).want(t, http.StatusCreated)
	post(teams, "", "admin", map[string]any{"id": "sales", "reps": []any{map[string]any{"number": oasRep}}}, nil).want(t, http.StatusConflict)
	post(teams, "", "admin", map[string]any{"id": "premium", "reps": []any{map[string]any{"number": oasPremium}}}, nil).want(t, http.StatusForbidden)
	get(teams, "").want(t, http.StatusOK)
	get(teams, "/v1/teams?x=1").want(t, http.StatusBadRequest)
	get(team, "/v1/teams/sales").want(t, http.StatusOK)
	get(team, "/v1/teams/nobody").want(t, http.StatusNotFound)
	env.do(oasCall{method: http.MethodPatch, tmpl: team, path: "/v1/teams/sales", key: "admin",
		body:   map[string]any{"name": "Sales UK", "whisper": nil, "customer_ring_timeout": "30s"},
		header: map[string]string{"Content-Type": "application/merge-patch+json"}}).want(t, http.StatusOK)
	env.do(oasCall{method: http.MethodPatch, tmpl: team, path: "/v1/teams/sales", key: "admin",
		body: map[string]any{"strategy": "random"}}).want(t, http.StatusUnprocessableEntity)

	// A webhook endpoint for every event, made before the callbacks so
	// that their events are queued for it, through an idempotent request
	// and its replay; and one that wants one type and is disabled.
	const webhooks, webhook = "/v1/webhooks", "/v1/webhooks/{id}"
	hookBody := map[string]any{"url": "https://example.com/all", "description": "everything"}
	wh := post(webhooks, "", "admin", hookBody, map[string]string{IdempotencyHeader: "w1"}).want(t, http.StatusCreated)
	hook := wh.v["id"].(string)
	if again := post(webhooks, "", "admin", hookBody, map[string]string{IdempotencyHeader: "w1"}).want(t, http.StatusCreated); again.v["id"] != hook {
		t.Errorf("webhook replay %v, want %s", again.v["id"], hook)
	}
	wh = post(webhooks, "", "admin", map[string]any{"url": "https://example.com/done", "event_types": []any{"callback.completed"},
		"enabled": false}, nil).want(t, http.StatusCreated)
	spare := wh.v["id"].(string)
	post(webhooks, "", "admin", map[string]any{"url": "ftp://example.com"}, nil).want(t, http.StatusUnprocessableEntity)
	post(webhooks, "", "admin", map[string]any{"url": "https://example.com", "event_types": []any{"call.exploded"}}, nil).want(t, http.StatusUnprocessableEntity)
	post(webhooks, "", "admin", map[string]any{"url": "https://example.com", "colour": "red"}, nil).want(t, http.StatusBadRequest)

	// A callback that connects, through an idempotent request and its replay.
	body := map[string]any{"customer": map[string]any{"number": "020 7946 0123", "country": "GB", "name": "Ada"},
		"team": "sales", "metadata": map[string]any{"order": "42"}, "webhook_url": "https://example.com/hook"}
	idem := map[string]string{IdempotencyHeader: "order-42"}
	created := post(callbacks, "", "write", body, idem).want(t, http.StatusCreated)
	replay := post(callbacks, "", "write", body, idem).want(t, http.StatusCreated)
	if replay.header.Get(ReplayedHeader) != "true" || replay.v["id"] != created.v["id"] {
		t.Errorf("replay %v (%s), want the first response", replay.v["id"], replay.header.Get(ReplayedHeader))
	}
	post(callbacks, "", "write", map[string]any{"customer": map[string]any{"number": oasCustomer}, "team": "sales"}, idem).
		want(t, http.StatusUnprocessableEntity)
	connected := created.v["id"].(string)
	env.waitFor(callback, "/v1/callbacks/"+connected, final)

	// One that fails: the customer is busy and there is one attempt.
	r := post(callbacks, "", "write", map[string]any{"customer": map[string]any{"number": oasBusy},
		"rep_number": oasRep, "retry": map[string]any{"max_attempts": 1}}, nil).want(t, http.StatusCreated)
	failed := r.v["id"].(string)
	env.waitFor(callback, "/v1/callbacks/"+failed, final)

	// One that waits for a retry, then is canceled.
	r = post(callbacks, "", "write", map[string]any{"customer": map[string]any{"number": oasBusy},
		"rep_number": oasRep, "retry": map[string]any{"max_attempts": 2, "intervals": []any{"1h"}}}, nil).want(t, http.StatusCreated)
	retried := r.v["id"].(string)
	env.waitFor(callback, "/v1/callbacks/"+retried, func(v map[string]any) bool {
		return v["status"] == string(store.Scheduled) && v["attempt_count"] == 1.0
	})
	post(cancel, "/v1/callbacks/"+retried+"/cancel", "write", nil, nil).want(t, http.StatusOK)
	post(cancel, "/v1/callbacks/"+retried+"/cancel", "write", nil, nil).want(t, http.StatusConflict)
	post(cancel, "/v1/callbacks/cb_none/cancel", "write", nil, nil).want(t, http.StatusNotFound)

	// One for later, which keeps its team in use.
	later := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	r = post(callbacks, "", "write", map[string]any{"customer": map[string]any{"number": oasCustomer},
		"team": "sales", "scheduled_at": later}, nil).want(t, http.StatusCreated)
	env.do(oasCall{method: http.MethodDelete, tmpl: team, path: "/v1/teams/sales", key: "admin"}).want(t, http.StatusConflict)
	post(cancel, "/v1/callbacks/"+r.v["id"].(string)+"/cancel", "write", nil, map[string]string{IdempotencyHeader: "c1"}).want(t, http.StatusOK)

	// Reads.
	get(callbacks, "/v1/callbacks?limit=2").want(t, http.StatusOK)
	get(callbacks, "/v1/callbacks?status=completed&team=sales&customer=%2B442079460123").want(t, http.StatusOK)
	get(callbacks, "/v1/callbacks?limit=0").want(t, http.StatusUnprocessableEntity)
	get(callbacks, "/v1/callbacks?colour=red").want(t, http.StatusBadRequest)
	get(callback, "/v1/callbacks/cb_none").want(t, http.StatusNotFound)
	get(events, "/v1/callbacks/cb_none/events").want(t, http.StatusNotFound)
	types := map[string]bool{}
	for _, id := range []string{connected, failed, retried} {
		get(callback, "/v1/callbacks/"+id).want(t, http.StatusOK)
		v := env.waitFor(events, "/v1/callbacks/"+id+"/events", func(v map[string]any) bool {
			evs, _ := v["data"].([]any)
			return len(evs) > 0 && strings.HasPrefix(evs[len(evs)-1].(map[string]any)["type"].(string), "callback.") &&
				slices.Contains([]string{"callback.completed", "callback.failed", "callback.canceled"}, evs[len(evs)-1].(map[string]any)["type"].(string))
		})
		for _, ev := range v["data"].([]any) {
			types[ev.(map[string]any)["type"].(string)] = true
		}
	}
	get(events, "/v1/callbacks/"+connected+"/events?after=2&limit=1").want(t, http.StatusOK)
	// The sample covers every event type the document lists, so every
	// event data schema was checked against a real event.
	ev := env.doc.root["components"].(map[string]any)["schemas"].(map[string]any)["Event"].(map[string]any)
	for _, ty := range ev["properties"].(map[string]any)["type"].(map[string]any)["enum"].([]any) {
		if !types[ty.(string)] {
			t.Errorf("no %v event in the sample", ty)
		}
	}

	// The webhook endpoint got every event of those callbacks, and each
	// body is what the document's webhooks section says of its type.
	env.checkEnvelopes(hook, connected, failed, retried)

	// Webhook endpoints and their deliveries.
	const (
		hookSecret = "/v1/webhooks/{id}/secret"
		rotate     = "/v1/webhooks/{id}/rotate-secret"
		deliveries = "/v1/webhooks/{id}/deliveries"
		retry      = "/v1/webhooks/{id}/deliveries/{delivery_id}/retry"
		ping       = "/v1/webhooks/{id}/test"
	)
	get(webhooks, "").want(t, http.StatusOK)
	get(webhooks, "/v1/webhooks?x=1").want(t, http.StatusBadRequest)
	get(webhook, "/v1/webhooks/"+hook).want(t, http.StatusOK)
	get(webhook, "/v1/webhooks/we_none").want(t, http.StatusNotFound)
	dl := get(deliveries, "/v1/webhooks/"+hook+"/deliveries?limit=2").want(t, http.StatusOK)
	first := dl.v["data"].([]any)[0].(map[string]any)["id"].(string)
	get(deliveries, "/v1/webhooks/"+hook+"/deliveries?limit=2&starting_after="+first).want(t, http.StatusOK)
	get(deliveries, "/v1/webhooks/"+hook+"/deliveries?limit=0").want(t, http.StatusUnprocessableEntity)
	get(deliveries, "/v1/webhooks/"+hook+"/deliveries?colour=red").want(t, http.StatusBadRequest)
	get(deliveries, "/v1/webhooks/we_none/deliveries").want(t, http.StatusNotFound)
	post(retry, "/v1/webhooks/"+hook+"/deliveries/"+first+"/retry", "admin", nil, map[string]string{IdempotencyHeader: "r1"}).want(t, http.StatusAccepted)
	post(retry, "/v1/webhooks/"+spare+"/deliveries/"+first+"/retry", "admin", nil, nil).want(t, http.StatusNotFound)
	post(ping, "/v1/webhooks/"+spare+"/test", "admin", nil, nil).want(t, http.StatusConflict)

	// The connected callback's deliveries to its own webhook_url.
	const (
		cbDeliveries = "/v1/callbacks/{id}/deliveries"
		cbRetry      = "/v1/callbacks/{id}/deliveries/{delivery_id}/retry"
	)
	cd := get(cbDeliveries, "/v1/callbacks/"+connected+"/deliveries?limit=2").want(t, http.StatusOK)
	own := cd.v["data"].([]any)[0].(map[string]any)["id"].(string)
	get(cbDeliveries, "/v1/callbacks/"+connected+"/deliveries?limit=2&starting_after="+own).want(t, http.StatusOK)
	get(cbDeliveries, "/v1/callbacks/"+connected+"/deliveries?limit=101").want(t, http.StatusUnprocessableEntity)
	get(cbDeliveries, "/v1/callbacks/"+connected+"/deliveries?colour=red").want(t, http.StatusBadRequest)
	get(cbDeliveries, "/v1/callbacks/cb_none/deliveries").want(t, http.StatusNotFound)
	post(cbRetry, "/v1/callbacks/"+connected+"/deliveries/"+own+"/retry", "write", nil, map[string]string{IdempotencyHeader: "r2"}).want(t, http.StatusAccepted)
	// An endpoint's delivery is not the callback's to resend.
	post(cbRetry, "/v1/callbacks/"+connected+"/deliveries/"+first+"/retry", "write", nil, nil).want(t, http.StatusNotFound)
	post(ping, "/v1/webhooks/we_none/test", "admin", nil, nil).want(t, http.StatusNotFound)
	env.do(oasCall{method: http.MethodPatch, tmpl: webhook, path: "/v1/webhooks/" + spare, key: "admin",
		body:   map[string]any{"enabled": true, "description": nil, "event_types": nil},
		header: map[string]string{"Content-Type": "application/merge-patch+json"}}).want(t, http.StatusOK)
	env.do(oasCall{method: http.MethodPatch, tmpl: webhook, path: "/v1/webhooks/" + spare, key: "admin",
		body: map[string]any{"url": nil}}).want(t, http.StatusUnprocessableEntity)
	env.do(oasCall{method: http.MethodPatch, tmpl: webhook, path: "/v1/webhooks/" + spare, key: "admin",
		body: map[string]any{"enabled": "yes"}}).want(t, http.StatusBadRequest)
	rs := post(rotate, "/v1/webhooks/"+hook+"/rotate-secret", "admin", map[string]any{"overlap": "1h"}, nil).want(t, http.StatusOK)
	if cur := get(hookSecret, "/v1/webhooks/"+hook+"/secret").want(t, http.StatusOK); cur.v["secret"] != rs.v["secret"] {
		t.Errorf("secret %v after rotating to %v", cur.v["secret"], rs.v["secret"])
	}
	post(rotate, "/v1/webhooks/"+hook+"/rotate-secret", "admin", nil, nil).want(t, http.StatusOK)
	post(rotate, "/v1/webhooks/"+hook+"/rotate-secret", "admin", map[string]any{"overlap": "200h"}, nil).want(t, http.StatusUnprocessableEntity)
	post(rotate, "/v1/webhooks/"+hook+"/rotate-secret", "admin", map[string]any{"overlap": 60}, nil).want(t, http.StatusBadRequest)
	post(rotate, "/v1/webhooks/we_none/rotate-secret", "admin", nil, nil).want(t, http.StatusNotFound)
	get(hookSecret, "/v1/webhooks/we_none/secret").want(t, http.StatusNotFound)
	get("/v1/webhook-secret", "").want(t, http.StatusOK)
	env.do(oasCall{method: http.MethodDelete, tmpl: webhook, path: "/v1/webhooks/" + spare, key: "admin"}).want(t, http.StatusNoContent)
	env.do(oasCall{method: http.MethodDelete, tmpl: webhook, path: "/v1/webhooks/" + spare, key: "admin"}).want(t, http.StatusNotFound)

	// REST Hooks: subscribe, read samples of events that happened,
	// unsubscribe; a key with callbacks:read is enough.
	const (
		subscriptions = "/v1/hooks/subscriptions"
		subscription  = "/v1/hooks/subscriptions/{id}"
		samples       = "/v1/hooks/samples"
	)
	sub := post(subscriptions, "", "read", map[string]any{"target_url": "https://zapier.example/hooks/1", "event": "callback.completed"},
		map[string]string{IdempotencyHeader: "s1"}).want(t, http.StatusCreated)
	post(subscriptions, "", "read", map[string]any{"target_url": "https://zapier.example/hooks/1", "event": "call.answered"}, nil).
		want(t, http.StatusUnprocessableEntity)
	post(subscriptions, "", "read", map[string]any{"target_url": "ftp://zapier.example/", "event": "callback.completed"}, nil).
		want(t, http.StatusUnprocessableEntity)
	post(subscriptions, "", "read", map[string]any{"url": "https://zapier.example/hooks/1"}, nil).want(t, http.StatusBadRequest)
	post(subscriptions, "", "write", map[string]any{"target_url": "https://zapier.example/hooks/1", "event": "callback.completed"}, nil).
		want(t, http.StatusForbidden)
	sm := env.do(oasCall{method: http.MethodGet, tmpl: samples, path: "/v1/hooks/samples?event=callback.completed&limit=5", key: "read"}).
		want(t, http.StatusOK)
	if data, _ := sm.v["data"].([]any); len(data) == 0 || data[0].(map[string]any)["type"] != "callback.completed" {
		t.Errorf("samples of callback.completed: %s", sm.body)
	}
	env.do(oasCall{method: http.MethodGet, tmpl: samples, path: "/v1/hooks/samples", key: "read"}).want(t, http.StatusUnprocessableEntity)
	env.do(oasCall{method: http.MethodGet, tmpl: samples, path: "/v1/hooks/samples?event=call.completed&limit=101", key: "read"}).
		want(t, http.StatusUnprocessableEntity)
	env.do(oasCall{method: http.MethodGet, tmpl: samples, path: "/v1/hooks/samples?event=call.completed&colour=red", key: "read"}).
		want(t, http.StatusBadRequest)
	env.do(oasCall{method: http.MethodDelete, tmpl: subscription, path: "/v1/hooks/subscriptions/" + hook, key: "read"}).
		want(t, http.StatusNotFound) // an endpoint made with POST /v1/webhooks is no subscription
	env.do(oasCall{method: http.MethodDelete, tmpl: subscription, path: "/v1/hooks/subscriptions/" + sub.v["id"].(string), key: "read"}).
		want(t, http.StatusNoContent)
	env.do(oasCall{method: http.MethodDelete, tmpl: subscription, path: "/v1/hooks/subscriptions/" + sub.v["id"].(string), key: "read"}).
		want(t, http.StatusNotFound)

	// Triggers, and events sent to one: matched, not matched, a duplicate
	// and the refusals.
	const (
		triggers     = "/v1/triggers"
		triggerOne   = "/v1/triggers/{id}"
		rotateSecret = "/v1/triggers/{id}/rotate-secret"
		inbound      = "/v1/hooks/{trigger_id}"
	)
	leadMapping := map[string]any{"customer_number": "payload.phone", "team": "'sales'", "metadata": map[string]any{"source": "'form'"}}
	trg := post(triggers, "", "admin", map[string]any{"name": "hot leads", "condition": "payload.score >= 80", "dedup": "1h",
		"mapping": leadMapping, "auth": map[string]any{"mode": "hmac_sha256"}}, map[string]string{IdempotencyHeader: "t1"}).want(t, http.StatusCreated)
	trgID, trgSecret := trg.v["id"].(string), trg.v["secret"].(string)
	post(triggers, "", "admin", map[string]any{"name": "x", "condition": "payload.score >", "mapping": leadMapping}, nil).want(t, http.StatusUnprocessableEntity)
	post(triggers, "", "admin", map[string]any{"name": "x", "mapping": leadMapping, "colour": "red"}, nil).want(t, http.StatusBadRequest)
	get(triggers, "").want(t, http.StatusOK)
	get(triggers, "/v1/triggers?x=1").want(t, http.StatusBadRequest)
	get(triggerOne, "/v1/triggers/"+trgID).want(t, http.StatusOK)
	get(triggerOne, "/v1/triggers/trg_none").want(t, http.StatusNotFound)
	patchTrigger := func(body any) oasResp {
		t.Helper()
		return env.do(oasCall{method: http.MethodPatch, tmpl: triggerOne, path: "/v1/triggers/" + trgID, key: "admin", body: body,
			header: map[string]string{"Content-Type": "application/merge-patch+json"}})
	}
	patchTrigger(map[string]any{"condition": "payload.score >"}).want(t, http.StatusUnprocessableEntity)
	patchTrigger(map[string]any{"rate_limit": "1"}).want(t, http.StatusBadRequest)
	fire := func(payload string, sign bool, hdr map[string]string) oasResp {
		t.Helper()
		h := map[string]string{}
		if sign {
			h[trigger.HeaderSignature] = trigger.Sign(trgSecret, []byte(payload))
		}
		for k, v := range hdr {
			h[k] = v
		}
		return env.do(oasCall{method: http.MethodPost, tmpl: inbound, path: "/v1/hooks/" + trgID, body: payload, header: h})
	}
	lead := func(number string) string { return `{"score": 91, "phone": "` + number + `"}` }
	hr := fire(lead(oasCustomer), true, map[string]string{IdempotencyHeader: "e1"}).want(t, http.StatusCreated)
	env.waitFor(callback, "/v1/callbacks/"+hr.v["callback_id"].(string), final)
	if dup := fire(lead(oasCustomer), true, nil).want(t, http.StatusOK); dup.v["duplicate"] != true || dup.v["callback_id"] != hr.v["callback_id"] {
		t.Errorf("duplicate event: %s", dup.body)
	}
	fire(`{"score": 12}`, true, nil).want(t, http.StatusOK)
	fire(`{"score": 91}`, true, nil).want(t, http.StatusUnprocessableEntity)
	fire(`[{"score": 91}]`, true, nil).want(t, http.StatusBadRequest)
	fire(lead(oasCustomer), false, nil).want(t, http.StatusUnauthorized)
	fire(lead(oasPremium), true, nil).want(t, http.StatusForbidden)
	patchTrigger(map[string]any{"rate_limit": 1, "dedup": nil}).want(t, http.StatusOK)
	fire(lead(oasBusy), true, nil).want(t, http.StatusCreated)
	fire(lead(oasBusy), true, nil).want(t, http.StatusTooManyRequests)
	patchTrigger(map[string]any{"enabled": false}).want(t, http.StatusOK)
	fire(lead(oasCustomer), true, nil).want(t, http.StatusConflict)
	env.do(oasCall{method: http.MethodPost, tmpl: inbound, path: "/v1/hooks/trg_none", body: "{}"}).want(t, http.StatusNotFound)
	post(rotateSecret, "/v1/triggers/"+trgID+"/rotate-secret", "admin", nil, nil).want(t, http.StatusOK)
	post(rotateSecret, "/v1/triggers/"+trgID+"/rotate-secret", "admin", map[string]any{"overlap": "1h"}, nil).want(t, http.StatusOK)
	post(rotateSecret, "/v1/triggers/"+trgID+"/rotate-secret", "admin", map[string]any{"overlap": "200h"}, nil).want(t, http.StatusUnprocessableEntity)
	post(rotateSecret, "/v1/triggers/"+trgID+"/rotate-secret", "admin", map[string]any{"overlap": 60}, nil).want(t, http.StatusBadRequest)
	post(rotateSecret, "/v1/triggers/trg_none/rotate-secret", "admin", nil, nil).want(t, http.StatusNotFound)
	env.do(oasCall{method: http.MethodDelete, tmpl: triggerOne, path: "/v1/triggers/" + trgID, key: "admin"}).want(t, http.StatusNoContent)
	env.do(oasCall{method: http.MethodDelete, tmpl: triggerOne, path: "/v1/triggers/" + trgID, key: "admin"}).want(t, http.StatusNotFound)

	// Every documented query parameter is one the router knows.
	for _, o := range env.doc.operations() {
		for _, p := range params(env.doc, t, o) {
			if p["in"] != "query" {
				continue
			}
			id := connected
			if strings.HasPrefix(o.path, "/v1/webhooks/") {
				id = hook
			}
			q := url.Values{p["name"].(string): {sampleParam(env.doc, t, p)}}
			if o.path == "/v1/hooks/samples" {
				q.Set("event", "callback.completed") // required
			}
			path := strings.ReplaceAll(o.path, "{id}", id) + "?" + q.Encode()
			r := env.do(oasCall{method: o.method, tmpl: o.path, path: path, key: "admin"})
			if r.code != http.StatusOK {
				t.Errorf("%s with %s: %d %s", o.key(), path, r.code, r.body)
			}
		}
	}

	// Problems of the callbacks' bodies.
	for _, tc := range []struct {
		body any
		code int
	}{
		{`{"customer":`, http.StatusBadRequest},
		{map[string]any{"customer": map[string]any{"number": oasCustomer}, "team": "sales", "colour": "red"}, http.StatusBadRequest},
		{map[string]any{"customer": map[string]any{"number": 42}, "team": "sales"}, http.StatusBadRequest},
		{map[string]any{"customer": map[string]any{"number": "+4412"}, "team": "sales"}, http.StatusUnprocessableEntity},
		{map[string]any{"customer": map[string]any{"number": oasCustomer}, "team": "nobody"}, http.StatusUnprocessableEntity},
		{map[string]any{"customer": map[string]any{"number": oasPremium}, "team": "sales"}, http.StatusForbidden},
		{map[string]any{"customer": map[string]any{"number": "+33142685300"}, "team": "sales"}, http.StatusForbidden},
		{map[string]any{"customer": map[string]any{"number": oasCustomer}, "team": "sales", "scheduled_at": "soon"}, http.StatusUnprocessableEntity},
		{`{"customer":{"number":"` + oasCustomer + `"},"team":"sales","metadata":{"k":"` + strings.Repeat("x", 65<<10) + `"}}`, http.StatusRequestEntityTooLarge},
	} {
		post(callbacks, "", "write", tc.body, nil).want(t, tc.code)
	}
	env.do(oasCall{method: http.MethodPost, tmpl: callbacks, key: "write", body: "{}",
		header: map[string]string{"Content-Type": "text/plain"}}).want(t, http.StatusUnsupportedMediaType)
	env.do(oasCall{method: http.MethodGet, tmpl: callbacks}).want(t, http.StatusUnauthorized)
	env.do(oasCall{method: http.MethodGet, tmpl: callbacks, key: "write"}).want(t, http.StatusForbidden)

	// API keys.
	r = post("/v1/api-keys", "", "admin", map[string]any{"name": "web form", "scopes": []any{"callbacks:write"}},
		map[string]string{IdempotencyHeader: "k1"}).want(t, http.StatusCreated)
	if s, _ := r.v["secret"].(string); !strings.HasPrefix(s, "cbk_") {
		t.Errorf("created key without its secret: %s", r.body)
	}
	post("/v1/api-keys", "", "admin", map[string]any{"name": "web form", "scopes": []any{"callbacks:write"}},
		map[string]string{IdempotencyHeader: "k1"}).want(t, http.StatusCreated)
	post("/v1/api-keys", "", "admin", map[string]any{"name": "x", "scopes": []any{"everything"}}, nil).want(t, http.StatusUnprocessableEntity)
	get("/v1/api-keys", "").want(t, http.StatusOK)
	post("/v1/api-keys/{id}/revoke", "/v1/api-keys/"+r.v["id"].(string)+"/revoke", "admin", nil, nil).want(t, http.StatusOK)
	post("/v1/api-keys/{id}/revoke", "/v1/api-keys/key_none/revoke", "admin", nil, nil).want(t, http.StatusNotFound)

	// Teams again: deleting one no callback names.
	env.do(oasCall{method: http.MethodPost, tmpl: teams, key: "admin",
		body: map[string]any{"id": "spare", "reps": []any{map[string]any{"number": oasRep}}, "caller_id": map[string]any{"name": "Shop"},
			"retry": map[string]any{"max_attempts": 0, "backoff": map[string]any{"base": "1s", "factor": 0}}}}).want(t, http.StatusCreated)
	env.do(oasCall{method: http.MethodDelete, tmpl: team, path: "/v1/teams/spare", key: "admin"}).want(t, http.StatusNoContent)
	env.do(oasCall{method: http.MethodDelete, tmpl: team, path: "/v1/teams/spare", key: "admin"}).want(t, http.StatusNotFound)

	// Operations.
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/v1/openapi.json"} {
		env.do(oasCall{method: http.MethodGet, tmpl: p}).want(t, http.StatusOK)
	}
	get("/v1/backup", "").want(t, http.StatusOK)
	broken := New(nil, nil, Options{Checks: []Check{{Name: "trunk", Fn: func(context.Context) error { return fmt.Errorf("no route to host") }}}})
	rec := httptest.NewRecorder()
	broken.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	resp := oasResp{code: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	env.check(http.MethodGet, "/readyz", &resp)
	resp.want(t, http.StatusServiceUnavailable)

	// Unrouted requests answer the Problem schema too.
	for _, tc := range []struct {
		method, path string
		code         int
	}{{http.MethodPut, "/v1/callbacks", http.StatusMethodNotAllowed}, {http.MethodGet, "/v2/nothing", http.StatusNotFound}} {
		rec := httptest.NewRecorder()
		env.srv.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		var v any
		if rec.Code != tc.code || rec.Header().Get("Content-Type") != ProblemContentType || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
			t.Errorf("%s %s: %d %q %s", tc.method, tc.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			continue
		}
		for _, e := range (&schemaCheck{doc: env.doc, strict: true}).validate(map[string]any{"$ref": "#/components/schemas/Problem"}, v, "$") {
			t.Errorf("%s %s: %s", tc.method, tc.path, e)
		}
	}

	// The sample reached every operation's success response.
	for _, o := range env.doc.operations() {
		for code := range o.op["responses"].(map[string]any) {
			if strings.HasPrefix(code, "2") && !env.seen[o.key()+" "+code] {
				t.Errorf("%s %s: no sample response", o.key(), code)
			}
		}
	}
}

// sampleParam returns a valid value for a query parameter.
func sampleParam(d *oasDoc, t *testing.T, p map[string]any) string {
	t.Helper()
	s := d.deref(t, p["schema"])
	switch {
	case s["enum"] != nil:
		return fmt.Sprint(s["enum"].([]any)[0])
	case s["default"] != nil:
		return fmt.Sprint(s["default"])
	case s["format"] == "date-time":
		return time.Now().UTC().Format(time.RFC3339)
	case s["pattern"] != nil:
		return oasCustomer // the one patterned query parameter is a number
	}
	return "x"
}

// TestOpenAPIScopes checks each operation's documented scope against the
// router: a key with just that scope gets past authorization, a key with
// the others is forbidden.
func TestOpenAPIScopes(t *testing.T) {
	env := newOASEnv(t)
	holder := map[string]string{store.ScopeAdmin: "admin", store.ScopeCallbacksWrite: "write", store.ScopeCallbacksRead: "read"}
	lacking := map[string]string{store.ScopeAdmin: "read+write", store.ScopeCallbacksWrite: "read", store.ScopeCallbacksRead: "write"}
	for _, o := range env.doc.operations() {
		path := pathVar.ReplaceAllString(o.path, "none")
		c := oasCall{method: o.method, tmpl: o.path, path: path}
		if o.method == http.MethodPost || o.method == http.MethodPatch {
			c.body = "{}"
		}
		scope, _ := o.op["x-required-scope"].(string)
		if scope == "" {
			if r := env.do(c); r.code == http.StatusUnauthorized || r.code == http.StatusForbidden {
				t.Errorf("%s without a key: %d", o.key(), r.code)
			}
			continue
		}
		c.key = holder[scope]
		if r := env.do(c); r.code == http.StatusUnauthorized || r.code == http.StatusForbidden && r.v["type"] == problemPrefix+CodeForbidden {
			t.Errorf("%s with scope %s: %d %s", o.key(), scope, r.code, r.body)
		}
		c.key = lacking[scope]
		if r := env.do(c); r.code != http.StatusForbidden || r.v["type"] != problemPrefix+CodeForbidden {
			t.Errorf("%s without scope %s: %d %s, want 403 forbidden", o.key(), scope, r.code, r.body)
		}
		c.key = ""
		if r := env.do(c); r.code != http.StatusUnauthorized {
			t.Errorf("%s without a key: %d, want 401", o.key(), r.code)
		}
	}
}

// oasDialer connects every call at once, except that oasBusy is busy,
// reporting the call events as the bridge would.
type oasDialer struct{}

func (oasDialer) Run(ctx context.Context, p bridge.Plan) (bridge.Result, error) {
	now := time.Now().UTC()
	rep, cust := p.Reps[0].Number, p.Customer.Number
	ev := func(typ string, leg bridge.Role, number, callID string, code int, reason string) {
		p.OnEvent(bridge.Event{Type: typ, Leg: leg, Number: number, CallID: callID, At: now, Code: code, Reason: reason})
	}
	repLeg := bridge.LegResult{Role: bridge.RoleRep, Number: rep, CallID: "rep-1", Outcome: "answered", Code: 200, Reason: "OK",
		InvitedAt: now, AnsweredAt: now, EndedAt: now}
	ev(bridge.EventInitiated, bridge.RoleRep, rep, "rep-1", 0, "")
	ev(bridge.EventConnected, bridge.RoleRep, rep, "rep-1", 200, "OK")
	ev(bridge.EventInitiated, bridge.RoleCustomer, cust, "cust-1", 0, "")
	ev(bridge.EventRinging, bridge.RoleCustomer, cust, "cust-1", 180, "Ringing")
	if cust == oasBusy {
		ev(bridge.EventMissed, bridge.RoleCustomer, cust, "cust-1", 486, "Busy Here")
		ev(bridge.EventCompleted, bridge.RoleRep, rep, "rep-1", 0, "")
		return bridge.Result{Outcome: bridge.CustomerBusy, Code: 486, Reason: "Busy Here", Reps: []bridge.LegResult{repLeg},
			Customer: bridge.LegResult{Role: bridge.RoleCustomer, Number: cust, CallID: "cust-1", Outcome: "busy", Code: 486,
				Reason: "Busy Here", InvitedAt: now, RingingAt: now, EndedAt: now},
			EndedAt: now}, nil
	}
	ev(bridge.EventConnected, bridge.RoleCustomer, cust, "cust-1", 200, "OK")
	ev(bridge.EventCompleted, bridge.RoleCustomer, cust, "cust-1", 0, "")
	ev(bridge.EventCompleted, bridge.RoleRep, rep, "rep-1", 0, "")
	return bridge.Result{Outcome: bridge.Connected, Code: 200, Reason: "OK", Reps: []bridge.LegResult{repLeg},
		Customer: bridge.LegResult{Role: bridge.RoleCustomer, Number: cust, CallID: "cust-1", Outcome: "answered", Code: 200,
			Reason: "OK", InvitedAt: now, RingingAt: now, AnsweredAt: now, EndedAt: now},
		ConnectedAt: now, EndedAt: now.Add(time.Second), TalkTime: time.Second, HungUpBy: bridge.HangupCustomer}, nil
}

// schemaCheck validates JSON values against the document's schemas: the
// subset of JSON Schema 2020-12 the document uses ($ref, type, const,
// enum, the object, array, string and number keywords, the formats
// date-time, date and uri, allOf, anyOf, oneOf, not, if/then/else).
// strict also refuses properties a schema does not document where it
// lists its properties, so a field added to a response without the
// document is caught even though response schemas stay open to clients.
type schemaCheck struct {
	doc    *oasDoc
	strict bool
}

// validate checks v against schema s at a value boundary (the whole value,
// a property, an item), where the strict check applies.
func (c *schemaCheck) validate(s any, v any, at string) []string {
	errs := c.check(s, v, at)
	if obj, ok := v.(map[string]any); ok && c.strict {
		names, open := map[string]bool{}, false
		c.known(s, names, &open, 0)
		if !open && len(names) > 0 {
			for _, k := range sortedKeys(obj) {
				if !names[k] {
					errs = append(errs, at+"."+k+": undocumented property")
				}
			}
		}
	}
	return errs
}

// known collects the properties s documents for an object, through $ref
// and the applicators; open is set if s admits others.
func (c *schemaCheck) known(s any, names map[string]bool, open *bool, depth int) {
	m, ok := s.(map[string]any)
	if !ok || depth > 32 {
		if s == true {
			*open = true
		}
		return
	}
	if ref, ok := m["$ref"].(string); ok {
		if target, err := c.doc.resolve(ref); err == nil {
			c.known(target, names, open, depth+1)
		}
	}
	props, _ := m["properties"].(map[string]any)
	for k := range props {
		names[k] = true
	}
	if ap, ok := m["additionalProperties"]; ok && ap != false {
		*open = true
	}
	if m["patternProperties"] != nil {
		*open = true
	}
	for _, kw := range []string{"allOf", "anyOf", "oneOf"} {
		list, _ := m[kw].([]any)
		for _, sub := range list {
			c.known(sub, names, open, depth+1)
		}
	}
	for _, kw := range []string{"then", "else"} {
		if sub, ok := m[kw]; ok {
			c.known(sub, names, open, depth+1)
		}
	}
}

func (c *schemaCheck) check(s any, v any, at string) []string {
	switch s := s.(type) {
	case bool:
		if !s {
			return []string{at + ": not allowed"}
		}
		return nil
	case map[string]any:
		return c.checkObject(s, v, at)
	}
	return []string{fmt.Sprintf("%s: schema %v is neither an object nor a boolean", at, s)}
}

func (c *schemaCheck) checkObject(s map[string]any, v any, at string) []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(format, args...)) }
	if ref, ok := s["$ref"].(string); ok {
		target, err := c.doc.resolve(ref)
		if err != nil {
			fail("%v", err)
		} else {
			errs = append(errs, c.check(target, v, at)...)
		}
	}
	if ty, ok := s["type"]; ok {
		var types []string
		switch ty := ty.(type) {
		case string:
			types = []string{ty}
		case []any:
			for _, x := range ty {
				types = append(types, x.(string))
			}
		}
		if !slices.ContainsFunc(types, func(t string) bool { return jsonTypeIs(t, v) }) {
			fail("want %s, got %s", strings.Join(types, " or "), jsonTypeOf(v))
			return errs // the other keywords would only repeat it
		}
	}
	if cv, ok := s["const"]; ok && !reflect.DeepEqual(cv, v) {
		fail("want %v, got %v", cv, v)
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return reflect.DeepEqual(e, v) }) {
		fail("not one of %v: %v", enum, v)
	}
	switch v := v.(type) {
	case map[string]any:
		errs = append(errs, c.checkProperties(s, v, at)...)
	case []any:
		if n, ok := s["minItems"].(float64); ok && float64(len(v)) < n {
			fail("fewer than %v items", n)
		}
		if n, ok := s["maxItems"].(float64); ok && float64(len(v)) > n {
			fail("more than %v items", n)
		}
		if items, ok := s["items"]; ok {
			for i, e := range v {
				errs = append(errs, c.validate(items, e, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	case string:
		n := float64(len([]rune(v)))
		if m, ok := s["minLength"].(float64); ok && n < m {
			fail("shorter than %v", m)
		}
		if m, ok := s["maxLength"].(float64); ok && n > m {
			fail("longer than %v", m)
		}
		if p, ok := s["pattern"].(string); ok {
			re, err := c.regexp(p)
			if err != nil {
				fail("pattern %q: %v", p, err)
			} else if !re.MatchString(v) {
				fail("%q does not match %s", v, p)
			}
		}
		if f, ok := s["format"].(string); ok && !formatOK(f, v) {
			fail("%q is not a %s", v, f)
		}
	case float64:
		if m, ok := s["minimum"].(float64); ok && v < m {
			fail("%v is below %v", v, m)
		}
		if m, ok := s["maximum"].(float64); ok && v > m {
			fail("%v is above %v", v, m)
		}
		if m, ok := s["exclusiveMinimum"].(float64); ok && v <= m {
			fail("%v is not above %v", v, m)
		}
		if m, ok := s["exclusiveMaximum"].(float64); ok && v >= m {
			fail("%v is not below %v", v, m)
		}
	}
	if list, ok := s["allOf"].([]any); ok {
		for _, sub := range list {
			errs = append(errs, c.check(sub, v, at)...)
		}
	}
	if list, ok := s["anyOf"].([]any); ok {
		if !slices.ContainsFunc(list, func(sub any) bool { return len(c.check(sub, v, at)) == 0 }) {
			fail("matches none of anyOf")
		}
	}
	if list, ok := s["oneOf"].([]any); ok {
		n := 0
		for _, sub := range list {
			if len(c.check(sub, v, at)) == 0 {
				n++
			}
		}
		if n != 1 {
			fail("matches %d of oneOf, want exactly one", n)
		}
	}
	if sub, ok := s["not"]; ok && len(c.check(sub, v, at)) == 0 {
		fail("matches not")
	}
	if cond, ok := s["if"]; ok {
		if len(c.check(cond, v, at)) == 0 {
			if sub, ok := s["then"]; ok {
				errs = append(errs, c.check(sub, v, at)...)
			}
		} else if sub, ok := s["else"]; ok {
			errs = append(errs, c.check(sub, v, at)...)
		}
	}
	return errs
}

func (c *schemaCheck) checkProperties(s map[string]any, v map[string]any, at string) []string {
	var errs []string
	req, _ := s["required"].([]any)
	for _, name := range req {
		if _, ok := v[name.(string)]; !ok {
			errs = append(errs, fmt.Sprintf("%s.%s: required", at, name))
		}
	}
	props, _ := s["properties"].(map[string]any)
	for _, k := range sortedKeys(v) {
		if ps, ok := props[k]; ok {
			errs = append(errs, c.validate(ps, v[k], at+"."+k)...)
		} else if ap, ok := s["additionalProperties"]; ok {
			errs = append(errs, c.validate(ap, v[k], at+"."+k)...)
		}
		if pn, ok := s["propertyNames"]; ok {
			errs = append(errs, c.check(pn, k, at+" key "+strconv.Quote(k))...)
		}
	}
	if n, ok := s["minProperties"].(float64); ok && float64(len(v)) < n {
		errs = append(errs, fmt.Sprintf("%s: fewer than %v properties", at, n))
	}
	if n, ok := s["maxProperties"].(float64); ok && float64(len(v)) > n {
		errs = append(errs, fmt.Sprintf("%s: more than %v properties", at, n))
	}
	return errs
}

func (c *schemaCheck) regexp(p string) (*regexp.Regexp, error) {
	if re, ok := c.doc.res[p]; ok {
		return re, nil
	}
	re, err := regexp.Compile(p)
	if err == nil {
		c.doc.res[p] = re
	}
	return re, err
}

func jsonTypeIs(t string, v any) bool {
	switch t {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f)
	case "array":
		_, ok := v.([]any)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	}
	return false
}

func jsonTypeOf(v any) string {
	for _, t := range []string{"null", "boolean", "string", "integer", "number", "array", "object"} {
		if jsonTypeIs(t, v) {
			return t
		}
	}
	return fmt.Sprintf("%T", v)
}

func formatOK(format, v string) bool {
	switch format {
	case "date-time":
		_, err := time.Parse(time.RFC3339Nano, v)
		return err == nil
	case "date":
		_, err := time.Parse(time.DateOnly, v)
		return err == nil
	case "uri":
		u, err := url.Parse(v)
		return err == nil && u.IsAbs()
	}
	return true // formats the document does not use are annotations
}

// webhookSchema returns the body schema the webhooks section gives events
// of type typ, or nil.
func (d *oasDoc) webhookSchema(typ string) any {
	hooks, _ := d.root["webhooks"].(map[string]any)
	item, _ := hooks[typ].(map[string]any)
	op, _ := item["post"].(map[string]any)
	body, _ := op["requestBody"].(map[string]any)
	content, _ := body["content"].(map[string]any)
	media, _ := content[JSONContentType].(map[string]any)
	return media["schema"]
}

// checkEnvelopes sends the endpoint hook a ping, then holds every body
// queued for it (the store's payloads, byte for byte what the sender
// POSTs) to the webhooks section: each validates, strictly, against its
// type's entry; each of the callbacks had every event of its log queued;
// and every entry was met.
func (env *oasEnv) checkEnvelopes(hook string, callbacks ...string) {
	t := env.t
	t.Helper()
	env.do(oasCall{method: http.MethodPost, tmpl: "/v1/webhooks/{id}/test", path: "/v1/webhooks/" + hook + "/test", key: "admin"}).
		want(t, http.StatusAccepted)
	var all []*store.Delivery
	after := ""
	for {
		ds, more, err := env.db.ListDeliveries(hook, after, 100)
		if err != nil {
			t.Fatalf("deliveries: %v", err)
		}
		all = append(all, ds...)
		if !more {
			break
		}
		after = ds[len(ds)-1].ID
	}
	met := map[string]bool{}
	queued := map[string]int{}
	for _, d := range all {
		body, err := env.db.Payload(d.EventID)
		if err != nil {
			t.Errorf("delivery %s: payload: %v", d.ID, err)
			continue
		}
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Errorf("delivery %s: payload is not JSON: %v", d.ID, err)
			continue
		}
		if v["id"] != d.EventID || v["type"] != d.EventType {
			t.Errorf("delivery %s of %s %s: envelope id %v, type %v", d.ID, d.EventType, d.EventID, v["id"], v["type"])
		}
		s := env.doc.webhookSchema(d.EventType)
		if s == nil {
			t.Errorf("delivery %s: no webhooks entry for %s", d.ID, d.EventType)
			continue
		}
		for _, e := range (&schemaCheck{doc: env.doc, strict: true}).validate(s, any(v), "$") {
			t.Errorf("webhook %s: %s", d.EventType, e)
		}
		met[d.EventType] = true
		queued[d.CallbackID]++
	}
	for _, id := range callbacks {
		evs, err := env.db.Events(id, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if queued[id] != len(evs) {
			t.Errorf("callback %s: %d events, %d queued for the endpoint", id, len(evs), queued[id])
		}
	}
	hooks, _ := env.doc.root["webhooks"].(map[string]any)
	for _, typ := range sortedKeys(hooks) {
		if !met[typ] {
			t.Errorf("webhooks %s: no real event checked against it", typ)
		}
	}
}

// TestOpenAPIWebhookSection checks the document's webhooks section
// against the engine: an entry for every event type it emits and for
// ping, each a POST with the Standard Webhooks headers and a body schema
// that resolves, and that tells event types apart.
func TestOpenAPIWebhookSection(t *testing.T) {
	d := loadOpenAPI(t)
	hooks, ok := d.root["webhooks"].(map[string]any)
	if !ok {
		t.Fatal("no webhooks section")
	}
	want := append(engine.WebhookEventTypes(), engine.EventPing)
	slices.Sort(want)
	if got := sortedKeys(hooks); !slices.Equal(got, want) {
		t.Errorf("webhooks entries %v, want the engine's event types and ping %v", got, want)
	}
	enum := d.root["components"].(map[string]any)["schemas"].(map[string]any)["WebhookEventType"].(map[string]any)["enum"].([]any)
	var types []string
	for _, e := range enum {
		types = append(types, e.(string))
	}
	slices.Sort(types)
	if wantTypes := engine.WebhookEventTypes(); !slices.Equal(types, slices.Sorted(slices.Values(wantTypes))) {
		t.Errorf("WebhookEventType enum %v, want %v", types, wantTypes)
	}

	ids := map[string]bool{}
	for _, o := range d.operations() {
		ids[o.op["operationId"].(string)] = true
	}
	for _, typ := range sortedKeys(hooks) {
		item, _ := hooks[typ].(map[string]any)
		op, ok := item["post"].(map[string]any)
		if !ok || len(item) != 1 {
			t.Errorf("webhooks %s: want exactly a post operation, got %v", typ, sortedKeys(item))
			continue
		}
		id, _ := op["operationId"].(string)
		if id == "" || ids[id] {
			t.Errorf("webhooks %s: operationId %q missing or taken", typ, id)
		}
		ids[id] = true
		if sec, ok := op["security"].([]any); !ok || len(sec) != 0 {
			t.Errorf("webhooks %s: security %v, want none (callbackd sends it; the receiver checks the signature)", typ, op["security"])
		}
		for _, h := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
			found := false
			for _, p := range op["parameters"].([]any) {
				p := d.deref(t, p)
				if p["in"] == "header" && p["name"] == h && p["required"] == true && p["description"] != "" {
					found = true
				}
			}
			if !found {
				t.Errorf("webhooks %s: no required, described header %s", typ, h)
			}
		}
		rs, _ := op["responses"].(map[string]any)
		for _, code := range []string{"2XX", "410", "default"} {
			if r, _ := rs[code].(map[string]any); r["description"] == nil {
				t.Errorf("webhooks %s: no %s response", typ, code)
			}
		}
		s := d.webhookSchema(typ)
		if s == nil {
			t.Errorf("webhooks %s: no application/json body schema", typ)
			continue
		}
		// The schema resolves all the way down and admits only its type.
		walk(s, "#/webhooks/"+typ, func(m map[string]any, at string) {
			if ref, ok := m["$ref"].(string); ok {
				if _, err := d.resolve(ref); err != nil {
					t.Errorf("%s: %v", at, err)
				}
			}
		})
		other := "ping"
		if typ == "ping" {
			other = "call.connected"
		}
		v := map[string]any{"id": "evt_01m8hhkx527shacjb2ydqyk9kv", "type": other, "created_at": "2026-06-10T14:00:00Z", "sequence": 1.0, "data": map[string]any{}}
		if errs := (&schemaCheck{doc: d, strict: true}).validate(s, any(v), "$"); len(errs) == 0 {
			t.Errorf("webhooks %s: an envelope of type %s passes", typ, other)
		}
	}

	// What a wrong body looks like to the checker.
	env := `{"id":"evt_01m8hhkx527shacjb2ydqyk9kv","type":"call.connected","created_at":"2026-06-10T14:00:00Z","sequence":3,
		"data":{"callback":{"id":"cb_01m8hhkx527shacjb2ydqyk9kv","status":"in_progress","rep_number":"+442079460001",
		"customer":{"number":"+442079460123"},"window":null,"retry":{"max_attempts":6},"attempt_count":1,
		"created_at":"2026-06-10T14:00:00Z","updated_at":"2026-06-10T14:00:00Z"},
		"attempt":{"callback_id":"cb_01m8hhkx527shacjb2ydqyk9kv","number":1,"started_at":"2026-06-10T14:00:00Z"},
		"call":{"attempt":1,"leg":"rep","number":"+442079460001","sip_code":200,"at":"2026-06-10T14:00:00Z"}}}`
	for _, tc := range []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"valid", func(map[string]any) {}, ""},
		{"no call", func(m map[string]any) { delete(m["data"].(map[string]any), "call") }, "data.call: required"},
		{"no sequence", func(m map[string]any) { delete(m, "sequence") }, "sequence: required"},
		{"bad leg", func(m map[string]any) { m["data"].(map[string]any)["call"].(map[string]any)["leg"] = "both" }, "leg: not one of"},
		{"undocumented", func(m map[string]any) { m["data"].(map[string]any)["extra"] = 1 }, "data.extra: undocumented"},
	} {
		var m map[string]any
		if err := json.Unmarshal([]byte(env), &m); err != nil {
			t.Fatal(err)
		}
		tc.edit(m)
		errs := (&schemaCheck{doc: d, strict: true}).validate(d.webhookSchema("call.connected"), any(m), "$")
		switch {
		case tc.want == "" && len(errs) > 0:
			t.Errorf("%s: refused: %v", tc.name, errs)
		case tc.want != "" && !strings.Contains(strings.Join(errs, "; "), tc.want):
			t.Errorf("%s: errors %v, want one with %q", tc.name, errs, tc.want)
		}
	}
}
