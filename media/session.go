package media

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Session is the media of one call leg: its RTP and RTCP sockets, the SDP
// exchanged with the far end, and the stream we send to it.
type Session struct {
	pool      *Pool
	log       *slog.Logger
	port      int
	rtp, rtcp *net.UDPConn
	local     netip.AddrPort

	mu        sync.Mutex // SDP state below
	offered   []format   // payload types of our last offer
	oursFirst bool       // the last offer came from OfferCodec: prefer offered[0]
	codec     Codec
	sdpID     uint64
	sdpVer    uint64
	lastSDP   []byte

	dst     atomic.Pointer[dest]           // where this leg's media goes; nil before any SDP
	sink    atomic.Pointer[Session]        // leg this one's packets are relayed to
	relay   atomic.Pointer[Relay]          // relay this leg is in
	rtcpDst atomic.Pointer[netip.AddrPort] // where the far end's RTCP comes from
	out     outStream

	digits   chan rune
	kick     chan chan struct{} // quiesce requests for the RTP reader
	closing  atomic.Bool
	closed   chan struct{}
	rtpDone  chan struct{}
	readers  sync.WaitGroup
	once     sync.Once
	closeErr error

	stats counters
}

// counters are written by the session's readers only.
type counters struct {
	rtpIn     atomic.Uint64 // RTP accepted from the far end
	rtpFwd    atomic.Uint64 // RTP relayed to the other leg
	rtcpFwd   atomic.Uint64
	dropped   atomic.Uint64 // other drops: unknown payload type, other leg on hold...
	stray     atomic.Uint64 // from a source that is not the latched one
	malformed atomic.Uint64 // not RTP/RTCP, or oversized
}

func newSession(p *Pool, port int, rtp, rtcp *net.UDPConn) *Session {
	s := &Session{
		pool:    p,
		port:    port,
		rtp:     rtp,
		rtcp:    rtcp,
		local:   netip.AddrPortFrom(p.set.ip, uint16(port)),
		sdpID:   rand.Uint64() >> 2,
		digits:  make(chan rune, 16),
		kick:    make(chan chan struct{}, 4),
		closed:  make(chan struct{}),
		rtpDone: make(chan struct{}),
	}
	s.log = p.log.With("rtp", s.local.String())
	s.sdpVer = s.sdpID
	s.out.init()
	return s
}

func (s *Session) start() {
	s.readers.Add(2)
	go s.readRTP()
	go s.readRTCP()
}

// Codec is the codec negotiated with the far end; zero before any answer.
func (s *Session) Codec() Codec {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.codec
}

// LocalAddr is the bound RTP address (RTCP is on the next port).
func (s *Session) LocalAddr() netip.AddrPort { return s.local }

func (s *Session) isClosed() bool { return s.closing.Load() }

// Close stops the session's relay, readers and playback, closes its sockets
// and returns its ports to the pool, held for PortHold.
func (s *Session) Close() error {
	s.once.Do(func() {
		// closing first: a Join racing with Close either sees it or is
		// seen by the relay.Load below.
		s.closing.Store(true)
		if r := s.relay.Load(); r != nil {
			r.end(ErrClosed)
		}
		close(s.closed)
		// Readers stop on a read deadline, so no read races the close.
		past := time.Unix(1, 0)
		_ = s.rtp.SetReadDeadline(past)
		_ = s.rtcp.SetReadDeadline(past)
		s.readers.Wait()
		s.closeErr = errors.Join(s.rtp.Close(), s.rtcp.Close())
		s.pool.release(s)
	})
	return s.closeErr
}

// quiesce returns once the RTP reader has finished the packet it was
// handling, so that state it touched may change hands. It wakes the reader
// with a read deadline rather than a per-packet flag.
func (s *Session) quiesce() {
	ack := make(chan struct{})
	select {
	case s.kick <- ack:
	case <-s.rtpDone:
		return
	}
	_ = s.rtp.SetReadDeadline(time.Unix(1, 0))
	select {
	case <-ack:
	case <-s.rtpDone:
	}
}
