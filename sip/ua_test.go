package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// fakeTrunk is a UA on one loopback IP whose only trunk is a fakePeer on another.
type fakeTrunk struct {
	ua    *UA
	peer  *fakePeer
	uaIP  netip.Addr
	trunk TrunkConfig
}

func setupFake(t *testing.T, cfg Config, tc TrunkConfig, handle func(*sip.Request) *sip.Response) *fakeTrunk {
	t.Helper()
	peer := newFakePeer(t, loopbackIP(t), handle)
	if tc.Name == "" {
		tc.Name = "fake"
	}
	if tc.Host == "" {
		tc.Host, tc.Port = peer.addr.Addr().String(), int(peer.addr.Port())
	}
	ip := loopbackIP(t)
	return &fakeTrunk{ua: newTestUA(t, ip, cfg, tc), peer: peer, uaIP: ip, trunk: tc}
}

func (f *fakeTrunk) request(number string) DialRequest {
	return DialRequest{Trunk: f.trunk.Name, Number: number, SDP: offerSDP(f.uaIP, 40000)}
}

func TestDialRejectsInjection(t *testing.T) {
	t.Parallel()
	f := setupFake(t, Config{}, TrunkConfig{}, answerAll)
	tests := []DialRequest{
		{Number: "1001\r\nX-Injected: 1"},
		{Number: "1001@evil.example"},
		{Number: "1001", CallerID: "1\r\nVia: x"},
		{Number: "1001", CallerID: "anonymous"},
		{Number: "1001", CallerName: "Eve\"\r\nX-Injected: 1"},
		{Number: "1001", CallerName: "a\\b"},
	}
	for _, req := range tests {
		req.Trunk = f.trunk.Name
		_, err := f.ua.Dial(dialCtx(t, 2*time.Second), req)
		var de *DialError
		if !errors.Is(err, ErrInvalidInput) || !errors.As(err, &de) {
			t.Errorf("Dial(%q, %q, %q) = %v, want a DialError wrapping ErrInvalidInput", req.Number, req.CallerID, req.CallerName, err)
		}
	}
	f.peer.none(200*time.Millisecond, "message after rejected input", func(received) bool { return true })
	if _, err := f.ua.Dial(dialCtx(t, time.Second), DialRequest{Trunk: "nope", Number: "1"}); !errors.Is(err, ErrUnknownTrunk) {
		t.Errorf("unknown trunk: %v", err)
	}
}

func TestDialOutcomeByCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code    int
		outcome Outcome
	}{
		{404, OutcomeUnreachable}, {484, OutcomeUnreachable}, {503, OutcomeUnreachable},
		{408, OutcomeNoAnswer}, {480, OutcomeNoAnswer},
		{403, OutcomeRejected}, {603, OutcomeRejected},
		{600, OutcomeBusy},
		{302, OutcomeFailed}, {488, OutcomeFailed}, {500, OutcomeFailed},
	}
	f := setupFake(t, Config{}, TrunkConfig{}, nil)
	for _, tt := range tests {
		f.peer.setHandler(respondWith(tt.code, "Test"))
		_, err := f.ua.Dial(dialCtx(t, 5*time.Second), f.request("1001"))
		var de *DialError
		if !errors.As(err, &de) || de.Outcome != tt.outcome || de.Code != tt.code || de.Reason != "Test" {
			t.Errorf("code %d: %v, want %s", tt.code, err, tt.outcome)
		}
	}
}

func TestDialUnresolvableTrunk(t *testing.T) {
	t.Parallel()
	u := newTestUA(t, loopbackIP(t), Config{}, TrunkConfig{Name: "dns", Host: "no-such-host.invalid"})
	_, err := u.Dial(dialCtx(t, 10*time.Second), DialRequest{Number: "1001", SDP: []byte("v=0\r\n")})
	var de *DialError
	if !errors.As(err, &de) || de.Outcome != OutcomeUnreachable {
		t.Fatalf("Dial: %v, want unreachable", err)
	}
}

