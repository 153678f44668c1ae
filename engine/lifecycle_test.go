package engine

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/bridge"
	"github.com/callbackd/callbackd/media/audio"
	"github.com/callbackd/callbackd/schedule"
	"github.com/callbackd/callbackd/store"
)

func TestCreateDueNowDialsAtOnce(t *testing.T) {
	v := newEnv(t, Config{})
	v.d.set(numLondon, answer(42*time.Second))
	r := req(numLondon)
	r.Customer.Name = "Ann"
	begin := time.Now()
	cb := v.create(r)
	var p bridge.Plan
	select {
	case p = <-v.d.started:
	case <-time.After(5 * time.Second):
		t.Fatal("not dialled")
	}
	// The fake clock never moves: only the direct queueing can dial it.
	if d := time.Since(begin); d > 250*time.Millisecond {
		t.Errorf("dialled %v after Create, want milliseconds", d)
	}
	if p.Trunk != "trunk1" || p.Customer.Number != numLondon || p.Customer.Name != "Ann" ||
		len(p.Reps) != 1 || p.Reps[0].Number != numRep || p.RepCallerID.Number != numLondon {
		t.Errorf("plan %+v", p)
	}
	done := v.waitStatus(cb.ID, store.Completed)
	if done.Outcome != "connected" || done.AttemptCount != 1 || !done.NextAttemptAt.IsZero() {
		t.Errorf("completed callback %+v", done)
	}
	as := v.attempts(cb.ID)
	if len(as) != 1 || as[0].Outcome != "connected" || as[0].TalkSeconds != 42 || as[0].Trunk != "trunk1" ||
		as[0].FinishedAt.IsZero() || as[0].Customer == nil || len(as[0].Reps) != 1 || as[0].HungUpBy != "customer" {
		t.Errorf("attempts %+v", as)
	}
	types := v.checkLog(cb.ID)
	want := []string{evScheduled, evAttemptStarted, "call.initiated", "call.ringing", "call.connected",
		"call.initiated", "call.connected", "call.completed", "call.completed", evCompleted}
	if strings.Join(types, " ") != strings.Join(want, " ") {
		t.Errorf("events %v, want %v", types, want)
	}
	d := eventData(t, v.e, cb.ID, "call.ringing")
	if d["attempt"] != 1.0 || d["leg"] != "rep" || d["number"] != numRep || d["sip_code"] != 180.0 || d["call_id"] != "call-rep" {
		t.Errorf("call.ringing data %v", d)
	}
}

func TestCreatedCallbackShowsEffectivePolicy(t *testing.T) {
	v := newEnv(t, Config{})
	cb := v.create(req(numLondon))
	// Due now with a free slot: created already started (startNow).
	if cb.Status != store.InProgress || cb.AttemptCount != 1 || !cb.NextAttemptAt.IsZero() || cb.Retry.MaxAttempts != schedule.DefaultMaxAttempts ||
		len(cb.Retry.Intervals) != len(schedule.DefaultIntervals()) || !strings.HasPrefix(cb.ID, "cb_") {
		t.Errorf("created %+v", cb)
	}
	d := eventData(t, v.e, cb.ID, evScheduled)
	if d["next_attempt_at"] != t0.Format(time.RFC3339) {
		t.Errorf("scheduled event data %v", d)
	}
}

