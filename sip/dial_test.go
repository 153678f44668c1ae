package sip

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sippCall is a SIPp UAS on its own loopback IP and a UA on another, with a
// trunk pointing at SIPp.
type sippCall struct {
	sipp  *sippPeer
	ua    *UA
	media *mediaSock
	trunk TrunkConfig
}

type sippOptions struct {
	Scenario string
	Echo     bool
	TCP      bool
}

func setupSIPp(t *testing.T, o sippOptions, tc TrunkConfig) *sippCall {
	t.Helper()
	var s *sippPeer
	if o.TCP {
		s = startSIPpTCP(t, o.Scenario, o.Echo)
		tc.Transport = "tcp"
	} else {
		s = startSIPp(t, o.Scenario, o.Echo)
	}
	uaIP := loopbackIP(t)
	if tc.Name == "" {
		tc.Name = "sipp"
	}
	tc.Host, tc.Port = s.ip.String(), s.port
	u := newTestUA(t, uaIP, Config{}, tc)
	return &sippCall{sipp: s, ua: u, media: newMediaSock(t, uaIP), trunk: tc}
}

func (c *sippCall) request(number string) DialRequest {
	return DialRequest{
		Trunk:      c.trunk.Name,
		Number:     number,
		CallerID:   "+15550001",
		CallerName: "Callback Test",
		SDP:        offerSDP(c.ua.LocalAddr().Addr(), c.media.port),
	}
}

// progressLog collects OnProgress calls.
type progressLog struct {
	mu sync.Mutex
	ps []Progress
}

func (p *progressLog) add(x Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ps = append(p.ps, x)
}

func (p *progressLog) get() []Progress {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Progress(nil), p.ps...)
}

func hangup(t *testing.T, leg *Leg) {
	t.Helper()
	if err := leg.Hangup(dialCtx(t, 5*time.Second)); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	select {
	case <-leg.Done():
	default:
		t.Error("Done not closed after Hangup")
	}
	if got := leg.HangupCause(); got != CauseLocal {
		t.Errorf("HangupCause %q, want %q", got, CauseLocal)
	}
}

func TestDialAnswerEchoHangup(t *testing.T) {
	t.Parallel()
	for _, tcp := range []bool{false, true} {
		t.Run(map[bool]string{false: "udp", true: "tcp"}[tcp], func(t *testing.T) {
			t.Parallel()
			c := setupSIPp(t, sippOptions{Scenario: "uas_answer.xml", TCP: tcp, Echo: true}, TrunkConfig{})
			leg, err := c.ua.Dial(dialCtx(t, 10*time.Second), c.request("1001"))
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			if leg.CallID() == "" || leg.AnsweredAt().IsZero() {
				t.Errorf("leg CallID %q AnsweredAt %v", leg.CallID(), leg.AnsweredAt())
			}
			dst, ok := sdpMedia(leg.AnswerSDP())
			if !ok {
				t.Fatalf("answer SDP has no media: %q", leg.AnswerSDP())
			}
			// -rtp_echo sends our RTP back: the answer's address is live.
			buf := make([]byte, 1500)
			got := 0
			for i := range 5 {
				if _, err := c.media.conn.WriteToUDPAddrPort(rtpPacket(uint16(i)), dst); err != nil {
					t.Fatal(err)
				}
				c.media.conn.SetReadDeadline(time.Now().Add(time.Second))
				if _, _, err := c.media.conn.ReadFromUDPAddrPort(buf); err == nil {
					got++
				}
			}
			if got == 0 {
				t.Error("no RTP echoed back from the answer's media address")
			}
			if n := c.ua.TrunkHealth("sipp").ActiveCalls; n != 1 {
				t.Errorf("ActiveCalls %d during the call, want 1", n)
			}
			hangup(t, leg)
			if n := c.ua.TrunkHealth("sipp").ActiveCalls; n != 0 {
				t.Errorf("ActiveCalls %d after the call, want 0", n)
			}
			if err := leg.Hangup(dialCtx(t, time.Second)); err != nil {
				t.Errorf("second Hangup: %v", err)
			}
			c.sipp.expectSuccess(10 * time.Second)
		})
	}
}

func TestDialOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		scenario string
		trunk    TrunkConfig
		ring     time.Duration
		cancelIn time.Duration
		outcome  Outcome
		code     int
		is       error
		sippExit int // 1 where the scenario's only failure is waiting in vain for a second INVITE
	}{
		{name: "busy", scenario: "uas_busy.xml", outcome: OutcomeBusy, code: 486},
		{name: "ring timeout", scenario: "uas_no_answer.xml", ring: 700 * time.Millisecond, outcome: OutcomeNoAnswer, code: 487, is: ErrRingTimeout},
		{name: "caller cancels", scenario: "uas_no_answer.xml", cancelIn: 700 * time.Millisecond, outcome: OutcomeCanceled, code: 487, is: context.Canceled},
		{name: "401 without credentials", scenario: "uas_auth_401.xml", outcome: OutcomeAuthFailed, code: 401, sippExit: 1},
		{name: "407 without credentials", scenario: "uas_auth_407.xml", outcome: OutcomeAuthFailed, code: 407, sippExit: 1},
		{name: "401 wrong password", scenario: "uas_auth_401.xml", trunk: TrunkConfig{Username: "callback", Password: "wrong"}, outcome: OutcomeRejected, code: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := setupSIPp(t, sippOptions{Scenario: tt.scenario}, tt.trunk)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if tt.cancelIn > 0 {
				time.AfterFunc(tt.cancelIn, cancel)
			}
			req := c.request("2002")
			req.RingTimeout = tt.ring
			start := time.Now()
			leg, err := c.ua.Dial(ctx, req)
			if err == nil {
				leg.Hangup(context.Background())
				t.Fatal("Dial answered, want an error")
			}
			var de *DialError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v, want *DialError", err, err)
			}
			if de.Outcome != tt.outcome || de.Code != tt.code {
				t.Errorf("got %s %d %q, want %s %d", de.Outcome, de.Code, de.Reason, tt.outcome, tt.code)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if (tt.ring > 0 || tt.cancelIn > 0) && time.Since(start) > 3*time.Second {
				t.Errorf("Dial took %v after cancelling", time.Since(start))
			}
			c.sipp.expectExit(tt.sippExit, 10*time.Second)
		})
	}
}

func TestDialRingThenAnswer(t *testing.T) {
	t.Parallel()
	c := setupSIPp(t, sippOptions{Scenario: "uas_ring_answer.xml"}, TrunkConfig{})
	var pl progressLog
	req := c.request("1001")
	req.OnProgress = pl.add
	start := time.Now()
	leg, err := c.ua.Dial(dialCtx(t, 10*time.Second), req)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("answered after %v, the scenario rings 1 s", d)
	}
	// Provisionals may be lost on a real network; on loopback they arrive.
	codes := []int{}
	for _, p := range pl.get() {
		codes = append(codes, p.Code)
	}
	if !containsInt(codes, 180) {
		t.Errorf("progress codes %v, want 180 among them", codes)
	}
	hangup(t, leg)
	c.sipp.expectSuccess(10 * time.Second)
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func TestDialEarlyMedia(t *testing.T) {
	t.Parallel()
	c := setupSIPp(t, sippOptions{Scenario: "uas_early_media.xml"}, TrunkConfig{})
	var pl progressLog
	req := c.request("1001")
	req.OnProgress = pl.add
	var rtp atomic.Int32
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := c.media.conn.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
			rtp.Add(1)
		}
	}()
	leg, err := c.ua.Dial(dialCtx(t, 10*time.Second), req)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	early := rtp.Load()
	var sdp []byte
	for _, p := range pl.get() {
		if p.Code == 183 {
			sdp = p.SDP
		}
	}
	if _, ok := sdpMedia(sdp); !ok {
		t.Errorf("no 183 with SDP in progress: %+v", pl.get())
	}
	if early < 20 {
		t.Errorf("%d early RTP packets before the answer, want a stream (1.5 s)", early)
	}
	hangup(t, leg)
	c.sipp.expectSuccess(10 * time.Second)
}

func TestDialFarEndHangsUp(t *testing.T) {
	t.Parallel()
	c := setupSIPp(t, sippOptions{Scenario: "uas_answer_bye.xml"}, TrunkConfig{})
	leg, err := c.ua.Dial(dialCtx(t, 10*time.Second), c.request("1001"))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	select {
	case <-leg.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("leg not done after the far end's BYE")
	}
	if got := leg.HangupCause(); got != CauseRemoteBye {
		t.Errorf("HangupCause %q, want %q", got, CauseRemoteBye)
	}
	if err := leg.Hangup(dialCtx(t, time.Second)); err != nil {
		t.Errorf("Hangup after far-end BYE: %v", err)
	}
	c.sipp.expectSuccess(10 * time.Second)
}

