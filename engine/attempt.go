package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callbackd/callbackd/bridge"
	"github.com/callbackd/callbackd/schedule"
	"github.com/callbackd/callbackd/store"
)

// Why a running attempt was cut short.
type cutReason int

const (
	cutNone cutReason = iota
	cutCancel
	cutShutdown
)

var (
	errCanceled = errors.New("callback canceled")
	errShutdown = errors.New("server shutting down")
)

// run is an attempt in progress, registered under its callback's ID so
// that Cancel and Shutdown can hang it up.
type run struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{} // closed once the attempt's outcome is stored

	// Guarded by Engine.mu.
	cut       cutReason
	finishing bool // the outcome is decided; a later cut changes nothing
}

// cutLocked hangs the attempt up for why, unless its outcome is decided or
// another cut came first. The caller holds Engine.mu.
func (r *run) cutLocked(why cutReason) {
	if r.finishing || r.cut != cutNone {
		return
	}
	r.cut = why
	if why == cutCancel {
		r.cancel(errCanceled)
	} else {
		r.cancel(errShutdown)
	}
}

// Outcomes the engine adds to the bridge's.
const (
	outcomeInterrupted = "interrupted"
	outcomeConnected   = string(bridge.Connected)
	outcomeFailed      = string(bridge.Failed)
)

// Event names of the callback's own steps.
const (
	evScheduled      = "callback.scheduled"
	evAttemptStarted = "callback.attempt_started"
	evCompleted      = "callback.completed"
	evRetryScheduled = "callback.retry_scheduled"
	evFailed         = "callback.failed"
	evCanceled       = "callback.canceled"
)

// ReasonCanceled is a canceled callback's Reason.
const ReasonCanceled = "canceled_by_api"

// attempt runs one callback the dispatcher admitted: in_progress in the
// store, then the call, then the outcome in the store. It owns a trunk slot
// until it ends.
func (e *Engine) attempt(it *item) {
	defer e.attempts.Done()
	defer e.disp.release()
	r := e.register(it.id)
	if r == nil {
		// A stale queue entry for a callback that is running already.
		return
	}
	defer e.unregister(it.id, r)
	if r.ctx.Err() != nil {
		return // shutting down: it stays scheduled for the next start
	}

	cb, n, err := e.begin(it)
	if errors.Is(err, errStale) {
		return
	}
	if err != nil {
		e.log.Error("callback attempt not started", "callback", it.id, "err", err)
		e.retryBegin(it)
		return
	}
	e.call(it, r, cb, n)
}

// attemptStarted runs the first attempt of a callback that Create stored
// started (see startNow), with its run r registered and its slot taken:
// the same call and outcome as attempt's after begin.
func (e *Engine) attemptStarted(it *item, r *run, cb *store.Callback) {
	defer e.attempts.Done()
	defer e.disp.release()
	defer e.unregister(it.id, r)
	e.call(it, r, cb, 1)
}

// register makes the run of an attempt of callback id, cut at once if
// Shutdown is cutting, and registers it for Cancel and Shutdown; nil if an
// attempt of id runs already. A run registers before its start is stored
// and leaves (unregister) after its outcome is.
func (e *Engine) register(id string) *run {
	ctx, cancel := context.WithCancelCause(context.Background())
	r := &run{ctx: ctx, cancel: cancel, done: make(chan struct{})}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.runs[id] != nil {
		cancel(nil)
		return nil
	}
	e.runs[id] = r
	if e.cutting {
		r.cutLocked(cutShutdown)
	}
	return r
}

// unregister removes r, the run of callback id, and ends it.
func (e *Engine) unregister(id string, r *run) {
	e.mu.Lock()
	delete(e.runs, id)
	e.mu.Unlock()
	close(r.done)
	r.cancel(nil)
}

// call runs attempt n of cb, whose start is stored, and stores its
// outcome.
func (e *Engine) call(it *item, r *run, cb *store.Callback, n int) {
	ctx := r.ctx
	// The trigger latency (request to INVITE) is measured for callbacks due
	// at once, on their first attempt.
	trigger := n == 1 && !it.due.After(cb.CreatedAt)
	plan, ev, err := e.plan(cb, n, trigger)
	var res bridge.Result
	switch {
	case err != nil:
		res = bridge.Result{Outcome: bridge.Failed, Cause: err.Error()}
	case ctx.Err() != nil:
		// Canceled or cut before dialling: do not dial.
		res = bridge.Result{Outcome: bridge.Failed, Cause: context.Cause(ctx).Error()}
	default:
		e.m.CallStarted()
		res, err = e.dial.Run(ctx, plan)
		// The bridge joins the rep's media session as the relay's A side
		// (the customer's only while customer-first early media plays).
		e.m.CallEnded(res.Relay.AToB, res.Relay.BToA, res.Relay.Dropped)
		if err != nil {
			res.Outcome, res.Cause = bridge.Failed, err.Error()
		}
	}
	if ev != nil {
		ev.close()
	}
	e.finish(cb, n, r, res)
}

