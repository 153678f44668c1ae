package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Cause says why a leg ended.
type Cause string

const (
	// CauseRemoteBye: the far end sent BYE.
	CauseRemoteBye Cause = "remote_bye"
	// CauseLocal: Hangup was called.
	CauseLocal Cause = "local"
	// CauseSessionExpired: the far end was the RFC 4028 refresher and did not refresh.
	CauseSessionExpired Cause = "session_expired"
	// CauseRefreshFailed: our session refresh timed out or got 408/481.
	CauseRefreshFailed Cause = "refresh_failed"
	// CauseShutdown: the UA was closed.
	CauseShutdown Cause = "shutdown"
	// CauseNoAck: the far end never acknowledged our 2xx to its re-INVITE
	// (RFC 3261 13.3.1.4), so the session is ended.
	CauseNoAck Cause = "no_ack"
)

// Leg is an answered call leg.
type Leg struct {
	ua      *UA
	trunk   *trunk
	tc      *transportClient
	dlg     *sipgo.DialogClientSession
	id      string
	callID  string
	answer  []byte
	at      time.Time
	onOffer func([]byte) ([]byte, error)
	release func()

	ctx    context.Context // ends when the leg starts ending
	cancel context.CancelFunc
	done   chan struct{}
	sem    chan struct{} // serialises our in-dialog requests (sipgo's CSeq handling is not atomic)

	mu          sync.Mutex
	cause       Cause
	finished    bool
	target      sip.Uri // remote target: the far end's Contact
	localSDP    []byte  // our current SDP, re-sent in session refreshes
	remoteCSeq  uint32
	ourInvite   bool // our re-INVITE is pending
	theirInvite bool // their re-INVITE is being answered
	interval    time.Duration
	weRefresh   bool
	timer       *time.Timer
	gen         uint64                   // invalidates a timer callback that already fired
	ackWait     map[uint32]chan struct{} // our 2xx to their re-INVITE, by CSeq, until ACKed

	refreshes atomic.Int32 // successful refreshes we sent; tests read it
}

func newLeg(d *dialing, res *sip.Response) *Leg {
	l := &Leg{
		ua:       d.u,
		trunk:    d.t,
		tc:       d.tc,
		dlg:      d.dlg,
		id:       d.dlg.ID,
		callID:   d.callID,
		answer:   res.Body(),
		at:       time.Now(),
		onOffer:  d.req.OnOffer,
		release:  d.release,
		done:     make(chan struct{}),
		sem:      make(chan struct{}, 1),
		target:   *d.dlg.InviteRequest.Recipient.Clone(),
		localSDP: d.req.SDP,
	}
	if c := res.Contact(); c != nil {
		l.target = *c.Address.Clone()
	}
	l.ctx, l.cancel = context.WithCancel(d.u.ctx)
	return l
}

// AnswerSDP is the far end's SDP answer from the 2xx (do not modify it).
func (l *Leg) AnswerSDP() []byte { return l.answer }

// CallID is the SIP Call-ID of the leg.
func (l *Leg) CallID() string { return l.callID }

// AnsweredAt is when the 2xx arrived.
func (l *Leg) AnsweredAt() time.Time { return l.at }

// Done is closed when the leg has ended: far-end BYE, session timer, Hangup or Close.
func (l *Leg) Done() <-chan struct{} { return l.done }

// HangupCause says why the leg ended; empty while it is up.
func (l *Leg) HangupCause() Cause {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cause
}

// Hangup sends BYE and ends the leg; it returns nil at once if the leg has
// already ended. The leg is over when Hangup returns, even if the BYE failed.
func (l *Leg) Hangup(ctx context.Context) error {
	return l.hangup(ctx, CauseLocal)
}

// beginEnd marks the leg as ending with cause; false if it already was.
func (l *Leg) beginEnd(cause Cause) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cause != "" {
		return false
	}
	l.cause = cause
	l.stopTimerLocked()
	l.cancel()
	return true
}

// finish releases the leg; it stays findable until then so a BYE crossing ours
// is still answered 200.
func (l *Leg) finish() {
	l.mu.Lock()
	if l.finished {
		l.mu.Unlock()
		return
	}
	l.finished = true
	cause := l.cause
	l.mu.Unlock()
	l.ua.mu.Lock()
	delete(l.ua.legs, l.id)
	l.ua.mu.Unlock()
	l.release()
	close(l.done)
	l.ua.log.Info("leg ended", "trunk", l.trunk.spec.Name, "call_id", l.callID, "cause", string(cause),
		"duration", time.Since(l.at).Round(time.Millisecond))
}

