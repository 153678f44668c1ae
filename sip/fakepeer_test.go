package sip

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// fakePeer is a scripted SIP endpoint on a raw UDP socket: it records every
// message and answers requests through handle (nil response: no answer).
type fakePeer struct {
	t      testing.TB
	conn   *net.UDPConn
	addr   netip.AddrPort
	msgs   chan received
	mu     sync.Mutex
	handle func(req *sip.Request) *sip.Response
	done   chan struct{}
}

type received struct {
	msg  sip.Message
	from netip.AddrPort
	raw  string
}

func newFakePeer(t testing.TB, ip netip.Addr, handle func(req *sip.Request) *sip.Response) *fakePeer {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePeer{t: t, conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort(), msgs: make(chan received, 256), handle: handle, done: make(chan struct{})}
	go p.loop()
	t.Cleanup(func() {
		c.Close()
		<-p.done
	})
	return p
}

func (p *fakePeer) setHandler(h func(req *sip.Request) *sip.Response) {
	p.mu.Lock()
	p.handle = h
	p.mu.Unlock()
}

func (p *fakePeer) loop() {
	defer close(p.done)
	buf := make([]byte, 65535)
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		raw := string(buf[:n])
		msg, err := sip.ParseMessage(buf[:n])
		if err != nil {
			continue
		}
		msg.SetSource(from.String())
		select {
		case p.msgs <- received{msg: msg, from: from, raw: raw}:
		default:
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			continue
		}
		p.mu.Lock()
		h := p.handle
		p.mu.Unlock()
		if h == nil {
			continue
		}
		if res := h(req); res != nil {
			p.send(res.String(), from)
		}
	}
}

func (p *fakePeer) send(raw string, to netip.AddrPort) {
	if _, err := p.conn.WriteToUDPAddrPort([]byte(raw), to); err != nil {
		p.t.Errorf("fake peer send: %v", err)
	}
}

// next returns the next message matching f within d, or fails.
func (p *fakePeer) next(d time.Duration, what string, f func(r received) bool) received {
	p.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case r := <-p.msgs:
			if f(r) {
				return r
			}
		case <-timer.C:
			p.t.Fatalf("fake peer: no %s within %v", what, d)
			return received{}
		}
	}
}

// none fails if a message matching f arrives within d.
func (p *fakePeer) none(d time.Duration, what string, f func(r received) bool) {
	p.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case r := <-p.msgs:
			if f(r) {
				p.t.Fatalf("fake peer: unexpected %s:\n%s", what, r.raw)
			}
		case <-timer.C:
			return
		}
	}
}

func isRequest(m sip.RequestMethod) func(received) bool {
	return func(r received) bool {
		req, ok := r.msg.(*sip.Request)
		return ok && req.Method == m
	}
}

func isResponse(code int) func(received) bool {
	return func(r received) bool {
		res, ok := r.msg.(*sip.Response)
		return ok && res.StatusCode == code
	}
}

// answerAll is a UAS that answers INVITE 200 (with SDP), BYE/OPTIONS 200, ACK nothing.
func answerAll(req *sip.Request) *sip.Response {
	switch req.Method {
	case sip.ACK:
		return nil
	case sip.INVITE:
		res := sip.NewResponseFromRequest(req, 200, "OK", []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"))
		ct := sip.ContentTypeHeader("application/sdp")
		res.AppendHeader(&ct)
		return res
	}
	return sip.NewResponseFromRequest(req, 200, "OK", nil)
}

// respondWith answers every request except ACK with code.
func respondWith(code int, reason string) func(req *sip.Request) *sip.Response {
	return func(req *sip.Request) *sip.Response {
		if req.Method == sip.ACK {
			return nil
		}
		return sip.NewResponseFromRequest(req, code, reason, nil)
	}
}

// rawRequest builds a request text as a far end would send it to target.
func rawRequest(method, target string, from netip.AddrPort, extra ...string) string {
	lines := []string{
		method + " sip:callbackd@" + target + " SIP/2.0",
		"Via: SIP/2.0/UDP " + from.String() + ";branch=z9hG4bK" + sip.GenerateTagN(10),
		"From: <sip:trunk@" + from.Addr().String() + ">;tag=" + sip.GenerateTagN(8),
		"To: <sip:callbackd@" + target + ">",
		"Call-ID: " + sip.GenerateTagN(16),
		"CSeq: 1 " + method,
		"Max-Forwards: 70",
	}
	lines = append(lines, extra...)
	lines = append(lines, "Content-Length: 0", "", "")
	return strings.Join(lines, "\r\n")
}

func sipResponse(code int) *sip.Response { return sip.NewResponse(code, "") }

func sipHeader(name, value string) sip.Header { return sip.NewHeader(name, value) }