func TestInviteHeaders(t *testing.T) {
	t.Parallel()
	f := setupFake(t, Config{ExternalHost: "203.0.113.7", ExternalPort: 5999, UserAgent: "cb-test"},
		TrunkConfig{FromDomain: "trunk.example", FromUser: "company", PAssertedIdentity: true, SessionExpires: 1800 * time.Second},
		respondWith(486, "Busy Here"))
	req := f.request("+49301234#")
	req.CallerID = "+15550001"
	req.CallerName = "Zoë Sales"
	_, err := f.ua.Dial(dialCtx(t, 5*time.Second), req)
	var de *DialError
	if !errors.As(err, &de) || de.Outcome != OutcomeBusy {
		t.Fatalf("Dial: %v, want busy", err)
	}
	r := f.peer.next(time.Second, "INVITE", isRequest(sip.INVITE))
	inv := r.msg.(*sip.Request)
	if r.from != f.ua.LocalAddr() {
		t.Errorf("INVITE sent from %v, want the listening socket %v", r.from, f.ua.LocalAddr())
	}
	checks := map[string]string{
		"request uri":     inv.Recipient.String(),
		"via":             inv.Via().Value(),
		"from":            inv.From().Value(),
		"to":              inv.To().Value(),
		"contact":         inv.Contact().Value(),
		"pai":             headerValue(inv, "P-Asserted-Identity"),
		"content-type":    headerValue(inv, "Content-Type"),
		"session-expires": headerValue(inv, "Session-Expires"),
		"supported":       headerValue(inv, "Supported"),
		"user-agent":      headerValue(inv, "User-Agent"),
	}
	want := map[string]string{
		"request uri":     "sip:+49301234%23@" + f.peer.addr.String(),
		"via":             "SIP/2.0/UDP 203.0.113.7:5999;branch=",
		"from":            `"Zoë Sales" <sip:+15550001@trunk.example>;tag=`,
		"to":              "<sip:+49301234%23@trunk.example>",
		"contact":         "<sip:company@203.0.113.7:5999>",
		"pai":             `"Zoë Sales" <sip:+15550001@trunk.example>`,
		"content-type":    "application/sdp",
		"session-expires": "1800",
		"supported":       "timer",
		"user-agent":      "cb-test",
	}
	for k, w := range want {
		if !strings.HasPrefix(checks[k], w) {
			t.Errorf("%s = %q, want prefix %q", k, checks[k], w)
		}
	}
	if !inv.Via().Params.Has("rport") {
		t.Errorf("Via %q lacks rport behind NAT", inv.Via().Value())
	}
}

func headerValue(m sip.Message, name string) string {
	if h := firstHeader(m, name); h != nil {
		return h.Value()
	}
	return ""
}

func TestOutboundProxy(t *testing.T) {
	t.Parallel()
	proxy := newFakePeer(t, loopbackIP(t), respondWith(503, "Service Unavailable"))
	u := newTestUA(t, loopbackIP(t), Config{}, TrunkConfig{Name: "p", Host: "trunk.example", Port: 5080, OutboundProxy: proxy.addr.String()})
	_, err := u.Dial(dialCtx(t, 5*time.Second), DialRequest{Number: "1001", SDP: offerSDP(u.LocalAddr().Addr(), 4000)})
	var de *DialError
	if !errors.As(err, &de) || de.Outcome != OutcomeUnreachable || de.Code != 503 {
		t.Fatalf("Dial: %v, want unreachable 503", err)
	}
	inv := proxy.next(time.Second, "INVITE at the proxy", isRequest(sip.INVITE)).msg.(*sip.Request)
	if got := inv.Recipient.String(); got != "sip:1001@trunk.example:5080" {
		t.Errorf("Request-URI %q", got)
	}
	if got := headerValue(inv, "Route"); got != "<sip:"+proxy.addr.String()+";lr>" {
		t.Errorf("Route %q", got)
	}
}

// inDialog builds a request the far end sends inside the dialog of inv, whose
// 2xx carried toTag.
func inDialog(inv *sip.Request, toTag string, from netip.AddrPort, method string, cseq int, body string, extra ...string) string {
	lines := []string{
		fmt.Sprintf("%s %s SIP/2.0", method, inv.Contact().Address.String()),
		"Via: SIP/2.0/UDP " + from.String() + ";branch=z9hG4bK" + sip.GenerateTagN(10),
		fmt.Sprintf("From: <sip:callee@%s>;tag=%s", from.Addr(), toTag),
		"To: " + inv.From().Value(),
		"Call-ID: " + inv.CallID().Value(),
		fmt.Sprintf("CSeq: %d %s", cseq, method),
		"Contact: <sip:callee@" + from.String() + ">",
		"Max-Forwards: 70",
	}
	lines = append(lines, extra...)
	if body != "" {
		lines = append(lines, "Content-Type: application/sdp")
	}
	lines = append(lines, fmt.Sprintf("Content-Length: %d", len(body)), "", body)
	return strings.Join(lines, "\r\n")
}

