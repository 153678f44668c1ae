package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/callbackd/callbackd/media"
	"github.com/callbackd/callbackd/media/audio"
	"github.com/callbackd/callbackd/sip"
)

// Caller places one SIP leg; *sip.UA is one.
type Caller interface {
	Dial(ctx context.Context, req sip.DialRequest) (*sip.Leg, error)
}

// Sessions hands out media sessions; *media.Pool is one.
type Sessions interface {
	NewSession() (*media.Session, error)
}

// Bridge runs attempts. It is safe for concurrent use.
type Bridge struct {
	sip   Caller
	media Sessions
	log   *slog.Logger
}

// New returns a Bridge that dials through c and takes media from m.
func New(c Caller, m Sessions, log *slog.Logger) *Bridge {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Bridge{sip: c, media: m, log: log}
}

// hangupTimeout bounds a BYE sent while tearing down, after ctx may be gone.
const hangupTimeout = 5 * time.Second

// Run places the call the plan describes and returns when it is over. Every call
// outcome, failures included, is in the Result; the error is only for a plan that
// cannot be run at all (ErrInvalidPlan).
func (b *Bridge) Run(ctx context.Context, plan Plan) (Result, error) {
	if err := plan.validate(); err != nil {
		return Result{Outcome: Failed, Cause: err.Error()}, err
	}
	r := &run{b: b, p: plan.withDefaults()}
	r.res.Customer = LegResult{Role: RoleCustomer, Number: plan.Customer.Number}
	if r.p.CustomerFirst {
		r.customerFirst(ctx)
	} else {
		r.repFirst(ctx)
	}
	for _, lr := range r.reps {
		r.res.Reps = append(r.res.Reps, *lr)
	}
	r.res.EndedAt = time.Now()
	if !r.res.ConnectedAt.IsZero() {
		// Talk time stops when the talk does, not when the last BYE is answered.
		r.res.TalkTime = r.talkDone.Sub(r.res.ConnectedAt)
	}
	b.log.Info("bridge attempt ended", "outcome", r.res.Outcome, "cause", r.res.Cause,
		"code", r.res.Code, "talk_time", r.res.TalkTime, "hung_up_by", r.res.HungUpBy)
	return r.res, nil
}

// run is the state of one Run.
type run struct {
	b    *Bridge
	p    Plan
	res  Result
	reps []*LegResult // copied into res.Reps when the run ends

	emitMu   sync.Mutex // OnEvent is called one event at a time
	talkDone time.Time  // when the connected call ended, before hanging up
}

// leg is one answered call leg with its media.
type leg struct {
	role     Role
	res      *LegResult
	sess     *media.Session
	sip      *sip.Leg
	released bool
}

func (l *leg) done() <-chan struct{} { return l.sip.Done() }

func (r *run) emit(typ string, lr *LegResult, code int, reason string) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.p.OnEvent(Event{Type: typ, Leg: lr.Role, Number: lr.Number, CallID: lr.CallID,
		At: time.Now(), Code: code, Reason: reason})
}

func (r *run) fail(cause string) {
	r.res.Outcome = Failed
	r.res.Cause = cause
}

func (r *run) repFirst(ctx context.Context) {
	rep := r.dialReps(ctx, nil)
	if rep == nil {
		return
	}
	defer r.release(rep)

	h := r.hold(ctx, rep)
	cust, relay, err := r.dialLeg(h.ctx, RoleCustomer, r.p.Customer, r.p.CustomerCallerID,
		r.p.CustomerRingTimeout, &r.res.Customer, rep, h)
	h.end()
	if err != nil {
		if relay != nil {
			relay.Stop()
		}
		if r.gone(rep) {
			r.fail("rep hung up before the customer answered")
			return
		}
		r.setOutcome(RoleCustomer, err)
		r.apologise(ctx, rep)
		return
	}
	r.talk(ctx, rep, cust, relay)
	r.release(cust, rep)
}

