package sandbox

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callbackd/callbackd/media/audio"
)

// call is one INVITE the sandbox received, from the first response to the
// end of the dialog.
type call struct {
	s      *Sandbox
	id     string
	tag    string // our To tag
	user   string
	invite *sip.Request
	tx     sip.ServerTransaction

	acked      chan struct{}
	ackOnce    sync.Once
	bye        chan struct{} // the caller hung up
	byeOnce    sync.Once
	canceled   chan struct{}
	cancelOnce sync.Once

	mu       sync.Mutex
	name     string
	status   int
	cause    string
	started  time.Time
	answered time.Time
	ended    time.Time
	stream   *stream
	offer    offer
	sdp      []byte
	sessID   uint64
	version  uint64
	cseq     uint32 // our last in-dialog CSeq
}

func newCall(s *Sandbox, req *sip.Request, tx sip.ServerTransaction) *call {
	return &call{
		s:        s,
		id:       req.CallID().Value(),
		tag:      newTag(),
		user:     req.Recipient.User,
		invite:   req,
		tx:       tx,
		acked:    make(chan struct{}),
		bye:      make(chan struct{}),
		canceled: make(chan struct{}),
		started:  time.Now(),
		sessID:   rand.Uint64() >> 1,
		version:  1,
		cseq:     rand.Uint32()>>16 + 1,
	}
}

func newTag() string {
	var b [8]byte
	_, _ = cryptoRead(b[:])
	return hex.EncodeToString(b[:])
}

var cryptoRead = crand.Read

func (c *call) inviteCSeq() uint32 { return c.invite.CSeq().SeqNo }

func (c *call) stats() CallStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := CallStats{
		CallID:   c.id,
		Number:   c.user,
		Name:     c.name,
		Status:   c.status,
		EndCause: c.cause,
		Started:  c.started,
		Answered: c.answered,
		Ended:    c.ended,
	}
	if c.stream != nil {
		st.Codec = c.stream.enc.String()
		st.RTPReceived = c.stream.recv.Load()
		st.RTPSent = c.stream.sent.Load()
		st.Digits = c.stream.receivedDigits()
	}
	return st
}

// end records the outcome; the first call wins.
func (c *call) end(status int, cause string) {
	c.mu.Lock()
	if c.ended.IsZero() {
		if c.status == 0 {
			c.status = status
		}
		c.cause = cause
		c.ended = time.Now()
	}
	c.mu.Unlock()
}

type waitResult int

const (
	waitElapsed waitResult = iota
	waitCanceled
	waitClosed
)

// wait pauses a ringing call for d (forever when d < 0).
func (c *call) wait(d time.Duration) waitResult {
	var timeout <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return waitElapsed
	case <-c.canceled:
		return waitCanceled
	case <-c.s.ctx.Done():
		return waitClosed
	}
}

func (c *call) response(code int, reason string, body []byte) *sip.Response {
	res := sip.NewResponseFromRequest(c.invite, code, reason, body)
	// sipgo gives every response a fresh random To tag; a dialog needs the
	// same one on all of them.
	if to := res.To(); to != nil {
		to.Params.Remove("tag")
		to.Params.Add("tag", c.tag)
	}
	if code >= 180 && code < 300 {
		res.AppendHeader(c.s.contact())
	}
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	return res
}

// reject sends a final non-2xx response. The transaction layer retransmits it
// and absorbs the ACK after the handler returns.
func (c *call) reject(code int, reason string, headers ...sip.Header) {
	c.rejectCause(code, reason, "rejected", headers...)
}

func (c *call) rejectCause(code int, reason, cause string, headers ...sip.Header) {
	res := c.response(code, reason, nil)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	if err := c.tx.Respond(res); err != nil {
		c.s.log.Debug("sending final response failed", "call_id", c.id, "code", code, "err", err)
	}
	c.end(code, cause)
}

func (c *call) notAcceptable(why string) {
	c.reject(488, "Not Acceptable Here", sip.NewHeader("Warning", `399 sandbox "`+sanitizeWarning(why)+`"`))
}

func sanitizeWarning(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if ch < 0x20 || ch == '"' || ch == '\\' || ch > 0x7e {
			b[i] = ' '
		}
	}
	return string(b)
}