// A callback asked for on a Saturday waits for Monday 09:00 in New York and
// starts when the clock reaches it.
func TestWaitsForTeamWindow(t *testing.T) {
	v := newEnv(t, Config{})
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	v.clk.Set(time.Date(2026, 12, 5, 12, 0, 0, 0, ny)) // Saturday
	w, err := schedule.ParseWindow(schedule.WindowSpec{TimeZone: "America/New_York", Hours: map[string][]string{"mon-fri": {"09:00-17:00"}}})
	if err != nil {
		t.Fatal(err)
	}
	v.team(&store.Team{ID: "sales", Reps: []store.Party{{Number: numRep}}, Window: w})
	r := req(numSF)
	r.RepNumber, r.Team = "", "sales"
	cb := v.create(r)
	monday := time.Date(2026, 12, 7, 9, 0, 0, 0, ny)
	if !cb.NextAttemptAt.Equal(monday) || cb.Window.IsZero() {
		t.Fatalf("next attempt %v, want %v; window %v", cb.NextAttemptAt, monday, cb.Window)
	}
	v.clk.Set(monday.Add(-time.Minute))
	time.Sleep(50 * time.Millisecond)
	if n := v.d.count(); n != 0 {
		t.Fatalf("dialled %d times before the window opened", n)
	}
	v.clk.Set(monday)
	v.waitStatus(cb.ID, store.Completed)
	if got := v.attempts(cb.ID)[0].StartedAt; !got.Equal(monday) {
		t.Errorf("started at %v, want %v", got, monday)
	}
}

// An unanswered customer is tried again at the policy's intervals, and the
// callback fails with max_attempts after the last one.
func TestRetriesThenFails(t *testing.T) {
	v := newEnv(t, Config{})
	v.d.set(numLondon, miss(bridge.CustomerNoAnswer, 487))
	r := req(numLondon)
	r.Retry = json.RawMessage(`{"max_attempts": 3, "intervals": ["1m", "5m"]}`)
	cb := v.create(r)

	for i, wait := range []time.Duration{time.Minute, 5 * time.Minute} {
		got := v.waitAttempts(cb.ID, i+1)
		if got.Status != store.Scheduled || got.Outcome != "customer_no_answer" {
			t.Fatalf("after attempt %d: %s %s", i+1, got.Status, got.Outcome)
		}
		fin := v.attempts(cb.ID)[i].FinishedAt
		if !got.NextAttemptAt.Equal(fin.Add(wait)) {
			t.Errorf("attempt %d: next at %v, want %v after %v", i+1, got.NextAttemptAt, wait, fin)
		}
		v.clk.Advance(wait - time.Second)
		time.Sleep(30 * time.Millisecond)
		if n := v.d.count(); n != i+1 {
			t.Fatalf("%d calls %v before the retry was due", n, wait-time.Second)
		}
		v.clk.Advance(time.Second)
	}
	got := v.waitStatus(cb.ID, store.Failed)
	if got.AttemptCount != 3 || got.Reason != schedule.ReasonMaxAttempts || got.Outcome != "customer_no_answer" {
		t.Errorf("failed: %d attempts, reason %q, outcome %q", got.AttemptCount, got.Reason, got.Outcome)
	}
	types := v.checkLog(cb.ID)
	if n := count(types, evRetryScheduled); n != 2 {
		t.Errorf("%d retry events: %v", n, types)
	}
	if n := count(types, evAttemptStarted); n != 3 {
		t.Errorf("%d attempt_started events: %v", n, types)
	}
	if d := eventData(t, v.e, cb.ID, evFailed); d["reason"] != "max_attempts" || d["outcome"] != "customer_no_answer" {
		t.Errorf("failed event data %v", d)
	}
	if v.d.count() != 3 {
		t.Errorf("%d calls, want 3", v.d.count())
	}
}

func TestOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		script  script
		status  store.Status
		outcome string
		reason  string
	}{
		{"connected", answer(time.Second), store.Completed, "connected", ""},
		{"customer rejected is not retried", miss(bridge.CustomerRejected, 603), store.Failed, "customer_rejected", schedule.ReasonNotRetryable},
		{"customer busy is retried", miss(bridge.CustomerBusy, 486), store.Scheduled, "customer_busy", ""},
		{"rep no answer is retried", miss(bridge.RepNoAnswer, 487), store.Scheduled, "rep_no_answer", ""},
		{"dialer error is a failed attempt", func(context.Context, bridge.Plan) (bridge.Result, error) {
			return bridge.Result{}, bridge.ErrInvalidPlan
		}, store.Scheduled, "failed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := newEnv(t, Config{})
			v.d.def = tt.script
			cb := v.create(req(numLondon))
			got := v.waitAttempts(cb.ID, 1)
			if got.Status != tt.status || got.Outcome != tt.outcome || got.Reason != tt.reason {
				t.Errorf("%s %s %q, want %s %s %q", got.Status, got.Outcome, got.Reason, tt.status, tt.outcome, tt.reason)
			}
			if got.Status.Final() {
				v.checkLog(cb.ID)
			}
		})
	}
}

