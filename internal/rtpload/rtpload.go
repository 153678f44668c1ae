// Package rtpload is a load generator for RTP relays. It plays the far ends
// of N bridged G.711 calls: each call has two ends (leg A and leg B), each a
// UDP socket on one loopback address, and each end sends 172-byte RTP
// packets (12-byte header + 160 bytes of PCMU, 20 ms) to its target at 50
// packets/s. Every packet carries its send time, so the end that receives
// it can compute the one-way latency of the path in between: a relay under
// test, or nothing at all when each end targets the other directly.
//
// It is shared by the media benchmarks so that callbackd's relay and
// reference relays (rtpengine) are measured with the very same load.
package rtpload

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// PacketSize is the size of every RTP packet sent: 12-byte header and
	// 160 bytes of PCMU payload.
	PacketSize = 12 + 160
	// Interval is the packet spacing of each end: 50 packets/s.
	Interval = 20 * time.Millisecond
	// PayloadType is PCMU.
	PayloadType = 0

	// Payload layout (offsets in the packet): send time in ns since this
	// package's epoch, the index of the end that must receive the packet,
	// and a magic number that tells load packets from anything else.
	offSent  = 12
	offDest  = 20
	offMagic = 24
	magic    = 0x524c4431 // "RLD1"
)

// Leg names one end of a call.
type Leg int

const (
	LegA Leg = 0
	LegB Leg = 1
)

// epoch anchors now; time.Since reads the monotonic clock.
var epoch = time.Now()

func now() int64 { return int64(time.Since(epoch)) }

// end is one far end: its socket, where it sends, and what it received.
// Each end has a receiving goroutine of its own, parked in the Go netpoller
// between packets: measured on the reference machine, that cost less CPU
// than epoll loops on locked threads with raw sockets.
type end struct {
	conn   *net.UDPConn
	addr   netip.AddrPort
	target netip.AddrPort
	seq    uint16 // touched only by the sender goroutine that owns the end

	// Written by the end's receiver goroutine only, read after it ended.
	samples   []int64 // one-way latencies, ns
	misrouted uint64  // load packets meant for another end
	other     uint64  // packets that are not load packets (e.g. RTCP)
}

// Load is a set of calls' far ends. Make it with New, point each end at its
// target with SetTarget, then Run it once and Close it.
type Load struct {
	ends []*end
	ran  bool
}

// New binds 2*calls far ends on ip (each on a port the kernel picks). By
// default each end targets the other end of its call directly.
func New(ip netip.Addr, calls int) (*Load, error) {
	if calls < 1 {
		return nil, fmt.Errorf("rtpload: %d calls", calls)
	}
	l := &Load{ends: make([]*end, 2*calls)}
	for i := range l.ends {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("rtpload: bind far end %d of %d on %v: %w", i, len(l.ends), ip, err)
		}
		l.ends[i] = &end{conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort()}
	}
	for i, e := range l.ends {
		e.target = l.ends[i^1].addr
	}
	return l, nil
}

// Calls is the number of calls.
func (l *Load) Calls() int { return len(l.ends) / 2 }

// Addr is the address of a call's far end on leg: what its SDP announces and
// where its packets come from.
func (l *Load) Addr(call int, leg Leg) netip.AddrPort { return l.ends[2*call+int(leg)].addr }

// SetTarget makes the far end on leg send its packets to to: the relay's
// port for that leg. The packets must come out at the call's other end.
func (l *Load) SetTarget(call int, leg Leg, to netip.AddrPort) {
	l.ends[2*call+int(leg)].target = to
}

// Close closes every far end's socket. It is safe to call more than once.
func (l *Load) Close() {
	for _, e := range l.ends {
		if e != nil {
			e.conn.Close()
		}
	}
}

// Options shape a run. Zero values take the defaults.
type Options struct {
	// Duration is how long the ends send. Default 3 s.
	Duration time.Duration
	// Drain is how long receivers keep listening after the last send; a
	// packet that arrives later counts as lost. Default 300 ms.
	Drain time.Duration
	// Senders is the number of sending goroutines. Default 4.
	Senders int
}

