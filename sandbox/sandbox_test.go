package sandbox

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callbackd/callbackd/media/audio"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{}, true},
		{"explicit", Config{Listen: "127.3.4.5:5070", RTPPortMin: 30000, RTPPortMax: 30010}, true},
		{"single even port", Config{Listen: "127.3.4.5:0", RTPPortMin: 30000, RTPPortMax: 30000}, true},
		{"hostname", Config{Listen: "localhost:5070"}, false},
		{"no port", Config{Listen: "127.0.0.1"}, false},
		{"wildcard", Config{Listen: "0.0.0.0:5070"}, false},
		{"ipv6", Config{Listen: "[::1]:5070"}, false},
		{"min only", Config{RTPPortMin: 30000}, false},
		{"inverted", Config{RTPPortMin: 30010, RTPPortMax: 30000}, false},
		{"privileged", Config{RTPPortMin: 80, RTPPortMax: 100}, false},
		{"too high", Config{RTPPortMin: 65000, RTPPortMax: 70000}, false},
		{"only odd", Config{RTPPortMin: 30001, RTPPortMax: 30001}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg, nil)
			if tt.ok != (err == nil) {
				t.Fatalf("New(%+v) err = %v, want ok=%v", tt.cfg, err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrConfig) {
					t.Fatalf("error %v is not ErrConfig", err)
				}
				return
			}
			if err := s.Close(); err != nil { // never started
				t.Fatal(err)
			}
		})
	}
}