func TestCancelScheduled(t *testing.T) {
	v := newEnv(t, Config{})
	r := req(numLondon)
	r.ScheduledAt = t0.Add(time.Hour)
	cb := v.create(r)
	got, err := v.e.Cancel(context.Background(), cb.ID)
	if err != nil || got.Status != store.Canceled || got.Reason != ReasonCanceled || !got.NextAttemptAt.IsZero() {
		t.Fatalf("Cancel: %+v, %v", got, err)
	}
	v.clk.Advance(2 * time.Hour)
	time.Sleep(30 * time.Millisecond)
	if n := v.d.count(); n != 0 {
		t.Errorf("a canceled callback was dialled %d times", n)
	}
	v.checkLog(cb.ID)
	if _, err := v.e.Cancel(context.Background(), cb.ID); !errors.Is(err, ErrFinal) {
		t.Errorf("second Cancel: %v, want ErrFinal", err)
	}
	if _, err := v.e.Cancel(context.Background(), "cb_nonesuch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Cancel of an unknown callback: %v, want ErrNotFound", err)
	}
}

func TestCancelInProgressHangsUp(t *testing.T) {
	for _, connected := range []bool{false, true} {
		name := map[bool]string{false: "ringing", true: "connected"}[connected]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v := newEnv(t, Config{})
			v.d.def = block(make(chan struct{}), connected)
			cb := v.create(req(numLondon))
			<-v.d.started
			v.waitStatus(cb.ID, store.InProgress)
			got, err := v.e.Cancel(context.Background(), cb.ID)
			if err != nil || got.Status != store.Canceled || got.Reason != ReasonCanceled {
				t.Fatalf("Cancel: %+v, %v", got, err)
			}
			as := v.attempts(cb.ID)
			if len(as) != 1 || as[0].FinishedAt.IsZero() {
				t.Errorf("attempt not finished: %+v", as)
			}
			if connected && as[0].Outcome != "connected" || !connected && as[0].Outcome != "failed" {
				t.Errorf("attempt outcome %q", as[0].Outcome)
			}
			if !strings.Contains(as[0].Cause, "canceled") {
				t.Errorf("attempt cause %q", as[0].Cause)
			}
			types := v.checkLog(cb.ID)
			if types[len(types)-1] != evCanceled {
				t.Errorf("events %v", types)
			}
		})
	}
}

func TestCancelFinal(t *testing.T) {
	v := newEnv(t, Config{})
	cb := v.create(req(numLondon))
	v.waitStatus(cb.ID, store.Completed)
	got, err := v.e.Cancel(context.Background(), cb.ID)
	if !errors.Is(err, ErrFinal) || got == nil || got.Status != store.Completed {
		t.Errorf("Cancel: %+v, %v; want the completed callback and ErrFinal", got, err)
	}
	v.checkLog(cb.ID)
}

// With MaxCalls 2 (one attempt: two legs) due callbacks run one at a time,
// by due time, then creation.
func TestMaxCallsQueuesInOrder(t *testing.T) {
	v := newEnv(t, Config{Limits: map[string]Limit{"trunk1": {MaxCalls: 2}}})
	release := make(chan struct{})
	v.d.set(testNumber, block(release, true))
	blocker := v.create(req(testNumber))
	<-v.d.started

	// Created A, B, C, D; due B, C, D (one time), then A.
	numbers := []string{numLondon, numLondon2, numLondon3, numParis}
	var ids []string
	for i, n := range numbers {
		r := req(n)
		r.ScheduledAt = t0.Add(time.Minute)
		if i == 0 {
			r.ScheduledAt = t0.Add(2 * time.Minute)
		}
		ids = append(ids, v.create(r).ID)
		v.clk.Advance(time.Millisecond)
	}
	v.clk.Set(t0.Add(3 * time.Minute))
	waitFor(t, "all queued", func() bool { return v.e.disp.queued() == 4 })
	if n := v.d.count(); n != 1 {
		t.Fatalf("%d calls with one slot taken", n)
	}
	close(release)
	for _, id := range append([]string{blocker.ID}, ids...) {
		v.waitStatus(id, store.Completed)
	}
	want := []string{testNumber, numLondon2, numLondon3, numParis, numLondon}
	if got := v.d.dialedCustomers(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("dial order %v, want %v", got, want)
	}
	if m := v.d.max(); m != 1 {
		t.Errorf("%d attempts at once, want 1", m)
	}
}

