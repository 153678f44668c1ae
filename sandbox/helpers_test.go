package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"

	"github.com/callbackd/callbackd/internal/testpeer"
)

// TestMain fails the package when goroutines of the sandbox or of sipgo
// outlive the tests: every test closes its sandbox and clients, so anything
// left is a leak in Close.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := checkNoLeaks(10 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func leakedGoroutines() []string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var leaked []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "checkNoLeaks") || strings.Contains(g, "leakedGoroutines") {
			continue
		}
		if strings.Contains(g, "github.com/emiago/sipgo") || strings.Contains(g, "github.com/callbackd/callbackd/sandbox.") {
			leaked = append(leaked, g)
		}
	}
	return leaked
}

func checkNoLeaks(wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		leaked := leakedGoroutines()
		if len(leaked) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d goroutines leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testLogger sends the sandbox's logs to the test output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startSandbox runs a sandbox on its own loopback IP with a private RTP range.
func startSandbox(t testing.TB) *Sandbox {
	t.Helper()
	ip := testpeer.LoopbackIP(t)
	port := testpeer.FreeUDPPort(t, ip)
	lo, hi := testpeer.FreePortRange(t, ip, 20)
	s, err := New(Config{
		Enabled:    true,
		Listen:     netip.AddrPortFrom(ip, uint16(port)).String(),
		RTPPortMin: lo,
		RTPPortMax: hi,
	}, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// waitCall polls Stats until the call with callID satisfies cond.
func waitCall(t testing.TB, s *Sandbox, callID string, what string, cond func(CallStats) bool) CallStats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, ok := s.Call(callID)
		if ok && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("call %s: timed out waiting for %s; last stats %+v (found %v)", callID, what, st, ok)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// onlyCall waits for exactly one call in the sandbox and returns its Call-ID.
func onlyCall(t testing.TB, s *Sandbox) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.Stats()
		if len(st) == 1 {
			return st[0].CallID
		}
		if len(st) > 1 || time.Now().After(deadline) {
			t.Fatalf("want exactly one call, have %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// uac is a minimal sipgo caller with a listening socket, so it can receive
// the sandbox's BYE.
type uac struct {
	t       testing.TB
	ip      netip.Addr
	port    int
	client  *sipgo.Client
	dc      *sipgo.DialogClientCache
	contact sip.ContactHeader

	mu   sync.Mutex
	byes []string // Call-IDs of BYEs received
}

func newUAC(t testing.TB) *uac {
	t.Helper()
	ip := testpeer.LoopbackIP(t)
	port := testpeer.FreeUDPPort(t, ip)
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname(ip.String()))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.ServeUDP(conn)
	}()
	addr := netip.AddrPortFrom(ip, uint16(port)).String()
	if err := waitListening(ua.TransportLayer(), addr, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	client, err := sipgo.NewClient(ua,
		sipgo.WithClientHostname(ip.String()),
		sipgo.WithClientPort(port),
		sipgo.WithClientConnectionAddr(addr),
	)
	if err != nil {
		t.Fatal(err)
	}
	u := &uac{t: t, ip: ip, port: port, client: client}
	u.contact = sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "uac", Host: ip.String(), Port: port}}
	u.dc = sipgo.NewDialogClientCache(client, u.contact)
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		u.mu.Lock()
		u.byes = append(u.byes, req.CallID().Value())
		u.mu.Unlock()
		if err := u.dc.ReadBye(req, tx); err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		}
	})
	t.Cleanup(func() {
		ua.Close()
		conn.Close()
		<-served
	})
	return u
}

func (u *uac) gotBye(callID string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, id := range u.byes {
		if id == callID {
			return true
		}
	}
	return false
}

// call sends an INVITE to number and waits for the final answer. It returns
// the session (nil on a non-2xx final), every status code seen, and the
// error from WaitAnswer.
func (u *uac) call(ctx context.Context, s *Sandbox, number string, offer []byte, onResponse func(*sip.Response)) (*sipgo.DialogClientSession, []int, error) {
	u.t.Helper()
	target := sip.Uri{Scheme: "sip", User: number, Host: s.Addr().Addr().String(), Port: int(s.Addr().Port())}
	var hdrs []sip.Header
	if offer != nil {
		hdrs = append(hdrs, sip.NewHeader("Content-Type", "application/sdp"))
	}
	sess, err := u.dc.Invite(ctx, target, offer, hdrs...)
	if err != nil {
		return nil, nil, fmt.Errorf("invite: %w", err)
	}
	var mu sync.Mutex
	var codes []int
	err = sess.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
		mu.Lock()
		codes = append(codes, r.StatusCode)
		mu.Unlock()
		if onResponse != nil {
			onResponse(r)
		}
		return nil
	}})
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		sess.Close()
		return nil, codes, err
	}
	if err := sess.Ack(ctx); err != nil {
		return nil, codes, fmt.Errorf("ack: %w", err)
	}
	u.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = sess.Bye(ctx)
		sess.Close()
	})
	return sess, codes, nil
}

