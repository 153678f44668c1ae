package media

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/testpeer"
	"github.com/callbackd/callbackd/media/audio"
)

func TestRelayBothWays(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		aFmts  []string
		bFmts  []string
		aCodec Codec
		bCodec Codec
	}{
		{name: "PCMU both", aFmts: pcmuTE, bFmts: pcmuTE, aCodec: PCMU, bCodec: PCMU},
		{name: "PCMA both", aFmts: pcmaTE, bFmts: pcmaTE, aCodec: PCMA, bCodec: PCMA},
		{name: "PCMU to PCMA", aFmts: pcmuTE, bFmts: pcmaTE, aCodec: PCMU, bCodec: PCMA},
		{name: "PCMA to PCMU", aFmts: pcmaTE, bFmts: pcmuTE, aCodec: PCMA, bCodec: PCMU},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCall(t, callOpts{aFormats: tt.aFmts, bFormats: tt.bFmts})
			const n = 50
			// want is what the receiving leg must get for a payload in
			// the sending leg's codec.
			want := func(p []byte, from, to Codec) []byte {
				out := bytes.Clone(p)
				switch {
				case from == PCMU && to == PCMA:
					audio.TranscodeMulawToAlaw(out, out)
				case from == PCMA && to == PCMU:
					audio.TranscodeAlawToMulaw(out, out)
				}
				return out
			}
			legs := []struct {
				name             string
				src, dst         *peer
				to, via          *Session
				fromCodec, codec Codec
			}{
				{"a->b", c.pa, c.pb, c.a, c.b, tt.aCodec, tt.bCodec},
				{"b->a", c.pb, c.pa, c.b, c.a, tt.bCodec, tt.aCodec},
			}
			for _, l := range legs {
				var ssrc uint32
				for i := range n {
					payload := frame(byte(i))
					l.src.send(t, l.to.LocalAddr(), audioPacket(l.fromCodec.PT, 0xAB00+uint32(len(l.name)), uint16(40000+i), uint32(i*160), payload))
					got, from, ok := l.dst.recv(t, 2*time.Second)
					if !ok {
						t.Fatalf("%s: packet %d not relayed", l.name, i)
					}
					if from != l.via.LocalAddr() {
						t.Errorf("%s: relayed from %v, want the other leg's socket %v", l.name, from, l.via.LocalAddr())
					}
					if got.PayloadType != l.codec.PT {
						t.Errorf("%s: PT %d, want %d", l.name, got.PayloadType, l.codec.PT)
					}
					if !bytes.Equal(got.Payload, want(payload, l.fromCodec, l.codec)) {
						t.Fatalf("%s: packet %d payload differs", l.name, i)
					}
					if i == 0 {
						ssrc = got.SSRC
					} else if got.SSRC != ssrc {
						t.Errorf("%s: SSRC changed mid-stream", l.name)
					}
				}
			}
			// The counter moves just after the send, so the last packet
			// can arrive before it is counted.
			var st RelayStats
			waitFor(time.Second, func() bool {
				st = c.r.Stats()
				return st.AToB == n && st.BToA == n
			})
			if st.AToB != n || st.BToA != n || st.Dropped != 0 {
				t.Errorf("stats %+v, want %d each way and no drops", st, n)
			}
		})
	}
}

func TestRelayTelephoneEventMapping(t *testing.T) {
	t.Parallel()
	c := newCall(t, callOpts{bFormats: []string{"0 PCMU/8000", "96 telephone-event/8000"}})
	seq := uint16(1)
	sendDigit(t, c.pa, c.a.LocalAddr(), 101, 7, &seq, 8000, 5)
	got := c.pb.drain(t, 300*time.Millisecond)
	if len(got) != 5 {
		t.Fatalf("b got %d telephone-event packets, want 5", len(got))
	}
	for _, p := range got {
		if p.PayloadType != 96 {
			t.Errorf("a->b telephone-event PT %d, want 96", p.PayloadType)
		}
		if ev, err := audio.ParseDTMF(p.Payload); err != nil || ev.Event != 5 {
			t.Errorf("payload %x not event 5", p.Payload)
		}
		if p.Timestamp != got[0].Timestamp {
			t.Error("event packets lost their common timestamp")
		}
	}
	sendDigit(t, c.pb, c.b.LocalAddr(), 96, 9, &seq, 16000, 11)
	for _, p := range c.pa.drain(t, 300*time.Millisecond) {
		if p.PayloadType != 101 {
			t.Errorf("b->a telephone-event PT %d, want 101", p.PayloadType)
		}
	}
	// Each side also sees the digit once, though the end came three times.
	for _, tc := range []struct {
		s    *Session
		want rune
	}{{c.a, '5'}, {c.b, '#'}} {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		d, err := tc.s.WaitDigit(ctx)
		cancel()
		if err != nil || d != tc.want {
			t.Errorf("WaitDigit = %q, %v; want %q", d, err, tc.want)
		}
		ctx, cancel = context.WithTimeout(t.Context(), 100*time.Millisecond)
		if d, err := tc.s.WaitDigit(ctx); err == nil {
			t.Errorf("digit %q delivered twice", d)
		}
		cancel()
	}
}

