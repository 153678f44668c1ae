package api

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/bridge"
	"github.com/callbackd/callbackd/engine"
	"github.com/callbackd/callbackd/metrics"
	"github.com/callbackd/callbackd/schedule"
	"github.com/callbackd/callbackd/store"
)

// These tests run the API over the real engine and a real store, with a
// dialer that answers every call, to prove the wiring: what the API
// refuses is not in the store, what it accepts is, and runs.

// *engine.Engine and *store.DB are what the server is built from.
var (
	_ Service  = (*engine.Engine)(nil)
	_ Webhooks = (*engine.Engine)(nil)
	_ Keys     = (*store.DB)(nil)
)

// answeringDialer connects every call at once, reporting the call events
// as the bridge would.
type answeringDialer struct {
	mu    sync.Mutex
	calls []string // customer numbers
}

func (d *answeringDialer) Run(ctx context.Context, p bridge.Plan) (bridge.Result, error) {
	d.mu.Lock()
	d.calls = append(d.calls, p.Customer.Number)
	d.mu.Unlock()
	now := time.Now()
	rep, cust := p.Reps[0].Number, p.Customer.Number
	for _, e := range []bridge.Event{
		{Type: bridge.EventInitiated, Leg: bridge.RoleRep, Number: rep, CallID: "rep-1", At: now},
		{Type: bridge.EventConnected, Leg: bridge.RoleRep, Number: rep, CallID: "rep-1", At: now, Code: 200},
		{Type: bridge.EventInitiated, Leg: bridge.RoleCustomer, Number: cust, CallID: "cust-1", At: now},
		{Type: bridge.EventConnected, Leg: bridge.RoleCustomer, Number: cust, CallID: "cust-1", At: now, Code: 200},
		{Type: bridge.EventCompleted, Leg: bridge.RoleCustomer, Number: cust, CallID: "cust-1", At: now},
		{Type: bridge.EventCompleted, Leg: bridge.RoleRep, Number: rep, CallID: "rep-1", At: now},
	} {
		p.OnEvent(e)
	}
	return bridge.Result{
		Outcome: bridge.Connected, Code: 200, Reason: "OK",
		Reps:        []bridge.LegResult{{Role: bridge.RoleRep, Number: rep, CallID: "rep-1", Outcome: "answered", Code: 200, InvitedAt: now, AnsweredAt: now, EndedAt: now}},
		Customer:    bridge.LegResult{Role: bridge.RoleCustomer, Number: cust, CallID: "cust-1", Outcome: "answered", Code: 200, InvitedAt: now, AnsweredAt: now, EndedAt: now},
		ConnectedAt: now, EndedAt: now.Add(time.Second), TalkTime: time.Second, HungUpBy: bridge.HangupCustomer,
	}, nil
}

func (d *answeringDialer) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.calls)
}

// realEnv is a harness over the engine and a store in t.TempDir.
type realEnv struct {
	*harness
	db *store.DB
	e  *engine.Engine
	d  *answeringDialer
	m  *metrics.Metrics
}

// newRealEnv starts an engine that allows UK and North American numbers
// and, unless perDay says otherwise, any number of callbacks per number.
func newRealEnv(t *testing.T, perDay int, o Options) *realEnv {
	t.Helper()
	return newRealEnvConfig(t, perDay, o, nil)
}

