package media

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/testpeer"
	"github.com/pion/rtp"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestPool makes a pool on the test's own loopback address with pairs
// port pairs. mod may change the config before NewPool.
func newTestPool(t testing.TB, pairs int, mod func(*Config)) *Pool {
	t.Helper()
	ip := testpeer.LoopbackIP(t)
	lo, hi := testpeer.FreePortRange(t, ip, 2*pairs)
	cfg := Config{IP: ip.String(), PortMin: lo, PortMax: hi}
	if mod != nil {
		mod(&cfg)
	}
	p, err := NewPool(cfg, quietLogger())
	if err != nil {
		t.Fatalf("NewPool: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// noHold lets subtests reuse one port pair at once.
func noHold(c *Config) { c.PortHold = time.Nanosecond }

func newTestSession(t testing.TB, p *Pool) *Session {
	t.Helper()
	s, err := p.NewSession()
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// peer is a far end in the test: an RTP socket on an even port and RTCP on
// the next one.
type peer struct {
	rtp, rtcp *net.UDPConn
	addr      netip.AddrPort
}

func newPeer(t testing.TB, ip netip.Addr) *peer {
	t.Helper()
	port := testpeer.FreePortPair(t, ip)
	p := &peer{addr: netip.AddrPortFrom(ip, uint16(port))}
	var err error
	if p.rtp, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(p.addr)); err != nil {
		t.Fatalf("peer rtp: %v", err)
	}
	if p.rtcp, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port+1)))); err != nil {
		t.Fatalf("peer rtcp: %v", err)
	}
	t.Cleanup(func() { p.rtp.Close(); p.rtcp.Close() })
	return p
}

// sdp is the peer's SDP with formats such as "0 PCMU/8000" and extra lines
// such as "a=sendonly".
func (p *peer) sdp(formats []string, extra ...string) []byte {
	return sdpFor(p.addr, formats, extra...)
}

func sdpFor(ap netip.AddrPort, formats []string, extra ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=peer 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n", ap.Addr(), ap.Addr())
	pts := make([]string, len(formats))
	for i, f := range formats {
		pts[i], _, _ = strings.Cut(f, " ")
	}
	fmt.Fprintf(&b, "m=audio %d RTP/AVP %s\r\n", ap.Port(), strings.Join(pts, " "))
	for _, f := range formats {
		fmt.Fprintf(&b, "a=rtpmap:%s\r\n", f)
	}
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	return []byte(b.String())
}

var (
	pcmuTE = []string{"0 PCMU/8000", "101 telephone-event/8000"}
	pcmaTE = []string{"8 PCMA/8000", "101 telephone-event/8000"}
)

func (p *peer) send(t testing.TB, to netip.AddrPort, pkt *rtp.Packet) {
	t.Helper()
	b, err := pkt.Marshal()
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if _, err := p.rtp.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatalf("peer send: %v", err)
	}
}

// recv returns the next RTP packet, or false after timeout.
func (p *peer) recv(t testing.TB, timeout time.Duration) (*rtp.Packet, netip.AddrPort, bool) {
	t.Helper()
	buf := make([]byte, 2048)
	_ = p.rtp.SetReadDeadline(time.Now().Add(timeout))
	n, from, err := p.rtp.ReadFromUDPAddrPort(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, from, false
	}
	if err != nil {
		t.Fatalf("peer recv: %v", err)
	}
	var pkt rtp.Packet
	if err := pkt.Unmarshal(buf[:n]); err != nil {
		t.Fatalf("peer got bad RTP: %v", err)
	}
	return &pkt, from, true
}

// drain reads packets until none arrives for quiet, returning them.
func (p *peer) drain(t testing.TB, quiet time.Duration) []*rtp.Packet {
	t.Helper()
	var out []*rtp.Packet
	for {
		pkt, _, ok := p.recv(t, quiet)
		if !ok {
			return out
		}
		out = append(out, pkt)
	}
}

func audioPacket(pt uint8, ssrc uint32, seq uint16, ts uint32, payload []byte) *rtp.Packet {
	return &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc},
		Payload: payload,
	}
}

func frame(fill byte) []byte {
	b := make([]byte, 160)
	for i := range b {
		b[i] = fill + byte(i)
	}
	return b
}

// call is two answered legs joined, each with its fake far end.
type call struct {
	pool   *Pool
	a, b   *Session
	pa, pb *peer
	r      *Relay
}

type callOpts struct {
	aFormats, bFormats []string
	mod                func(*Config)
	noJoin             bool
	window             time.Duration // latching window, if not the default
}

func newCall(t testing.TB, o callOpts) *call {
	t.Helper()
	if o.aFormats == nil {
		o.aFormats = pcmuTE
	}
	if o.bFormats == nil {
		o.bFormats = pcmuTE
	}
	c := &call{pool: newTestPool(t, 4, o.mod)}
	if o.window != 0 {
		c.pool.latchWindow = o.window // before any session starts reading
	}
	c.a, c.b = newTestSession(t, c.pool), newTestSession(t, c.pool)
	c.pa, c.pb = newPeer(t, testpeer.LoopbackIP(t)), newPeer(t, testpeer.LoopbackIP(t))
	if _, err := c.a.Offer(); err != nil {
		t.Fatal(err)
	}
	if err := c.a.SetAnswer(c.pa.sdp(o.aFormats)); err != nil {
		t.Fatalf("a.SetAnswer: %v", err)
	}
	if _, err := c.b.Offer(); err != nil {
		t.Fatal(err)
	}
	if err := c.b.SetAnswer(c.pb.sdp(o.bFormats)); err != nil {
		t.Fatalf("b.SetAnswer: %v", err)
	}
	if !o.noJoin {
		c.join(t)
	}
	return c
}

func (c *call) join(t testing.TB) {
	t.Helper()
	c.r = Join(c.a, c.b)
	t.Cleanup(c.r.Stop)
}

// mediaGoroutines counts goroutines running this package's code.
func mediaGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "callbackd/media.(") && !strings.Contains(g, "_test.go") {
			n++
		}
	}
	return n
}

// waitFor polls cond for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cond()
}

// checkContinuous checks that pkts are one stream: one SSRC, consecutive
// sequence numbers, timestamps never going back and advancing at least one
// frame per packet; the marker set exactly at the indexes in marks.
func checkContinuous(t *testing.T, pkts []*rtp.Packet, marks map[int]bool) {
	t.Helper()
	for i := 1; i < len(pkts); i++ {
		p, q := pkts[i-1], pkts[i]
		if q.SSRC != p.SSRC {
			t.Errorf("packet %d: SSRC %x after %x", i, q.SSRC, p.SSRC)
		}
		if q.SequenceNumber != p.SequenceNumber+1 {
			t.Errorf("packet %d: seq %d after %d", i, q.SequenceNumber, p.SequenceNumber)
		}
		if d := q.Timestamp - p.Timestamp; int32(d) < 160 {
			t.Errorf("packet %d: timestamp advanced %d", i, int32(d))
		}
	}
	for i, p := range pkts {
		if p.Marker != marks[i] {
			t.Errorf("packet %d: marker %v, want %v", i, p.Marker, marks[i])
		}
	}
}
