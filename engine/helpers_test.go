package engine

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/bridge"
	"github.com/callbackd/callbackd/internal/testlog"
	"github.com/callbackd/callbackd/media"
	"github.com/callbackd/callbackd/metrics"
	"github.com/callbackd/callbackd/schedule"
	"github.com/callbackd/callbackd/store"
)

// *store.DB is the production Store.
var _ Store = (*store.DB)(nil)

// Numbers libphonenumber accepts as valid (checked in TestNumbersAreValid).
const (
	numLondon   = "+442079460123"
	numLondon2  = "+442079460124"
	numLondon3  = "+442079460125"
	numRep      = "+442079460001"
	numRep2     = "+442079460002"
	numRep3     = "+442079460003"
	numSF       = "+14155550123"
	numPremium  = "+19005550123" // US 900: premium rate
	numParis    = "+33142685300"
	testNumber  = "+15550000001" // a sandbox number: not valid for libphonenumber
	testNumber2 = "+15550000002"
)

// script plays one attempt for the fake dialer.
type script func(ctx context.Context, p bridge.Plan) (bridge.Result, error)

// dialed is one Run call the fake dialer received.
type dialed struct {
	plan bridge.Plan
	at   time.Time // real time
}

// fakeDialer runs scripts chosen by the customer's number and records what
// it was asked to dial.
type fakeDialer struct {
	mu        sync.Mutex
	scripts   map[string]script
	def       script
	calls     []dialed
	active    int
	maxActive int
	started   chan bridge.Plan
}

func newFakeDialer() *fakeDialer {
	return &fakeDialer{scripts: map[string]script{}, def: answer(0), started: make(chan bridge.Plan, 1000)}
}

func (d *fakeDialer) set(number string, s script) {
	d.mu.Lock()
	d.scripts[number] = s
	d.mu.Unlock()
}

func (d *fakeDialer) Run(ctx context.Context, p bridge.Plan) (bridge.Result, error) {
	d.mu.Lock()
	s := d.scripts[p.Customer.Number]
	if s == nil {
		s = d.def
	}
	d.calls = append(d.calls, dialed{plan: p, at: time.Now()})
	d.active++
	d.maxActive = max(d.maxActive, d.active)
	d.mu.Unlock()
	d.started <- p
	defer func() {
		d.mu.Lock()
		d.active--
		d.mu.Unlock()
	}()
	return s(ctx, p)
}

func (d *fakeDialer) dialedCustomers() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, c := range d.calls {
		out = append(out, c.plan.Customer.Number)
	}
	return out
}

func (d *fakeDialer) plans() []bridge.Plan {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []bridge.Plan
	for _, c := range d.calls {
		out = append(out, c.plan)
	}
	return out
}

func (d *fakeDialer) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.calls)
}

func (d *fakeDialer) max() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.maxActive
}

func emit(p bridge.Plan, typ string, role bridge.Role, number string, code int) {
	p.OnEvent(bridge.Event{Type: typ, Leg: role, Number: number, CallID: "call-" + string(role), At: time.Now(), Code: code})
}

func repLeg(p bridge.Plan, outcome string, code int) bridge.LegResult {
	return bridge.LegResult{Role: bridge.RoleRep, Number: p.Reps[0].Number, CallID: "call-rep", Outcome: outcome, Code: code, InvitedAt: time.Now()}
}

// answer: both legs answer and talk for talk.
func answer(talk time.Duration) script {
	return func(ctx context.Context, p bridge.Plan) (bridge.Result, error) {
		rep, cust := p.Reps[0].Number, p.Customer.Number
		emit(p, bridge.EventInitiated, bridge.RoleRep, rep, 0)
		emit(p, bridge.EventRinging, bridge.RoleRep, rep, 180)
		emit(p, bridge.EventConnected, bridge.RoleRep, rep, 200)
		emit(p, bridge.EventInitiated, bridge.RoleCustomer, cust, 0)
		emit(p, bridge.EventConnected, bridge.RoleCustomer, cust, 200)
		emit(p, bridge.EventCompleted, bridge.RoleCustomer, cust, 0)
		emit(p, bridge.EventCompleted, bridge.RoleRep, rep, 0)
		now := time.Now()
		return bridge.Result{
			Outcome: bridge.Connected, Code: 200, Reason: "OK",
			Reps:        []bridge.LegResult{repLeg(p, "answered", 200)},
			Customer:    bridge.LegResult{Role: bridge.RoleCustomer, Number: cust, CallID: "call-customer", Outcome: "answered", Code: 200},
			ConnectedAt: now, EndedAt: now.Add(talk), TalkTime: talk, HungUpBy: bridge.HangupCustomer,
			Relay: mediaStats(10, 12, 1),
		}, nil
	}
}