// answeredFake dials through a fake trunk that answers, returning the leg, the
// INVITE as received and the To tag of the 2xx.
func answeredFake(t *testing.T, f *fakeTrunk, req DialRequest, extra ...sip.Header) (*Leg, *sip.Request, string) {
	t.Helper()
	var mu sync.Mutex
	tag := sip.GenerateTagN(12)
	f.peer.setHandler(func(r *sip.Request) *sip.Response {
		res := answerAll(r)
		if r.Method == sip.INVITE && res != nil {
			res.To().Params.Add("tag", tag)
			res.AppendHeader(sip.NewHeader("Contact", "<sip:callee@"+f.peer.addr.String()+">"))
			mu.Lock()
			for _, h := range extra {
				res.AppendHeader(h)
			}
			mu.Unlock()
		}
		return res
	})
	leg, err := f.ua.Dial(dialCtx(t, 5*time.Second), req)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	inv := f.peer.next(time.Second, "INVITE", isRequest(sip.INVITE)).msg.(*sip.Request)
	f.peer.next(time.Second, "ACK", isRequest(sip.ACK))
	return leg, inv, tag
}

func TestFarEndOffers(t *testing.T) {
	t.Parallel()
	f := setupFake(t, Config{}, TrunkConfig{}, nil)
	var calls atomic.Int32
	req := f.request("1001")
	req.OnOffer = func(offer []byte) ([]byte, error) {
		calls.Add(1)
		if strings.Contains(string(offer), "m=video") {
			return nil, errors.New("no video")
		}
		return []byte("v=0\r\no=- 1 2 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=recvonly\r\n"), nil
	}
	leg, inv, tag := answeredFake(t, f, req)
	hold := "v=0\r\no=- 1 2 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n"
	steps := []struct {
		name   string
		method string
		cseq   int
		body   string
		extra  []string
		code   int
		check  func(res *sip.Response)
	}{
		{name: "hold re-INVITE", method: "INVITE", cseq: 10, body: hold, code: 200, check: func(res *sip.Response) {
			if !strings.Contains(string(res.Body()), "a=recvonly") {
				t.Errorf("hold answer %q", res.Body())
			}
		}},
		{name: "older CSeq", method: "INVITE", cseq: 5, body: hold, code: 500},
		{name: "refused offer", method: "INVITE", cseq: 11, body: hold + "m=video 4002 RTP/AVP 96\r\n", code: 488},
		{name: "UPDATE with session timer", method: "UPDATE", cseq: 12, body: hold, extra: []string{"Session-Expires: 120;refresher=uac", "Supported: timer"}, code: 200, check: func(res *sip.Response) {
			if got := headerValue(res, "Session-Expires"); got != "120;refresher=uac" {
				t.Errorf("Session-Expires in 200 to UPDATE: %q", got)
			}
			if got := headerValue(res, "Require"); got != "timer" {
				t.Errorf("Require %q", got)
			}
		}},
		{name: "offer-less re-INVITE", method: "INVITE", cseq: 13, code: 200, check: func(res *sip.Response) {
			if !strings.Contains(string(res.Body()), "a=recvonly") {
				t.Errorf("offer-less re-INVITE answered with %q, want our current SDP", res.Body())
			}
		}},
		{name: "INFO", method: "INFO", cseq: 14, code: 200},
		{name: "MESSAGE", method: "MESSAGE", cseq: 15, code: 405},
	}
	for _, st := range steps {
		f.peer.send(inDialog(inv, tag, f.peer.addr, st.method, st.cseq, st.body, st.extra...), f.ua.LocalAddr())
		r := f.peer.next(2*time.Second, st.name+" response", func(r received) bool {
			res, ok := r.msg.(*sip.Response)
			return ok && res.StatusCode >= 200 && res.CSeq().SeqNo == uint32(st.cseq)
		})
		res := r.msg.(*sip.Response)
		if res.StatusCode != st.code {
			t.Errorf("%s: %d, want %d", st.name, res.StatusCode, st.code)
			continue
		}
		if st.check != nil {
			st.check(res)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("OnOffer called %d times, want 3", n)
	}
	// The far end hangs up.
	f.peer.send(inDialog(inv, tag, f.peer.addr, "BYE", 20, ""), f.ua.LocalAddr())
	f.peer.next(2*time.Second, "200 to BYE", isResponse(200))
	select {
	case <-leg.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("leg not done after BYE")
	}
	if leg.HangupCause() != CauseRemoteBye {
		t.Errorf("cause %q", leg.HangupCause())
	}
	// A second BYE finds no dialog.
	f.peer.send(inDialog(inv, tag, f.peer.addr, "BYE", 21, ""), f.ua.LocalAddr())
	f.peer.next(2*time.Second, "481 to a BYE after the end", isResponse(481))
}

func TestInboundRequestsRefused(t *testing.T) {
	t.Parallel()
	f := setupFake(t, Config{}, TrunkConfig{}, nil)
	stranger := newFakePeer(t, loopbackIP(t), nil)
	target := f.ua.LocalAddr().String()
	withToTag := func(raw string) string {
		return strings.Replace(raw, "To: <sip:callbackd@"+target+">", "To: <sip:callbackd@"+target+">;tag=nosuchdialog", 1)
	}
	tests := []struct {
		name string
		from *fakePeer
		raw  func(from netip.AddrPort) string
		code int
	}{
		{"OPTIONS from trunk", f.peer, func(a netip.AddrPort) string { return rawRequest("OPTIONS", target, a) }, 200},
		{"OPTIONS from stranger", stranger, func(a netip.AddrPort) string { return rawRequest("OPTIONS", target, a) }, 403},
		{"INVITE from trunk (we take no calls)", f.peer, func(a netip.AddrPort) string { return rawRequest("INVITE", target, a) }, 403},
		{"INVITE from stranger", stranger, func(a netip.AddrPort) string { return rawRequest("INVITE", target, a) }, 403},
		{"BYE for unknown dialog", f.peer, func(a netip.AddrPort) string { return withToTag(rawRequest("BYE", target, a)) }, 481},
		{"BYE from stranger", stranger, func(a netip.AddrPort) string { return withToTag(rawRequest("BYE", target, a)) }, 403},
		{"re-INVITE for unknown dialog", f.peer, func(a netip.AddrPort) string { return withToTag(rawRequest("INVITE", target, a)) }, 481},
		{"UPDATE for unknown dialog", f.peer, func(a netip.AddrPort) string { return withToTag(rawRequest("UPDATE", target, a)) }, 481},
		{"INFO for unknown dialog", f.peer, func(a netip.AddrPort) string { return withToTag(rawRequest("INFO", target, a)) }, 481},
		{"unmatched CANCEL", f.peer, func(a netip.AddrPort) string { return rawRequest("CANCEL", target, a) }, 481},
		{"MESSAGE out of dialog", f.peer, func(a netip.AddrPort) string { return rawRequest("MESSAGE", target, a) }, 405},
	}
	for _, tt := range tests {
		tt.from.send(tt.raw(tt.from.addr), f.ua.LocalAddr())
		r := tt.from.next(2*time.Second, tt.name+" response", func(r received) bool {
			res, ok := r.msg.(*sip.Response)
			return ok && res.StatusCode >= 200
		})
		if got := r.msg.(*sip.Response).StatusCode; got != tt.code {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.code)
		}
	}
}