func TestStartCloseLifecycle(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	if !s.Addr().IsValid() || s.Addr().Port() == 0 {
		t.Fatalf("Addr() = %v", s.Addr())
	}
	if err := s.Start(context.Background()); err == nil {
		t.Fatal("second Start succeeded")
	}
	// A second sandbox on the same address must fail to start, not panic.
	s2, err := New(Config{Listen: s.Addr().String()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Start(context.Background()); err == nil {
		t.Fatal("Start on a busy address succeeded")
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if err := s.Start(context.Background()); err == nil {
		t.Fatal("Start after Close succeeded")
	}
}

func TestStartContextBoundsStartOnly(t *testing.T) {
	t.Parallel()
	ip := startSandbox(t).Addr().Addr() // an address known to be bindable
	s, err := New(Config{Listen: ip.String() + ":0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	// As with sip.UA, the context bounds start-up only: the sandbox serves on.
	select {
	case <-s.serveDone:
		t.Fatal("sandbox stopped when its start-up context ended")
	case <-time.After(100 * time.Millisecond):
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.serveDone:
	case <-time.After(5 * time.Second):
		t.Fatal("sandbox still serving after Close")
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	u := newUAC(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: s.Addr().Addr().String(), Port: int(s.Addr().Port())})
	res, err := u.client.Do(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("OPTIONS: %d", res.StatusCode)
	}
	if h := res.GetHeader("Allow"); h == nil || !strings.Contains(h.Value(), "INVITE") {
		t.Fatalf("Allow header: %v", h)
	}
}

// Numbers that end the call with a final error response, with and without
// the '+', plus an unknown number.
func TestRejectingNumbers(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	u := newUAC(t)
	rtpAddr := newRTPPeer(t, u.ip).addr()
	tests := []struct {
		number string
		want   int
	}{
		{NumberBusy, 486},
		{NumberReject, 603},
		{NumberNotFound, 404},
		{strings.TrimPrefix(NumberBusy, "+"), 486},
		{strings.TrimPrefix(NumberReject, "+"), 603},
		{"+15559999999", 404},
		{"15550000010", 404},
		{"alice", 404},
	}
	for _, tt := range tests {
		t.Run(tt.number, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _, err := u.call(ctx, s, tt.number, offerSDP(rtpAddr, "0 8 101"), nil)
			if got := finalCode(err); got != tt.want {
				t.Fatalf("final %d (err %v), want %d", got, err, tt.want)
			}
		})
	}
	if err := s.WaitIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, st := range s.Stats() {
		if st.EndCause != "rejected" || st.RTPSent != 0 || st.Codec != "" {
			t.Errorf("%s: %+v", st.Number, st)
		}
	}
}

func TestNotAcceptable(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	u := newUAC(t)
	addr := newRTPPeer(t, u.ip).addr()
	tests := []struct {
		name  string
		offer []byte
	}{
		{"no SDP", nil},
		{"only G.729", offerSDP(addr, "18 101")},
		{"garbage", []byte("this is not SDP")},
		{"video only", []byte("v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 4000 RTP/AVP 96\r\n")},
		{"SRTP profile", []byte("v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\n")},
		{"IPv6", []byte("v=0\r\no=x 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _, err := u.call(ctx, s, NumberEcho, tt.offer, nil)
			if got := finalCode(err); got != 488 {
				t.Fatalf("final %d (err %v), want 488", got, err)
			}
		})
	}
}

// +15550000001: 180, answer after 1 s, a 440 Hz tone; the caller hangs up.
func TestToneAnswerGoClient(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	u := newUAC(t)
	peer := newRTPPeer(t, u.ip)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	sess, codes, err := u.call(ctx, s, NumberTone, offerSDP(peer.addr(), "8 0 101"), nil)
	if err != nil {
		t.Fatalf("call: %v (codes %v)", err, codes)
	}
	if el := time.Since(start); el < ToneAnswerDelay {
		t.Fatalf("answered after %v, want >= %v", el, ToneAnswerDelay)
	}
	if !containsCode(codes, 180) {
		t.Fatalf("no 180 Ringing among %v", codes)
	}
	raddr, fmts, attrs := sdpMedia(t, sess.InviteResponse.Body())
	if raddr.Addr() != s.Addr().Addr() || strings.Join(fmts, " ") != "8 101" || !attrs["sendrecv"] {
		t.Fatalf("answer %v %v %v:\n%s", raddr, fmts, attrs, sess.InviteResponse.Body())
	}
	pk := peer.waitPackets(t, 25) // half a second of tone
	for _, p := range pk {
		if p.src != raddr {
			t.Fatalf("RTP from %v, SDP said %v", p.src, raddr)
		}
		if p.hdr.PayloadType != 8 || len(p.payload) != audio.FrameSamples {
			t.Fatalf("packet PT %d, %d bytes", p.hdr.PayloadType, len(p.payload))
		}
	}
	frames := make([][]byte, len(pk))
	for i, p := range pk {
		frames[i] = p.payload
	}
	if hz := estimateHz(frames, audio.PCMA); hz < 420 || hz > 460 {
		t.Fatalf("tone is %.0f Hz, want about %v", hz, ToneFrequency)
	}
	id := sess.InviteRequest.CallID().Value()
	if err := sess.Bye(ctx); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	st := waitCall(t, s, id, "end", func(c CallStats) bool { return !c.Active() })
	if st.EndCause != "caller_bye" || st.Status != 200 || st.Codec != "PCMA" || st.RTPSent < 25 || st.Name != "tone" {
		t.Fatalf("stats %+v", st)
	}
	if st.Answered.Sub(st.Started) < ToneAnswerDelay {
		t.Fatalf("answered %v after start", st.Answered.Sub(st.Started))
	}
}

// +15550000002 echoes RTP; PCMA only in the offer.
func TestEchoGoClient(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	u := newUAC(t)
	peer := newRTPPeer(t, u.ip)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, _, err := u.call(ctx, s, NumberEcho, offerSDP(peer.addr(), "8"), nil)
	if err != nil {
		t.Fatal(err)
	}
	raddr, fmts, _ := sdpMedia(t, sess.InviteResponse.Body())
	if strings.Join(fmts, " ") != "8" {
		t.Fatalf("formats %v", fmts)
	}
	payload := audio.Tone([]float64{1000}, audio.FrameDuration, audio.PCMA)[0]
	peer.send(t, raddr, 8, payload, 20, false)
	pk := peer.waitPackets(t, 20)
	for _, p := range pk {
		if p.hdr.SSRC != 0x1234 || string(p.payload) != string(payload) {
			t.Fatalf("echo differs: %+v", p.hdr)
		}
	}
	id := sess.InviteRequest.CallID().Value()
	st := waitCall(t, s, id, "20 packets echoed", func(c CallStats) bool { return c.RTPReceived == 20 && c.RTPSent == 20 })
	if st.Codec != "PCMA" {
		t.Fatalf("codec %q", st.Codec)
	}
}

// +15550000007: 183 with SDP and ringback for 2 s, then 200 and a tone, in
// one RTP stream (one SSRC, continuous sequence, marker at the switch).
func TestEarlyMediaGoClient(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	u := newUAC(t)
	peer := newRTPPeer(t, u.ip)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var earlySDP []byte
	var answeredAt time.Time
	start := time.Now()
	sess, codes, err := u.call(ctx, s, NumberEarlyMedia, offerSDP(peer.addr(), "0 101"), func(r *sip.Response) {
		if r.StatusCode == 183 {
			earlySDP = r.Body()
		}
		if r.StatusCode == 200 {
			answeredAt = time.Now()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !containsCode(codes, 183) || len(earlySDP) == 0 {
		t.Fatalf("no 183 with SDP among %v", codes)
	}
	if el := answeredAt.Sub(start); el < EarlyMediaFor {
		t.Fatalf("answered after %v, want >= %v", el, EarlyMediaFor)
	}
	if string(earlySDP) != string(sess.InviteResponse.Body()) {
		t.Fatalf("183 and 200 SDP differ:\n%s\n---\n%s", earlySDP, sess.InviteResponse.Body())
	}
	time.Sleep(300 * time.Millisecond)
	pk := peer.packets()
	var early, late [][]byte
	markers := 0
	for i, p := range pk {
		if p.at.Before(answeredAt) {
			early = append(early, p.payload)
		} else {
			late = append(late, p.payload)
		}
		if p.hdr.SSRC != pk[0].hdr.SSRC {
			t.Fatalf("SSRC changed at packet %d", i)
		}
		if i > 0 && p.hdr.SequenceNumber != pk[i-1].hdr.SequenceNumber+1 {
			t.Fatalf("sequence jumps %d -> %d", pk[i-1].hdr.SequenceNumber, p.hdr.SequenceNumber)
		}
		if i > 0 && p.hdr.Timestamp != pk[i-1].hdr.Timestamp+audio.FrameSamples {
			t.Fatalf("timestamp jumps %d -> %d", pk[i-1].hdr.Timestamp, p.hdr.Timestamp)
		}
		if p.hdr.Marker {
			markers++
		}
	}
	if len(early) < 80 || len(late) < 10 {
		t.Fatalf("%d early and %d answered packets", len(early), len(late))
	}
	if markers != 2 {
		t.Fatalf("%d marker bits, want 2 (start and answer)", markers)
	}
	// Ringback is 440+480 Hz; its zero-crossing rate averages about 460 Hz,
	// the answered tone is 440 Hz. Both must be audible, not silence.
	for name, fr := range map[string][][]byte{"early": early, "answered": late} {
		if hz := estimateHz(fr, audio.PCMU); hz < 400 || hz > 500 {
			t.Fatalf("%s audio at %.0f Hz", name, hz)
		}
	}
}

// +15550000009 presses 1 after a second, by RFC 4733 with the offer's PT.
func TestPress1GoClient(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	u := newUAC(t)
	peer := newRTPPeer(t, u.ip)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := u.call(ctx, s, NumberPress1, offerSDP(peer.addr(), "0 96"), nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var ends int
		var starts int
		for _, p := range peer.packets() {
			if p.hdr.PayloadType != 96 {
				continue
			}
			ev, err := audio.ParseDTMF(p.payload)
			if err != nil || ev.Event != 1 {
				t.Fatalf("DTMF packet %+v err %v", ev, err)
			}
			if p.hdr.Marker {
				starts++
			}
			if ev.End {
				ends++
			}
		}
		if ends >= 3 {
			if starts != 1 {
				t.Fatalf("%d event packets with marker, want 1", starts)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no complete DTMF 1 event received")
}

// Digits the caller sends are recorded once per event.
func TestDigitsReceived(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	u := newUAC(t)
	peer := newRTPPeer(t, u.ip)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, _, err := u.call(ctx, s, NumberEcho, offerSDP(peer.addr(), "0 101"), nil)
	if err != nil {
		t.Fatal(err)
	}
	raddr, _, _ := sdpMedia(t, sess.InviteResponse.Body())
	for i, d := range "4#" {
		code, _ := audio.DigitEvent(d)
		var b [4]byte
		for _, end := range []bool{false, true, true, true} {
			ev := audio.DTMFEvent{Event: code, End: end, Volume: 10, Duration: 800}
			if _, err := ev.MarshalTo(b[:]); err != nil {
				t.Fatal(err)
			}
			peer.sendWithTS(t, raddr, 101, b[:], uint32(10000*(i+1)))
		}
	}
	id := sess.InviteRequest.CallID().Value()
	waitCall(t, s, id, "digits 4#", func(c CallStats) bool { return c.Digits == "4#" })
}

// A re-INVITE that holds the call (sendonly) gets recvonly and stops the
// tone; one that resumes gets sendrecv and the tone again. A refresh with
// the same offer keeps the o= version.
func TestReInviteHoldResume(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	u := newUAC(t)
	peer := newRTPPeer(t, u.ip)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	sess, _, err := u.call(ctx, s, NumberHangup, offerSDP(peer.addr(), "0 101"), nil)
	if err != nil {
		t.Fatal(err)
	}
	first := sess.InviteResponse.Body()
	peer.waitPackets(t, 5)

	reinvite := func(body []byte) *sip.Response {
		t.Helper()
		req := sip.NewRequest(sip.INVITE, sess.InviteResponse.Contact().Address)
		req.SetBody(body)
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res, err := sess.Do(ctx, req)
		if err != nil {
			t.Fatalf("re-INVITE: %v", err)
		}
		ack := sip.NewRequest(sip.ACK, sess.InviteResponse.Contact().Address)
		if err := sess.WriteRequest(ack); err != nil {
			t.Fatalf("ACK: %v", err)
		}
		return res
	}

	res := reinvite(offerSDP(peer.addr(), "0 101"))
	if res.StatusCode != 200 || string(res.Body()) != string(first) {
		t.Fatalf("refresh: %d, SDP changed:\n%s\n---\n%s", res.StatusCode, first, res.Body())
	}

	res = reinvite(offerSDP(peer.addr(), "0 101", "a=sendonly"))
	_, _, attrs := sdpMedia(t, res.Body())
	if res.StatusCode != 200 || !attrs["recvonly"] {
		t.Fatalf("hold: %d\n%s", res.StatusCode, res.Body())
	}
	time.Sleep(100 * time.Millisecond) // packets in flight
	n := len(peer.packets())
	time.Sleep(200 * time.Millisecond)
	if m := len(peer.packets()); m != n {
		t.Fatalf("%d packets arrived while on hold", m-n)
	}

	res = reinvite(offerSDP(peer.addr(), "0 101"))
	_, _, attrs = sdpMedia(t, res.Body())
	if res.StatusCode != 200 || !attrs["sendrecv"] {
		t.Fatalf("resume: %d\n%s", res.StatusCode, res.Body())
	}
	peer.waitPackets(t, n+5)

	res = reinvite(offerSDP(peer.addr(), "8"))
	if res.StatusCode != 488 {
		t.Fatalf("codec change: %d", res.StatusCode)
	}
}

// +15550000004 rings until the caller cancels: 200 to the CANCEL, 487 to
// the INVITE.
func TestNoAnswerCancelGoClient(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	u := newUAC(t)
	peer := newRTPPeer(t, u.ip)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rang := make(chan struct{}, 1)
	go func() {
		select {
		case <-rang:
			time.Sleep(300 * time.Millisecond)
		case <-time.After(5 * time.Second):
		}
		cancel()
	}()
	_, codes, err := u.call(ctx, s, NumberNoAnswer, offerSDP(peer.addr(), "0"), func(r *sip.Response) {
		if r.StatusCode == 180 {
			select {
			case rang <- struct{}{}:
			default:
			}
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v (codes %v), want context.Canceled", err, codes)
	}
	id := onlyCall(t, s)
	st := waitCall(t, s, id, "cancel", func(c CallStats) bool { return !c.Active() })
	if st.Status != 487 || st.EndCause != "canceled" || !st.Answered.IsZero() {
		t.Fatalf("stats %+v", st)
	}
}

// Close ends a ringing call with 480 and an answered one with BYE, quickly.
func TestCloseEndsCalls(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	u := newUAC(t)
	peer := newRTPPeer(t, u.ip)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, _, err := u.call(ctx, s, NumberEcho, offerSDP(peer.addr(), "0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	answeredID := sess.InviteRequest.CallID().Value()
	ringErr := make(chan error, 1)
	go func() {
		_, _, err := u.call(ctx, s, NumberNoAnswer, offerSDP(peer.addr(), "0"), nil)
		ringErr <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Stats()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("Close took %v", el)
	}
	if err := <-ringErr; finalCode(err) != 480 {
		t.Fatalf("ringing call: %v, want 480", err)
	}
	if !u.gotBye(answeredID) {
		t.Fatal("answered call got no BYE")
	}
	for _, st := range s.Stats() {
		if st.Active() || st.EndCause != "closed" {
			t.Fatalf("after Close: %+v", st)
		}
	}
}

func containsCode(codes []int, c int) bool {
	for _, x := range codes {
		if x == c {
			return true
		}
	}
	return false
}

// estimateHz is the zero-crossing rate of G.711 frames, halved.
func estimateHz(frames [][]byte, enc audio.Encoding) float64 {
	crossings, n := 0, 0
	prev := 0
	for _, f := range frames {
		for _, b := range f {
			v := int(enc.Decode(b))
			if n > 0 && ((prev < 0) != (v < 0)) {
				crossings++
			}
			prev = v
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return float64(crossings) / 2 / (float64(n) / audio.SampleRate)
}
