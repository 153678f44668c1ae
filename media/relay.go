package media

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callbackd/callbackd/media/audio"
)

// RelayStats counts packets since Join; after the relay ends they stay as
// they were at its end.
type RelayStats struct {
	AToB, BToA         uint64 // RTP packets relayed
	RTCPAToB, RTCPBToA uint64 // RTCP packets relayed
	Dropped            uint64 // all packets not relayed, Stray and Malformed included
	Stray              uint64 // from a source other than the latched one (RTP Bleed)
	Malformed          uint64 // not RTP/RTCP, or oversized
}

// Relay joins two sessions: each leg's packets go out on the other leg's
// socket, rewritten for the other leg.
type Relay struct {
	a, b      *Session
	timeout   time.Duration
	connected atomic.Bool // both legs answered: the timeout applies per leg

	done    chan struct{}
	stop    chan struct{}
	once    sync.Once
	watcher sync.WaitGroup
	err     error

	mu       sync.Mutex
	base     [2]snapshot
	final    *RelayStats
	attached bool
}

type snapshot struct{ rtpFwd, rtcpFwd, dropped, stray, malformed uint64 }

func (s *Session) snapshot() snapshot {
	c := &s.stats
	return snapshot{c.rtpFwd.Load(), c.rtcpFwd.Load(), c.dropped.Load(), c.stray.Load(), c.malformed.Load()}
}

var errJoinSame = errors.New("media: join needs two different open sessions")

// Join relays a and b both ways until Stop, a media timeout, or either
// session's Close. A session already in a relay leaves it first. Playback
// running on a leg gives way as soon as relayed audio for that leg arrives,
// and the leg's SSRC, sequence numbers and timestamps continue across.
func Join(a, b *Session) *Relay {
	r := &Relay{a: a, b: b, done: make(chan struct{}), stop: make(chan struct{})}
	if a == nil || b == nil || a == b {
		r.finish(errJoinSame)
		return r
	}
	r.timeout = min(a.pool.set.mediaTimeout, b.pool.set.mediaTimeout)
	for _, s := range []*Session{a, b} {
		if old := s.relay.Load(); old != nil {
			old.Stop()
		}
	}
	r.mu.Lock()
	r.base = [2]snapshot{a.snapshot(), b.snapshot()}
	r.attached = true
	r.mu.Unlock()
	a.relay.Store(r)
	b.relay.Store(r)
	a.sink.Store(b)
	b.sink.Store(a)
	r.watcher.Add(1)
	go r.watch()
	if a.isClosed() || b.isClosed() { // closed while joining: Close missed r
		r.finish(ErrClosed)
	}
	return r
}

// Connected tells the relay that both legs have answered. From then on the
// media timeout applies to each sending leg on its own, so a far end that
// vanishes mid-call ends the call even while the other keeps talking.
// Before it (early media), only a call silent both ways times out, so that a
// customer ringing with silent early media is not cut off.
func (r *Relay) Connected() { r.connected.Store(true) }

// Done is closed when the relay has ended.
func (r *Relay) Done() <-chan struct{} { return r.done }

// Err is why the relay ended: nil after Stop, ErrMediaTimeout, or
// ErrClosed when one of its sessions was closed. It is nil while the relay
// runs.
func (r *Relay) Err() error {
	select {
	case <-r.done:
		return r.err
	default:
		return nil
	}
}

// Stop ends the relay and waits until no packet is being relayed. The
// sessions stay open for playback or another Join.
func (r *Relay) Stop() { r.end(nil) }

func (r *Relay) end(err error) {
	r.finish(err)
	r.watcher.Wait()
}

// Stats returns the packet counts since Join.
func (r *Relay) Stats() RelayStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.final != nil {
		return *r.final
	}
	return r.statsLocked()
}

func (r *Relay) statsLocked() RelayStats {
	if !r.attached {
		return RelayStats{}
	}
	a, b := r.a.snapshot(), r.b.snapshot()
	ba, bb := r.base[0], r.base[1]
	st := RelayStats{
		AToB:      a.rtpFwd - ba.rtpFwd,
		BToA:      b.rtpFwd - bb.rtpFwd,
		RTCPAToB:  a.rtcpFwd - ba.rtcpFwd,
		RTCPBToA:  b.rtcpFwd - bb.rtcpFwd,
		Stray:     a.stray - ba.stray + b.stray - bb.stray,
		Malformed: a.malformed - ba.malformed + b.malformed - bb.malformed,
	}
	st.Dropped = a.dropped - ba.dropped + b.dropped - bb.dropped + st.Stray + st.Malformed
	return st
}