// begin records the attempt's start: in_progress, the attempt, its event,
// all committed before anything is dialled.
func (e *Engine) begin(it *item) (*store.Callback, int, error) {
	now := e.clk.Now()
	var n int
	cb, _, err := e.st.UpdateCallback(it.id, func(u *store.Update) error {
		c := u.Callback
		if c.Status != store.Scheduled || !c.NextAttemptAt.Equal(it.due) {
			return errStale
		}
		n = c.AttemptCount + 1
		c.Status = store.InProgress
		c.AttemptCount = n
		c.NextAttemptAt = time.Time{}
		if err := u.PutAttempt(&store.Attempt{CallbackID: c.ID, Number: n, StartedAt: now, Trunk: e.cfg.Trunk}); err != nil {
			return err
		}
		_, err := u.Append(evAttemptStarted, attemptData{Attempt: n})
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, errStale
	}
	if err != nil {
		return nil, 0, fmt.Errorf("recording the attempt's start: %w", err)
	}
	e.m.MoveCallback(string(store.Scheduled), string(store.InProgress))
	e.log.Info("callback attempt started", "callback", cb.ID, "attempt", n, "trunk", e.cfg.Trunk)
	return cb, n, nil
}

// retryBegin re-arms a callback whose start could not be stored (a full
// disk, a store error): it is still scheduled in the store, so looking again
// a few seconds later is safe, and does not hammer a broken store.
func (e *Engine) retryBegin(it *item) {
	if e.isDraining() {
		return
	}
	e.armAt(it.id, e.clk.Now().Add(5*time.Second), it.due, it.created)
}

// plan builds the attempt's call from the base plan, the callback and its
// team. The returned sink stores the call's events; it is nil on error.
func (e *Engine) plan(cb *store.Callback, n int, trigger bool) (bridge.Plan, *sink, error) {
	p := e.cfg.Plan
	p.Trunk = e.cfg.Trunk
	p.Customer = bridge.Party{Number: cb.Customer.Number, Name: cb.Customer.Name}
	// The rep sees who they are calling back.
	p.RepCallerID = bridge.CallerID{Number: cb.Customer.Number, Name: cb.Customer.Name}
	if cb.RepNumber != "" {
		p.Reps = []bridge.Party{{Number: cb.RepNumber}}
	} else {
		t, reps, err := e.teamReps(cb.Team)
		if err != nil {
			return p, nil, err
		}
		p.Reps = reps
		if t.CallerID.Number != "" {
			p.CustomerCallerID = bridge.CallerID{Number: t.CallerID.Number, Name: t.CallerID.Name}
		}
		if t.RepRingTimeout > 0 {
			p.RepRingTimeout = time.Duration(t.RepRingTimeout)
		}
		if t.CustomerRingTimeout > 0 {
			p.CustomerRingTimeout = time.Duration(t.CustomerRingTimeout)
		}
		if t.Whisper != "" && e.cfg.Prompt != nil {
			clip, err := e.cfg.Prompt(t.Whisper)
			if err != nil {
				// A missing prompt should not cost the customer the call.
				e.log.Warn("team whisper not loaded; using the default", "team", t.ID, "whisper", t.Whisper, "err", err)
			} else {
				p.Whisper = clip
			}
		}
	}
	s := e.newSink(cb, n, trigger)
	p.OnEvent = s.add
	return p, s, nil
}

// teamReps returns the team and its reps in the order to try: as listed,
// or, for round_robin, starting at the team's cursor, which it advances in
// the same store transaction so concurrent attempts start at different reps.
func (e *Engine) teamReps(id string) (*store.Team, []bridge.Party, error) {
	t, err := e.st.GetTeam(id)
	if err != nil {
		return nil, nil, fmt.Errorf("team %s: %w", id, err)
	}
	start := 0
	if t.Strategy == StrategyRoundRobin && len(t.Reps) > 1 {
		t, err = e.st.UpdateTeam(id, func(t *store.Team) error {
			if len(t.Reps) > 0 {
				start = t.NextRep % len(t.Reps)
				t.NextRep = (start + 1) % len(t.Reps)
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("team %s: advancing round robin: %w", id, err)
		}
	}
	if len(t.Reps) == 0 {
		return nil, nil, fmt.Errorf("team %s has no reps", id)
	}
	reps := make([]bridge.Party, 0, len(t.Reps))
	for i := range t.Reps {
		r := t.Reps[(start+i)%len(t.Reps)]
		reps = append(reps, bridge.Party{Number: r.Number, Name: r.Name})
	}
	return t, reps, nil
}

// finish stores the attempt's outcome and what follows from it: completed,
// a retry, failed, or canceled when Cancel hung it up.
func (e *Engine) finish(cb *store.Callback, n int, r *run, res bridge.Result) {
	e.mu.Lock()
	r.finishing = true
	cut := r.cut
	e.mu.Unlock()

	now := e.clk.Now()
	outcome, cause := string(res.Outcome), res.Cause
	if outcome == "" {
		outcome = outcomeFailed
	}
	if cut == cutShutdown && outcome != outcomeConnected {
		// Cut before the two parties were joined: the customer was not
		// served, so a restart should try again.
		outcome, cause = outcomeInterrupted, "server shut down during the attempt"
	}
	out, _, err := e.st.UpdateCallback(cb.ID, func(u *store.Update) error {
		c := u.Callback
		if c.Status != store.InProgress || c.AttemptCount != n {
			return errStale
		}
		a, err := u.Attempt(n)
		if err != nil {
			return fmt.Errorf("attempt %d: %w", n, err)
		}
		fillAttempt(a, res, outcome, cause, now)
		if err := u.PutAttempt(a); err != nil {
			return err
		}
		c.Outcome = outcome
		switch {
		case cut == cutCancel:
			c.Status, c.Reason = store.Canceled, ReasonCanceled
			_, err = u.Append(evCanceled, finalData{Attempt: n, Reason: ReasonCanceled, Outcome: outcome})
		case outcome == outcomeConnected:
			c.Status = store.Completed
			_, err = u.Append(evCompleted, finalData{Attempt: n, Outcome: outcome, TalkSeconds: a.TalkSeconds})
		default:
			err = e.decide(u, n, outcome, now)
		}
		return err
	})
	if err != nil {
		// The callback stays in_progress in the store; the next start
		// records the attempt as interrupted.
		e.log.Error("callback attempt outcome not stored", "callback", cb.ID, "attempt", n, "outcome", outcome, "err", err)
		return
	}
	e.m.Attempt(outcome)
	e.moved(out, store.InProgress, n)
}

// decide applies the retry policy to a finished attempt inside the
// callback's transaction: back to scheduled with the next due time, or
// failed with the policy's reason.
func (e *Engine) decide(u *store.Update, n int, outcome string, now time.Time) error {
	c := u.Callback
	dec := c.Retry.Next(schedule.Attempt{Number: n, Outcome: outcome, FinishedAt: now, Created: c.CreatedAt}, c.Window)
	if dec.Retry {
		c.Status, c.NextAttemptAt, c.Reason = store.Scheduled, dec.At, ""
		_, err := u.Append(evRetryScheduled, retryData{Attempt: n, NextAttemptAt: dec.At, Outcome: outcome})
		return err
	}
	c.Status, c.Reason = store.Failed, dec.Reason
	_, err := u.Append(evFailed, finalData{Attempt: n, Reason: dec.Reason, Outcome: outcome})
	return err
}

// moved does what follows a stored status change: metrics, the log line,
// and arming a retry.
func (e *Engine) moved(cb *store.Callback, from store.Status, n int) {
	e.m.MoveCallback(string(from), string(cb.Status))
	switch cb.Status {
	case store.Scheduled:
		e.log.Info("callback retry scheduled", "callback", cb.ID, "attempt", n, "outcome", cb.Outcome, "next_attempt_at", cb.NextAttemptAt)
		e.arm(cb.ID, cb.NextAttemptAt, cb.CreatedAt)
	case store.Completed:
		e.log.Info("callback completed", "callback", cb.ID, "attempt", n)
	case store.Failed:
		e.log.Info("callback failed", "callback", cb.ID, "attempt", n, "outcome", cb.Outcome, "reason", cb.Reason)
	case store.Canceled:
		e.log.Info("callback canceled", "callback", cb.ID, "attempt", n, "outcome", cb.Outcome)
	}
}

func fillAttempt(a *store.Attempt, res bridge.Result, outcome, cause string, now time.Time) {
	a.FinishedAt = now
	a.Outcome, a.Cause = outcome, cause
	a.Code, a.Reason = res.Code, res.Reason
	a.Reps = a.Reps[:0]
	for _, l := range res.Reps {
		a.Reps = append(a.Reps, leg(l))
	}
	if res.Customer.Number != "" || !res.Customer.InvitedAt.IsZero() {
		c := leg(res.Customer)
		a.Customer = &c
	}
	a.ConnectedAt = res.ConnectedAt
	a.TalkSeconds = res.TalkTime.Seconds()
	a.HungUpBy = string(res.HungUpBy)
}

func leg(l bridge.LegResult) store.Leg {
	return store.Leg{
		Role: string(l.Role), Number: l.Number, CallID: l.CallID, Outcome: l.Outcome,
		Code: l.Code, Reason: l.Reason,
		InvitedAt: l.InvitedAt, RingingAt: l.RingingAt, AnsweredAt: l.AnsweredAt, EndedAt: l.EndedAt,
	}
}

// Event payloads. Structs rather than maps fix the JSON field order.
type attemptData struct {
	Attempt int `json:"attempt"`
}

type scheduledData struct {
	NextAttemptAt time.Time `json:"next_attempt_at"`
	// TriggerID is the trigger whose event made the callback.
	TriggerID string `json:"trigger_id,omitempty"`
}

type retryData struct {
	Attempt       int       `json:"attempt"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	Outcome       string    `json:"outcome"`
}

type finalData struct {
	Attempt     int     `json:"attempt,omitempty"`
	Reason      string  `json:"reason,omitempty"`
	Outcome     string  `json:"outcome,omitempty"`
	TalkSeconds float64 `json:"talk_seconds,omitempty"`
}

type callData struct {
	Attempt   int       `json:"attempt"`
	Leg       string    `json:"leg"`
	Number    string    `json:"number"`
	CallID    string    `json:"call_id,omitempty"`
	SIPCode   int       `json:"sip_code,omitempty"`
	SIPReason string    `json:"sip_reason,omitempty"`
	At        time.Time `json:"at"`
}

// sink stores an attempt's call events in order. The bridge's OnEvent must
// not block, and a store write waits for an fsync, so events are queued and
// written by the sink's own goroutine, several per transaction when they
// come fast.
type sink struct {
	e         *Engine
	cb        *store.Callback
	n         int
	trigger   bool // measure the trigger latency at the first INVITE
	triggered atomic.Bool

	wake chan struct{}
	done chan struct{}

	mu     sync.Mutex
	evs    []bridge.Event
	closed bool
}

func (e *Engine) newSink(cb *store.Callback, n int, trigger bool) *sink {
	s := &sink{e: e, cb: cb, n: n, trigger: trigger, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go s.loop()
	return s
}

// add is the plan's OnEvent.
func (s *sink) add(ev bridge.Event) {
	if ev.Type == bridge.EventInitiated && s.trigger && s.triggered.CompareAndSwap(false, true) {
		s.e.m.Trigger(s.e.clk.Now().Sub(s.cb.CreatedAt))
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.e.log.Debug("call event after the attempt ended dropped", "callback", s.cb.ID, "type", ev.Type)
		return
	}
	s.evs = append(s.evs, ev)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// close waits until every event added so far is stored; later ones are
// dropped, so the final event is the log's last.
func (s *sink) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	<-s.done
}

func (s *sink) loop() {
	defer close(s.done)
	for range s.wake {
		s.mu.Lock()
		evs, closed := s.evs, s.closed
		s.evs = nil
		s.mu.Unlock()
		if len(evs) > 0 {
			s.write(evs)
		}
		if closed {
			return // add drops what comes after close
		}
	}
}

func (s *sink) write(evs []bridge.Event) {
	_, _, err := s.e.st.UpdateCallback(s.cb.ID, func(u *store.Update) error {
		for _, ev := range evs {
			d := callData{Attempt: s.n, Leg: string(ev.Leg), Number: ev.Number, CallID: ev.CallID, SIPCode: ev.Code, SIPReason: ev.Reason, At: ev.At}
			if _, err := u.Append(ev.Type, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.e.log.Error("call events not stored", "callback", s.cb.ID, "attempt", s.n, "events", len(evs), "err", err)
		return
	}
	for _, ev := range evs {
		s.e.log.Debug("call event", "callback", s.cb.ID, "attempt", s.n, "type", ev.Type, "leg", ev.Leg, "sip_code", ev.Code)
	}
}
