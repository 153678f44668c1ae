package media

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/callbackd/callbackd/media/audio"
)

var (
	errBusy       = errors.New("media: play: session already sends (relay or another playback)")
	errPreempted  = errors.New("media: play: relayed audio took over")
	errNoAnswer   = errors.New("media: play: no codec negotiated yet")
	errFrameLarge = errors.New("media: play: frame too large")
)

// Play sends frames, already encoded in the session's codec, paced at their
// duration (one byte per sample at 8 kHz, normally 160 bytes = 20 ms), and
// returns when the last one has had its time. It continues the session's
// outgoing stream (one SSRC, continuous sequence numbers and timestamps).
// While the far end holds the call, frames are paced but not sent. Play
// fails if the session is relaying or already playing, and stops with an
// error when relayed audio for this leg takes over.
func (s *Session) Play(ctx context.Context, frames [][]byte) error {
	return s.play(ctx, frames, false)
}

// Ringback plays generated ringback in the session's codec, looping until
// ctx is done; it then returns nil. If the session is in a relay and audio
// arrives from the other leg (early media), that audio replaces the
// ringback and Ringback just waits for ctx.
func (s *Session) Ringback(ctx context.Context) error {
	c := s.Codec()
	if c == (Codec{}) {
		return errNoAnswer
	}
	err := s.play(ctx, audio.Ringback(c.encoding()), true)
	switch {
	case errors.Is(err, errPreempted), errors.Is(err, errBusy) && s.relay.Load() != nil:
		select {
		case <-ctx.Done():
			return nil
		case <-s.closed:
			return fmt.Errorf("media: ringback: %w", ErrClosed)
		}
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return nil
	}
	return err
}

func (s *Session) play(ctx context.Context, frames [][]byte, loop bool) error {
	if s.isClosed() {
		return fmt.Errorf("media: play: %w", ErrClosed)
	}
	if s.Codec() == (Codec{}) {
		return errNoAnswer
	}
	if len(frames) == 0 {
		return nil
	}
	size := 0
	for _, f := range frames {
		size = max(size, len(f))
	}
	if size > maxPacket-12 {
		return errFrameLarge
	}
	o := &s.out
	if !o.acquirePlayer() {
		return errBusy
	}
	defer o.releasePlayer()

	buf := make([]byte, 12+size)
	buf[0] = 0x80
	src := nextPlayerSource()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := time.Now()
	var seq uint16
	var ts uint32 // samples since start, also the source timestamp
	warned := false
	for {
		for _, f := range frames {
			if o.preempt.Load() {
				return errPreempted
			}
			if d := s.dst.Load(); d != nil && d.rs.recvs && len(f) > 0 {
				oseq, ots, mark := o.next(src, seq, ts, uint32(len(f)), monoNow())
				writeRTPHeader(buf, mark, d.rs.txAudioPT, oseq, ots, o.ssrc)
				n := copy(buf[12:], f)
				if _, err := s.rtp.WriteToUDPAddrPort(buf[:12+n], d.rtp); err != nil {
					if s.isClosed() {
						return fmt.Errorf("media: play: %w", ErrClosed)
					}
					// One lost frame must not end a prompt; say so once.
					if !warned {
						warned = true
						s.log.Warn("playback: send failed", "to", d.rtp.String(), "err", err)
					}
				}
				seq++
			}
			ts += uint32(len(f))
			// Absolute deadlines keep the pace from drifting.
			timer.Reset(time.Until(start.Add(time.Duration(ts) * time.Second / 8000)))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.closed:
				return fmt.Errorf("media: play: %w", ErrClosed)
			case <-timer.C:
			}
		}
		if !loop {
			return nil
		}
	}
}

// WaitDigit returns the next RFC 4733 digit the far end sent. Digits sent
// before the call (while nobody waited) are kept, a few at most, so a quick
// key press during a prompt is not lost.
func (s *Session) WaitDigit(ctx context.Context) (rune, error) {
	select {
	case d := <-s.digits:
		return d, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-s.closed:
		return 0, fmt.Errorf("media: wait digit: %w", ErrClosed)
	}
}