// Slots is the number of 1 ms send slots in each 20 ms period: each end
// sends in a slot of its own, so the load is spread over the period like
// independent calls, not one burst per period.
const Slots = int(Interval / time.Millisecond)

// Run sends the packets due during opts.Duration, waits opts.Drain, closes
// the sockets and returns what was measured. A Load runs once.
func (l *Load) Run(opts Options) Result {
	if l.ran {
		panic("rtpload: Run called twice")
	}
	l.ran = true
	if opts.Duration <= 0 {
		opts.Duration = 3 * time.Second
	}
	if opts.Drain <= 0 {
		opts.Drain = 300 * time.Millisecond
	}
	if opts.Senders <= 0 {
		opts.Senders = 4
	}
	perEnd := int(opts.Duration/Interval) + 8
	var recv sync.WaitGroup
	for i, e := range l.ends {
		e.samples = make([]int64, 0, perEnd)
		recv.Add(1)
		go func() {
			defer recv.Done()
			e.receive(uint32(i))
		}()
	}

	// Each sender goes through the ticks due before opts.Duration, however
	// late: a generator starved of CPU sends the overdue packets in a burst
	// rather than skip them, until the hard stop; what it could not send by
	// then is Result.Unsent.
	ticks := int(opts.Duration / time.Millisecond)
	hardStop := opts.Duration + opts.Duration/3
	var sent, lateTicks atomic.Uint64
	var send sync.WaitGroup
	start := time.Now()
	senders := opts.Senders
	for k := range senders {
		send.Add(1)
		go func() {
			defer send.Done()
			pkt := make([]byte, PacketSize)
			pkt[0] = 0x80 // V=2
			pkt[1] = PayloadType
			binary.BigEndian.PutUint32(pkt[8:], uint32(0x10000+k))
			binary.BigEndian.PutUint32(pkt[offMagic:], magic)
			for i := offMagic + 4; i < len(pkt); i++ {
				pkt[i] = 0xff // PCMU silence
			}
			for tick := range ticks {
				due := start.Add(time.Duration(tick) * time.Millisecond)
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				} else if d < -2*time.Millisecond {
					lateTicks.Add(1)
					if -d > hardStop-opts.Duration {
						return
					}
				}
				for i := k*Slots + tick%Slots; i < len(l.ends); i += senders * Slots {
					e := l.ends[i]
					binary.BigEndian.PutUint16(pkt[2:], e.seq)
					binary.BigEndian.PutUint32(pkt[4:], uint32(e.seq)*160)
					e.seq++
					binary.BigEndian.PutUint32(pkt[offDest:], uint32(i^1))
					binary.BigEndian.PutUint64(pkt[offSent:], uint64(now()))
					if _, err := e.conn.WriteToUDPAddrPort(pkt, e.target); err == nil {
						sent.Add(1)
					}
				}
			}
		}()
	}
	send.Wait()
	elapsed := time.Since(start)
	// The packets the schedule holds: per sender and tick, its ends in the
	// tick's slot.
	var scheduled uint64
	for k := range senders {
		for tick := range ticks {
			for i := k*Slots + tick%Slots; i < len(l.ends); i += senders * Slots {
				scheduled++
			}
		}
	}
	time.Sleep(opts.Drain)
	l.Close()
	recv.Wait()

	r := Result{
		Calls:     l.Calls(),
		Sent:      sent.Load(),
		Elapsed:   elapsed,
		LateTicks: lateTicks.Load(),
		Ticks:     uint64(senders) * uint64(ticks),
		Scheduled: scheduled,
	}

	n := 0
	for _, e := range l.ends {
		n += len(e.samples)
	}
	r.Latency = make([]int64, 0, n)
	for _, e := range l.ends {
		r.Latency = append(r.Latency, e.samples...)
		r.Misrouted += e.misrouted
		r.Other += e.other
		e.samples = nil
	}
	slices.Sort(r.Latency)
	return r
}

