package media

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/testpeer"
	"github.com/pion/rtp"
)

func TestLatching(t *testing.T) {
	t.Parallel()
	const window = 300 * time.Millisecond
	tests := []struct {
		name string
		run  func(t *testing.T, c *call)
	}{
		{
			// baresip announces 127.0.0.3 and sends from 127.0.0.1 with
			// the same port; here: announced on one IP, sent from another.
			name: "source differs from SDP",
			run: func(t *testing.T, c *call) {
				real := bindSame(t, c.pb.addr.Port())
				for i := range 5 {
					sendRaw(t, real, c.b.LocalAddr(), audioPacket(0, 42, uint16(10+i), uint32(160*i), frame(byte(i))))
				}
				got := c.pa.drain(t, 200*time.Millisecond)
				if len(got) != 3 || !bytes.Equal(got[0].Payload, frame(2)) {
					t.Fatalf("got %d packets, want the 3 from the third on", len(got))
				}
				c.pa.send(t, c.a.LocalAddr(), audioPacket(0, 1, 1, 0, frame(9)))
				if !recvRaw(t, real) {
					t.Error("audio to the leg did not follow the latched source")
				}
			},
		},
		{
			name: "RTP Bleed: stray source after the real one",
			run: func(t *testing.T, c *call) {
				c.pb.send(t, c.b.LocalAddr(), audioPacket(0, 42, 1, 0, frame(0)))
				attacker := bindSame(t, 0)
				for i := range 10 {
					sendRaw(t, attacker, c.b.LocalAddr(), audioPacket(0, 666, uint16(500+i), uint32(160*i), frame(0x66)))
				}
				c.pb.send(t, c.b.LocalAddr(), audioPacket(0, 42, 2, 160, frame(1)))
				got := c.pa.drain(t, 200*time.Millisecond)
				if len(got) != 2 || bytes.Equal(got[1].Payload, frame(0x66)) {
					t.Fatalf("got %d packets; the stray source must be dropped", len(got))
				}
				if st := c.r.Stats(); st.Stray != 10 {
					t.Errorf("stray %d, want 10", st.Stray)
				}
				c.pa.send(t, c.a.LocalAddr(), audioPacket(0, 1, 1, 0, frame(9)))
				if _, _, ok := c.pb.recv(t, time.Second); !ok {
					t.Error("audio to the leg was diverted")
				}
			},
		},
		{
			name: "only one move",
			run: func(t *testing.T, c *call) {
				real := bindSame(t, 0)
				for i := range 3 {
					sendRaw(t, real, c.b.LocalAddr(), audioPacket(0, 42, uint16(10+i), 0, frame(1)))
				}
				attacker := bindSame(t, 0)
				for i := range 6 {
					sendRaw(t, attacker, c.b.LocalAddr(), audioPacket(0, 66, uint16(10+i), 0, frame(0x66)))
				}
				for _, p := range c.pa.drain(t, 200*time.Millisecond) {
					if bytes.Equal(p.Payload, frame(0x66)) {
						t.Fatal("second move happened")
					}
				}
			},
		},
		{
			name: "probation needs consecutive packets",
			run: func(t *testing.T, c *call) {
				other := bindSame(t, 0)
				for i := range 8 {
					sendRaw(t, other, c.b.LocalAddr(), audioPacket(0, 42, uint16(2*i), 0, frame(1)))
				}
				if got := c.pa.drain(t, 200*time.Millisecond); len(got) != 0 {
					t.Fatalf("latched on %d non-consecutive packets", len(got))
				}
			},
		},
		{
			name: "no move after the window",
			run: func(t *testing.T, c *call) {
				time.Sleep(window + 50*time.Millisecond)
				other := bindSame(t, 0)
				for i := range 6 {
					sendRaw(t, other, c.b.LocalAddr(), audioPacket(0, 42, uint16(i), 0, frame(1)))
				}
				if got := c.pa.drain(t, 200*time.Millisecond); len(got) != 0 {
					t.Fatalf("moved after the window: %d packets relayed", len(got))
				}
			},
		},
		{
			name: "re-INVITE opens the window again",
			run: func(t *testing.T, c *call) {
				time.Sleep(window + 50*time.Millisecond)
				if _, err := c.b.AnswerOffer(c.pb.sdp(pcmuTE)); err != nil {
					t.Fatal(err)
				}
				other := bindSame(t, 0)
				for i := range 4 {
					sendRaw(t, other, c.b.LocalAddr(), audioPacket(0, 42, uint16(i), 0, frame(1)))
				}
				if got := c.pa.drain(t, 200*time.Millisecond); len(got) != 2 {
					t.Fatalf("got %d packets, want 2 after probation", len(got))
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newCall(t, callOpts{window: window}))
		})
	}
}

