package media

import (
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Who may write a session's outgoing stream. Hand-over goes through atomics
// only, so the relay's per-packet path takes no lock.
const (
	ownerNone int32 = iota
	ownerPlayer
	ownerRelay
)

// epoch anchors monoNow; time.Since reads the monotonic clock.
var epoch = time.Now()

func monoNow() int64 { return int64(time.Since(epoch)) }

// Sources feeding an outgoing stream are told apart by a 64-bit id: relayed
// packets by their SSRC with bit 32 set, each playback by a counter above.
const relaySource = 1 << 32

var playerSources atomic.Uint64

func nextPlayerSource() uint64 { return 2<<32 + playerSources.Add(1) }

// outStream is the one RTP stream we send to a leg. Whatever feeds it
// (prompt, ringback, early media, the answered call) the far end sees one
// SSRC with continuous sequence numbers and timestamps, and the marker bit
// on the first packet after each change of source, so its jitter buffer
// resynchronises instead of dropping audio.
type outStream struct {
	owner   atomic.Int32
	preempt atomic.Bool // relay asks a playback to give way

	// Touched only by the current owner.
	ssrc   uint32
	seq    uint16 // newest sequence number sent
	ts     uint32 // newest timestamp sent
	dur    uint32 // samples in the last audio packet sent
	at     int64  // monoNow when ts was sent; 0 before the first packet
	src    uint64 // source the offsets belong to; 0 before the first
	seqOff uint16
	tsOff  uint32
}

func (o *outStream) init() {
	o.ssrc = rand.Uint32()
	o.seq = uint16(rand.Uint32())
	o.ts = rand.Uint32()
	o.dur = 160
}

// next maps a source's sequence number and timestamp onto the outgoing
// stream. Within one source, gaps and reordering pass through unchanged; a
// new source continues after the last packet sent, its timestamp advanced by
// the wall time since then (at least one packet), with the marker set.
// samples is the audio duration of this packet, 0 for telephone events.
func (o *outStream) next(src uint64, seq uint16, ts uint32, samples uint32, now int64) (uint16, uint32, bool) {
	mark := false
	if src != o.src {
		adv := o.dur
		if o.at != 0 {
			if el := now - o.at; el > 0 {
				el = min(el, int64(time.Hour))
				adv = max(adv, uint32(el*8000/int64(time.Second)))
			}
		}
		o.seqOff = o.seq + 1 - seq
		o.tsOff = o.ts + adv - ts
		o.src = src
		mark = true
	}
	oseq, ots := seq+o.seqOff, ts+o.tsOff
	if int16(oseq-o.seq) > 0 || mark {
		o.seq = oseq
	}
	if int32(ots-o.ts) > 0 || mark {
		o.ts, o.at = ots, now // at goes with the newest timestamp
	}
	if samples != 0 {
		o.dur = samples
	}
	return oseq, ots, mark
}

// relayMay reports whether the relay may write now, taking the stream when
// nobody has it. A playback in progress is asked to stop and this packet is
// dropped: from the next one on, the relayed audio has the stream.
func (o *outStream) relayMay() bool {
	switch o.owner.Load() {
	case ownerRelay:
		return true
	case ownerNone:
		return o.owner.CompareAndSwap(ownerNone, ownerRelay)
	}
	o.preempt.Store(true)
	return false
}

// releaseRelay is called once the relay's reader is known to be idle.
func (o *outStream) releaseRelay() { o.owner.CompareAndSwap(ownerRelay, ownerNone) }

func (o *outStream) acquirePlayer() bool {
	o.preempt.Store(false)
	return o.owner.CompareAndSwap(ownerNone, ownerPlayer)
}

func (o *outStream) releasePlayer() { o.owner.CompareAndSwap(ownerPlayer, ownerNone) }