func (c *call) run() {
	s := c.s
	log := s.log.With("call_id", c.id, "number", c.user)
	if !c.tx.OnCancel(func(*sip.Request) { c.cancelOnce.Do(func() { close(c.canceled) }) }) {
		c.end(487, "canceled")
		return
	}
	if c.invite.Contact() == nil {
		c.reject(400, "Missing Contact")
		return
	}
	num, ok := Lookup(c.user)
	if !ok {
		log.Debug("unknown number")
		c.reject(404, "Not Found")
		return
	}
	c.mu.Lock()
	c.name = num.Name
	c.mu.Unlock()
	sc := num.script
	if sc.final != 0 {
		c.reject(sc.final, sc.reason)
		return
	}
	body := c.invite.Body()
	if len(body) == 0 {
		c.notAcceptable("an SDP offer in the INVITE is required")
		return
	}
	o, err := parseOffer(body)
	if err != nil {
		log.Debug("offer not acceptable", "err", err)
		c.notAcceptable(err.Error())
		return
	}
	conn, err := listenRTP(s.addr.Addr(), s.cfg.RTPPortMin, s.cfg.RTPPortMax, &s.rtpNext)
	if err != nil {
		log.Error("no RTP port", "err", err)
		c.reject(503, "Service Unavailable")
		return
	}
	st := newStream(conn, o, sc.echo)
	defer st.close()
	c.mu.Lock()
	c.stream, c.offer = st, o
	c.sdp = answerSDP(st.localAddr(), c.sessID, c.version, o)
	c.mu.Unlock()
	log.Debug("call set up", "script", num.Name, "codec", o.enc.String())

	stop := func(r waitResult) bool {
		switch r {
		case waitCanceled:
			c.end(487, "canceled")
			return true
		case waitClosed:
			c.rejectCause(480, "Temporarily Unavailable", "closed")
			return true
		}
		return false
	}
	if sc.ringForever || sc.ring > 0 {
		if err := c.tx.Respond(c.response(180, "Ringing", nil)); err != nil {
			c.end(487, "canceled")
			return
		}
		d := sc.ring
		if sc.ringForever {
			d = -1
		}
		if stop(c.wait(d)) {
			return
		}
	}
	if sc.early > 0 {
		if err := c.tx.Respond(c.response(183, "Session Progress", c.sdp)); err != nil {
			c.end(487, "canceled")
			return
		}
		st.play(ringback(o.enc))
		if stop(c.wait(sc.early)) {
			return
		}
	}
	c.answerAndHold(sc, log)
}

// answerAndHold sends 200 OK and keeps the call up until one side hangs up.
func (c *call) answerAndHold(sc script, log *slog.Logger) {
	s := c.s
	c.mu.Lock()
	ok := c.response(200, "OK", c.sdp)
	c.mu.Unlock()
	if err := c.tx.Respond(ok); err != nil {
		// A CANCEL won the race with the answer.
		c.end(487, "canceled")
		return
	}
	c.mu.Lock()
	c.status, c.answered = 200, time.Now()
	c.mu.Unlock()
	c.stream.play(tone(c.stream.enc))

	// 2xx retransmission until ACK is the UAS core's job (RFC 3261 13.3.1.4):
	// T1, doubling up to T2, giving up after 64*T1.
	retrans := time.NewTimer(sip.T1)
	defer retrans.Stop()
	interval := sip.T1
	ackDeadline := time.Now().Add(64 * sip.T1)
	acked, retransC := c.acked, retrans.C

	var hangup, dtmf <-chan time.Time
	if sc.hangup > 0 {
		t := time.NewTimer(sc.hangup)
		defer t.Stop()
		hangup = t.C
	}
	if sc.dtmfAfter > 0 {
		t := time.NewTimer(sc.dtmfAfter)
		defer t.Stop()
		dtmf = t.C
	}
	for {
		select {
		case <-acked:
			acked, retransC = nil, nil
		case <-retransC:
			if time.Now().After(ackDeadline) {
				log.Info("no ACK for 200 OK, hanging up")
				c.sendBye()
				c.end(200, "sandbox_bye")
				return
			}
			if err := c.tx.Respond(ok); err != nil {
				_ = s.srv.WriteResponse(ok)
			}
			interval = min(2*interval, sip.T2)
			retrans.Reset(interval)
		case <-dtmf:
			c.stream.sendDigits(sc.dtmf)
		case <-c.bye:
			c.end(200, "caller_bye")
			return
		case <-hangup:
			c.sendBye()
			c.end(200, "sandbox_bye")
			return
		case <-s.ctx.Done():
			c.sendBye()
			c.end(200, "closed")
			return
		}
	}
}

// byeTimeout bounds how long ending a call waits for the caller's 200: long
// enough for a retransmission or two, short enough for Close to stay quick.
const byeTimeout = 2 * time.Second