// miss: the rep answers, the customer's leg ends with o.
func miss(o bridge.Outcome, code int) script {
	return func(ctx context.Context, p bridge.Plan) (bridge.Result, error) {
		rep, cust := p.Reps[0].Number, p.Customer.Number
		emit(p, bridge.EventInitiated, bridge.RoleRep, rep, 0)
		emit(p, bridge.EventConnected, bridge.RoleRep, rep, 200)
		emit(p, bridge.EventInitiated, bridge.RoleCustomer, cust, 0)
		emit(p, bridge.EventMissed, bridge.RoleCustomer, cust, code)
		return bridge.Result{
			Outcome: o, Code: code, Reason: "missed",
			Reps:     []bridge.LegResult{repLeg(p, "answered", 200)},
			Customer: bridge.LegResult{Role: bridge.RoleCustomer, Number: cust, Outcome: "missed", Code: code},
		}, nil
	}
}

// block rings the rep (and connects, if connect) and holds the call until
// release is closed or ctx ends, like a call in progress.
func block(release <-chan struct{}, connect bool) script {
	return func(ctx context.Context, p bridge.Plan) (bridge.Result, error) {
		rep := p.Reps[0].Number
		emit(p, bridge.EventInitiated, bridge.RoleRep, rep, 0)
		if connect {
			emit(p, bridge.EventConnected, bridge.RoleRep, rep, 200)
		}
		res := bridge.Result{Outcome: bridge.Connected, Code: 200, Reps: []bridge.LegResult{repLeg(p, "answered", 200)}, ConnectedAt: time.Now()}
		select {
		case <-release:
			res.HungUpBy = bridge.HangupCustomer
		case <-ctx.Done():
			if !connect {
				return bridge.Result{Outcome: bridge.Failed, Cause: context.Cause(ctx).Error(), Reps: []bridge.LegResult{repLeg(p, "canceled", 487)}}, nil
			}
			res.HungUpBy, res.Cause = bridge.HangupSystem, context.Cause(ctx).Error()
		}
		res.TalkTime = time.Second
		return res, nil
	}
}

// env is an engine on a real store with a fake clock and dialer.
type env struct {
	t     *testing.T
	e     *Engine
	db    *store.DB
	path  string
	clk   *schedule.FakeClock
	d     *fakeDialer
	m     *metrics.Metrics
	start time.Time
}

// start is a Wednesday afternoon in London, so UTC windows are open.
var t0 = time.Date(2026, 6, 10, 14, 0, 0, 0, time.UTC)

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	return newEnvOn(t, cfg, nil)
}

// newEnvOn is newEnv with the engine on wrap(the store), for the tests
// that watch the engine's store calls; wrap nil is newEnv.
func newEnvOn(t *testing.T, cfg Config, wrap func(*store.DB) Store) *env {
	t.Helper()
	clk := schedule.NewFakeClock(t0)
	path := filepath.Join(t.TempDir(), "callbackd.db")
	v := &env{t: t, path: path, clk: clk, d: newFakeDialer(), m: metrics.New(), start: t0}
	v.db = openStore(t, path, clk)
	var st Store = v.db
	if wrap != nil {
		st = wrap(v.db)
	}
	v.e = v.engineOn(st, cfg)
	return v
}

func openStore(t *testing.T, path string, clk *schedule.FakeClock) *store.DB {
	t.Helper()
	db, err := store.Open(path, store.Options{Now: clk.Now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// engine builds and starts an engine on v's store; cleanup shuts it down.
func (v *env) engine(cfg Config) *Engine {
	v.t.Helper()
	return v.engineOn(v.db, cfg)
}

// engineOn is engine on st, which may wrap v's store.
func (v *env) engineOn(st Store, cfg Config) *Engine {
	v.t.Helper()
	if cfg.Trunk == "" {
		cfg.Trunk = "trunk1"
	}
	if cfg.Guard.Allow == nil {
		cfg.Guard.Allow = []string{"+44", "+1", "+33"}
	}
	if cfg.TestNumbers == nil {
		cfg.TestNumbers = []string{testNumber, testNumber2}
	}
	e, err := New(cfg, st, v.d, v.clk, testLogger(v.t), v.m)
	if err != nil {
		v.t.Fatalf("New: %v", err)
	}
	if err := e.Start(context.Background()); err != nil {
		v.t.Fatalf("Start: %v", err)
	}
	v.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			v.t.Errorf("Shutdown: %v", err)
		}
	})
	return e
}