func TestRelayTelephoneEventToLegWithout(t *testing.T) {
	t.Parallel()
	c := newCall(t, callOpts{bFormats: []string{"0 PCMU/8000"}})
	seq := uint16(1)
	sendDigit(t, c.pa, c.a.LocalAddr(), 101, 7, &seq, 8000, 1)
	if got := c.pb.drain(t, 200*time.Millisecond); len(got) != 0 {
		t.Errorf("leg without telephone-event got %d event packets", len(got))
	}
	if st := c.r.Stats(); st.Dropped != 5 || st.AToB != 0 {
		t.Errorf("stats %+v, want 5 dropped", st)
	}
}

func TestEarlyMediaToAnswerSwitch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		newPlace bool // the 200 comes from another address than the 183
	}{{"same address", false}, {"answer from another address", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCall(t, callOpts{})
			for i := range 10 {
				c.pb.send(t, c.b.LocalAddr(), audioPacket(0, 0xEA41, uint16(100+i), uint32(1000+160*i), frame(1)))
			}
			got := c.pa.drain(t, 150*time.Millisecond)
			src := c.pb
			if tt.newPlace {
				src = newPeer(t, testpeer.LoopbackIP(t))
			}
			// 200 OK: same or new SDP, new SSRC and numbering.
			if err := c.b.SetAnswer(src.sdp(pcmuTE)); err != nil {
				t.Fatal(err)
			}
			for i := range 10 {
				src.send(t, c.b.LocalAddr(), audioPacket(0, 0xA115, uint16(50000+i), uint32(7777777+160*i), frame(2)))
			}
			got = append(got, c.pa.drain(t, 300*time.Millisecond)...)
			if len(got) != 20 {
				t.Fatalf("rep got %d packets, want 20", len(got))
			}
			checkContinuous(t, got, map[int]bool{0: true, 10: true})
			// And the rep's audio now goes to the answering address.
			c.pa.send(t, c.a.LocalAddr(), audioPacket(0, 1, 1, 0, frame(3)))
			if _, _, ok := src.recv(t, time.Second); !ok {
				t.Error("rep audio did not reach the answering address")
			}
		})
	}
}

func TestHold(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		hold      []string // extra SDP lines of the hold offer
		c0        bool     // hold by c=0.0.0.0
		bStillTx  bool     // the held leg still sends (music on hold)
		wantAnswr string
	}{
		{name: "sendonly", hold: []string{"a=sendonly"}, bStillTx: true, wantAnswr: "a=recvonly"},
		{name: "inactive", hold: []string{"a=inactive"}, wantAnswr: "a=inactive"},
		{name: "c=0.0.0.0", c0: true, wantAnswr: "a=sendrecv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCall(t, callOpts{})
			offer := c.pb.sdp(pcmuTE, tt.hold...)
			if tt.c0 {
				offer = sdpFor(netip.AddrPortFrom(netip.IPv4Unspecified(), c.pb.addr.Port()), pcmuTE)
			}
			ans, err := c.b.AnswerOffer(offer)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(ans, []byte(tt.wantAnswr)) {
				t.Errorf("answer lacks %s:\n%s", tt.wantAnswr, ans)
			}
			for i := range 5 {
				c.pa.send(t, c.a.LocalAddr(), audioPacket(0, 1, uint16(i), uint32(160*i), frame(1)))
			}
			if got := c.pb.drain(t, 150*time.Millisecond); len(got) != 0 {
				t.Errorf("held leg got %d packets", len(got))
			}
			if tt.bStillTx {
				c.pb.send(t, c.b.LocalAddr(), audioPacket(0, 2, 1, 0, frame(2)))
				if _, _, ok := c.pa.recv(t, time.Second); !ok {
					t.Error("music on hold from the held leg not relayed")
				}
			}
			// Unhold.
			if _, err := c.b.AnswerOffer(c.pb.sdp(pcmuTE)); err != nil {
				t.Fatal(err)
			}
			c.pa.send(t, c.a.LocalAddr(), audioPacket(0, 1, 10, 1600, frame(3)))
			if p, _, ok := c.pb.recv(t, time.Second); !ok || !bytes.Equal(p.Payload, frame(3)) {
				t.Error("audio did not resume after unhold")
			}
		})
	}
}

func TestMediaTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	short := func(c *Config) { c.MediaTimeout = timeout }
	t.Run("silent call ends", func(t *testing.T) {
		t.Parallel()
		c := newCall(t, callOpts{mod: short})
		start := time.Now()
		select {
		case <-c.r.Done():
		case <-time.After(3 * time.Second):
			t.Fatal("no media timeout")
		}
		if el := time.Since(start); el < timeout {
			t.Errorf("timed out after %v, before %v", el, timeout)
		}
		if !errors.Is(c.r.Err(), ErrMediaTimeout) {
			t.Errorf("Err = %v, want ErrMediaTimeout", c.r.Err())
		}
	})
	t.Run("RTP keeps it alive, RTCP does not", func(t *testing.T) {
		t.Parallel()
		c := newCall(t, callOpts{mod: short})
		rtcp := []byte{0x80, 201, 0, 1, 0, 0, 0, 1} // empty RR
		stop := time.Now().Add(4 * timeout)
		for i := 0; time.Now().Before(stop); i++ {
			c.pa.send(t, c.a.LocalAddr(), audioPacket(0, 1, uint16(i), uint32(160*i), frame(1)))
			_, _ = c.pa.rtcp.WriteToUDPAddrPort(rtcp, netip.AddrPortFrom(c.a.LocalAddr().Addr(), c.a.LocalAddr().Port()+1))
			time.Sleep(timeout / 5)
		}
		if c.r.Err() != nil {
			t.Fatalf("ended while RTP flowed: %v", c.r.Err())
		}
		for time.Now().Before(stop.Add(3 * timeout)) {
			_, _ = c.pa.rtcp.WriteToUDPAddrPort(rtcp, netip.AddrPortFrom(c.a.LocalAddr().Addr(), c.a.LocalAddr().Port()+1))
			time.Sleep(timeout / 5)
		}
		if !errors.Is(c.r.Err(), ErrMediaTimeout) {
			t.Errorf("Err = %v after RTP stopped, want ErrMediaTimeout", c.r.Err())
		}
	})
	t.Run("both legs inactive", func(t *testing.T) {
		t.Parallel()
		c := newCall(t, callOpts{mod: short})
		for _, l := range []struct {
			s *Session
			p *peer
		}{{c.a, c.pa}, {c.b, c.pb}} {
			if _, err := l.s.AnswerOffer(l.p.sdp(pcmuTE, "a=inactive")); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(4 * timeout)
		if err := c.r.Err(); err != nil {
			t.Errorf("ended with %v though no leg is meant to send", err)
		}
	})
	// One far end vanishes while the other keeps talking.
	for _, connected := range []bool{false, true} {
		name := "one silent leg before Connected (early media)"
		if connected {
			name = "one silent leg after Connected"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newCall(t, callOpts{mod: short})
			if connected {
				c.r.Connected()
			}
			stop := time.Now().Add(6 * timeout)
			for i := 0; time.Now().Before(stop) && c.r.Err() == nil; i++ {
				c.pa.send(t, c.a.LocalAddr(), audioPacket(0, 1, uint16(i), uint32(160*i), frame(1)))
				time.Sleep(20 * time.Millisecond)
			}
			err := c.r.Err()
			if connected && !errors.Is(err, ErrMediaTimeout) {
				t.Errorf("Err = %v with leg b silent after Connected, want ErrMediaTimeout", err)
			}
			if !connected && err != nil {
				t.Errorf("Err = %v before Connected while leg a talks, want the relay running", err)
			}
		})
	}
}