func TestGarbageOnTheWire(t *testing.T) {
	t.Parallel()
	f := setupFake(t, Config{}, TrunkConfig{}, nil)
	target := f.ua.LocalAddr().String()
	valid := rawRequest("OPTIONS", target, f.peer.addr)
	garbage := []string{
		"\x00\x01\x02\x03garbage",
		"\r\n\r\n",
		"INVITE sip:x SIP/2.0\r\n",
		valid[:len(valid)/2],
		"SIP/2.0 200 OK\r\nVia: nonsense\r\n\r\n",
		"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4:5;branch=z9hG4bKx\r\nContent-Length: 0\r\n\r\n", // no CSeq
		"OPTIONS sip:x SIP/2.0\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",                            // no Via
		strings.Replace(valid, "Content-Length: 0", "Content-Length: 99999", 1),
		strings.Replace(valid, "CSeq: 1 OPTIONS", "CSeq: abc OPTIONS", 1),
		"BYE sip:x SIP/2.0\r\n" + strings.Repeat("X-Long: "+strings.Repeat("a", 1000)+"\r\n", 30) + "\r\n",
		strings.Repeat("\xff", 1400),
	}
	for _, g := range garbage {
		f.peer.send(g, f.ua.LocalAddr())
	}
	// Whatever came back (nothing, or 400s), the UA still serves.
	f.peer.send(rawRequest("OPTIONS", target, f.peer.addr), f.ua.LocalAddr())
	f.peer.next(2*time.Second, "200 to OPTIONS after garbage", isResponse(200))
	f.peer.setHandler(answerAll)
	leg, err := f.ua.Dial(dialCtx(t, 5*time.Second), f.request("1001"))
	if err != nil {
		t.Fatalf("Dial after garbage: %v", err)
	}
	hangupFake(t, leg)
}