func (r *run) customerFirst(ctx context.Context) {
	cust, _, err := r.dialLeg(ctx, RoleCustomer, r.p.Customer, r.p.CustomerCallerID,
		r.p.CustomerRingTimeout, &r.res.Customer, nil, nil)
	if err != nil {
		r.setOutcome(RoleCustomer, err)
		return
	}
	defer r.release(cust)

	h := r.hold(ctx, cust)
	rep := r.dialReps(h.ctx, cust)
	h.end()
	if rep == nil {
		if r.gone(cust) {
			r.res.Outcome = CustomerNoAnswer
			r.res.Cause = "customer hung up before a rep answered"
			return
		}
		r.apologise(ctx, cust)
		return
	}
	r.talk(ctx, rep, cust, nil)
	r.release(rep, cust)
}

// dialReps tries the reps in order; the first that answers (and accepts, when the
// plan asks for it) is returned. On nil, r.res says why. first is the leg already
// up (customer-first) or nil.
func (r *run) dialReps(ctx context.Context, first *leg) *leg {
	var lastErr error
	for _, party := range r.p.Reps {
		if ctx.Err() != nil {
			break
		}
		lr := &LegResult{Role: RoleRep, Number: party.Number}
		r.reps = append(r.reps, lr)
		rep, _, err := r.dialLeg(ctx, RoleRep, party, r.p.RepCallerID, r.p.RepRingTimeout, lr, first, nil)
		if err == nil {
			err = r.whisper(ctx, rep)
			if err == nil {
				return rep
			}
			r.release(rep)
		}
		lastErr = err
		if !nextRep(err) {
			break
		}
	}
	r.setOutcome(RoleRep, lastErr)
	return nil
}

// errDeclined is a rep who answered but did not accept the whisper.
var errDeclined = errors.New("rep did not accept the call")

// whisper plays the plan's whisper to the rep and, when asked, waits for "1".
func (r *run) whisper(ctx context.Context, rep *leg) error {
	if r.p.Whisper != nil {
		if err := rep.sess.Play(ctx, r.p.Whisper.Frames(encoding(rep.sess.Codec()))); err != nil {
			return fmt.Errorf("play whisper: %w", err)
		}
	}
	if !r.p.RequireAccept {
		return nil
	}
	tctx, cancel := context.WithTimeout(ctx, r.p.AcceptTimeout)
	defer cancel()
	wctx, stop := whileUp(tctx, rep)
	defer stop()
	d, err := rep.sess.WaitDigit(wctx)
	if err != nil || d != '1' {
		rep.res.Outcome = "declined"
		return errDeclined
	}
	return nil
}

func nextRep(err error) bool {
	if errors.Is(err, errDeclined) {
		return true
	}
	var de *sip.DialError
	if !errors.As(err, &de) {
		return false
	}
	switch de.Outcome {
	case sip.OutcomeBusy, sip.OutcomeNoAnswer, sip.OutcomeRejected, sip.OutcomeUnreachable:
		return true
	}
	return false
}

// dialLeg places one leg and waits for its answer. With first set, the offer
// carries first's codec. With early set (first is held), the far end's early
// media replaces first's ringback as soon as it comes. The relay it returns
// (possibly non-nil even with an error) belongs to the caller.
func (r *run) dialLeg(ctx context.Context, role Role, party Party, cid CallerID, ring time.Duration,
	lr *LegResult, first *leg, early *holding) (*leg, *media.Relay, error) {
	sess, err := r.b.media.NewSession()
	if err != nil {
		lr.Outcome = "failed"
		r.emit(EventMissed, lr, 0, err.Error())
		return nil, nil, fmt.Errorf("media for %s: %w", role, err)
	}
	var offer []byte
	if first != nil {
		offer, err = sess.OfferCodec(first.sess.Codec())
	} else {
		offer, err = sess.Offer()
	}
	if err != nil {
		sess.Close()
		return nil, nil, fmt.Errorf("sdp offer for %s: %w", role, err)
	}

	earlyCh := make(chan struct{})
	var earlyOnce, ringOnce sync.Once
	var mu sync.Mutex // guards lr.RingingAt, written from sipgo's goroutines
	req := sip.DialRequest{
		Trunk:       r.p.Trunk,
		Number:      party.Number,
		CallerID:    cid.Number,
		CallerName:  cid.Name,
		SDP:         offer,
		RingTimeout: ring,
		OnProgress: func(p sip.Progress) {
			if p.Code == 180 || p.Code == 183 {
				ringOnce.Do(func() {
					mu.Lock()
					lr.RingingAt = time.Now()
					mu.Unlock()
					r.emit(EventRinging, lr, p.Code, p.Reason)
				})
			}
			if early != nil && len(p.SDP) > 0 {
				// A bad early SDP only costs the early media: the rep keeps hearing ringback.
				if err := sess.SetAnswer(p.SDP); err == nil {
					earlyOnce.Do(func() { close(earlyCh) })
				}
			}
		},
		OnOffer: sess.AnswerOffer,
	}
	lr.InvitedAt = time.Now()
	r.emit(EventInitiated, lr, 0, "")

	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		l   *sip.Leg
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		l, err := r.b.sip.Dial(dctx, req)
		answered <- answer{l, err}
	}()

	var relay *media.Relay
	var a answer
