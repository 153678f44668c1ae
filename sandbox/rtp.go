package sandbox

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/callbackd/callbackd/media/audio"
)

// stream is one call's RTP endpoint: a UDP socket of its own, a reader that
// counts (and optionally echoes) what arrives, and a paced sender.
type stream struct {
	conn *net.UDPConn
	enc  audio.Encoding
	pt   uint8
	tePT int // -1: no telephone-event negotiated
	echo bool

	remote  atomic.Pointer[netip.AddrPort]
	sending atomic.Bool // false while the far end holds us (sendonly/inactive)
	frames  atomic.Pointer[[][]byte]
	dtmf    chan rune

	recv, sent atomic.Uint64
	digitsMu   sync.Mutex
	digits     []rune

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// listenRTP binds a UDP socket on ip, on an even port of [lo, hi] when a
// range is set (starting at a rotating offset so consecutive calls spread
// out), or on any free port otherwise.
func listenRTP(ip netip.Addr, lo, hi int, next *atomic.Uint32) (*net.UDPConn, error) {
	if lo == 0 && hi == 0 {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
		if err != nil {
			return nil, fmt.Errorf("sandbox: bind RTP on %v: %w", ip, err)
		}
		return c, nil
	}
	first := (lo + 1) &^ 1
	n := (hi-first)/2 + 1
	start := int(next.Add(1)) % n
	for i := range n {
		p := first + 2*((start+i)%n)
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(p))))
		if err == nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("sandbox: no free RTP port in %d-%d on %v", lo, hi, ip)
}

func newStream(conn *net.UDPConn, o offer, echo bool) *stream {
	s := &stream{
		conn: conn,
		enc:  o.enc,
		pt:   o.pt,
		tePT: o.tePT,
		echo: echo,
		dtmf: make(chan rune, 8),
		stop: make(chan struct{}),
	}
	s.setRemote(o)
	s.wg.Add(1)
	go s.readLoop()
	return s
}

func (s *stream) localAddr() netip.AddrPort {
	return s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// setRemote applies an (re-)offer: new destination and direction.
func (s *stream) setRemote(o offer) {
	r := o.remote
	s.remote.Store(&r)
	s.sending.Store(o.dir == sendrecv || o.dir == recvonly)
}

// play starts the paced sender with frames looped until play is called
// again (the switch keeps SSRC, sequence and timestamp continuous, as a real
// phone's early media → answer switch does) or the stream stops.
func (s *stream) play(frames [][]byte) {
	if s.echo || len(frames) == 0 {
		return
	}
	if s.frames.Swap(&frames) == nil {
		s.wg.Add(1)
		go s.sendLoop()
	}
}

func (s *stream) sendDigits(digits string) {
	for _, r := range digits {
		select {
		case s.dtmf <- r:
		default:
		}
	}
}

func (s *stream) close() {
	s.stopOnce.Do(func() {
		close(s.stop)
		// Unblocks the reader at once; Close alone also would, but the
		// deadline makes the intent explicit and is harmless.
		_ = s.conn.SetReadDeadline(time.Now())
		_ = s.conn.Close()
	})
	s.wg.Wait()
}

func (s *stream) receivedDigits() string {
	s.digitsMu.Lock()
	defer s.digitsMu.Unlock()
	return string(s.digits)
}

func (s *stream) readLoop() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	var h rtp.Header
	lastEventTS, haveEvent := uint32(0), false
	for {
		n, src, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || isStopped(s.stop) {
				return
			}
			continue // e.g. ICMP port unreachable surfaced as a read error
		}
		hl, err := h.Unmarshal(buf[:n])
		if err != nil || h.Version != 2 {
			continue
		}
		s.recv.Add(1)
		if int(h.PayloadType) == s.tePT {
			if ev, err := audio.ParseDTMF(buf[hl:n]); err == nil && ev.End {
				// The end packet is sent three times; one digit per event.
				if !haveEvent || h.Timestamp != lastEventTS {
					if r, ok := ev.Digit(); ok {
						s.digitsMu.Lock()
						s.digits = append(s.digits, r)
						s.digitsMu.Unlock()
					}
					lastEventTS, haveEvent = h.Timestamp, true
				}
			}
		}
		if s.echo && s.sending.Load() {
			if _, err := s.conn.WriteToUDPAddrPort(buf[:n], netip.AddrPortFrom(src.Addr().Unmap(), src.Port())); err == nil {
				s.sent.Add(1)
			}
		}
	}
}

func isStopped(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// DTMF timing: 100 ms tone sent as five updates, then the end packet three
// times (RFC 4733 section 2.5.1.4), all with the event's start timestamp.
const (
	dtmfUpdates   = 5
	dtmfEndCopies = 3
	dtmfVolume    = 10
)

func (s *stream) sendLoop() {
	defer s.wg.Done()
	ssrc := rand.Uint32()
	seq := uint16(rand.Uint32())
	ts := rand.Uint32()
	marker := true
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: ssrc}}
	out := make([]byte, 12+audio.FrameSamples)
	var idx int
	var cur *[][]byte

	// DTMF state: the digit being sent and how many packets of it went.
	var ev uint8
	evPackets, evStart := -1, uint32(0)

	send := func(pt uint8, payload []byte) {
		pkt.Marker, pkt.PayloadType, pkt.SequenceNumber, pkt.Payload = marker, pt, seq, payload
		n, err := pkt.MarshalTo(out)
		if err != nil {
			return
		}
		dst := s.remote.Load()
		if dst == nil || dst.Port() == 0 || !s.sending.Load() {
			return // on hold: keep the clock running, send nothing
		}
		if _, err := s.conn.WriteToUDPAddrPort(out[:n], *dst); err == nil {
			s.sent.Add(1)
		}
	}

	tick := time.NewTicker(audio.FrameDuration)
	defer tick.Stop()
	for {
		if evPackets < 0 && s.tePT >= 0 {
			select {
			case r := <-s.dtmf:
				if code, ok := audio.DigitEvent(r); ok {
					ev, evPackets, evStart = code, 0, ts
					marker = true
				}
			default:
			}
		}
		if evPackets >= 0 {
			dur := uint16(min(evPackets+1, dtmfUpdates) * audio.FrameSamples)
			e := audio.DTMFEvent{Event: ev, Volume: dtmfVolume, Duration: dur, End: evPackets >= dtmfUpdates-1}
			var payload [audio.DTMFPayloadLen]byte
			_, _ = e.MarshalTo(payload[:])
			pkt.Timestamp = evStart
			send(uint8(s.tePT), payload[:])
			evPackets++
			if evPackets >= dtmfUpdates-1+dtmfEndCopies {
				evPackets = -1
				marker = true // next audio starts a new talkspurt
			} else {
				marker = false
			}
		} else {
			if f := s.frames.Load(); f != cur {
				marker = marker || cur != nil // a new source starts a talkspurt
				cur, idx = f, 0
			}
			frame := (*cur)[idx%len(*cur)]
			idx++
			pkt.Timestamp = ts
			send(s.pt, frame)
			marker = false
		}
		seq++
		ts += audio.FrameSamples

		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
	}
}
