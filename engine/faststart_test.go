package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/bridge"
	"github.com/callbackd/callbackd/metrics"
	"github.com/callbackd/callbackd/schedule"
	"github.com/callbackd/callbackd/store"
)

// countingStore records the store writes the engine makes, and can fail
// the next started create.
type countingStore struct {
	Store
	mu         sync.Mutex
	ops        []string
	failCreate error // returned by the next CreateCallbackStarted, which writes nothing
}

func (s *countingStore) note(op string) {
	s.mu.Lock()
	s.ops = append(s.ops, op)
	s.mu.Unlock()
}

func (s *countingStore) writes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ops)
}

func (s *countingStore) CreateCallback(cb *store.Callback, typ string, data any, idem *store.IdemCommit) (store.Event, error) {
	s.note("CreateCallback")
	return s.Store.CreateCallback(cb, typ, data, idem)
}

func (s *countingStore) CreateCallbackStarted(cb *store.Callback, evs []store.NewEvent, a *store.Attempt, idem *store.IdemCommit) ([]store.Event, error) {
	s.note("CreateCallbackStarted")
	s.mu.Lock()
	err := s.failCreate
	s.failCreate = nil
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.Store.CreateCallbackStarted(cb, evs, a, idem)
}

func (s *countingStore) UpdateCallback(id string, fn func(u *store.Update) error) (*store.Callback, []store.Event, error) {
	s.note("UpdateCallback")
	return s.Store.UpdateCallback(id, fn)
}

func (s *countingStore) UpdateTeam(id string, fn func(*store.Team) error) (*store.Team, error) {
	s.note("UpdateTeam")
	return s.Store.UpdateTeam(id, fn)
}

// newCountingEnv is newEnv with the engine on a countingStore.
func newCountingEnv(t *testing.T, cfg Config) (*env, *countingStore) {
	t.Helper()
	var cs *countingStore
	v := newEnvOn(t, cfg, func(db *store.DB) Store {
		cs = &countingStore{Store: db}
		return cs
	})
	return v, cs
}