func testLogger(t *testing.T) *slog.Logger { return testlog.New(t, slog.LevelDebug) }

// req is a valid request calling numLondon back from a rep number.
func req(customer string) CallbackRequest {
	var r CallbackRequest
	r.Customer.Number = customer
	r.RepNumber = numRep
	return r
}

func (v *env) create(r CallbackRequest) *store.Callback {
	v.t.Helper()
	cb, err := v.e.Create(context.Background(), r)
	if err != nil {
		v.t.Fatalf("Create: %v", err)
	}
	return cb
}

func (v *env) team(t *store.Team) *store.Team {
	v.t.Helper()
	out, err := v.e.CreateTeam(context.Background(), t)
	if err != nil {
		v.t.Fatalf("CreateTeam: %v", err)
	}
	return out
}

// waitFor polls cond in real time; the engine works in goroutines even
// when the clock is fake.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (v *env) get(id string) *store.Callback {
	v.t.Helper()
	cb, _, err := v.e.Get(id)
	if err != nil {
		v.t.Fatalf("Get %s: %v", id, err)
	}
	return cb
}

func (v *env) attempts(id string) []*store.Attempt {
	v.t.Helper()
	_, as, err := v.e.Get(id)
	if err != nil {
		v.t.Fatalf("Get %s: %v", id, err)
	}
	return as
}

// waitCallback waits until cond holds for the stored callback.
func (v *env) waitCallback(id, what string, cond func(*store.Callback) bool) *store.Callback {
	v.t.Helper()
	var cb *store.Callback
	waitFor(v.t, id+" "+what, func() bool {
		cb = v.get(id)
		return cond(cb)
	})
	return cb
}

func (v *env) waitStatus(id string, s store.Status) *store.Callback {
	v.t.Helper()
	return v.waitCallback(id, "status "+string(s), func(c *store.Callback) bool { return c.Status == s })
}

// waitAttempts waits until the callback has n attempts, the last finished,
// and is no longer in progress.
func (v *env) waitAttempts(id string, n int) *store.Callback {
	v.t.Helper()
	return v.waitCallback(id, "attempt finished", func(c *store.Callback) bool {
		return c.AttemptCount == n && c.Status != store.InProgress
	})
}

var finalEvents = map[string]bool{evCompleted: true, evFailed: true, evCanceled: true}

// checkLog checks the event log of a final callback: gap-free sequence
// numbers from 1, callback.scheduled first, exactly one final event and it
// last. It returns the event types.
func (v *env) checkLog(id string) []string {
	v.t.Helper()
	evs, err := v.e.Events(id, 0, 1000)
	if err != nil {
		v.t.Fatalf("Events %s: %v", id, err)
	}
	types := make([]string, len(evs))
	finals := 0
	for i, e := range evs {
		types[i] = e.Type
		if e.Seq != uint64(i+1) {
			v.t.Errorf("%s: event %d (%s) has sequence %d", id, i, e.Type, e.Seq)
		}
		if finalEvents[e.Type] {
			finals++
		}
	}
	if len(evs) == 0 || evs[0].Type != evScheduled {
		v.t.Errorf("%s: log does not start with %s: %v", id, evScheduled, types)
	}
	if finals != 1 || !finalEvents[types[len(types)-1]] {
		v.t.Errorf("%s: %d final events, want one and last: %v", id, finals, types)
	}
	return types
}

func eventData(t *testing.T, e *Engine, id, typ string) map[string]any {
	t.Helper()
	evs, err := e.Events(id, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Type == typ {
			var m map[string]any
			if err := json.Unmarshal(ev.Data, &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatalf("no %s event", typ)
	return nil
}

func count(types []string, typ string) int {
	n := 0
	for _, t := range types {
		if t == typ {
			n++
		}
	}
	return n
}

func asFieldError(t *testing.T, err error) *FieldError {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T), want *FieldError", err, err)
	}
	return fe
}

func mediaStats(aToB, bToA, dropped uint64) media.RelayStats {
	return media.RelayStats{AToB: aToB, BToA: bToA, Dropped: dropped}
}