func hangupFake(t *testing.T, leg *Leg) {
	t.Helper()
	if err := leg.Hangup(dialCtx(t, 5*time.Second)); err != nil {
		t.Errorf("Hangup: %v", err)
	}
}

func TestStrayAnswerIsEnded(t *testing.T) {
	t.Parallel()
	f := setupFake(t, Config{}, TrunkConfig{}, respondWith(200, "OK"))
	cid := sip.GenerateTagN(20)
	res := strings.Join([]string{
		"SIP/2.0 200 OK",
		"Via: SIP/2.0/UDP " + f.ua.LocalAddr().String() + ";branch=z9hG4bKgone",
		"From: <sip:callbackd@" + f.peer.addr.Addr().String() + ">;tag=ours",
		"To: <sip:1001@" + f.peer.addr.Addr().String() + ">;tag=theirs",
		"Call-ID: " + cid,
		"CSeq: 7 INVITE",
		"Contact: <sip:callee@" + f.peer.addr.String() + ">",
		"Content-Length: 0", "", "",
	}, "\r\n")
	f.peer.send(res, f.ua.LocalAddr())
	ack := f.peer.next(2*time.Second, "ACK for the stray 200", isRequest(sip.ACK)).msg.(*sip.Request)
	bye := f.peer.next(2*time.Second, "BYE for the stray 200", isRequest(sip.BYE)).msg.(*sip.Request)
	if ack.CSeq().SeqNo != 7 || bye.CSeq().SeqNo != 8 || bye.CallID().Value() != cid {
		t.Errorf("ACK CSeq %d, BYE CSeq %d Call-ID %s", ack.CSeq().SeqNo, bye.CSeq().SeqNo, bye.CallID().Value())
	}
	if tag, _ := bye.To().Params.Get("tag"); tag != "theirs" {
		t.Errorf("BYE To tag %q", tag)
	}
	// A retransmitted 200 gets another ACK but no second BYE.
	f.peer.send(res, f.ua.LocalAddr())
	f.peer.next(2*time.Second, "ACK for the retransmission", isRequest(sip.ACK))
	f.peer.none(300*time.Millisecond, "second BYE", isRequest(sip.BYE))
	// A stray 200 from a stranger is ignored.
	stranger := newFakePeer(t, loopbackIP(t), nil)
	stranger.send(strings.Replace(res, cid, cid+"x", 1), f.ua.LocalAddr())
	stranger.none(300*time.Millisecond, "reaction to a stranger's 200", func(received) bool { return true })
}

func TestTrunkMaxCalls(t *testing.T) {
	t.Parallel()
	f := setupFake(t, Config{}, TrunkConfig{MaxCalls: 1}, nil)
	leg1, _, _ := answeredFake(t, f, f.request("1001"))
	second := make(chan error, 1)
	var leg2 *Leg
	go func() {
		var err error
		leg2, err = f.ua.Dial(dialCtx(t, 10*time.Second), f.request("1002"))
		second <- err
	}()
	f.peer.none(300*time.Millisecond, "INVITE while the trunk is full", isRequest(sip.INVITE))
	// A third dial gives up while waiting.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := f.ua.Dial(ctx, f.request("1003"))
	var de *DialError
	if !errors.As(err, &de) || de.Outcome != OutcomeCanceled || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("dial cancelled while waiting for a slot: %v", err)
	}
	hangupFake(t, leg1)
	f.peer.next(2*time.Second, "INVITE once a slot is free", isRequest(sip.INVITE))
	if err := <-second; err != nil {
		t.Fatalf("second Dial: %v", err)
	}
	hangupFake(t, leg2)
}

func TestTrunkCallsPerSecond(t *testing.T) {
	t.Parallel()
	f := setupFake(t, Config{}, TrunkConfig{CallsPerSecond: 5}, respondWith(486, "Busy Here"))
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.ua.Dial(dialCtx(t, 5*time.Second), f.request("1001"))
		}()
	}
	var times []time.Time
	for range 3 {
		f.peer.next(3*time.Second, "INVITE", isRequest(sip.INVITE))
		times = append(times, time.Now())
	}
	wg.Wait()
	if d := times[2].Sub(times[0]); d < 350*time.Millisecond {
		t.Errorf("3 INVITEs within %v at 5 calls/s, want >= 400ms", d)
	}
}

