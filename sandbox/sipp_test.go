package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/testpeer"
	"github.com/callbackd/callbackd/media/audio"
)

// runSIPp calls number on s with one of the scenarios in testdata and
// returns SIPp once it has ended with exit code 0.
func runSIPp(t *testing.T, s *Sandbox, scenario, number string, opts testpeer.SIPpOptions) *testpeer.SIPp {
	t.Helper()
	opts.Scenario = filepath.Join("testdata", scenario)
	opts.Remote = s.Addr().String()
	opts.Service = number
	if opts.Timeout == 0 {
		opts.Timeout = 20 * time.Second
	}
	p := testpeer.StartSIPp(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout+5*time.Second)
	defer cancel()
	code, err := p.Wait(ctx)
	if err != nil || code != 0 {
		t.Fatalf("sipp %s → %s: exit %d, %v", scenario, number, code, err)
	}
	return p
}

func hold(d time.Duration) []string { return []string{"-d", strconv.FormatInt(d.Milliseconds(), 10)} }

// +15550000001 with SIPp: 180, answer after 1 s, tone; SIPp echoes the tone
// back, so the sandbox's receive counter proves SIPp got it.
func TestSIPpAnswerTone(t *testing.T) {
	testpeer.RequirePeer(t, "sipp")
	t.Parallel()
	s := startSandbox(t)
	p := runSIPp(t, s, "uac_answer.xml", NumberTone, testpeer.SIPpOptions{RTPEcho: true, Extra: hold(1500 * time.Millisecond)})
	st := waitCall(t, s, onlyCall(t, s), "end", func(c CallStats) bool { return !c.Active() })
	if st.Status != 200 || st.EndCause != "caller_bye" || st.Codec != "PCMU" {
		t.Fatalf("stats %+v", st)
	}
	if d := st.Answered.Sub(st.Started); d < ToneAnswerDelay {
		t.Fatalf("answered after %v", d)
	}
	// 1.5 s of call at 50 packets/s; allow for scheduling on a loaded machine.
	if st.RTPSent < 50 || st.RTPReceived < st.RTPSent/2 {
		t.Fatalf("RTP sent %d, echoed back %d", st.RTPSent, st.RTPReceived)
	}
	if m := p.Messages(); !strings.Contains(m, "SIP/2.0 180 Ringing") {
		t.Fatal("SIPp saw no 180 Ringing")
	}
}

// +15550000002 with SIPp streaming a tone: the sandbox echoes every packet.
func TestSIPpEchoStream(t *testing.T) {
	testpeer.RequirePeer(t, "sipp")
	t.Parallel()
	s := startSandbox(t)
	dir := t.TempDir()
	var ul []byte
	for _, f := range audio.Tone([]float64{1000}, time.Second, audio.PCMU) {
		ul = append(ul, f...)
	}
	if err := os.WriteFile(filepath.Join(dir, "tone.ul"), ul, 0o600); err != nil {
		t.Fatal(err)
	}
	runSIPp(t, s, "uac_stream.xml", NumberEcho, testpeer.SIPpOptions{Dir: dir, Extra: hold(1500 * time.Millisecond)})
	st := waitCall(t, s, onlyCall(t, s), "end", func(c CallStats) bool { return !c.Active() })
	if st.EndCause != "caller_bye" || st.RTPReceived < 50 || st.RTPSent != st.RTPReceived {
		t.Fatalf("stats %+v", st)
	}
}

// +15550000007 with SIPp: 183 with SDP, then 200 after 2 s.
func TestSIPpEarlyMedia(t *testing.T) {
	testpeer.RequirePeer(t, "sipp")
	t.Parallel()
	s := startSandbox(t)
	p := runSIPp(t, s, "uac_answer.xml", NumberEarlyMedia, testpeer.SIPpOptions{RTPEcho: true, Extra: hold(500 * time.Millisecond)})
	st := waitCall(t, s, onlyCall(t, s), "end", func(c CallStats) bool { return !c.Active() })
	if d := st.Answered.Sub(st.Started); d < EarlyMediaFor {
		t.Fatalf("answered after %v", d)
	}
	// Early media flows before the answer: more than 2 s worth in total.
	if st.RTPSent < 100 || st.RTPReceived == 0 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(p.Messages(), "SIP/2.0 183 Session Progress") {
		t.Fatal("SIPp saw no 183")
	}
}

// Numbers that refuse the call, with and without '+'.
func TestSIPpReject(t *testing.T) {
	testpeer.RequirePeer(t, "sipp")
	t.Parallel()
	tests := []struct {
		name   string
		number string
		code   int
	}{
		{"busy", NumberBusy, 486},
		{"reject", NumberReject, 603},
		{"not found", NumberNotFound, 404},
		{"unknown", "+15550000099", 404},
		{"busy without plus", strings.TrimPrefix(NumberBusy, "+"), 486},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startSandbox(t)
			p := runSIPp(t, s, "uac_reject.xml", tt.number, testpeer.SIPpOptions{})
			st := waitCall(t, s, onlyCall(t, s), "end", func(c CallStats) bool { return !c.Active() })
			if st.Status != tt.code || st.EndCause != "rejected" {
				t.Fatalf("stats %+v, want status %d", st, tt.code)
			}
			if !strings.Contains(p.Messages(), "SIP/2.0 "+strconv.Itoa(tt.code)+" ") {
				t.Fatalf("SIPp saw no %d", tt.code)
			}
		})
	}
}

// +15550000004 with SIPp: rings, CANCEL → 200 + 487.
func TestSIPpNoAnswerCancel(t *testing.T) {
	testpeer.RequirePeer(t, "sipp")
	t.Parallel()
	s := startSandbox(t)
	runSIPp(t, s, "uac_cancel.xml", NumberNoAnswer, testpeer.SIPpOptions{Extra: hold(500 * time.Millisecond)})
	st := waitCall(t, s, onlyCall(t, s), "end", func(c CallStats) bool { return !c.Active() })
	if st.Status != 487 || st.EndCause != "canceled" || !st.Answered.IsZero() || st.RTPSent != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// +15550000005 with SIPp: the sandbox hangs up 5 s after answering.
func TestSIPpRemoteHangup(t *testing.T) {
	testpeer.RequirePeer(t, "sipp")
	t.Parallel()
	s := startSandbox(t)
	runSIPp(t, s, "uac_remote_bye.xml", NumberHangup, testpeer.SIPpOptions{RTPEcho: true})
	st := waitCall(t, s, onlyCall(t, s), "end", func(c CallStats) bool { return !c.Active() })
	if st.EndCause != "sandbox_bye" || st.Status != 200 {
		t.Fatalf("stats %+v", st)
	}
	if d := st.Ended.Sub(st.Answered); d < HangupAfter || d > HangupAfter+2*time.Second {
		t.Fatalf("hung up %v after the answer, want %v", d, HangupAfter)
	}
	if st.RTPSent < 200 || st.RTPReceived < st.RTPSent/2 {
		t.Fatalf("RTP sent %d, echoed back %d", st.RTPSent, st.RTPReceived)
	}
}
