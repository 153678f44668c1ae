package media

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/testpeer"
	"github.com/callbackd/callbackd/media/audio"
	"github.com/pion/rtp"
)

func dtmfPacket(pt uint8, ssrc uint32, seq uint16, ts uint32, ev uint8, end bool, dur uint16) *rtp.Packet {
	b := make([]byte, 4)
	if _, err := (audio.DTMFEvent{Event: ev, End: end, Volume: 10, Duration: dur}).MarshalTo(b); err != nil {
		panic(err)
	}
	return audioPacket(pt, ssrc, seq, ts, b)
}

// sendDigit sends one key press the way phones do: start, update, three
// end packets, all with the event's start timestamp.
func sendDigit(t *testing.T, p *peer, to netip.AddrPort, pt uint8, ssrc uint32, seq *uint16, ts uint32, ev uint8) {
	t.Helper()
	for i, end := range []bool{false, false, true, true, true} {
		p.send(t, to, dtmfPacket(pt, ssrc, *seq, ts, ev, end, uint16(160*(i+1))))
		*seq++
	}
}

func TestWaitDigitBeforeJoin(t *testing.T) {
	t.Parallel()
	c := newCall(t, callOpts{noJoin: true})
	seq := uint16(100)
	sendDigit(t, c.pa, c.a.LocalAddr(), 101, 3, &seq, 1000, 1)
	sendDigit(t, c.pa, c.a.LocalAddr(), 101, 3, &seq, 2000, 11)
	for _, want := range []rune{'1', '#'} {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		d, err := c.a.WaitDigit(ctx)
		cancel()
		if err != nil || d != want {
			t.Fatalf("WaitDigit = %q, %v; want %q", d, err, want)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if d, err := c.a.WaitDigit(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("extra digit %q, err %v", d, err)
	}
}

func TestRingbackThenRelaySwitch(t *testing.T) {
	t.Parallel()
	c := newCall(t, callOpts{noJoin: true})
	ctx, cancel := context.WithCancel(t.Context())
	rbDone := make(chan error, 1)
	go func() { rbDone <- c.a.Ringback(ctx) }()
	var got []*rtp.Packet
	for range 10 {
		p, _, ok := c.pa.recv(t, time.Second)
		if !ok {
			t.Fatal("no ringback")
		}
		got = append(got, p)
	}
	// Early media: the bridge joins while the customer still rings.
	c.join(t)
	ring := audio.Ringback(audio.PCMU)
	for i := range 15 {
		c.pb.send(t, c.b.LocalAddr(), audioPacket(0, 0x5EED, uint16(7000+i), uint32(90000+160*i), frame(0xF0)))
		time.Sleep(20 * time.Millisecond)
	}
	got = append(got, c.pa.drain(t, 200*time.Millisecond)...)
	first := -1
	for i, p := range got {
		isRelayed := bytes.Equal(p.Payload, frame(0xF0))
		if first < 0 && isRelayed {
			first = i
		}
		if first >= 0 && !isRelayed {
			t.Fatalf("packet %d after the switch is ringback again", i)
		}
		if first < 0 && !bytes.Equal(p.Payload, ring[i%len(ring)]) {
			t.Fatalf("packet %d is not ringback", i)
		}
	}
	if first < 0 || len(got)-first < 12 {
		t.Fatalf("relayed audio: first at %d of %d packets", first, len(got))
	}
	checkContinuous(t, got, map[int]bool{0: true, first: true})
	cancel()
	select {
	case err := <-rbDone:
		if err != nil {
			t.Errorf("Ringback returned %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Ringback did not return after cancel")
	}
}

func TestCloseEndsRelayAndWaiters(t *testing.T) {
	t.Parallel()
	c := newCall(t, callOpts{})
	errs := make(chan error, 2)
	go func() { _, err := c.a.WaitDigit(context.Background()); errs <- err }()
	go func() {
		errs <- c.a.Play(context.Background(), [][]byte{frame(1), frame(1), frame(1), frame(1), frame(1)})
	}()
	time.Sleep(30 * time.Millisecond)
	if err := c.a.Close(); err != nil {
		t.Fatal(err)
	}
	<-c.r.Done()
	if !errors.Is(c.r.Err(), ErrClosed) {
		t.Errorf("relay Err = %v, want ErrClosed", c.r.Err())
	}
	for range 2 {
		select {
		case err := <-errs:
			if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, errBusy) {
				t.Errorf("err = %v, want ErrClosed", err)
			}
		case <-time.After(time.Second):
			t.Fatal("waiter not released by Close")
		}
	}
	if _, err := c.a.Offer(); !errors.Is(err, ErrClosed) {
		t.Errorf("Offer after Close: %v", err)
	}
}

func TestPlay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		extra    []string // SDP lines of the far end
		frames   int
		wantSent int
	}{
		{name: "paced", frames: 10, wantSent: 10},
		{name: "far end holds: paced, not sent", extra: []string{"a=sendonly"}, frames: 5, wantSent: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCall(t, callOpts{noJoin: true})
			if len(tt.extra) > 0 {
				if _, err := c.a.AnswerOffer(c.pa.sdp(pcmuTE, tt.extra...)); err != nil {
					t.Fatal(err)
				}
			}
			frames := make([][]byte, tt.frames)
			for i := range frames {
				frames[i] = frame(byte(i))
			}
			start := time.Now()
			if err := c.a.Play(t.Context(), frames); err != nil {
				t.Fatal(err)
			}
			if el, want := time.Since(start), time.Duration(tt.frames)*20*time.Millisecond; el < want-5*time.Millisecond || el > want+150*time.Millisecond {
				t.Errorf("Play took %v, want about %v", el, want)
			}
			got := c.pa.drain(t, 100*time.Millisecond)
			if len(got) != tt.wantSent {
				t.Fatalf("sent %d packets, want %d", len(got), tt.wantSent)
			}
			for i, p := range got {
				if !bytes.Equal(p.Payload, frames[i]) || p.PayloadType != 0 {
					t.Errorf("packet %d: PT %d, payload differs", i, p.PayloadType)
				}
			}
			if len(got) > 0 {
				checkContinuous(t, got, map[int]bool{0: true})
			}
		})
	}
}

func TestPlayErrors(t *testing.T) {
	t.Parallel()
	p := newTestPool(t, 2, nil)
	fresh := newTestSession(t, p)
	if err := fresh.Play(t.Context(), [][]byte{frame(0)}); err == nil {
		t.Error("Play before any answer succeeded")
	}
	if err := fresh.Ringback(t.Context()); err == nil {
		t.Error("Ringback before any answer succeeded")
	}
	s := newTestSession(t, p)
	if _, err := s.Offer(); err != nil {
		t.Fatal(err)
	}
	nobody := netip.AddrPortFrom(testpeer.LoopbackIP(t), 4000)
	if err := s.SetAnswer(sdpFor(nobody, pcmuTE)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	long := make([][]byte, 50)
	for i := range long {
		long[i] = frame(0)
	}
	done := make(chan error, 1)
	go func() { done <- s.Play(ctx, long) }()
	time.Sleep(10 * time.Millisecond)
	if err := s.Play(t.Context(), long[:1]); !errors.Is(err, errBusy) {
		t.Errorf("second Play: %v, want busy", err)
	}
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled Play: %v", err)
	}
	if err := s.Play(t.Context(), [][]byte{make([]byte, maxPacket)}); err == nil {
		t.Error("oversized frame accepted")
	}
}
