package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// DialRequest describes one outbound leg.
type DialRequest struct {
	Trunk      string // trunk name; may be empty when exactly one trunk is configured
	Number     string // dialled number, see ValidateNumber
	CallerID   string // From user shown to the callee (a number); default the trunk's from_user
	CallerName string // From display name, see ValidateName
	SDP        []byte // our offer
	// RingTimeout ends an unanswered dial with CANCEL and OutcomeNoAnswer; 0 = no limit.
	RingTimeout time.Duration
	// OnProgress gets each provisional response (100, 180, 183...); SDP is set on
	// a 183 with early media. Provisionals can be lost or reordered: never rely on
	// seeing one. It is not called after Dial returns.
	OnProgress func(p Progress)
	// OnOffer answers an SDP offer from the far end in a re-INVITE or UPDATE
	// (hold, unhold, session refresh). An error answers 488. Nil: we answer with
	// our current SDP unchanged.
	OnOffer func(offer []byte) ([]byte, error)
}

// Progress is a provisional response to our INVITE.
type Progress struct {
	Code   int
	Reason string
	SDP    []byte // early media answer (183), nil otherwise
}

// cancelGrace is how long Dial waits, after it cancelled, for the far end to
// confirm (200 to CANCEL, 487) or race an answer in; what takes longer is
// finished in the background so Dial returns promptly.
const cancelGrace = time.Second

// Dial places a call through a trunk and returns the answered leg. Over a trunk's
// limits it waits for a slot (only ctx ends the wait). Every failure is a
// *DialError; its Err wraps ErrInvalidInput, ErrUnknownTrunk, ErrClosed,
// ErrRingTimeout or the context's error where they apply.
func (u *UA) Dial(ctx context.Context, req DialRequest) (*Leg, error) {
	t, err := u.checkDial(req)
	if err != nil {
		return nil, &DialError{Outcome: OutcomeFailed, Reason: "invalid dial request", Err: err}
	}
	u.mu.Lock()
	if !u.started || u.closed {
		u.mu.Unlock()
		return nil, &DialError{Outcome: OutcomeFailed, Reason: "user agent not running", Err: ErrClosed}
	}
	u.bgWG.Add(1) // Close waits for every dial, background clean-up included
	u.mu.Unlock()

	actx, stop := context.WithCancel(ctx)
	stopAfter := context.AfterFunc(u.ctx, stop)
	release, err := t.acquire(actx)
	stopAfter()
	stop()
	if err != nil {
		u.bgWG.Done()
		if u.ctx.Err() != nil {
			return nil, &DialError{Outcome: OutcomeFailed, Reason: "user agent closed", Err: ErrClosed}
		}
		return nil, &DialError{Outcome: OutcomeCanceled, Reason: "canceled", Err: err}
	}
	d := &dialing{u: u, t: t, tc: t.client(), req: req, release: release}
	leg, err := d.run(ctx)
	if err != nil {
		release()
		if de, ok := err.(*DialError); ok {
			de.CallID = d.callID
		}
	}
	return leg, err
}

func (u *UA) checkDial(req DialRequest) (*trunk, error) {
	if err := ValidateNumber(req.Number); err != nil {
		return nil, fmt.Errorf("number: %w", err)
	}
	if req.CallerID != "" {
		if err := ValidateNumber(req.CallerID); err != nil {
			return nil, fmt.Errorf("caller id: %w", err)
		}
	}
	if err := ValidateName(req.CallerName); err != nil {
		return nil, fmt.Errorf("caller name: %w", err)
	}
	if req.Trunk == "" && len(u.order) == 1 {
		return u.order[0], nil
	}
	t := u.trunks[req.Trunk]
	if t == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownTrunk, req.Trunk)
	}
	return t, nil
}

// dialing is one INVITE transaction from send to answer or failure.
type dialing struct {
	u       *UA
	t       *trunk
	tc      *transportClient
	req     DialRequest
	release func()

	dlg    *sipgo.DialogClientSession
	callID string
	reason error // why we cancelled; nil while we still want the call

	cbMu  sync.Mutex
	cbOff bool // OnProgress is not called once Dial has returned
	seen  chan struct{}
	once  sync.Once
}

