package media

import "net/netip"

// latchProbation is how many consecutive in-sequence packets a new source
// must send before the leg's media is moved to it.
const latchProbation = 3

// latch decides which source address a leg's RTP is accepted from. It starts
// at the SDP address. Because NATs and multi-homed phones send from another
// address than they announce (baresip sends from 127.0.0.1 while its SDP
// says 127.0.0.3), one move is allowed early after an answer or re-INVITE,
// only while the announced address has sent nothing and only after
// latchProbation in-sequence packets of one SSRC from the new source. After
// that every other source is dropped: following the latest sender is the
// RTP Bleed hole (CVE-2017-14114).
//
// A latch belongs to its session's RTP reader goroutine.
type latch struct {
	rs        *remote        // SDP state this latch was reset for
	cur       netip.AddrPort // accepted source
	heard     bool           // cur has sent since the reset
	locked    bool           // the one move is used up or its window closed
	until     int64          // monoNow deadline for the move
	cand      netip.AddrPort // source on probation
	candSSRC  uint32
	candSeq   uint16
	candCount int
}

func (l *latch) reset(d *dest, window int64) {
	*l = latch{rs: d.rs, cur: d.rtp, until: d.rs.at + window}
}

// check reports whether a packet from `from` is accepted, and whether it
// moved the latch there (the caller then points the leg's media at it).
func (l *latch) check(from netip.AddrPort, ssrc uint32, seq uint16, now int64) (ok, moved bool) {
	if from == l.cur {
		l.heard = true
		return true, false
	}
	if l.locked || l.heard {
		return false, false
	}
	if now > l.until {
		l.locked = true
		return false, false
	}
	if l.candCount > 0 && from == l.cand && ssrc == l.candSSRC && seq == l.candSeq+1 {
		l.candCount++
	} else {
		l.cand, l.candSSRC, l.candCount = from, ssrc, 1
	}
	l.candSeq = seq
	if l.candCount < latchProbation {
		return false, false
	}
	l.cur, l.heard, l.locked, l.candCount = from, true, true, 0
	return true, true
}