// newRealEnvConfig is newRealEnv with the engine's configuration changed
// by edit, if not nil.
func newRealEnvConfig(t *testing.T, perDay int, o Options, edit func(*engine.Config)) *realEnv {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "callbackd.db"), store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	v := &realEnv{db: db, d: &answeringDialer{}, m: metrics.New()}
	cfg := engine.Config{Trunk: "trunk1", Guard: engine.Guardrails{Allow: []string{"+44", "+1"}, PerNumberPerDay: perDay}}
	if edit != nil {
		edit(&cfg)
	}
	v.e, err = engine.New(cfg, db, v.d, schedule.System, testLogger(t), v.m)
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	if err := v.e.Start(context.Background()); err != nil {
		t.Fatalf("start engine: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := v.e.Shutdown(ctx); err != nil {
			t.Errorf("engine shutdown: %v", err)
		}
	})
	if o.Metrics == nil {
		o.Metrics = v.m
	}
	if o.Checks == nil {
		o.Checks = []Check{{Name: "store", Fn: func(context.Context) error { return db.Ping() }}}
	}
	v.harness = newHarness(t, v.e, db, o)
	v.harness.stored = v.countAll
	v.srv.SetBackup(db.Backup)
	return v
}

// countAll counts the callbacks in the store, paging through them all.
func (v *realEnv) countAll() int {
	n, after := 0, ""
	for {
		items, more, err := v.db.ListCallbacks(store.CallbackFilter{Limit: 100, StartingAfter: after})
		if err != nil {
			v.t.Fatalf("list: %v", err)
		}
		n += len(items)
		if !more || len(items) == 0 {
			return n
		}
		after = items[len(items)-1].ID
	}
}