// receive reads until the socket is closed, recording the latency of each
// load packet meant for this end (index self). The receive time is taken
// as soon as the read returns.
func (e *end) receive(self uint32) {
	buf := make([]byte, 2048)
	for {
		n, _, err := e.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		t := now()
		if n != PacketSize || buf[0]>>6 != 2 || binary.BigEndian.Uint32(buf[offMagic:]) != magic {
			e.other++
			continue
		}
		if binary.BigEndian.Uint32(buf[offDest:]) != self {
			e.misrouted++
			continue
		}
		e.samples = append(e.samples, t-int64(binary.BigEndian.Uint64(buf[offSent:])))
	}
}

// Result is what one run measured.
type Result struct {
	Calls int
	// Scheduled counts the packets the schedule holds (2 × Calls × 50
	// per second of Duration), Sent those written without error; received
	// packets are those in Latency.
	Scheduled, Sent uint64
	// Latency holds the one-way latency of every packet that reached the
	// right end, in ns, sorted.
	Latency []int64
	// Misrouted counts load packets that reached the wrong end, Other any
	// other packet the ends received (a relay's RTCP, for instance).
	Misrouted, Other uint64
	// Elapsed is the sending time: Duration, or more when the generator
	// fell behind its schedule.
	Elapsed time.Duration
	// LateTicks counts 1 ms send ticks that started more than 2 ms late, of
	// Ticks: a generator starved of CPU sends in bursts.
	LateTicks, Ticks uint64
	// GeneratorCPU is the CPU time (user+system) the generator process
	// used during the run, sending and drain; set by Remote.Run only.
	GeneratorCPU time.Duration
}

// Received is the number of packets that reached the right end in time.
func (r Result) Received() uint64 { return uint64(len(r.Latency)) }

// Loss is the fraction of sent packets that did not reach the right end
// before the drain ended.
func (r Result) Loss() float64 {
	if r.Sent == 0 {
		return 0
	}
	return 1 - float64(r.Received())/float64(r.Sent)
}

// Unsent is the fraction of the scheduled packets that the generator did
// not send: it fell behind by more than a third of Duration (starved of
// CPU), or the send failed.
func (r Result) Unsent() float64 {
	if r.Scheduled == 0 {
		return 0
	}
	return 1 - float64(r.Sent)/float64(r.Scheduled)
}

// Missing is the fraction of the scheduled packets that did not reach the
// right end in time, unsent and lost together: the share of the offered
// load that was not carried.
func (r Result) Missing() float64 {
	if r.Scheduled == 0 {
		return 0
	}
	return 1 - float64(r.Received())/float64(r.Scheduled)
}

// Late is the fraction of the scheduled packets that arrived, but more
// than d after they were sent: for a voice stream, a packet later than the
// far end's jitter buffer allows is as good as lost.
func (r Result) Late(d time.Duration) float64 {
	if r.Scheduled == 0 {
		return 0
	}
	i, _ := slices.BinarySearch(r.Latency, int64(d)+1)
	return float64(len(r.Latency)-i) / float64(r.Scheduled)
}

// Quantile returns the q-quantile (0 <= q <= 1) of the one-way latency.
func (r Result) Quantile(q float64) time.Duration {
	if len(r.Latency) == 0 {
		return 0
	}
	i := min(len(r.Latency)-1, int(q*float64(len(r.Latency))))
	return time.Duration(r.Latency[max(i, 0)])
}

// Rate is the packets sent per second, all ends together. The offered rate
// is Calls × 2 × 50.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Sent) / r.Elapsed.Seconds()
}

// OfferedRate is the rate the schedule asks for: 50 packets/s per end.
func (r Result) OfferedRate() float64 {
	return float64(2*r.Calls) * float64(time.Second/Interval)
}
