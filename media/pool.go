package media

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// latchWindow is how long after an answer or re-INVITE a leg may move its
// RTP source once (NAT). Tests shorten it on their pool.
const latchWindow = 5 * time.Second

// Pool hands out RTP/RTCP port pairs from the configured range. A pair freed
// by Session.Close is held for PortHold before reuse, so late packets of an
// old call cannot reach the next one.
type Pool struct {
	set         settings
	log         *slog.Logger
	latchWindow time.Duration

	mu     sync.Mutex
	ring   []slot // FIFO of free pairs, oldest release first
	head   int
	n      int
	live   map[*Session]struct{}
	closed bool
}

type slot struct {
	port    int       // RTP port; RTCP is port+1
	readyAt time.Time // held until then
}

// NewPool checks cfg and prepares the port range. No port is bound until a
// session asks for one.
func NewPool(cfg Config, logger *slog.Logger) (*Pool, error) {
	set, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	pairs := (set.portMax - set.portMin + 1) / 2
	p := &Pool{
		set:         set,
		log:         logger.With("component", "media"),
		latchWindow: latchWindow,
		ring:        make([]slot, pairs),
		n:           pairs,
		live:        make(map[*Session]struct{}),
	}
	for i := range p.ring {
		p.ring[i].port = set.portMin + 2*i
	}
	return p, nil
}

// Free reports how many port pairs a new session could take right now.
func (p *Pool) Free() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	free := 0
	for i := range p.n {
		if p.ring[(p.head+i)%len(p.ring)].readyAt.After(now) {
			break // FIFO: everything behind is held longer
		}
		free++
	}
	return free
}

// Close closes every session still open and refuses new ones.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	live := make([]*Session, 0, len(p.live))
	for s := range p.live {
		live = append(live, s)
	}
	p.mu.Unlock()
	for _, s := range live {
		_ = s.Close()
	}
}

// NewSession binds the next free pair (RTP even, RTCP +1) on the configured
// IP. A pair another program holds is skipped and held like a freed one.
func (p *Pool) NewSession() (*Session, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("media: new session: pool %w", ErrClosed)
	}
	now := time.Now()
	var lastErr error
	for tries := p.n; tries > 0; tries-- {
		sl := p.ring[p.head]
		if sl.readyAt.After(now) {
			break
		}
		p.pop()
		rtp, rtcp, err := bindPair(p.set.ip, sl.port)
		if err != nil {
			lastErr = err
			p.push(slot{port: sl.port, readyAt: now.Add(p.set.portHold)})
			continue
		}
		s := newSession(p, sl.port, rtp, rtcp)
		p.live[s] = struct{}{}
		p.mu.Unlock()
		s.start()
		return s, nil
	}
	p.mu.Unlock()
	if lastErr != nil {
		p.log.Warn("media ports in use by another program", "err", lastErr)
		return nil, fmt.Errorf("%w (last bind error: %v)", ErrPoolExhausted, lastErr)
	}
	return nil, ErrPoolExhausted
}

// release returns a session's pair to the pool, held for PortHold.
func (p *Pool) release(s *Session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.live, s)
	p.push(slot{port: s.port, readyAt: time.Now().Add(p.set.portHold)})
}

func (p *Pool) pop() {
	p.head = (p.head + 1) % len(p.ring)
	p.n--
}

func (p *Pool) push(sl slot) {
	p.ring[(p.head+p.n)%len(p.ring)] = sl
	p.n++
}

func bindPair(ip netip.Addr, port int) (rtp, rtcp *net.UDPConn, err error) {
	rtp, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
	if err != nil {
		return nil, nil, fmt.Errorf("media: bind RTP %v:%d: %w", ip, port, err)
	}
	rtcp, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port+1))))
	if err != nil {
		rtp.Close()
		return nil, nil, fmt.Errorf("media: bind RTCP %v:%d: %w", ip, port+1, err)
	}
	return rtp, rtcp, nil
}
