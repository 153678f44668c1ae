package media

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/callbackd/callbackd/media/audio"
)

// rtpReader is the state of a session's RTP reader goroutine.
type rtpReader struct {
	s         *Session
	buf       []byte
	window    int64 // latching window, ns
	l         latch
	lastDigit uint64 // SSRC and timestamp of the last digit delivered
	digitSeen bool
}

func (s *Session) readRTP() {
	defer s.readers.Done()
	defer close(s.rtpDone)
	r := &rtpReader{s: s, buf: make([]byte, maxPacket+1), window: int64(s.pool.latchWindow)}
	for {
		n, from, err := s.rtp.ReadFromUDPAddrPort(r.buf)
		if err != nil {
			if s.readError(s.rtp, err) {
				continue
			}
			return
		}
		r.handle(r.buf[:n], from)
	}
}

// readError decides what a reader does after a failed read: a deadline is
// either Close (stop) or quiesce (acknowledge and go on reading).
func (s *Session) readError(c *net.UDPConn, err error) bool {
	if s.closing.Load() || errors.Is(err, net.ErrClosed) {
		return false
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// Clear the deadline before draining: a request queued after the
		// drain sets its deadline after this, so no wake-up is lost.
		_ = c.SetReadDeadline(time.Time{})
		for {
			select {
			case ack := <-s.kick:
				close(ack)
			default:
				return true
			}
		}
	}
	time.Sleep(time.Millisecond) // unexpected error: do not spin on it
	return true
}

// handle is the per-packet path: check, latch, count, detect digits and
// relay. It must not allocate, lock or log.
func (r *rtpReader) handle(pkt []byte, from netip.AddrPort) {
	s := r.s
	if len(pkt) > maxPacket {
		s.stats.malformed.Add(1)
		return
	}
	h, ok := parseRTP(pkt)
	if !ok {
		s.stats.malformed.Add(1)
		return
	}
	d := s.dst.Load()
	if d == nil { // no SDP yet: there is no source to accept
		s.stats.stray.Add(1)
		return
	}
	now := monoNow()
	if d.rs != r.l.rs {
		r.l.reset(d, r.window)
	}
	accepted, moved := r.l.check(from, h.ssrc, h.seq, now)
	if !accepted {
		s.stats.stray.Add(1)
		return
	}
	if moved {
		s.latched(d, from)
	}
	s.stats.rtpIn.Add(1)
	k := d.rs.rx[h.pt]
	switch k {
	case kindNone:
		s.stats.dropped.Add(1)
		return
	case kindDTMF:
		r.digit(pkt[h.off:h.end], h)
	}
	if to := s.sink.Load(); to != nil {
		s.forward(to, pkt, h, k, now)
	}
}

// latched points the leg's media at the source the latch moved to, unless a
// new SDP replaced the state meanwhile (the next packet resets the latch).
func (s *Session) latched(d *dest, from netip.AddrPort) {
	if s.dst.CompareAndSwap(d, &dest{rs: d.rs, rtp: from, announced: d.announced}) {
		s.log.Debug("rtp source latched", "announced", d.announced.String(), "source", from.String())
	}
}

// digit delivers the digit of an RFC 4733 end-of-event packet. The end
// packet is sent three times with the same timestamp; only the first counts.
func (r *rtpReader) digit(payload []byte, h rtpHeader) {
	if len(payload) < audio.DTMFPayloadLen { // ParseDTMF's error would allocate
		return
	}
	ev, err := audio.ParseDTMF(payload)
	if err != nil || !ev.End {
		return
	}
	key := uint64(h.ssrc)<<32 | uint64(h.ts)
	if r.digitSeen && key == r.lastDigit {
		return
	}
	r.digitSeen, r.lastDigit = true, key
	if d, ok := audio.EventDigit(ev.Event); ok {
		select {
		case r.s.digits <- d:
		default: // nobody reads digits now; drop rather than block the relay
		}
	}
}

func (s *Session) readRTCP() {
	defer s.readers.Done()
	buf := make([]byte, maxPacket+1)
	var last netip.AddrPort
	for {
		n, from, err := s.rtcp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.readError(s.rtcp, err) {
				continue
			}
			return
		}
		s.handleRTCP(buf[:n], from, &last)
	}
}

// handleRTCP passes RTCP through to the other leg's RTCP socket. It is
// accepted only from the address RTP is latched to (or the announced RTCP
// address), and its source port is remembered for RTCP going back.
func (s *Session) handleRTCP(pkt []byte, from netip.AddrPort, last *netip.AddrPort) {
	if len(pkt) > maxPacket || !validRTCP(pkt) {
		s.stats.malformed.Add(1)
		return
	}
	d := s.dst.Load()
	if d == nil || (from.Addr() != d.rtp.Addr() && from.Addr() != d.rs.rtcp.Addr()) {
		s.stats.stray.Add(1)
		return
	}
	if from != *last {
		*last = from
		p := new(netip.AddrPort)
		*p = from
		s.rtcpDst.Store(p)
	}
	to := s.sink.Load()
	if to == nil {
		return
	}
	od := to.dst.Load()
	if od == nil || !od.rs.recvs {
		s.stats.dropped.Add(1)
		return
	}
	if _, err := to.rtcp.WriteToUDPAddrPort(pkt, to.rtcpTarget(od)); err != nil {
		s.stats.dropped.Add(1)
		return
	}
	s.stats.rtcpFwd.Add(1)
}

// rtcpTarget is where RTCP for this leg goes: where its RTCP comes from if
// that is the latched host, else the announced RTCP address, else RTP + 1.
func (s *Session) rtcpTarget(d *dest) netip.AddrPort {
	if p := s.rtcpDst.Load(); p != nil && p.Addr() == d.rtp.Addr() {
		return *p
	}
	if d.rtp == d.rs.rtp && d.rs.rtcp.IsValid() {
		return d.rs.rtcp
	}
	return netip.AddrPortFrom(d.rtp.Addr(), d.rtp.Port()+1)
}