wait:
	for {
		select {
		case a = <-answered:
			break wait
		case <-earlyCh:
			// Ringback keeps going until the far end's audio actually arrives:
			// a 183 with SDP but no packets must not leave the caller in silence.
			earlyCh = nil
			relay = media.Join(first.sess, sess)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if a.err != nil {
		sess.Close()
		var de *sip.DialError
		if errors.As(a.err, &de) {
			lr.Outcome, lr.Code, lr.Reason, lr.CallID = string(de.Outcome), de.Code, de.Reason, de.CallID
		} else {
			lr.Outcome, lr.Reason = "failed", a.err.Error()
		}
		lr.EndedAt = time.Now()
		r.emit(EventMissed, lr, lr.Code, lr.Reason)
		return nil, relay, fmt.Errorf("dial %s %s: %w", role, party.Number, a.err)
	}
	l := &leg{role: role, res: lr, sess: sess, sip: a.l}
	lr.CallID, lr.AnsweredAt, lr.Outcome, lr.Code, lr.Reason = a.l.CallID(), a.l.AnsweredAt(), "answered", 200, "OK"
	if err := sess.SetAnswer(a.l.AnswerSDP()); err != nil {
		// We cannot talk to this leg: end it with a clear cause.
		r.release(l)
		lr.Outcome, lr.Reason = "failed", err.Error()
		r.emit(EventMissed, lr, 0, err.Error())
		return nil, relay, fmt.Errorf("answer sdp from %s %s: %w", role, party.Number, err)
	}
	r.emit(EventConnected, lr, 200, "")
	return l, relay, nil
}

// holding is a leg that hears ringback while the other is dialled.
type holding struct {
	ctx      context.Context // ends when the held leg hangs up
	cancel   context.CancelFunc
	ringStop context.CancelFunc
	ringDone chan struct{}
}

// hold starts ringback to l. Its context ends when l hangs up, so whatever is
// dialled meanwhile is given up.
func (r *run) hold(ctx context.Context, l *leg) *holding {
	h := &holding{ringDone: make(chan struct{})}
	h.ctx, h.cancel = whileUp(ctx, l)
	var ringCtx context.Context
	ringCtx, h.ringStop = context.WithCancel(h.ctx)
	go func() {
		defer close(h.ringDone)
		_ = l.sess.Ringback(ringCtx)
	}()
	return h
}

// stopRinging ends the ringback and waits for it, so that nothing else writes
// to the leg's media at the same time. Safe to call more than once.
func (h *holding) stopRinging() {
	h.ringStop()
	<-h.ringDone
}

// end stops ringing and the hang-up watch.
func (h *holding) end() {
	h.stopRinging()
	h.cancel()
}

// talk relays audio until either side hangs up, the media times out, the plan's
// maximum duration passes, or ctx ends.
func (r *run) talk(ctx context.Context, rep, cust *leg, relay *media.Relay) {
	if relay == nil {
		relay = media.Join(rep.sess, cust.sess)
	}
	relay.Connected()
	defer relay.Stop()
	r.res.Outcome = Connected
	r.res.Code, r.res.Reason = 200, "OK"
	r.res.ConnectedAt = time.Now()
	var maxC <-chan time.Time
	if r.p.MaxDuration > 0 {
		t := time.NewTimer(r.p.MaxDuration)
		defer t.Stop()
		maxC = t.C
	}
	select {
	case <-rep.done():
		r.res.HungUpBy = HangupRep
	case <-cust.done():
		r.res.HungUpBy = HangupCustomer
	case <-relay.Done():
		r.res.HungUpBy = HangupSystem
		if err := relay.Err(); err != nil {
			r.res.Cause = err.Error()
		}
	case <-maxC:
		r.res.HungUpBy = HangupMaxDuration
	case <-ctx.Done():
		r.res.HungUpBy = HangupSystem
		r.res.Cause = context.Cause(ctx).Error()
	}
	r.talkDone = time.Now()
	relay.Stop()
	r.res.Relay = relay.Stats()
}

// apologise plays the unreachable prompt to l, then the deferred release hangs up.
func (r *run) apologise(ctx context.Context, l *leg) {
	if r.gone(l) {
		return
	}
	enc := encoding(l.sess.Codec())
	frames := unreachableTone(enc)
	if r.p.Unreachable != nil {
		frames = r.p.Unreachable.Frames(enc)
	}
	pctx, cancel := whileUp(ctx, l)
	defer cancel()
	_ = l.sess.Play(pctx, frames)
}

// whileUp returns a context that ends with ctx or when l's far end hangs up.
func whileUp(ctx context.Context, l *leg) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-l.done():
			cancel()
		case <-c.Done():
		}
	}()
	return c, cancel
}