func metricsText(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

// A callback due now with a free slot is stored already started, in one
// store write, and that write is durable before the call is dialled.
func TestDueNowStartsInOneWrite(t *testing.T) {
	v, cs := newCountingEnv(t, Config{Limits: map[string]Limit{"trunk1": {MaxCalls: 4, CallsPerSecond: 5}}})
	type atDial struct {
		writes []string
		stored []*store.Callback
	}
	seen := make(chan atDial, 1)
	v.d.set(numLondon, func(ctx context.Context, p bridge.Plan) (bridge.Result, error) {
		stored, _, err := v.db.ListCallbacks(store.CallbackFilter{Status: store.InProgress})
		if err != nil {
			t.Error(err)
		}
		seen <- atDial{cs.writes(), stored}
		return answer(time.Second)(ctx, p)
	})
	cb := v.create(req(numLondon))
	if cb.Status != store.InProgress || cb.AttemptCount != 1 || !cb.NextAttemptAt.IsZero() || cb.LastSeq != 2 {
		t.Errorf("created %+v, want it in_progress on attempt 1", cb)
	}
	var d atDial
	select {
	case d = <-seen:
	case <-time.After(5 * time.Second):
		t.Fatal("not dialled")
	}
	if !slices.Equal(d.writes, []string{"CreateCallbackStarted"}) {
		t.Errorf("store writes before the dial: %v, want the one started create", d.writes)
	}
	if len(d.stored) != 1 || d.stored[0].ID != cb.ID || d.stored[0].AttemptCount != 1 {
		t.Errorf("in_progress in the store at the dial: %+v", d.stored)
	}

	done := v.waitStatus(cb.ID, store.Completed)
	if done.AttemptCount != 1 || done.Outcome != outcomeConnected {
		t.Errorf("completed %+v", done)
	}
	as := v.attempts(cb.ID)
	if len(as) != 1 || !as[0].StartedAt.Equal(t0) || as[0].Trunk != "trunk1" || as[0].Outcome != outcomeConnected || as[0].TalkSeconds != 1 {
		t.Errorf("attempts %+v", as)
	}
	types := v.checkLog(cb.ID)
	want := []string{evScheduled, evAttemptStarted, "call.initiated", "call.ringing", "call.connected",
		"call.initiated", "call.connected", "call.completed", "call.completed", evCompleted}
	if strings.Join(types, " ") != strings.Join(want, " ") {
		t.Errorf("events %v, want %v", types, want)
	}
	if d := eventData(t, v.e, cb.ID, evScheduled); d["next_attempt_at"] != t0.Format(time.RFC3339) {
		t.Errorf("scheduled event data %v", d)
	}
	if d := eventData(t, v.e, cb.ID, evAttemptStarted); d["attempt"] != 1.0 {
		t.Errorf("attempt_started event data %v", d)
	}
	body := metricsText(t, v.m)
	for _, want := range []string{
		`callbackd_callbacks{status="completed"} 1`,
		`callbackd_callbacks{status="in_progress"} 0`,
		`callbackd_callbacks{status="scheduled"} 0`,
		`callbackd_trigger_latency_seconds_count 1`,
		`callbackd_attempts_total{outcome="connected"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// The slot was given back: the next one starts the same way.
	next := v.create(req(numLondon2))
	if next.Status != store.InProgress {
		t.Errorf("second callback %s, want in_progress", next.Status)
	}
	v.waitStatus(next.ID, store.Completed)
}

// Without a slot a due callback is stored scheduled and queued as before,
// behind those due earlier: order is due time, then creation.
func TestNoSlotQueuesInOrder(t *testing.T) {
	v, cs := newCountingEnv(t, Config{Limits: map[string]Limit{"trunk1": {MaxCalls: 2}}})
	release := make(chan struct{})
	v.d.set(testNumber, block(release, true))
	blocker := v.create(req(testNumber))
	if blocker.Status != store.InProgress {
		t.Fatalf("blocker %s, want started at once", blocker.Status)
	}
	<-v.d.started

	// A due at +2m, B due at +1m (created after A); then at +3m C and D
	// due now, with the slot taken.
	var ids []string
	for i, n := range []string{numLondon, numLondon2} {
		r := req(n)
		r.ScheduledAt = t0.Add(time.Duration(2-i) * time.Minute)
		ids = append(ids, v.create(r).ID)
		v.clk.Advance(time.Millisecond)
	}
	v.clk.Set(t0.Add(3 * time.Minute))
	waitFor(t, "A and B queued", func() bool { return v.e.disp.queued() == 2 })
	for _, n := range []string{numLondon3, numParis} {
		cb := v.create(req(n))
		if cb.Status != store.Scheduled || !cb.NextAttemptAt.Equal(v.clk.Now()) || cb.AttemptCount != 0 {
			t.Errorf("created without a slot: %+v, want scheduled", cb)
		}
		ids = append(ids, cb.ID)
		v.clk.Advance(time.Millisecond)
	}
	if n := v.e.disp.queued(); n != 4 {
		t.Errorf("%d queued, want 4", n)
	}
	if n := v.d.count(); n != 1 {
		t.Fatalf("%d calls with the one slot taken", n)
	}
	w := cs.writes()
	if count(w, "CreateCallbackStarted") != 1 || count(w, "CreateCallback") != 4 {
		t.Errorf("writes %v: want one started create (the blocker) and four scheduled", w)
	}
	close(release)
	for _, id := range append([]string{blocker.ID}, ids...) {
		v.waitStatus(id, store.Completed)
		v.checkLog(id)
	}
	want := []string{testNumber, numLondon2, numLondon, numLondon3, numParis}
	if got := v.d.dialedCustomers(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("dial order %v, want %v", got, want)
	}
	if m := v.d.max(); m != 1 {
		t.Errorf("%d attempts at once, want 1", m)
	}
}

// admitNow admits only what admit would: nothing queued before it, a
// concurrent-call slot, a calls-per-second slot, admissions open; unadmit
// gives both slots back.
func TestAdmitNow(t *testing.T) {
	now := t0
	mk := func(id string, due time.Time) *item { return &item{id: id, due: due, created: due} }
	added := 0
	onAdmit := func() { added++ }

	d := newDispatcher("t", Limit{MaxCalls: 4, CallsPerSecond: 1})
	if !d.admitNow(mk("a", now), now, onAdmit) || d.active != 1 || added != 1 {
		t.Fatalf("first: active %d, onAdmit %d", d.active, added)
	}
	if d.admitNow(mk("b", now), now.Add(500*time.Millisecond), onAdmit) {
		t.Error("admitted past the calls-per-second limit")
	}
	d.unadmit(now)
	if d.active != 0 || len(d.starts) != 0 {
		t.Fatalf("after unadmit: active %d, starts %v", d.active, d.starts)
	}
	if !d.admitNow(mk("b", now), now.Add(500*time.Millisecond), onAdmit) {
		t.Error("the given-back slot was not free")
	}
	later := now.Add(2 * time.Second)
	if !d.admitNow(mk("c", later), later, onAdmit) || d.active != 2 {
		t.Errorf("a second later: active %d", d.active)
	}

	d = newDispatcher("t", Limit{MaxCalls: 2})
	if !d.admitNow(mk("a", now), now, onAdmit) {
		t.Fatal("not admitted with room")
	}
	if d.admitNow(mk("b", now), now, onAdmit) {
		t.Error("admitted past the concurrent-call limit")
	}
	d.release()

	// Something queued before it waits for the dispatcher; something
	// queued after it does not hold it back.
	d.push(mk("q", now.Add(-time.Second)))
	if d.admitNow(mk("b", now), now, onAdmit) {
		t.Error("admitted ahead of an earlier queued callback")
	}
	d.remove("q")
	d.push(mk("r", now.Add(time.Second)))
	if !d.admitNow(mk("b", now), now, onAdmit) {
		t.Error("held back by a callback queued after it")
	}
	d.release()
	d.remove("r")

	d.close()
	if d.admitNow(mk("c", now), now, onAdmit) {
		t.Error("admitted after close")
	}
	if added != 5 {
		t.Errorf("onAdmit ran %d times, want once per admission (5)", added)
	}
}

// A started create that fails gives the slot back and runs nothing; a
// team deleted meanwhile is still the team field's error.
func TestStartedCreateFailureGivesSlotBack(t *testing.T) {
	v, cs := newCountingEnv(t, Config{Limits: map[string]Limit{"trunk1": {MaxCalls: 2, CallsPerSecond: 1}}})
	cs.failCreate = errors.New("disk on fire")
	if _, err := v.e.Create(context.Background(), req(numLondon)); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Create = %v, want the store's error", err)
	}
	cs.mu.Lock()
	cs.failCreate = fmt.Errorf("store: %w", store.ErrUnknownTeam)
	cs.mu.Unlock()
	r := req(numLondon)
	r.RepNumber, r.Team = "", "sales"
	v.team(&store.Team{ID: "sales", Reps: []store.Party{{Number: numRep}}})
	if _, err := v.e.Create(context.Background(), r); asFieldError(t, err).Field != "team" {
		t.Errorf("unknown team: %v", err)
	}
	if all, _, _ := v.db.ListCallbacks(store.CallbackFilter{}); len(all) != 0 {
		t.Errorf("failed creates stored %d callbacks", len(all))
	}
	v.e.mu.Lock()
	runs := len(v.e.runs)
	v.e.mu.Unlock()
	if runs != 0 || v.d.count() != 0 {
		t.Errorf("%d runs registered, %d calls after failed creates", runs, v.d.count())
	}
	// Both slots, concurrent and per second, are free: the clock has not
	// moved and the next one starts at once.
	cb := v.create(req(numLondon2))
	if cb.Status != store.InProgress {
		t.Errorf("after failed creates: %s, want in_progress", cb.Status)
	}
	v.waitStatus(cb.ID, store.Completed)
}

// Cancel hangs up a started-at-create attempt, once it rings or before it
// dials; either way the callback is canceled with one final event.
func TestCancelStartedAtCreate(t *testing.T) {
	for _, wait := range []bool{true, false} {
		t.Run(map[bool]string{true: "ringing", false: "at once"}[wait], func(t *testing.T) {
			t.Parallel()
			v := newEnv(t, Config{})
			v.d.def = block(make(chan struct{}), false)
			cb := v.create(req(numLondon))
			if cb.Status != store.InProgress {
				t.Fatalf("created %s, want in_progress", cb.Status)
			}
			if wait {
				<-v.d.started
			}
			got, err := v.e.Cancel(context.Background(), cb.ID)
			if err != nil || got.Status != store.Canceled || got.Reason != ReasonCanceled || got.AttemptCount != 1 {
				t.Fatalf("Cancel: %+v, %v", got, err)
			}
			as := v.attempts(cb.ID)
			if len(as) != 1 || as[0].FinishedAt.IsZero() || as[0].Outcome != outcomeFailed || !strings.Contains(as[0].Cause, "canceled") {
				t.Errorf("attempts %+v", as)
			}
			types := v.checkLog(cb.ID)
			if types[0] != evScheduled || types[1] != evAttemptStarted || types[len(types)-1] != evCanceled {
				t.Errorf("events %v", types)
			}
			if n := v.d.count(); wait && n != 1 || n > 1 {
				t.Errorf("dialled %d times", n)
			}
			v.e.mu.Lock()
			runs := len(v.e.runs)
			v.e.mu.Unlock()
			if runs != 0 {
				t.Errorf("%d runs left", runs)
			}
		})
	}
}

// Shutdown waits for a started-at-create attempt and, past the drain time,
// cuts it: interrupted and retried by policy, dialled again after a
// restart.
func TestShutdownCutsStartedAtCreate(t *testing.T) {
	v := newEnv(t, Config{})
	v.d.set(numLondon, block(make(chan struct{}), false))
	cb := v.create(req(numLondon))
	if cb.Status != store.InProgress {
		t.Fatalf("created %s, want in_progress", cb.Status)
	}
	<-v.d.started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := v.e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	got := v.get(cb.ID)
	as := v.attempts(cb.ID)
	next := t0.Add(time.Duration(schedule.DefaultIntervals()[0]))
	if got.Status != store.Scheduled || got.Outcome != outcomeInterrupted || !got.NextAttemptAt.Equal(next) ||
		len(as) != 1 || as[0].Outcome != outcomeInterrupted {
		t.Errorf("cut: %s %q next %v, attempts %+v", got.Status, got.Outcome, got.NextAttemptAt, as)
	}
	if _, err := v.e.Create(context.Background(), req(numLondon2)); !errors.Is(err, ErrDraining) {
		t.Errorf("Create after Shutdown: %v, want ErrDraining", err)
	}

	v.d.set(numLondon, answer(time.Second))
	v.e = v.engine(Config{})
	v.clk.Set(next)
	done := v.waitStatus(cb.ID, store.Completed)
	if done.AttemptCount != 2 {
		t.Errorf("completed after %d attempts", done.AttemptCount)
	}
	types := v.checkLog(cb.ID)
	if count(types, evAttemptStarted) != 2 || count(types, evRetryScheduled) != 1 {
		t.Errorf("events %v", types)
	}
}

// Creates racing Shutdown: each is refused, stored scheduled for the next
// start, or started and then waited for; none is left in progress and
// nothing dials after Shutdown returns.
func TestCreateRacesShutdown(t *testing.T) {
	v := newEnv(t, Config{Guard: Guardrails{PerNumberPerDay: -1}})
	numbers := []string{numLondon, numLondon2, numLondon3, numParis, numSF}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created []string
	)
	for i := range 8 {
		wg.Go(func() {
			for j := range 25 {
				cb, err := v.e.Create(context.Background(), req(numbers[(i+j)%len(numbers)]))
				switch {
				case errors.Is(err, ErrDraining):
					return
				case err != nil:
					t.Errorf("Create: %v", err)
					return
				}
				mu.Lock()
				created = append(created, cb.ID)
				mu.Unlock()
			}
		})
	}
	waitFor(t, "a few created", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(created) >= 20
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := v.e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	dialled := v.d.count()
	wg.Wait()
	time.Sleep(20 * time.Millisecond)
	if n := v.d.count(); n != dialled {
		t.Errorf("%d calls after Shutdown returned", n-dialled)
	}
	completed := 0
	for _, id := range created {
		cb := v.get(id)
		switch cb.Status {
		case store.Completed:
			completed++
			v.checkLog(id)
		case store.Scheduled:
			if cb.AttemptCount != 0 {
				t.Errorf("%s scheduled after %d attempts", id, cb.AttemptCount)
			}
		default:
			t.Errorf("%s is %s after Shutdown", id, cb.Status)
		}
	}
	if completed != dialled {
		t.Errorf("%d completed, %d dialled", completed, dialled)
	}
	t.Logf("%d created, %d completed before Shutdown", len(created), completed)
}

// A process that dies during a started-at-create attempt leaves it
// in_progress; the next start records it interrupted and retries it by
// policy, as for any attempt.
func TestCrashDuringStartedAtCreate(t *testing.T) {
	v := newEnv(t, Config{})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // before v's Shutdown
	v.d.set(numLondon, block(release, false))
	cb := v.create(req(numLondon))
	if cb.Status != store.InProgress {
		t.Fatalf("created %s, want in_progress", cb.Status)
	}
	<-v.d.started
	// The crash: the store as it is on disk now, opened by another
	// process ten seconds later.
	path := filepath.Join(t.TempDir(), "crashed.db")
	if err := v.db.BackupFile(path); err != nil {
		t.Fatal(err)
	}
	clk := schedule.NewFakeClock(t0.Add(10 * time.Second))
	w := &env{t: t, path: path, clk: clk, d: newFakeDialer(), m: metrics.New(), start: clk.Now()}
	w.db = openStore(t, path, clk)
	w.e = w.engine(Config{})

	got := w.get(cb.ID)
	next := clk.Now().Add(time.Duration(schedule.DefaultIntervals()[0]))
	if got.Status != store.Scheduled || got.Outcome != outcomeInterrupted || got.AttemptCount != 1 || !got.NextAttemptAt.Equal(next) {
		t.Errorf("after restart: %s %q attempts %d next %v", got.Status, got.Outcome, got.AttemptCount, got.NextAttemptAt)
	}
	as := w.attempts(cb.ID)
	if len(as) != 1 || as[0].Outcome != outcomeInterrupted || !as[0].StartedAt.Equal(t0) || !as[0].FinishedAt.Equal(clk.Now()) {
		t.Errorf("attempts %+v", as)
	}
	time.Sleep(20 * time.Millisecond)
	if n := w.d.count(); n != 0 {
		t.Errorf("redialled %d times before the retry was due", n)
	}
	clk.Set(next)
	done := w.waitStatus(cb.ID, store.Completed)
	if done.AttemptCount != 2 || w.d.count() != 1 {
		t.Errorf("completed after %d attempts, %d calls", done.AttemptCount, w.d.count())
	}
	types := w.checkLog(cb.ID)
	if types[0] != evScheduled || types[1] != evAttemptStarted || count(types, evAttemptStarted) != 2 || count(types, evRetryScheduled) != 1 {
		t.Errorf("events %v", types)
	}
	if body := metricsText(t, w.m); !strings.Contains(body, `callbackd_attempts_total{outcome="interrupted"} 1`) {
		t.Error("the interrupted attempt is not counted")
	}
}