func (d *dialing) run(ctx context.Context) (*Leg, error) {
	defer d.stopCallbacks()
	inv := d.buildInvite()
	dlg, err := d.tc.dua.WriteInvite(ctx, inv)
	if err != nil {
		d.u.bgWG.Done()
		if ctx.Err() != nil {
			return nil, &DialError{Outcome: OutcomeCanceled, Reason: "canceled", Err: ctx.Err()}
		}
		return nil, &DialError{Outcome: OutcomeUnreachable, Reason: "cannot reach trunk",
			Err: fmt.Errorf("send INVITE via trunk %q: %w", d.t.spec.Name, err)}
	}
	d.dlg = dlg
	d.callID = callID(inv)
	d.seen = make(chan struct{})
	log := d.u.log.With("trunk", d.t.spec.Name, "call_id", d.callID)
	log.Info("dialling", "number", d.req.Number)

	waitCtx, stopWait := context.WithCancelCause(context.Background())
	defer stopWait(nil)
	result := make(chan error, 1)
	go func() {
		result <- dlg.WaitAnswer(waitCtx, sipgo.AnswerOptions{
			Username:   d.t.spec.Username,
			Password:   d.t.spec.Password,
			OnResponse: d.onResponse,
		})
	}()

	var ring <-chan time.Time
	if d.req.RingTimeout > 0 {
		timer := time.NewTimer(d.req.RingTimeout)
		defer timer.Stop()
		ring = timer.C
	}
	select {
	case err := <-result:
		defer d.u.bgWG.Done()
		return d.settle(err)
	case <-ring:
		d.reason = ErrRingTimeout
	case <-ctx.Done():
		d.reason = context.Cause(ctx)
	case <-d.u.ctx.Done():
		d.reason = ErrClosed
	}
	// WaitAnswer sends CANCEL once the far end has answered anything (RFC 3261
	// 9.1), and waits for the final response.
	stopWait(d.reason)
	grace := time.Duration(0)
	select {
	case <-d.seen:
		grace = cancelGrace
	default:
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case err := <-result:
		defer d.u.bgWG.Done()
		return d.settle(err)
	case <-timer.C:
	}
	d.stopCallbacks()
	go func() {
		defer d.u.bgWG.Done()
		_, _ = d.settle(<-result)
	}()
	return nil, d.cancelError(nil)
}

func (d *dialing) onResponse(r *sip.Response) error {
	d.once.Do(func() { close(d.seen) })
	if !r.IsProvisional() || d.req.OnProgress == nil {
		return nil
	}
	p := Progress{Code: r.StatusCode, Reason: r.Reason}
	if body := r.Body(); len(body) > 0 && isSDP(r) {
		p.SDP = body
	}
	d.cbMu.Lock()
	defer d.cbMu.Unlock()
	if !d.cbOff {
		d.req.OnProgress(p)
	}
	return nil
}

func (d *dialing) stopCallbacks() {
	d.cbMu.Lock()
	d.cbOff = true
	d.cbMu.Unlock()
}

// settle turns WaitAnswer's result into a leg or a DialError. It runs after
// WaitAnswer returned, so reading the dialog's InviteResponse is safe.
func (d *dialing) settle(err error) (*Leg, error) {
	res := d.dlg.InviteResponse
	log := d.u.log.With("trunk", d.t.spec.Name, "call_id", d.callID)
	if res != nil && res.IsSuccess() && (err != nil || d.reason != nil) {
		// The answer crossed our CANCEL, or came as we gave up: take the call
		// down at once or the far end stays off-hook.
		log.Info("answer arrived after we gave up: hanging up", "reason", d.reason)
		d.abandon()
		return nil, d.cancelError(nil)
	}
	if err == nil {
		return d.answered(res)
	}
	var final *sip.Response
	var de *sipgo.ErrDialogResponse
	if errors.As(err, &de) {
		final = de.Res
	} else if res != nil && !res.IsProvisional() {
		final = res
	}
	if d.reason != nil && (final == nil || final.StatusCode == 487) {
		return nil, d.cancelError(final)
	}
	if final != nil {
		o := classifyCode(final.StatusCode)
		log.Info("dial failed", "code", final.StatusCode, "reason", final.Reason, "outcome", string(o))
		return nil, &DialError{Outcome: o, Code: final.StatusCode, Reason: final.Reason}
	}
	if errors.Is(err, sip.ErrTransactionTimeout) || errors.Is(err, sip.ErrTransactionTransport) {
		log.Info("dial failed: no response", "err", err)
		return nil, &DialError{Outcome: OutcomeUnreachable, Reason: "no response from trunk", Err: err}
	}
	log.Warn("dial failed", "err", err)
	return nil, &DialError{Outcome: OutcomeFailed, Reason: "dial failed", Err: err}
}

// cancelError reports a dial we cancelled; final is the far end's final response
// to the INVITE when known (usually 487).
func (d *dialing) cancelError(final *sip.Response) *DialError {
	e := &DialError{Err: d.reason}
	switch {
	case errors.Is(d.reason, ErrRingTimeout):
		e.Outcome, e.Reason = OutcomeNoAnswer, "ring timeout"
	case errors.Is(d.reason, ErrClosed):
		e.Outcome, e.Reason = OutcomeCanceled, "user agent closed"
	default:
		e.Outcome, e.Reason = OutcomeCanceled, "canceled"
	}
	if final != nil && !final.IsSuccess() {
		e.Code, e.Reason = final.StatusCode, final.Reason
	}
	return e
}