// gone reports whether l's far end has hung up.
func (r *run) gone(l *leg) bool {
	select {
	case <-l.done():
		return true
	default:
		return false
	}
}

// release hangs the legs up (those still up) and frees their media. The
// BYEs go out together: a far end that no longer answers must not keep the
// other one waiting in silence.
func (r *run) release(legs ...*leg) {
	var wg sync.WaitGroup
	for _, l := range legs {
		if l.released {
			continue
		}
		l.released = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.hangup(l)
		}()
	}
	wg.Wait()
}

func (r *run) hangup(l *leg) {
	if !r.gone(l) {
		ctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
		if err := l.sip.Hangup(ctx); err != nil {
			r.b.log.Warn("hangup failed", "leg", l.role, "call_id", l.res.CallID, "err", err)
		}
		cancel()
	}
	if l.res.EndedAt.IsZero() {
		l.res.EndedAt = time.Now()
		r.emit(EventCompleted, l.res, 0, "")
	}
	l.sess.Close()
}

func (r *run) setOutcome(role Role, err error) {
	if err == nil {
		r.fail("no leg was dialled")
		return
	}
	r.res.Cause = err.Error()
	if errors.Is(err, errDeclined) {
		r.res.Outcome = RepRejected
		return
	}
	var de *sip.DialError
	if !errors.As(err, &de) {
		r.res.Outcome = Failed
		return
	}
	r.res.Code, r.res.Reason = de.Code, de.Reason
	r.res.Outcome = classify(role, de.Outcome)
}

var outcomes = map[Role]map[sip.Outcome]Outcome{
	RoleRep:      {sip.OutcomeBusy: RepBusy, sip.OutcomeNoAnswer: RepNoAnswer, sip.OutcomeRejected: RepRejected},
	RoleCustomer: {sip.OutcomeBusy: CustomerBusy, sip.OutcomeNoAnswer: CustomerNoAnswer, sip.OutcomeRejected: CustomerRejected},
}

func classify(role Role, o sip.Outcome) Outcome {
	if out, ok := outcomes[role][o]; ok {
		return out
	}
	return Failed
}

func encoding(c media.Codec) audio.Encoding {
	if c.Name == media.PCMA.Name {
		return audio.PCMA
	}
	return audio.PCMU
}

// unreachableTone is the three rising tones callers know from "number not reachable".
func unreachableTone(enc audio.Encoding) [][]byte {
	var f [][]byte
	for _, hz := range []float64{950, 1400, 1800} {
		f = append(f, audio.Tone([]float64{hz}, 330*time.Millisecond, enc)...)
	}
	return f
}