func TestDialDigestAuth(t *testing.T) {
	t.Parallel()
	for _, sc := range []string{"uas_auth_401.xml", "uas_auth_407.xml"} {
		t.Run(sc, func(t *testing.T) {
			t.Parallel()
			c := setupSIPp(t, sippOptions{Scenario: sc}, TrunkConfig{Username: "callback", Password: "secret"})
			leg, err := c.ua.Dial(dialCtx(t, 10*time.Second), c.request("1001"))
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			hangup(t, leg)
			c.sipp.expectSuccess(10 * time.Second)
		})
	}
}

func TestDialPCMAOnly(t *testing.T) {
	t.Parallel()
	c := setupSIPp(t, sippOptions{Scenario: "uas_pcma.xml"}, TrunkConfig{})
	leg, err := c.ua.Dial(dialCtx(t, 10*time.Second), c.request("1001"))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if !bytes.Contains(leg.AnswerSDP(), []byte("RTP/AVP 8 ")) || !bytes.Contains(leg.AnswerSDP(), []byte("PCMA/8000")) {
		t.Errorf("answer is not PCMA only:\n%s", leg.AnswerSDP())
	}
	hangup(t, leg)
	c.sipp.expectSuccess(10 * time.Second)
}

func TestDialReinviteHold(t *testing.T) {
	t.Parallel()
	c := setupSIPp(t, sippOptions{Scenario: "uas_reinvite_hold.xml"}, TrunkConfig{})
	offers := make(chan string, 4)
	req := c.request("1001")
	req.OnOffer = func(offer []byte) ([]byte, error) {
		dir := "sendrecv"
		if bytes.Contains(offer, []byte("a=sendonly")) {
			dir = "sendonly"
		}
		offers <- dir
		answer := offerSDP(c.ua.LocalAddr().Addr(), c.media.port)
		if dir == "sendonly" {
			answer = bytes.Replace(answer, []byte("a=sendrecv"), []byte("a=recvonly"), 1)
		}
		return answer, nil
	}
	leg, err := c.ua.Dial(dialCtx(t, 10*time.Second), req)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	var got []string
	for len(got) < 2 {
		select {
		case d := <-offers:
			got = append(got, d)
		case <-time.After(5 * time.Second):
			t.Fatalf("re-INVITE offers seen: %v, want hold then resume", got)
		}
	}
	if strings.Join(got, ",") != "sendonly,sendrecv" {
		t.Errorf("offers %v, want [sendonly sendrecv]", got)
	}
	// SIPp's next step is waiting for our BYE; give its last ACK a moment.
	time.Sleep(100 * time.Millisecond)
	hangup(t, leg)
	c.sipp.expectSuccess(10 * time.Second)
}

func TestDialAnswerCrossesCancel(t *testing.T) {
	t.Parallel()
	c := setupSIPp(t, sippOptions{Scenario: "uas_cancel_race.xml"}, TrunkConfig{})
	req := c.request("1001")
	req.RingTimeout = 500 * time.Millisecond
	leg, err := c.ua.Dial(dialCtx(t, 10*time.Second), req)
	if err == nil {
		leg.Hangup(context.Background())
		t.Fatal("Dial returned a leg after its ring timeout")
	}
	var de *DialError
	if !errors.As(err, &de) || de.Outcome != OutcomeNoAnswer {
		t.Errorf("error %v, want no_answer", err)
	}
	// SIPp succeeds only if the crossing 200 got its ACK and then a BYE.
	c.sipp.expectSuccess(10 * time.Second)
}

func TestSessionTimerWeRefresh(t *testing.T) {
	t.Parallel()
	c := setupSIPp(t, sippOptions{Scenario: "uas_session_timer.xml"}, TrunkConfig{})
	c.ua.timerScale = 0.02 // 90 s session: refresh after 0.9 s
	leg, err := c.ua.Dial(dialCtx(t, 10*time.Second), c.request("1001"))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for leg.refreshes.Load() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no session refresh sent")
		}
		time.Sleep(20 * time.Millisecond)
	}
	hangup(t, leg)
	c.sipp.expectSuccess(10 * time.Second)
}

func TestSessionTimerExpires(t *testing.T) {
	t.Parallel()
	c := setupSIPp(t, sippOptions{Scenario: "uas_session_timer_uas.xml"}, TrunkConfig{})
	c.ua.timerScale = 0.02 // 90 s session, far end refreshes: BYE after 60 s * 0.02
	leg, err := c.ua.Dial(dialCtx(t, 10*time.Second), c.request("1001"))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	select {
	case <-leg.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("leg still up after its session expired")
	}
	if got := leg.HangupCause(); got != CauseSessionExpired {
		t.Errorf("HangupCause %q, want %q", got, CauseSessionExpired)
	}
	c.sipp.expectSuccess(10 * time.Second)
}
