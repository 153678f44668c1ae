package media

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/testpeer"
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

// loadDuration bounds each BenchmarkRelayConcurrent run.
const loadDuration = 3 * time.Second

// BenchmarkRelayConcurrent runs N bridged calls at 50 packets/s each way
// for loadDuration and reports one-way latency (send time embedded in the
// payload) and loss. The "direct" runs send the same traffic straight
// between the fake far ends, so the relay's share is the difference. Each
// sub-benchmark is one bounded run whatever b.N is.
func BenchmarkRelayConcurrent(b *testing.B) {
	for _, n := range []int{100, 1000, 2000} {
		for _, direct := range []bool{false, true} {
			name := fmt.Sprintf("calls=%d/relay", n)
			if direct {
				name = fmt.Sprintf("calls=%d/direct", n)
			}
			b.Run(name, func(b *testing.B) { runLoad(b, n, direct) })
		}
	}
}

type loadPeer struct {
	conn    *net.UDPConn
	target  netip.AddrPort
	seq     uint16
	samples []int64 // one-way latencies received, ns
}

func runLoad(b *testing.B, calls int, direct bool) {
	peerIP := testpeer.LoopbackIP(b)
	// Several small pools: one range of 8000 free ports is hard to find
	// once other tests have taken theirs.
	const callsPerPool = 250
	var pools []*Pool
	if !direct {
		for i := 0; i < calls; i += callsPerPool {
			pools = append(pools, newTestPool(b, 2*min(callsPerPool, calls-i), nil))
		}
	}
	peers := make([]*loadPeer, 2*calls)
	for i := range peers {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(peerIP, 0)))
		if err != nil {
			b.Fatalf("peer %d: %v", i, err)
		}
		peers[i] = &loadPeer{conn: c, samples: make([]int64, 0, 64*int(loadDuration/time.Second))}
	}
	defer func() {
		for _, p := range peers {
			p.conn.Close()
		}
	}()
	var relays []*Relay
	for i := 0; i < len(peers); i += 2 {
		pa, pb := peers[i], peers[i+1]
		aAddr := pa.conn.LocalAddr().(*net.UDPAddr).AddrPort()
		bAddr := pb.conn.LocalAddr().(*net.UDPAddr).AddrPort()
		if direct {
			pa.target, pb.target = bAddr, aAddr
			continue
		}
		var legs [2]*Session
		for j, addr := range []netip.AddrPort{aAddr, bAddr} {
			s, err := pools[i/2/callsPerPool].NewSession()
			if err != nil {
				b.Fatalf("session %d: %v", i+j, err)
			}
			defer s.Close()
			if _, err := s.Offer(); err != nil {
				b.Fatal(err)
			}
			if err := s.SetAnswer(sdpFor(addr, pcmuTE)); err != nil {
				b.Fatal(err)
			}
			legs[j] = s
		}
		pa.target, pb.target = legs[0].LocalAddr(), legs[1].LocalAddr()
		r := Join(legs[0], legs[1])
		defer r.Stop()
		relays = append(relays, r)
	}

	var recv sync.WaitGroup
	for _, p := range peers {
		recv.Add(1)
		go func() {
			defer recv.Done()
			buf := make([]byte, 2048)
			for {
				n, _, err := p.conn.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				if n >= 20 {
					p.samples = append(p.samples, monoNow()-int64(binary.BigEndian.Uint64(buf[12:])))
				}
			}
		}()
	}

	// A few senders; each far end sends in its own 1 ms slot of the 20 ms
	// period, so that the load is spread like independent calls, not one
	// burst per period.
	const senders, slots = 4, 20
	var sent atomic.Uint64
	stop := make(chan struct{})
	var send sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for k := range senders {
		send.Add(1)
		go func() {
			defer send.Done()
			pkt, _ := audioPacket(0, uint32(k+1), 0, 0, frame(0)).Marshal()
			for tick := 0; ; tick++ {
				time.Sleep(time.Until(start.Add(time.Duration(tick) * time.Millisecond)))
				select {
				case <-stop:
					return
				default:
				}
				for i := k*slots + tick%slots; i < len(peers); i += senders * slots {
					p := peers[i]
					binary.BigEndian.PutUint16(pkt[2:], p.seq)
					binary.BigEndian.PutUint32(pkt[4:], uint32(p.seq)*160)
					p.seq++
					binary.BigEndian.PutUint64(pkt[12:], uint64(monoNow()))
					if _, err := p.conn.WriteToUDPAddrPort(pkt, p.target); err == nil {
						sent.Add(1)
					}
				}
			}
		}()
	}
	time.Sleep(loadDuration)
	close(stop)
	send.Wait()
	elapsed := time.Since(start)
	time.Sleep(300 * time.Millisecond) // let the last packets land
	b.StopTimer()
	for _, p := range peers {
		p.conn.Close()
	}
	recv.Wait()

	var all []int64
	for _, p := range peers {
		all = append(all, p.samples...)
	}
	slices.Sort(all)
	pct := func(q float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(q*float64(len(all))))]) / 1e3
	}
	loss := 1 - float64(len(all))/float64(max(sent.Load(), 1))
	var drops uint64
	for _, r := range relays {
		drops += r.Stats().Dropped
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(pct(0.999), "p99.9-µs")
	b.ReportMetric(100*loss, "loss-%")
	b.ReportMetric(float64(sent.Load())/elapsed.Seconds(), "pkts/s")
	if !direct {
		b.ReportMetric(float64(drops), "relay-drops")
	}
}