func TestTrunkHealthKeepAlive(t *testing.T) {
	t.Parallel()
	f := setupFake(t, Config{}, TrunkConfig{KeepAlive: 100 * time.Millisecond}, respondWith(404, "Not Here"))
	waitHealth := func(want HealthState) Health {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			h := f.ua.TrunkHealth("fake")
			if h.State == want {
				return h
			}
			if time.Now().After(deadline) {
				t.Fatalf("health %+v, want %s", h, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	up := waitHealth(HealthUp) // any answer, even 404, proves the trunk is there
	if up.LastChange.IsZero() {
		t.Error("LastChange not set")
	}
	f.peer.setHandler(nil)
	down := waitHealth(HealthDown)
	if !down.LastChange.After(up.LastChange) || down.LastError == "" {
		t.Errorf("down health %+v", down)
	}
	f.peer.setHandler(respondWith(200, "OK"))
	waitHealth(HealthUp)
	if h := f.ua.TrunkHealth("nope"); h.State != HealthUnknown {
		t.Errorf("unknown trunk health %+v", h)
	}
}

func TestRegister(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var regs []*sip.Request
	registrar := func(req *sip.Request) *sip.Response {
		if req.Method != sip.REGISTER {
			return nil
		}
		mu.Lock()
		regs = append(regs, req)
		mu.Unlock()
		if firstHeader(req, "Authorization") == nil {
			res := sip.NewResponseFromRequest(req, 401, "Unauthorized", nil)
			res.AppendHeader(sip.NewHeader("WWW-Authenticate", `Digest realm="fake", nonce="abc123", algorithm=MD5`))
			return res
		}
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		res.AppendHeader(sip.NewHeader("Contact", req.Contact().Value()+";expires=1"))
		return res
	}
	f := setupFake(t, Config{}, TrunkConfig{Username: "callback", Password: "secret", Register: true, RegisterExpires: 2 * time.Second}, registrar)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(regs)
		mu.Unlock()
		if n >= 4 && f.ua.TrunkHealth("fake").Registered { // two rounds: register and one refresh
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d REGISTERs, registered=%v", n, f.ua.TrunkHealth("fake").Registered)
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.ua.Close()
	mu.Lock()
	defer mu.Unlock()
	last := regs[len(regs)-1]
	if got := headerValue(last, "Expires"); got != "0" {
		t.Errorf("last REGISTER Expires %q, want 0 (unregister at Close)", got)
	}
	cid := regs[0].CallID().Value()
	prev := uint32(0)
	for i, r := range regs {
		if r.CallID().Value() != cid {
			t.Errorf("REGISTER %d changed Call-ID", i)
		}
		if r.CSeq().SeqNo <= prev {
			t.Errorf("REGISTER %d CSeq %d not above %d", i, r.CSeq().SeqNo, prev)
		}
		prev = r.CSeq().SeqNo
		if got := headerValue(r, "Authorization"); i%2 == 1 && !strings.Contains(got, `username="callback"`) {
			t.Errorf("REGISTER %d Authorization %q", i, got)
		}
	}
	if got := regs[0].Recipient.String(); got != "sip:"+f.peer.addr.String() {
		t.Errorf("REGISTER Request-URI %q", got)
	}
}

func TestStartWaitsForListeners(t *testing.T) {
	t.Parallel()
	// Dial at once after Start: the INVITE must leave from the listening socket
	// (sipgo would otherwise try to bind the same address again and fail).
	for range 5 {
		f := setupFake(t, Config{}, TrunkConfig{}, respondWith(486, "Busy"))
		if _, err := f.ua.Dial(dialCtx(t, 5*time.Second), f.request("1")); err == nil || !strings.Contains(err.Error(), "486") {
			t.Fatalf("Dial right after Start: %v", err)
		}
		if from := f.peer.next(time.Second, "INVITE", isRequest(sip.INVITE)).from; from != f.ua.LocalAddr() {
			t.Fatalf("INVITE from %v, want %v", from, f.ua.LocalAddr())
		}
	}
	// A UA on a port someone else holds fails to start.
	busy, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopbackIP(t), 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	u2, _ := New(Config{Listen: busy.LocalAddr().String()}, nil, nil)
	defer u2.Close()
	if err := u2.Start(context.Background()); err == nil {
		t.Error("Start on a busy port succeeded")
	}
}