// finish ends the relay once: the readers are detached and waited for, then
// the legs' outgoing streams are free for playback again.
func (r *Relay) finish(err error) {
	r.once.Do(func() {
		r.err = err
		r.mu.Lock()
		attached := r.attached
		r.mu.Unlock()
		if attached {
			r.a.sink.CompareAndSwap(r.b, nil)
			r.b.sink.CompareAndSwap(r.a, nil)
			r.a.quiesce()
			r.b.quiesce()
			r.a.out.releaseRelay()
			r.b.out.releaseRelay()
			r.a.relay.CompareAndSwap(r, nil)
			r.b.relay.CompareAndSwap(r, nil)
			r.mu.Lock()
			st := r.statsLocked()
			r.final = &st
			r.mu.Unlock()
			if err != nil {
				r.a.log.Info("relay ended", "err", err, "peer", r.b.local.String(),
					"a_to_b", st.AToB, "b_to_a", st.BToA, "dropped", st.Dropped)
			}
		}
		close(r.stop)
		close(r.done)
	})
}

// watch ends the relay when no RTP arrived for the media timeout: from
// either leg before Connected, from any one sending leg after it. Only RTP
// counts, and legs that announced they will not send (inactive, recvonly)
// are not waited for.
func (r *Relay) watch() {
	defer r.watcher.Done()
	tick := min(max(r.timeout/8, 5*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	legs := [2]*legWatch{{s: r.a}, {s: r.b}}
	now := time.Now()
	for _, l := range legs {
		l.observe(now)
		l.seen = now
	}
	callSeen := now
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			active, owed := false, false
			for _, l := range legs {
				changed, owes := l.observe(now)
				active = active || changed
				owed = owed || owes
			}
			if active || !owed {
				callSeen = now
			}
			timedOut := now.Sub(callSeen) >= r.timeout
			if r.connected.Load() {
				for _, l := range legs {
					timedOut = timedOut || now.Sub(l.seen) >= r.timeout
				}
			}
			if timedOut {
				r.finish(ErrMediaTimeout)
				return
			}
		}
	}
}

// legWatch follows one leg's incoming RTP for the media timeout.
type legWatch struct {
	s    *Session
	n    uint64
	rs   *remote
	seen time.Time // last time the leg sent RTP, changed address or stopped sending
}

// observe notes the leg's state: changed when it sent RTP or its remote
// changed since the last call, owes when it is expected to send (answered,
// not on hold). A leg that owes nothing counts as seen.
func (l *legWatch) observe(now time.Time) (changed, owes bool) {
	n := l.s.stats.rtpIn.Load()
	var rs *remote
	if d := l.s.dst.Load(); d != nil {
		rs = d.rs
	}
	changed = n != l.n || rs != l.rs
	owes = rs != nil && rs.sends
	l.n, l.rs = n, rs
	if changed || !owes {
		l.seen = now
	}
	return changed, owes
}

// forward relays one RTP packet, already accepted from s's far end, to leg
// to: payload type mapped to to's numbering, G.711 law converted in place if
// the legs differ, header rewritten onto to's outgoing stream. Runs on s's
// reader goroutine; must not allocate, lock or log.
func (s *Session) forward(to *Session, pkt []byte, h rtpHeader, k kind, now int64) {
	d := to.dst.Load()
	if d == nil || !d.rs.recvs { // no SDP yet, or the leg is on hold
		s.stats.dropped.Add(1)
		return
	}
	var pt uint8
	var samples uint32
	if k == kindDTMF {
		if !d.rs.hasDTMF {
			s.stats.dropped.Add(1)
			return
		}
		pt = d.rs.txDTMFPT
	} else {
		pt = d.rs.txAudioPT
		payload := pkt[h.off:h.end]
		if k != d.rs.txKind {
			if k == kindPCMU {
				audio.TranscodeMulawToAlaw(payload, payload)
			} else {
				audio.TranscodeAlawToMulaw(payload, payload)
			}
		}
		samples = uint32(len(payload))
	}
	o := &to.out
	if !o.relayMay() {
		s.stats.dropped.Add(1)
		return
	}
	seq, ts, mark := o.next(relaySource|uint64(h.ssrc), h.seq, h.ts, samples, now)
	writeRTPHeader(pkt, h.marker || mark, pt, seq, ts, o.ssrc)
	if _, err := to.rtp.WriteToUDPAddrPort(pkt, d.rtp); err != nil {
		s.stats.dropped.Add(1)
		return
	}
	s.stats.rtpFwd.Add(1)
}