// waitStatus polls GET /v1/callbacks/{id} until the status is s.
func (v *realEnv) waitStatus(id string, s store.Status) map[string]any {
	v.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var cb map[string]any
		v.do(req{method: "GET", path: "/v1/callbacks/" + id, key: v.reader}).want(200).decode(&cb)
		if cb["status"] == string(s) {
			return cb
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("callback %s: status %v, want %s", id, cb["status"], s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (v *realEnv) createCallback(body map[string]any) store.Callback {
	v.t.Helper()
	var cb store.Callback
	v.do(req{method: "POST", path: "/v1/callbacks", key: v.writer, body: body}).want(http.StatusCreated).decode(&cb)
	return cb
}

func salesTeam() map[string]any {
	return map[string]any{"id": "sales", "name": "Sales", "reps": []map[string]any{{"number": numRep, "name": "Bo"}, {"number": numRep2}},
		"retry": map[string]any{"max_attempts": 3, "intervals": []string{"2m"}}}
}

// later is a scheduled_at an hour ahead: the callback stays scheduled.
func later() string { return time.Now().Add(time.Hour).UTC().Format(time.RFC3339) }

func TestRealRequestErrors(t *testing.T) {
	v := newRealEnv(t, -1, Options{})
	runErrorCases(t, v.harness, requestErrors(), true)
}

func TestRealAuthErrors(t *testing.T) {
	v := newRealEnv(t, -1, Options{})
	runAuthCases(t, v.harness)
}

func TestRealDailyLimit(t *testing.T) {
	v := newRealEnv(t, 1, Options{})
	v.createCallback(with(func(b map[string]any) { b["scheduled_at"] = later() }))
	p := v.do(req{method: "POST", path: "/v1/callbacks", key: v.writer, body: with(func(b map[string]any) { b["scheduled_at"] = later() }),
		headers: map[string]string{IdempotencyHeader: "second"}}).problem(429, CodeDailyLimit, "customer.number")
	if p.Reason != "daily_limit" {
		t.Errorf("reason %q", p.Reason)
	}
	if n := v.countAll(); n != 1 {
		t.Errorf("%d callbacks stored, want 1", n)
	}
}

func TestRealIdempotency(t *testing.T) {
	v := newRealEnv(t, -1, Options{})
	runIdempotency(t, v.harness)
}

func TestRealIdempotencyConcurrent(t *testing.T) {
	v := newRealEnv(t, -1, Options{})
	runIdempotencyConcurrent(t, v.harness, 32)
}

// TestRealCallbackRuns creates a due-now callback for a team through the
// API and follows it to completed, with its attempt and event log.
func TestRealCallbackRuns(t *testing.T) {
	v := newRealEnv(t, -1, Options{})
	v.post("/v1/teams", salesTeam()).want(201)
	var created map[string]any
	v.do(req{method: "POST", path: "/v1/callbacks", key: v.writer, body: map[string]any{
		"customer": map[string]any{"number": "020 7946 0123", "country": "GB", "name": "Ada"},
		"team":     "sales", "webhook_url": "https://example.com/hook", "metadata": map[string]any{"order": "42"},
		"retry": map[string]any{"max_attempts": 2},
	}}).want(201).decode(&created)
	id, _ := created["id"].(string)
	// Due now with a free trunk slot: the 201 shows it already started
	// (the engine stores the create and the attempt's start together).
	if !strings.HasPrefix(id, "cb_") || created["status"] != "in_progress" || created["attempt_count"] != 1.0 || created["next_attempt_at"] != nil {
		t.Fatalf("created %v", created)
	}
	if c := created["customer"].(map[string]any); c["number"] != numCustomer {
		t.Errorf("customer number not normalised to E.164: %v", c)
	}
	if r := created["retry"].(map[string]any); r["max_attempts"] != float64(2) || r["intervals"] == nil {
		t.Errorf("effective retry policy %v: want the team's intervals with the override's max_attempts", r)
	}
	done := v.waitStatus(id, store.Completed)
	attempts, _ := done["attempts"].([]any)
	if len(attempts) != 1 || attempts[0].(map[string]any)["outcome"] != "connected" {
		t.Errorf("attempts %v", done["attempts"])
	}

	var all []store.Event
	after := uint64(0)
	for range 20 {
		var page struct {
			Data    []store.Event `json:"data"`
			HasMore bool          `json:"has_more"`
		}
		v.do(req{method: "GET", path: fmt.Sprintf("/v1/callbacks/%s/events?after=%d&limit=2", id, after), key: v.reader}).want(200).decode(&page)
		all = append(all, page.Data...)
		if !page.HasMore {
			break
		}
		after = page.Data[len(page.Data)-1].Seq
	}
	var types []string
	for i, e := range all {
		if e.Seq != uint64(i+1) {
			t.Errorf("event %d has sequence %d", i, e.Seq)
		}
		types = append(types, e.Type)
	}
	if len(types) < 3 || types[0] != "callback.scheduled" || types[len(types)-1] != "callback.completed" {
		t.Errorf("events %v", types)
	}
	v.do(req{method: "GET", path: "/v1/callbacks/cb_00000000000000000000000000/events", key: v.reader}).problem(404, CodeNotFound, "")
}

func TestRealListAndFilters(t *testing.T) {
	v := newRealEnv(t, -1, Options{})
	v.post("/v1/teams", salesTeam()).want(201)
	start := time.Now().UTC().Add(-time.Second)
	var ids []string
	for range 5 {
		ids = append(ids, v.createCallback(with(func(b map[string]any) { b["scheduled_at"] = later() })).ID)
	}
	for range 2 {
		ids = append(ids, v.createCallback(map[string]any{"customer": map[string]any{"number": numCustomer2}, "team": "sales", "scheduled_at": later()}).ID)
	}
	v.post("/v1/callbacks/"+ids[0]+"/cancel", nil).want(200)

	type page struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
		HasMore bool `json:"has_more"`
	}
	list := func(q string) page {
		t.Helper()
		var p page
		v.do(req{method: "GET", path: "/v1/callbacks?" + q, key: v.reader}).want(200).decode(&p)
		return p
	}
	// Newest first, two at a time.
	var got []string
	after := ""
	for range 10 {
		q := "limit=2"
		if after != "" {
			q += "&starting_after=" + after
		}
		p := list(q)
		for _, c := range p.Data {
			got = append(got, c.ID)
		}
		if !p.HasMore {
			break
		}
		after = p.Data[len(p.Data)-1].ID
	}
	if len(got) != len(ids) {
		t.Fatalf("paged %d callbacks, want %d", len(got), len(ids))
	}
	for i := range got {
		if got[i] != ids[len(ids)-1-i] {
			t.Errorf("page order %v, want newest first of %v", got, ids)
			break
		}
	}
	for _, c := range []struct {
		q    string
		want int
	}{
		{"status=canceled", 1},
		{"status=scheduled", 6},
		{"status=completed", 0},
		{"team=sales", 2},
		{"customer=%2B442079460124", 2},
		{"customer=" + numCustomer, 5}, // an unencoded + arrives as a space
		{"created_gte=" + start.Format(time.RFC3339Nano), 7},
		{"created_lt=" + start.Format(time.RFC3339Nano), 0},
		{"team=sales&status=canceled", 0},
	} {
		if p := list(c.q); len(p.Data) != c.want {
			t.Errorf("%s: %d callbacks, want %d", c.q, len(p.Data), c.want)
		}
	}
	v.do(req{method: "GET", path: "/v1/callbacks?status=lost", key: v.reader}).problem(422, CodeValidation, "status")
	v.do(req{method: "GET", path: "/v1/callbacks?limit=1000", key: v.reader}).problem(422, CodeValidation, "limit")
	v.do(req{method: "GET", path: "/v1/callbacks?created_gte=monday", key: v.reader}).problem(422, CodeValidation, "created_gte")
}

func TestRealCancel(t *testing.T) {
	v := newRealEnv(t, -1, Options{})
	cb := v.createCallback(with(func(b map[string]any) { b["scheduled_at"] = later() }))
	var canceled store.Callback
	v.do(req{method: "POST", path: "/v1/callbacks/" + cb.ID + "/cancel", key: v.writer}).want(200).decode(&canceled)
	if canceled.Status != store.Canceled || canceled.NextAttemptAt != (time.Time{}) {
		t.Errorf("canceled %+v", canceled)
	}
	v.do(req{method: "POST", path: "/v1/callbacks/" + cb.ID + "/cancel", key: v.writer}).problem(409, CodeConflict, "")

	due := v.createCallback(validCallback())
	v.waitStatus(due.ID, store.Completed)
	p := v.do(req{method: "POST", path: "/v1/callbacks/" + due.ID + "/cancel", key: v.writer}).problem(409, CodeConflict, "")
	if !strings.Contains(p.Detail, "completed") {
		t.Errorf("detail %q", p.Detail)
	}
	v.do(req{method: "POST", path: "/v1/callbacks/cb_00000000000000000000000000/cancel", key: v.writer}).problem(404, CodeNotFound, "")
	if v.d.count() != 1 {
		t.Errorf("%d calls, want only the due one", v.d.count())
	}
}

func TestRealTeams(t *testing.T) {
	v := newRealEnv(t, -1, Options{})
	team := salesTeam()
	team["window"] = map[string]any{"time_zone": "Europe/London", "hours": map[string]any{"mon-fri": []string{"09:00-17:30"}, "sat": []string{"22:00-02:00"}}, "closed": []string{"2026-12-25"}}
	team["strategy"] = "round_robin"
	team["caller_id"] = map[string]any{"number": "+442079460999", "name": "Shop"}
	var created map[string]any
	v.post("/v1/teams", team).want(201).decode(&created)
	if created["id"] != "sales" || created["window"].(map[string]any)["time_zone"] != "Europe/London" || created["created_at"] == nil {
		t.Fatalf("created %v", created)
	}
	v.post("/v1/teams", team).problem(409, CodeConflict, "id")
	v.post("/v1/teams", map[string]any{"name": "No reps"}).problem(422, CodeValidation, "reps")
	v.post("/v1/teams", map[string]any{"id": "Bad ID", "reps": []map[string]any{{"number": numRep}}}).problem(422, CodeValidation, "id")
	v.post("/v1/teams", map[string]any{"id": "x", "reps": []map[string]any{{"number": "12"}}}).problem(422, CodeValidation, "reps[0].number")
	v.post("/v1/teams", map[string]any{"id": "x", "reps": []map[string]any{{"number": numRep}}, "strategy": "random"}).problem(422, CodeValidation, "strategy")

	// An ID is made when none is given.
	var gen store.Team
	v.post("/v1/teams", map[string]any{"name": "Support", "reps": []map[string]any{{"number": numRep}}}).want(201).decode(&gen)
	if !strings.HasPrefix(gen.ID, "team_") {
		t.Errorf("generated ID %q", gen.ID)
	}

	var patched store.Team
	v.do(req{method: "PATCH", path: "/v1/teams/sales", key: v.admin, body: map[string]any{
		"reps": []map[string]any{{"number": numRep2}}, "window": nil,
	}}).want(200).decode(&patched)
	if len(patched.Reps) != 1 || patched.Reps[0].Number != numRep2 || !patched.Window.IsZero() || patched.Strategy != "round_robin" || patched.Name != "Sales" {
		t.Errorf("patched %+v", patched)
	}
	v.do(req{method: "PATCH", path: "/v1/teams/sales", key: v.admin, body: map[string]any{"id": "other"}}).problem(422, CodeValidation, "id")
	v.do(req{method: "PATCH", path: "/v1/teams/sales", key: v.admin, body: map[string]any{"reps": []any{}}}).problem(422, CodeValidation, "reps")
	var unchanged store.Team
	v.do(req{method: "GET", path: "/v1/teams/sales", key: v.reader}).want(200).decode(&unchanged)
	if len(unchanged.Reps) != 1 {
		t.Errorf("a refused PATCH changed the team: %+v", unchanged)
	}

	var list struct {
		Data []store.Team `json:"data"`
	}
	v.do(req{method: "GET", path: "/v1/teams", key: v.reader}).want(200).decode(&list)
	if len(list.Data) != 2 {
		t.Errorf("%d teams, want 2", len(list.Data))
	}

	cb := v.createCallback(map[string]any{"customer": map[string]any{"number": numCustomer}, "team": "sales", "scheduled_at": later()})
	v.do(req{method: "DELETE", path: "/v1/teams/sales", key: v.admin}).problem(409, CodeConflict, "")
	v.post("/v1/callbacks/"+cb.ID+"/cancel", nil).want(200)
	v.do(req{method: "DELETE", path: "/v1/teams/sales", key: v.admin}).want(204)
	v.do(req{method: "GET", path: "/v1/teams/sales", key: v.reader}).problem(404, CodeNotFound, "")
	v.do(req{method: "DELETE", path: "/v1/teams/sales", key: v.admin}).problem(404, CodeNotFound, "")
}

func TestRealAPIKeys(t *testing.T) {
	v := newRealEnv(t, -1, Options{})
	runAPIKeys(t, v.harness)
}

func TestRealHealthMetricsBackup(t *testing.T) {
	other, err := store.Open(filepath.Join(t.TempDir(), "other.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	v := newRealEnv(t, -1, Options{})
	v.do(req{method: "GET", path: "/readyz"}).want(200)

	v2 := newRealEnv(t, -1, Options{Checks: []Check{{Name: "store", Fn: func(context.Context) error { return other.Ping() }}}})
	other.Close()
	var ready readiness
	v2.do(req{method: "GET", path: "/readyz"}).want(503).decode(&ready)
	if ready.Checks["store"] == "ok" {
		t.Errorf("closed store reported ok: %+v", ready)
	}

	v.createCallback(validCallback())
	r := v.do(req{method: "GET", path: "/metrics"}).want(200)
	for _, want := range []string{"callbackd_api_request_duration_seconds_bucket", `route="/v1/callbacks"`, "callbackd_callbacks"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	b := v.get("/v1/backup").want(200)
	if len(b.body) < 4096 || b.header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("backup: %d bytes, %s", len(b.body), b.header.Get("Content-Type"))
	}
}