func TestMalformedDropped(t *testing.T) {
	t.Parallel()
	c := newCall(t, callOpts{})
	good, _ := audioPacket(0, 5, 1, 0, frame(1)).Marshal()
	v1 := bytes.Clone(good)
	v1[0] = 0x40
	rtcpOnRTP := bytes.Clone(good)
	rtcpOnRTP[1] = 200
	badPad := bytes.Clone(good)
	badPad[0] |= 0x20
	badPad[len(badPad)-1] = 255
	oversized := append(bytes.Clone(good), make([]byte, 1500)...)
	unknownPT, _ := audioPacket(18, 5, 2, 160, frame(1)).Marshal()
	for _, b := range [][]byte{{1, 2, 3}, v1, rtcpOnRTP, badPad, oversized, unknownPT} {
		if _, err := c.pa.rtp.WriteToUDPAddrPort(b, c.a.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	c.pa.send(t, c.a.LocalAddr(), audioPacket(0, 5, 3, 320, frame(7)))
	got := c.pb.drain(t, 200*time.Millisecond)
	if len(got) != 1 || !bytes.Equal(got[0].Payload, frame(7)) {
		t.Fatalf("got %d packets, want only the good one", len(got))
	}
	st := c.r.Stats()
	if st.Malformed != 5 || st.Dropped != 6 || st.AToB != 1 {
		t.Errorf("stats %+v, want 5 malformed, 6 dropped, 1 relayed", st)
	}
}

func TestRTCPPassThrough(t *testing.T) {
	t.Parallel()
	c := newCall(t, callOpts{})
	rr := []byte{0x81, 201, 0, 7, 0, 0, 0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	aRTCP := netip.AddrPortFrom(c.a.LocalAddr().Addr(), c.a.LocalAddr().Port()+1)
	if _, err := c.pa.rtcp.WriteToUDPAddrPort(rr, aRTCP); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	_ = c.pb.rtcp.SetReadDeadline(time.Now().Add(time.Second))
	n, from, err := c.pb.rtcp.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("RTCP not passed: %v", err)
	}
	if !bytes.Equal(buf[:n], rr) || from.Port() != c.b.LocalAddr().Port()+1 {
		t.Errorf("got %x from %v", buf[:n], from)
	}
	// RTCP from a host that is not the leg's is dropped.
	stray := bindSame(t, 0)
	if _, err := stray.WriteToUDPAddrPort(rr, aRTCP); err != nil {
		t.Fatal(err)
	}
	_ = c.pb.rtcp.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	if _, _, err := c.pb.rtcp.ReadFromUDPAddrPort(buf); err == nil {
		t.Error("stray RTCP passed")
	}
	if st := c.r.Stats(); st.RTCPAToB != 1 || st.Stray != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestStopThenPlayAndRejoin(t *testing.T) {
	before := mediaGoroutines()
	c := newCall(t, callOpts{})
	for i := range 5 {
		c.pb.send(t, c.b.LocalAddr(), audioPacket(0, 9, uint16(i), uint32(160*i), frame(1)))
	}
	relayed := c.pa.drain(t, 150*time.Millisecond)
	c.r.Stop()
	c.r.Stop() // idempotent
	select {
	case <-c.r.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if c.r.Err() != nil {
		t.Errorf("Err after Stop = %v", c.r.Err())
	}
	frozen := c.r.Stats()
	// The legs are free for playback again, on the same stream.
	if err := c.a.Play(t.Context(), [][]byte{frame(0x10), frame(0x20)}); err != nil {
		t.Fatalf("Play after Stop: %v", err)
	}
	played := c.pa.drain(t, 150*time.Millisecond)
	if len(played) != 2 {
		t.Fatalf("played %d frames", len(played))
	}
	checkContinuous(t, append(relayed, played...), map[int]bool{0: true, len(relayed): true})
	// Not relayed any more.
	c.pb.send(t, c.b.LocalAddr(), audioPacket(0, 9, 9, 9*160, frame(1)))
	if got := c.pa.drain(t, 100*time.Millisecond); len(got) != 0 {
		t.Errorf("relayed after Stop: %d", len(got))
	}
	if c.r.Stats() != frozen {
		t.Error("stats moved after Stop")
	}
	// Join again.
	r2 := Join(c.a, c.b)
	c.pb.send(t, c.b.LocalAddr(), audioPacket(0, 9, 10, 10*160, frame(1)))
	if _, _, ok := c.pa.recv(t, time.Second); !ok {
		t.Error("rejoined relay does not relay")
	}
	r2.Stop()
	_ = c.a.Close()
	_ = c.b.Close()
	if !waitFor(time.Second, func() bool { return mediaGoroutines() == before }) {
		t.Errorf("media goroutines: %d before, %d after", before, mediaGoroutines())
	}
}

func TestJoinBadArguments(t *testing.T) {
	t.Parallel()
	s := newTestSession(t, newTestPool(t, 1, nil))
	for _, r := range []*Relay{Join(s, s), Join(nil, s)} {
		select {
		case <-r.Done():
		default:
			t.Fatal("bad Join is running")
		}
		if r.Err() == nil {
			t.Error("bad Join has no error")
		}
		r.Stop()
	}
}