func (d *dialing) answered(res *sip.Response) (*Leg, error) {
	l := newLeg(d, res)
	d.u.mu.Lock()
	closed := d.u.closed
	if !closed {
		// Registered before the ACK goes, so a BYE or re-INVITE right after it
		// finds the leg.
		d.u.legs[d.dlg.ID] = l
	}
	d.u.mu.Unlock()
	if closed {
		d.abandon()
		return nil, &DialError{Outcome: OutcomeCanceled, Reason: "user agent closed", Err: ErrClosed}
	}
	if err := d.dlg.Ack(context.Background()); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = l.hangup(ctx, CauseLocal)
		return nil, &DialError{Outcome: OutcomeFailed, Code: res.StatusCode, Reason: "ACK failed", Err: err}
	}
	l.startSessionTimer(res)
	d.u.log.Info("answered", "trunk", d.t.spec.Name, "call_id", d.callID, "number", d.req.Number)
	return l, nil
}

// abandon ACKs a 2xx we do not want and sends BYE.
func (d *dialing) abandon() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.dlg.Ack(ctx); err != nil {
		d.u.log.Warn("ack to unwanted answer failed", "call_id", d.callID, "err", err)
		return
	}
	bye := d.newRequest(sip.BYE, d.dlg.InviteResponse)
	if err := d.dlg.WriteBye(ctx, bye); err != nil {
		d.u.log.Warn("bye to unwanted answer failed", "call_id", d.callID, "err", err)
	}
}

// newRequest builds an in-dialog request towards the 2xx's Contact; sipgo's
// dialog fills in From, To, Call-ID, CSeq and the route set.
func (d *dialing) newRequest(method sip.RequestMethod, res *sip.Response) *sip.Request {
	target := d.dlg.InviteRequest.Recipient
	if c := res.Contact(); c != nil {
		target = c.Address
	}
	return newInDialogRequest(method, *target.Clone(), d.tc, d.u.lc.userAgent)
}

func newInDialogRequest(method sip.RequestMethod, target sip.Uri, tc *transportClient, ua string) *sip.Request {
	req := sip.NewRequest(method, target)
	// sipgo's dialog requests skip the client's build step that pins the
	// listening socket: set it here, or UDP goes out from a new ephemeral port.
	req.Laddr = tc.laddr
	req.SetTransport(tc.network)
	req.AppendHeader(sip.NewHeader("User-Agent", ua))
	return req
}

func (d *dialing) buildInvite() *sip.Request {
	t, dr := d.t, d.req
	inv := sip.NewRequest(sip.INVITE, t.uri(uriUser(dr.Number)))
	inv.SetTransport(d.tc.network)
	user := t.spec.FromUser
	if dr.CallerID != "" {
		user = uriUser(dr.CallerID)
	}
	from := &sip.FromHeader{
		DisplayName: dr.CallerName,
		Address:     sip.Uri{Scheme: "sip", User: user, Host: t.spec.FromDomain},
		Params:      sip.NewParams(),
	}
	from.Params.Add("tag", sip.GenerateTagN(16))
	inv.AppendHeader(from)
	inv.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: uriUser(dr.Number), Host: t.spec.FromDomain}})
	contact := d.tc.contact.Clone()
	contact.Address.User = t.spec.FromUser
	inv.AppendHeader(contact)
	t.route(inv)
	if t.spec.PAssertedIdentity {
		pai := "<sip:" + user + "@" + t.spec.FromDomain + ">"
		if dr.CallerName != "" {
			pai = `"` + dr.CallerName + `" ` + pai
		}
		inv.AppendHeader(sip.NewHeader("P-Asserted-Identity", pai))
	}
	inv.AppendHeader(sip.NewHeader("Allow", allowMethods))
	inv.AppendHeader(sip.NewHeader("Supported", "timer"))
	if t.spec.SessionExpires > 0 {
		inv.AppendHeader(sip.NewHeader("Session-Expires", strconv.Itoa(int(t.spec.SessionExpires/time.Second))))
		inv.AppendHeader(sip.NewHeader("Min-SE", strconv.Itoa(int(minSessionExpires/time.Second))))
	}
	inv.AppendHeader(sip.NewHeader("User-Agent", d.u.lc.userAgent))
	if len(dr.SDP) > 0 {
		ct := sip.ContentTypeHeader("application/sdp")
		inv.AppendHeader(&ct)
	}
	inv.SetBody(dr.SDP)
	return inv
}

func isSDP(m sip.Message) bool {
	ct := firstHeader(m, "Content-Type", "c")
	if ct == nil {
		return false
	}
	v, _, _ := strings.Cut(ct.Value(), ";")
	return strings.EqualFold(strings.TrimSpace(v), "application/sdp")
}

// firstHeader returns the first header with any of the names (long, compact).
func firstHeader(m sip.Message, names ...string) sip.Header {
	for _, n := range names {
		if hs := m.GetHeaders(n); len(hs) > 0 {
			return hs[0]
		}
	}
	return nil
}