func (l *Leg) hangup(ctx context.Context, cause Cause) error {
	if !l.beginEnd(cause) {
		return nil
	}
	defer l.finish()
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("hang up call %s: %w", l.callID, ctx.Err())
	}
	defer func() { <-l.sem }()
	bye := l.newRequest(sip.BYE)
	if err := l.dlg.WriteBye(ctx, bye); err != nil {
		return fmt.Errorf("hang up call %s: %w", l.callID, err)
	}
	return nil
}

func (l *Leg) onRemoteBye(req *sip.Request, tx sip.ServerTransaction) {
	first := l.beginEnd(CauseRemoteBye)
	if err := l.dlg.ReadBye(req, tx); err != nil {
		l.ua.log.Debug("answering BYE failed", "call_id", l.callID, "err", err)
	}
	if first {
		l.finish()
	}
}

func (l *Leg) newRequest(method sip.RequestMethod) *sip.Request {
	l.mu.Lock()
	target := *l.target.Clone()
	l.mu.Unlock()
	return newInDialogRequest(method, target, l.tc, l.ua.lc.userAgent)
}

// onRemoteOffer answers a re-INVITE or UPDATE from the far end: hold/unhold or
// codec changes go to OnOffer, and every one counts as a session refresh.
func (l *Leg) onRemoteOffer(req *sip.Request, tx sip.ServerTransaction) {
	u := l.ua
	l.mu.Lock()
	if l.cause != "" {
		l.mu.Unlock()
		u.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	// sipgo's Dialog.ReadRequest compares with our own INVITE's CSeq on a UAC
	// dialog (a different sequence space), so the far end's order is kept here.
	seq := req.CSeq().SeqNo
	if l.remoteCSeq != 0 && seq <= l.remoteCSeq {
		l.mu.Unlock()
		u.respond(req, tx, 500, "Server Internal Error", nil, sip.NewHeader("Retry-After", "1"))
		return
	}
	if l.ourInvite || l.theirInvite {
		l.mu.Unlock()
		u.respond(req, tx, 491, "Request Pending", nil)
		return
	}
	l.remoteCSeq = seq
	l.theirInvite = true
	if c := req.Contact(); c != nil {
		l.target = *c.Address.Clone() // target refresh (RFC 3261 12.2.2, RFC 3311)
	}
	local := l.localSDP
	l.mu.Unlock()

	code, reason, answer, hdrs, interval, weRefresh := l.answerOffer(req, local)
	// Cleared before the response goes out: the far end may send its next
	// request the moment it has our answer.
	l.mu.Lock()
	l.theirInvite = false
	if code == 200 {
		l.armLocked(interval, weRefresh)
	}
	var acked chan struct{}
	if code == 200 && req.IsInvite() && !reliable(req) {
		acked = make(chan struct{})
		if l.ackWait == nil {
			l.ackWait = map[uint32]chan struct{}{}
		}
		l.ackWait[seq] = acked
	}
	l.mu.Unlock()
	res := u.response(req, code, reason, answer, hdrs...)
	u.send(req, tx, res)
	if acked != nil {
		go l.retransmit2xx(tx, res, seq, acked)
	}
}

// retransmit2xx resends our 2xx to a re-INVITE over UDP until its ACK comes:
// sipgo's transaction absorbs the far end's retransmitted INVITEs (RFC 6026
// Accepted state) and leaves 2xx retransmission to us (RFC 3261 13.3.1.4).
// Without an ACK after 64*T1 the session is over and we send BYE.
func (l *Leg) retransmit2xx(tx sip.ServerTransaction, res *sip.Response, seq uint32, acked <-chan struct{}) {
	defer func() {
		l.mu.Lock()
		delete(l.ackWait, seq)
		l.mu.Unlock()
	}()
	t1 := l.ua.scaled(sip.T1)
	interval, giveUp := t1, time.NewTimer(64*t1)
	defer giveUp.Stop()
	for {
		tick := time.NewTimer(interval)
		select {
		case <-acked:
			tick.Stop()
			return
		case <-l.ctx.Done():
			tick.Stop()
			return
		case <-giveUp.C:
			tick.Stop()
			l.ua.log.Warn("no ACK for our 200 to a re-INVITE: ending the call", "call_id", l.callID, "cseq", seq)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = l.hangup(ctx, CauseNoAck)
			cancel()
			return
		case <-tick.C:
			if err := tx.Respond(res); err != nil {
				l.ua.log.Debug("2xx retransmission failed", "call_id", l.callID, "err", err)
			}
			interval = min(2*interval, sip.T2)
		}
	}
}

// onAck stops the retransmission of our 2xx to the re-INVITE it acknowledges.
func (l *Leg) onAck(req *sip.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ch, ok := l.ackWait[req.CSeq().SeqNo]; ok {
		close(ch)
		delete(l.ackWait, req.CSeq().SeqNo)
	}
}

// reliable reports whether req came over a transport that retransmits by itself.
func reliable(req *sip.Request) bool {
	switch strings.ToUpper(req.Transport()) {
	case "TCP", "TLS", "WS", "WSS":
		return true
	}
	return false
}

// answerOffer builds the response to a far-end re-INVITE or UPDATE.
func (l *Leg) answerOffer(req *sip.Request, local []byte) (code int, reason string, answer []byte, hdrs []sip.Header, interval time.Duration, weRefresh bool) {
	if offer := req.Body(); len(offer) > 0 {
		if !isSDP(req) {
			return 415, "Unsupported Media Type", nil, []sip.Header{sip.NewHeader("Accept", "application/sdp")}, 0, false
		}
		answer = local
		if l.onOffer != nil {
			a, err := l.onOffer(offer)
			if err != nil {
				l.ua.log.Info("far-end offer refused", "call_id", l.callID, "method", string(req.Method), "err", err)
				return 488, "Not Acceptable Here", nil, nil, 0, false
			}
			answer = a
		}
		l.mu.Lock()
		l.localSDP = answer
		l.mu.Unlock()
	} else if req.IsInvite() {
		// An offer-less re-INVITE asks for our offer: our current SDP.
		answer = local
	}

	hdrs = []sip.Header{
		sip.HeaderClone(&l.tc.contact),
		sip.NewHeader("Allow", allowMethods),
		sip.NewHeader("Supported", "timer"),
	}
	interval, weRefresh = l.negotiateRemote(req)
	if interval > 0 {
		refresher := "uac"
		if weRefresh {
			refresher = "uas"
		}
		hdrs = append(hdrs, sip.NewHeader("Session-Expires", strconv.Itoa(int(interval/time.Second))+";refresher="+refresher))
		if supportsTimer(req) {
			hdrs = append(hdrs, sip.NewHeader("Require", "timer"))
		}
	}
	if answer != nil {
		ct := sip.ContentTypeHeader("application/sdp")
		hdrs = append(hdrs, &ct)
	}
	return 200, "OK", answer, hdrs, interval, weRefresh
}

// negotiateRemote picks the session interval and refresher for a refresh the far
// end sent (RFC 4028 9): as asked when it asks; otherwise, when it supports timers
// and we want them, it refreshes; otherwise no session timer.
func (l *Leg) negotiateRemote(req *sip.Request) (time.Duration, bool) {
	se, refresher, ok := parseSessionExpires(req)
	if ok {
		if !supportsTimer(req) {
			return se, true // a UAC without timer support cannot refresh
		}
		return se, refresher == "uas"
	}
	if want := l.trunk.spec.SessionExpires; want > 0 && supportsTimer(req) {
		return want, false
	}
	return 0, false
}

// startSessionTimer applies the 2xx's Session-Expires (RFC 4028 7.2): refresher=uac
// (or none given) means us. Without the header there is no session expiry.
func (l *Leg) startSessionTimer(res *sip.Response) {
	se, refresher, ok := parseSessionExpires(res)
	if !ok {
		return
	}
	l.mu.Lock()
	l.armLocked(se, refresher != "uas")
	l.mu.Unlock()
}

func (l *Leg) stopTimerLocked() {
	l.gen++
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
}

// armLocked (re)starts the session timer: refresh at half the interval when we
// refresh, else end the leg shortly before the interval runs out (RFC 4028 10).
func (l *Leg) armLocked(interval time.Duration, weRefresh bool) {
	l.stopTimerLocked()
	l.interval, l.weRefresh = interval, weRefresh
	if interval <= 0 || l.cause != "" {
		return
	}
	gen := l.gen
	if weRefresh {
		l.timer = time.AfterFunc(l.ua.scaled(interval/2), func() { l.refresh(gen) })
		return
	}
	l.timer = time.AfterFunc(l.ua.scaled(interval-min(32*time.Second, interval/3)), func() { l.expire(gen) })
}

func (l *Leg) current(gen uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen == gen && l.cause == ""
}

func (l *Leg) expire(gen uint64) {
	if !l.current(gen) {
		return
	}
	l.ua.log.Info("session expired: no refresh from the far end", "call_id", l.callID)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.hangup(ctx, CauseSessionExpired)
}

var errGlare = errors.New("re-INVITE glare")

// refresh sends a session-refresh re-INVITE with our current SDP.
func (l *Leg) refresh(gen uint64) {
	if !l.current(gen) {
		return
	}
	l.mu.Lock()
	interval := l.interval
	l.mu.Unlock()
	res, err := l.reinvite(interval)
	if l.ctx.Err() != nil {
		return
	}
	code := 0
	if res != nil {
		code = res.StatusCode
	}
	switch {
	case errors.Is(err, errGlare) || code == 491:
		// RFC 3261 14.1: retry after 2.1-4 s (we own the Call-ID).
		l.retryAfter(gen, interval, 2100*time.Millisecond+rand.N(1900*time.Millisecond))
	case err != nil || code == 408 || code == 481:
		l.ua.log.Warn("session refresh failed: hanging up", "call_id", l.callID, "code", code, "err", err)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = l.hangup(ctx, CauseRefreshFailed)
	case res.IsSuccess():
		l.refreshes.Add(1)
		se, refresher, ok := parseSessionExpires(res)
		l.mu.Lock()
		if ok {
			l.armLocked(se, refresher != "uas")
		} else {
			l.armLocked(0, false) // the far end dropped the session timer
		}
		l.mu.Unlock()
	case code == 422:
		if h := res.GetHeader("Min-SE"); h != nil {
			v, _, _ := strings.Cut(h.Value(), ";")
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && time.Duration(n)*time.Second > interval {
				interval = time.Duration(n) * time.Second
			}
		}
		l.retryAfter(gen, interval, 0)
	default:
		l.ua.log.Warn("session refresh refused", "call_id", l.callID, "code", code)
		l.retryAfter(gen, interval, interval/2)
	}
}

func (l *Leg) retryAfter(gen uint64, interval, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen != gen || l.cause != "" {
		return
	}
	l.interval, l.weRefresh = interval, true
	l.timer = time.AfterFunc(l.ua.scaled(d), func() { l.refresh(gen) })
}

// reinvite sends our current SDP in a re-INVITE and ACKs a 2xx.
func (l *Leg) reinvite(interval time.Duration) (*sip.Response, error) {
	ctx, cancel := context.WithTimeout(l.ctx, 32*time.Second)
	defer cancel()
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-l.sem }()
	l.mu.Lock()
	if l.theirInvite {
		l.mu.Unlock()
		return nil, errGlare
	}
	l.ourInvite = true
	sdp := l.localSDP
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.ourInvite = false
		l.mu.Unlock()
	}()

	req := l.newRequest(sip.INVITE)
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	req.AppendHeader(sip.NewHeader("Supported", "timer"))
	if interval > 0 {
		req.AppendHeader(sip.NewHeader("Session-Expires", strconv.Itoa(int(interval/time.Second))+";refresher=uac"))
		req.AppendHeader(sip.NewHeader("Min-SE", strconv.Itoa(int(minSessionExpires/time.Second))))
	}
	if len(sdp) > 0 {
		ct := sip.ContentTypeHeader("application/sdp")
		req.AppendHeader(&ct)
	}
	req.SetBody(sdp)
	tx, err := l.dlg.TransactionRequest(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("send re-INVITE: %w", err)
	}
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			if !res.IsSuccess() {
				tx.Terminate() // the transaction ACKs non-2xx itself
				return res, nil
			}
			ack := l.newRequest(sip.ACK)
			if err := l.dlg.WriteRequest(ack); err != nil {
				tx.Terminate()
				return res, fmt.Errorf("ACK re-INVITE: %w", err)
			}
			// A retransmitted 2xx means our ACK was lost: send it again. The
			// transaction lingers for Timer M to catch those.
			tmpl := ack.Clone()
			tx.OnRetransmission(func(r *sip.Response) {
				if r.IsSuccess() {
					_ = l.tc.client.WriteRequest(tmpl.Clone(), func(*sipgo.Client, *sip.Request) error { return nil })
				}
			})
			return res, nil
		case <-tx.Done():
			return nil, fmt.Errorf("re-INVITE: %w", tx.Err())
		case <-ctx.Done():
			tx.Terminate()
			return nil, fmt.Errorf("re-INVITE: %w", ctx.Err())
		}
	}
}

// parseSessionExpires reads "Session-Expires: 1800;refresher=uac" (compact form x).
func parseSessionExpires(m sip.Message) (time.Duration, string, bool) {
	h := firstHeader(m, "Session-Expires", "x")
	if h == nil {
		return 0, "", false
	}
	parts := strings.Split(h.Value(), ";")
	n, err := strconv.Atoi(strings.TrimSpace(parts[0]))
	if err != nil || n <= 0 {
		return 0, "", false
	}
	refresher := ""
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "refresher") {
			refresher = strings.ToLower(strings.TrimSpace(v))
		}
	}
	return time.Duration(n) * time.Second, refresher, true
}

// supportsTimer reports whether the message lists the "timer" option tag.
func supportsTimer(m sip.Message) bool {
	for _, name := range []string{"Supported", "k", "Require"} {
		for _, h := range m.GetHeaders(name) {
			for _, tag := range strings.Split(h.Value(), ",") {
				if strings.EqualFold(strings.TrimSpace(tag), "timer") {
					return true
				}
			}
		}
	}
	return false
}