// bindSame binds a UDP socket on a fresh loopback address, on port (0 = any).
func bindSame(t *testing.T, port uint16) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(testpeer.LoopbackIP(t), port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func sendRaw(t *testing.T, c *net.UDPConn, to netip.AddrPort, pkt *rtp.Packet) {
	t.Helper()
	b, _ := pkt.Marshal()
	if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

func recvRaw(t *testing.T, c *net.UDPConn) bool {
	t.Helper()
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	_, _, err := c.ReadFromUDPAddrPort(buf)
	return err == nil
}

func TestLatchCheck(t *testing.T) {
	t.Parallel()
	sdpAddr := netip.MustParseAddrPort("192.0.2.1:4000")
	nat := netip.MustParseAddrPort("198.51.100.9:31000")
	evil := netip.MustParseAddrPort("203.0.113.66:5000")
	const window = int64(time.Second)
	type pkt struct {
		from   netip.AddrPort
		ssrc   uint32
		seq    uint16
		at     int64 // ns after the answer
		ok     bool
		moved  bool
		reason string
	}
	tests := []struct {
		name string
		pkts []pkt
	}{
		{"announced source", []pkt{
			{sdpAddr, 1, 1, 0, true, false, "SDP address"},
			{nat, 2, 1, 1, false, false, "announced source heard: no move"},
			{nat, 2, 2, 2, false, false, ""},
			{nat, 2, 3, 3, false, false, ""},
			{nat, 2, 4, 4, false, false, ""},
		}},
		{"NAT move after probation", []pkt{
			{nat, 7, 10, 0, false, false, "probation 1"},
			{nat, 7, 11, 1, false, false, "probation 2"},
			{nat, 7, 12, 2, true, true, "moved"},
			{nat, 7, 13, 3, true, false, ""},
			{sdpAddr, 7, 14, 4, false, false, "the old address is dropped now"},
			{evil, 9, 1, 5, false, false, ""},
			{evil, 9, 2, 6, false, false, ""},
			{evil, 9, 3, 7, false, false, "no second move"},
		}},
		{"probation restarts on a gap, another SSRC or source", []pkt{
			{nat, 7, 10, 0, false, false, ""},
			{nat, 7, 11, 1, false, false, ""},
			{nat, 7, 13, 2, false, false, "gap"},
			{nat, 8, 14, 3, false, false, "other SSRC"},
			{evil, 8, 15, 4, false, false, "other source"},
			{nat, 8, 16, 5, false, false, ""},
			{nat, 8, 17, 6, false, false, ""},
			{nat, 8, 18, 7, true, true, "third in a row"},
		}},
		{"window closes", []pkt{
			{nat, 7, 10, window + 1, false, false, ""},
			{nat, 7, 11, window + 2, false, false, ""},
			{nat, 7, 12, window + 3, false, false, "too late"},
			{sdpAddr, 7, 13, window + 4, true, false, "announced still fine"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l latch
			l.reset(&dest{rs: &remote{at: 1000}, rtp: sdpAddr}, window)
			for i, p := range tt.pkts {
				ok, moved := l.check(p.from, p.ssrc, p.seq, 1000+p.at)
				if ok != p.ok || moved != p.moved {
					t.Errorf("packet %d (%s): ok=%v moved=%v, want %v %v", i, p.reason, ok, moved, p.ok, p.moved)
				}
			}
		})
	}
}