// Calls per second are spread by queueing: two a second here, in order of
// creation, and the rest wait for the clock.
func TestCallsPerSecondQueues(t *testing.T) {
	v := newEnv(t, Config{Limits: map[string]Limit{"trunk1": {CallsPerSecond: 2}}})
	numbers := []string{numLondon, numLondon2, numLondon3, numParis, numSF}
	for _, n := range numbers {
		v.create(req(n))
	}
	for _, want := range []int{2, 4, 5} {
		waitFor(t, "calls", func() bool { return v.d.count() == want })
		time.Sleep(30 * time.Millisecond)
		if n := v.d.count(); n != want {
			t.Fatalf("%d calls in one second, want %d", n, want)
		}
		v.clk.Advance(999 * time.Millisecond)
		time.Sleep(30 * time.Millisecond)
		if n := v.d.count(); n != want {
			t.Fatalf("%d calls before the second was over, want %d", n, want)
		}
		v.clk.Advance(time.Millisecond)
	}
	// Created within one instant of the fake clock: ID order is creation
	// order only to the millisecond, so compare as sets per second.
	got := v.d.dialedCustomers()
	if len(got) != 5 {
		t.Fatalf("dialled %v", got)
	}
}

// A callback found in_progress at start (the process died during its
// attempt) gets an interrupted attempt and is retried by policy; a
// scheduled one that fell due meanwhile is dialled at once.
func TestRestartRecovery(t *testing.T) {
	clk := schedule.NewFakeClock(t0)
	path := t.TempDir() + "/callbackd.db"
	db := openStore(t, path, clk)
	mk := func(id, number string) *store.Callback {
		cb := &store.Callback{
			ID: id, Status: store.Scheduled, RepNumber: numRep, Customer: store.Party{Number: number},
			NextAttemptAt: t0, Retry: schedule.Policy{MaxAttempts: 3, Intervals: []schedule.Duration{schedule.Duration(time.Minute)}},
			CreatedAt: t0, UpdatedAt: t0,
		}
		if _, err := db.CreateCallback(cb, evScheduled, scheduledData{NextAttemptAt: t0}, nil); err != nil {
			t.Fatal(err)
		}
		return cb
	}
	running := mk(store.NewID("cb_", t0), numLondon)
	if _, _, err := db.UpdateCallback(running.ID, func(u *store.Update) error {
		u.Callback.Status, u.Callback.AttemptCount, u.Callback.NextAttemptAt = store.InProgress, 1, time.Time{}
		if err := u.PutAttempt(&store.Attempt{CallbackID: running.ID, Number: 1, StartedAt: t0, Trunk: "trunk1"}); err != nil {
			return err
		}
		_, err := u.Append(evAttemptStarted, attemptData{Attempt: 1})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	due := mk(store.NewID("cb_", t0), numLondon2)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// The restart, ten seconds later.
	clk.Advance(10 * time.Second)
	v := &env{t: t, path: path, clk: clk, d: newFakeDialer(), db: openStore(t, path, clk)}
	v.e = v.engine(Config{})

	got := v.get(running.ID)
	if got.Status != store.Scheduled || got.Outcome != outcomeInterrupted || !got.NextAttemptAt.Equal(clk.Now().Add(time.Minute)) {
		t.Errorf("after restart: %s %q next %v", got.Status, got.Outcome, got.NextAttemptAt)
	}
	as := v.attempts(running.ID)
	if len(as) != 1 || as[0].Outcome != outcomeInterrupted || !as[0].FinishedAt.Equal(clk.Now()) {
		t.Errorf("attempts %+v", as)
	}
	v.waitStatus(due.ID, store.Completed)
	if v.d.count() != 1 {
		t.Errorf("%d calls before the interrupted one's retry", v.d.count())
	}
	clk.Advance(time.Minute)
	done := v.waitStatus(running.ID, store.Completed)
	if done.AttemptCount != 2 {
		t.Errorf("completed after %d attempts", done.AttemptCount)
	}
	types := v.checkLog(running.ID)
	want := []string{evScheduled, evAttemptStarted, evRetryScheduled, evAttemptStarted}
	if strings.Join(types[:4], " ") != strings.Join(want, " ") {
		t.Errorf("events %v", types)
	}
	v.checkLog(due.ID)
}

// Shutdown lets a call in progress finish within the drain time, and stores
// its outcome.
func TestShutdownDrains(t *testing.T) {
	v := newEnv(t, Config{})
	release := make(chan struct{})
	v.d.def = block(release, true)
	cb := v.create(req(numLondon))
	<-v.d.started
	later := req(numLondon2)
	later.ScheduledAt = t0.Add(time.Minute)
	waiting := v.create(later)

	done := make(chan error)
	go func() { done <- v.e.Shutdown(context.Background()) }()
	waitFor(t, "draining", v.e.isDraining)
	if _, err := v.e.Create(context.Background(), req(numLondon3)); !errors.Is(err, ErrDraining) {
		t.Errorf("Create while draining: %v, want ErrDraining", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a call in progress", err)
	case <-time.After(30 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := v.get(cb.ID); got.Status != store.Completed {
		t.Errorf("drained call: %s", got.Status)
	}
	v.clk.Advance(2 * time.Minute)
	time.Sleep(30 * time.Millisecond)
	if got := v.get(waiting.ID); got.Status != store.Scheduled || v.d.count() != 1 {
		t.Errorf("after shutdown a due callback was dialled: %s, %d calls", got.Status, v.d.count())
	}
}

// When the drain time is over, calls still running are hung up: one not yet
// connected is interrupted and retried by policy, a connected one completes.
func TestShutdownCutsAfterDrain(t *testing.T) {
	v := newEnv(t, Config{})
	v.d.set(numLondon, block(make(chan struct{}), false))
	v.d.set(numLondon2, block(make(chan struct{}), true))
	ringing := v.create(req(numLondon))
	talking := v.create(req(numLondon2))
	<-v.d.started
	<-v.d.started
	v.waitStatus(ringing.ID, store.InProgress)
	v.waitStatus(talking.ID, store.InProgress)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := v.e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	got := v.get(ringing.ID)
	as := v.attempts(ringing.ID)
	if got.Status != store.Scheduled || got.Outcome != outcomeInterrupted || len(as) != 1 || as[0].Outcome != outcomeInterrupted {
		t.Errorf("cut while ringing: %s %q, attempts %+v", got.Status, got.Outcome, as)
	}
	if got := v.get(talking.ID); got.Status != store.Completed {
		t.Errorf("cut while talking: %s %q", got.Status, got.Outcome)
	}
	v.checkLog(talking.ID)

	// A restart dials the interrupted one again when its retry is due.
	v.d.set(numLondon, answer(time.Second))
	v.e = v.engine(Config{})
	v.clk.Advance(time.Duration(schedule.DefaultIntervals()[0]))
	v.waitStatus(ringing.ID, store.Completed)
	v.checkLog(ringing.ID)
}

func TestRoundRobinRotatesReps(t *testing.T) {
	v := newEnv(t, Config{})
	v.team(&store.Team{ID: "support", Strategy: StrategyRoundRobin,
		Reps:     []store.Party{{Number: numRep, Name: "A"}, {Number: numRep2, Name: "B"}, {Number: numRep3, Name: "C"}},
		CallerID: store.Party{Number: numSF, Name: "Acme"}, RepRingTimeout: schedule.Duration(7 * time.Second)})
	for _, n := range []string{numLondon, numLondon2, numLondon3, numParis} {
		r := req(n)
		r.RepNumber, r.Team = "", "support"
		v.waitStatus(v.create(r).ID, store.Completed)
	}
	var firsts []string
	for _, p := range v.d.plans() {
		firsts = append(firsts, p.Reps[0].Name)
		if len(p.Reps) != 3 || p.CustomerCallerID.Number != numSF || p.RepRingTimeout != 7*time.Second {
			t.Errorf("plan %+v", p)
		}
	}
	if got := strings.Join(firsts, ""); got != "ABCA" {
		t.Errorf("first reps %s, want ABCA", got)
	}
}

func TestMetrics(t *testing.T) {
	v := newEnv(t, Config{})
	v.d.set(numLondon2, miss(bridge.CustomerRejected, 603))
	v.waitStatus(v.create(req(numLondon)).ID, store.Completed)
	v.waitStatus(v.create(req(numLondon2)).ID, store.Failed)
	r := req(numLondon3)
	r.ScheduledAt = t0.Add(time.Hour)
	v.create(r)
	rec := httptest.NewRecorder()
	v.m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`callbackd_callbacks{status="completed"} 1`,
		`callbackd_callbacks{status="failed"} 1`,
		`callbackd_callbacks{status="scheduled"} 1`,
		`callbackd_callbacks{status="in_progress"} 0`,
		`callbackd_attempts_total{outcome="connected"} 1`,
		`callbackd_attempts_total{outcome="customer_rejected"} 1`,
		`callbackd_trigger_latency_seconds_count 2`,
		`callbackd_active_calls 0`,
		`callbackd_relay_packets_total{direction="rep_to_customer"} 10`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A callback left in_progress with no attempt running (its outcome could
// not be stored) can still be canceled; its attempt is then interrupted.
func TestCancelStuckInProgress(t *testing.T) {
	v := newEnv(t, Config{})
	r := req(numLondon)
	r.ScheduledAt = t0.Add(time.Hour)
	cb := v.create(r)
	if _, _, err := v.db.UpdateCallback(cb.ID, func(u *store.Update) error {
		u.Callback.Status, u.Callback.AttemptCount = store.InProgress, 1
		return u.PutAttempt(&store.Attempt{CallbackID: cb.ID, Number: 1, StartedAt: t0})
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := v.e.Cancel(ctx, cb.ID)
	if err != nil || got.Status != store.Canceled || got.Outcome != outcomeInterrupted {
		t.Fatalf("Cancel: %+v, %v", got, err)
	}
	if as := v.attempts(cb.ID); len(as) != 1 || as[0].Outcome != outcomeInterrupted {
		t.Errorf("attempts %+v", as)
	}
	v.checkLog(cb.ID)
}

// A team's whisper is loaded by name through Config.Prompt; a name it
// cannot load is refused when the team is saved.
func TestTeamWhisper(t *testing.T) {
	clip := &audio.Clip{}
	v := newEnv(t, Config{Prompt: func(name string) (*audio.Clip, error) {
		if name != "sales.wav" {
			return nil, errors.New("no such prompt")
		}
		return clip, nil
	}})
	_, err := v.e.CreateTeam(context.Background(), &store.Team{ID: "bad", Reps: []store.Party{{Number: numRep}}, Whisper: "other.wav"})
	if fe := asFieldError(t, err); fe.Field != "whisper" {
		t.Errorf("unloadable whisper: %v", fe)
	}
	v.team(&store.Team{ID: "sales", Reps: []store.Party{{Number: numRep}}, Whisper: "sales.wav"})
	r := req(numLondon)
	r.RepNumber, r.Team = "", "sales"
	v.waitStatus(v.create(r).ID, store.Completed)
	if p := v.d.plans(); len(p) != 1 || p[0].Whisper != clip {
		t.Errorf("plan whisper %v, want the team's", p)
	}
}
