package media

import (
	"encoding/binary"
	"testing"
)

// forwardBench runs the per-packet path (parse, latch, count, map, rewrite,
// transcode, write to the other leg's socket) on one reader without the
// read syscall.
func forwardBench(b *testing.B, bFormats []string) {
	c := newCall(b, callOpts{bFormats: bFormats})
	r := &rtpReader{s: c.a, window: int64(c.pool.latchWindow)}
	tmpl, _ := audioPacket(0, 0x1234, 0, 0, frame(0)).Marshal()
	buf := make([]byte, len(tmpl))
	from := c.pa.addr
	b.ReportAllocs()
	b.SetBytes(int64(len(tmpl)))
	var seq uint16
	for b.Loop() {
		copy(buf, tmpl)
		binary.BigEndian.PutUint16(buf[2:], seq)
		binary.BigEndian.PutUint32(buf[4:], uint32(seq)*160)
		seq++
		r.handle(buf, from)
	}
	b.StopTimer()
	if st := c.r.Stats(); st.AToB == 0 || st.Dropped != 0 {
		b.Fatalf("stats %+v", st)
	}
}

func BenchmarkRelayForward(b *testing.B) {
	b.Run("relay", func(b *testing.B) { forwardBench(b, pcmuTE) })
	// The write syscall alone, for scale: the relay's own work is the
	// difference.
	b.Run("sendto-only", func(b *testing.B) {
		c := newCall(b, callOpts{})
		pkt, _ := audioPacket(0, 0x1234, 0, 0, frame(0)).Marshal()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.b.rtp.WriteToUDPAddrPort(pkt, c.pb.addr); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRelayTranscode(b *testing.B) { forwardBench(b, pcmaTE) }

// BenchmarkRelayRoundTrip sends one packet from a fake far end through the
// relay to the other far end and waits for it: the whole path with
// syscalls and goroutine wake-ups, one packet in flight.
func BenchmarkRelayRoundTrip(b *testing.B) {
	c := newCall(b, callOpts{})
	pkt, _ := audioPacket(0, 0x1234, 0, 0, frame(0)).Marshal()
	rbuf := make([]byte, 2048)
	b.ReportAllocs()
	var seq uint16
	for b.Loop() {
		binary.BigEndian.PutUint16(pkt[2:], seq)
		seq++
		if _, err := c.pa.rtp.WriteToUDPAddrPort(pkt, c.a.LocalAddr()); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.pb.rtp.ReadFromUDPAddrPort(rbuf); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRelayForwardNoAlloc(t *testing.T) {
	// Not parallel: AllocsPerRun counts every goroutine's allocations.
	for _, tc := range []struct {
		name  string
		bFmts []string
	}{{"same codec", pcmuTE}, {"transcode", pcmaTE}} {
		c := newCall(t, callOpts{bFormats: tc.bFmts})
		r := &rtpReader{s: c.a, window: int64(c.pool.latchWindow)}
		tmpl, _ := audioPacket(0, 0x1234, 0, 0, frame(0)).Marshal()
		buf := make([]byte, len(tmpl))
		var seq uint16
		allocs := testing.AllocsPerRun(1000, func() {
			copy(buf, tmpl)
			binary.BigEndian.PutUint16(buf[2:], seq)
			seq++
			r.handle(buf, c.pa.addr)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per packet, want 0", tc.name, allocs)
		}
	}
}

// Concurrent-call loads (our relay beside rtpengine, on the same load) are in
// rtpengine_bench_test.go.