func (c *call) sendBye() {
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	c.mu.Lock()
	c.cseq++
	cseq := c.cseq
	c.mu.Unlock()

	target := c.invite.Contact().Address.Clone()
	req := sip.NewRequest(sip.BYE, *target)
	from := c.invite.To().AsFrom()
	from.Params.Add("tag", c.tag)
	to := c.invite.From().AsTo()
	req.AppendHeader(&from)
	req.AppendHeader(&to)
	req.AppendHeader(sip.HeaderClone(c.invite.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.BYE})
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	// A UAS uses the Record-Route set in the order received (RFC 3261
	// 12.1.1); with loose routing the request goes to the first hop.
	first := true
	for _, h := range c.invite.GetHeaders("Record-Route") {
		rr, ok := h.(*sip.RecordRouteHeader)
		if !ok {
			continue
		}
		req.AppendHeader(&sip.RouteHeader{Address: *rr.Address.Clone()})
		if first {
			port := rr.Address.Port
			if port == 0 {
				port = 5060
			}
			req.SetDestination(net.JoinHostPort(rr.Address.Host, strconv.Itoa(port)))
			first = false
		}
	}
	req.SetTransport("UDP")

	tx, err := c.s.client.TransactionRequest(ctx, req)
	if err != nil {
		c.s.log.Debug("sending BYE failed", "call_id", c.id, "err", err)
		return
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			if !res.IsSuccess() {
				c.s.log.Debug("BYE rejected", "call_id", c.id, "status", res.StatusCode)
			}
			return
		case <-tx.Done():
			return
		case <-ctx.Done():
			c.s.log.Debug("no answer to BYE", "call_id", c.id)
			return
		}
	}
}

// reInvite answers an in-dialog INVITE (hold, resume, session refresh) with
// our SDP, following the new offer's address and direction.
func (c *call) reInvite(req *sip.Request, tx sip.ServerTransaction) {
	c.mu.Lock()
	st, o := c.stream, c.offer
	c.mu.Unlock()
	if st == nil {
		respond(tx, req, 491, "Request Pending", c.s.log)
		return
	}
	if body := req.Body(); len(body) > 0 {
		no, err := parseOffer(body)
		if err != nil {
			res := sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil)
			res.AppendHeader(sip.NewHeader("Warning", `399 sandbox "`+sanitizeWarning(err.Error())+`"`))
			_ = tx.Respond(res)
			return
		}
		if no.enc != o.enc {
			// Switching codecs mid-call is legal but no trunk we target does
			// it; refuse rather than half-support it.
			res := sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil)
			res.AppendHeader(sip.NewHeader("Warning", `399 sandbox "codec change not supported"`))
			_ = tx.Respond(res)
			return
		}
		o = no
	}
	c.mu.Lock()
	sdp := answerSDP(st.localAddr(), c.sessID, c.version, o)
	if string(sdp) != string(c.sdp) {
		// RFC 3264 section 8: a changed session description gets a new
		// o= version; an unchanged one (session refresh) keeps it.
		c.version++
		sdp = answerSDP(st.localAddr(), c.sessID, c.version, o)
	}
	c.sdp, c.offer = sdp, o
	c.mu.Unlock()
	st.setRemote(o)

	res := sip.NewResponseFromRequest(req, 200, "OK", sdp)
	res.AppendHeader(c.s.contact())
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	if err := tx.Respond(res); err != nil {
		c.s.log.Debug("answering re-INVITE failed", "call_id", c.id, "err", err)
	}
}

// The tone and ringback frames are generated once per encoding; streams
// only read them.
var (
	toneOnce, ringOnce     sync.Once
	toneFrames, ringFrames map[audio.Encoding][][]byte
)

func tone(enc audio.Encoding) [][]byte {
	toneOnce.Do(func() {
		// One second of 440 Hz holds whole periods, so looping it is seamless.
		toneFrames = map[audio.Encoding][][]byte{
			audio.PCMU: audio.Tone([]float64{ToneFrequency}, time.Second, audio.PCMU),
			audio.PCMA: audio.Tone([]float64{ToneFrequency}, time.Second, audio.PCMA),
		}
	})
	return toneFrames[enc]
}

func ringback(enc audio.Encoding) [][]byte {
	ringOnce.Do(func() {
		ringFrames = map[audio.Encoding][][]byte{
			audio.PCMU: audio.Ringback(audio.PCMU),
			audio.PCMA: audio.Ringback(audio.PCMA),
		}
	})
	return ringFrames[enc]
}