func finalCode(err error) int {
	var de *sipgo.ErrDialogResponse
	if errors.As(err, &de) {
		return de.Res.StatusCode
	}
	return 0
}

// offerSDP is a caller's offer; fmts are the m= formats, e.g. "0 8 101".
func offerSDP(addr netip.AddrPort, fmts string, extra ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=uac 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n", addr.Addr(), addr.Addr())
	fmt.Fprintf(&b, "m=audio %d RTP/AVP %s\r\n", addr.Port(), fmts)
	for _, f := range strings.Fields(fmts) {
		switch f {
		case "0":
			b.WriteString("a=rtpmap:0 PCMU/8000\r\n")
		case "8":
			b.WriteString("a=rtpmap:8 PCMA/8000\r\n")
		case "18":
			b.WriteString("a=rtpmap:18 G729/8000\r\n")
		case "101", "96":
			fmt.Fprintf(&b, "a=rtpmap:%s telephone-event/8000\r\na=fmtp:%s 0-16\r\n", f, f)
		}
	}
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	return []byte(b.String())
}

// sdpMedia returns the audio address and the m= formats of an SDP body.
func sdpMedia(t testing.TB, body []byte) (netip.AddrPort, []string, map[string]bool) {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		t.Fatalf("answer SDP: %v\n%s", err, body)
	}
	if len(sd.MediaDescriptions) != 1 {
		t.Fatalf("answer has %d media sections", len(sd.MediaDescriptions))
	}
	md := sd.MediaDescriptions[0]
	ip := netip.MustParseAddr(sd.ConnectionInformation.Address.Address)
	attrs := map[string]bool{}
	for _, a := range md.Attributes {
		attrs[a.Key] = true
	}
	return netip.AddrPortFrom(ip, uint16(md.MediaName.Port.Value)), md.MediaName.Formats, attrs
}

// rtpPeer is the caller's RTP socket: it records every packet it receives.
type rtpPeer struct {
	conn *net.UDPConn
	mu   sync.Mutex
	pkts []rxPacket
	done chan struct{}
	seq  uint16
}

type rxPacket struct {
	at      time.Time
	src     netip.AddrPort
	hdr     rtp.Header
	payload []byte
}

func newRTPPeer(t testing.TB, ip netip.Addr) *rtpPeer {
	t.Helper()
	port := testpeer.FreePortPair(t, ip)
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
	if err != nil {
		t.Fatal(err)
	}
	p := &rtpPeer{conn: conn, done: make(chan struct{})}
	go p.read()
	t.Cleanup(func() {
		conn.Close()
		<-p.done
	})
	return p
}

func (p *rtpPeer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *rtpPeer) read() {
	defer close(p.done)
	buf := make([]byte, 1500)
	for {
		n, src, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(append([]byte(nil), buf[:n]...)) != nil {
			continue
		}
		p.mu.Lock()
		p.pkts = append(p.pkts, rxPacket{time.Now(), src, pkt.Header, pkt.Payload})
		p.mu.Unlock()
	}
}

func (p *rtpPeer) packets() []rxPacket {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]rxPacket(nil), p.pkts...)
}

// waitPackets waits until at least n packets arrived.
func (p *rtpPeer) waitPackets(t testing.TB, n int) []rxPacket {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pk := p.packets()
		if len(pk) >= n {
			return pk
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d RTP packets, want %d", len(pk), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// send sends n packets of payload with payload type pt to dst, 20 ms apart
// only when paced is set.
func (p *rtpPeer) send(t testing.TB, dst netip.AddrPort, pt uint8, payload []byte, n int, paced bool) {
	t.Helper()
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SSRC: 0x1234, SequenceNumber: 1, Timestamp: 1000}, Payload: payload}
	for i := range n {
		pkt.SequenceNumber++
		pkt.Timestamp += 160
		b, err := pkt.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.conn.WriteToUDPAddrPort(b, dst); err != nil {
			t.Fatalf("send RTP %d: %v", i, err)
		}
		if paced {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// sendWithTS sends one packet with the given timestamp.
func (p *rtpPeer) sendWithTS(t testing.TB, dst netip.AddrPort, pt uint8, payload []byte, ts uint32) {
	t.Helper()
	p.seq++
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SSRC: 0x5678, SequenceNumber: p.seq, Timestamp: ts}, Payload: payload}
	b, err := pkt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.conn.WriteToUDPAddrPort(b, dst); err != nil {
		t.Fatal(err)
	}
}
