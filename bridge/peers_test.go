package bridge

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/testpeer"
	"github.com/callbackd/callbackd/media/audio"
	"github.com/callbackd/callbackd/sandbox"
	"github.com/callbackd/callbackd/sip"
)

// Bridged calls across real third-party peers: Kamailio as the trunk,
// demanding digest authentication and routing by the number's first digit,
// with SIPp scenarios, baresip or the sandbox behind it.

// kamailioEnv starts Kamailio relaying numbers that start with digit d to
// dests[d], and a stack whose trunk is that Kamailio.
func kamailioEnv(t testing.TB, dests map[int]string, o envOptions) *env {
	t.Helper()
	defines := map[string]string{}
	for d, uri := range dests {
		defines["DEST"+string(rune('0'+d))] = uri
	}
	k := testpeer.StartKamailio(t, testpeer.KamailioOptions{Defines: defines})
	o.trunk = &sip.TrunkConfig{Name: "kamailio", Host: k.IP.String(), Port: k.Port,
		Username: "callback", Password: "secret", FromDomain: "trunk.test"}
	return newEnv(t, o)
}

// sippUAS starts SIPp running testdata/sipp/<scenario> for one call.
func sippUAS(t testing.TB, scenario string, echo bool) *testpeer.SIPp {
	t.Helper()
	return testpeer.StartSIPp(t, testpeer.SIPpOptions{
		Scenario: testpeer.RepoPath(t, "testdata", "sipp", scenario),
		RTPEcho:  echo,
		Timeout:  30 * time.Second,
	})
}

func sipURI(s *testpeer.SIPp) string { return "sip:" + s.Addr().String() }

func expectSIPpSuccess(t *testing.T, s *testpeer.SIPp) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if code, err := s.Wait(ctx); err != nil || code != 0 {
		t.Errorf("sipp %s exit %d (%v), want 0\n%s", s.Addr(), code, err, tailStr(s.Messages(), 6000))
	}
}

func tailStr(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// A rep answers, the customer sends 183 with early media then answers; both
// behind an authenticating Kamailio. The capture counts the RTP that crossed
// to and from each far end, independently of the relay's own counters.
func TestKamailioBridge(t *testing.T) {
	t.Parallel()
	testpeer.RequirePeer(t, "tshark")
	// The rep rings for a second: a 180 sent right before the 200 may reach us
	// after it, since Kamailio's UDP workers forward them in parallel, and the
	// ringing time is checked below.
	rep := sippUAS(t, "uas_ring_answer.xml", true)
	cust := sippUAS(t, "uas_early_media.xml", false)
	e := kamailioEnv(t, map[int]string{2: sipURI(rep), 3: sipURI(cust)}, envOptions{})
	capt := testpeer.StartCapture(t, rep.IP, cust.IP, e.ip)

	plan := Plan{Trunk: "kamailio", Reps: reps("+2001"), Customer: Party{Number: "+3001"},
		RepCallerID: CallerID{Number: "+3001", Name: "Customer"}, CustomerCallerID: CallerID{Number: "+15550100", Name: "ACME"},
		MaxDuration: 2 * time.Second}
	res, rec := e.run(t, plan, 30*time.Second)
	if res.Outcome != Connected || res.HungUpBy != HangupMaxDuration {
		t.Fatalf("outcome %s hung up by %s (%s)", res.Outcome, res.HungUpBy, res.Cause)
	}
	checkLegTimes(t, res.Reps[0], true)
	checkLegTimes(t, res.Customer, true)
	if n := count(rec.types(), "customer:call.ringing"); n != 1 {
		t.Errorf("customer ringing events %d in %v", n, rec.types())
	}
	// 1.5 s of early media and 2 s of talk at 50 packets/s.
	if res.Relay.AToB < 50 || res.Relay.BToA < 50 || res.Relay.Stray != 0 {
		t.Errorf("relay %+v; want >= 50 packets each way and no stray", res.Relay)
	}
	expectSIPpSuccess(t, rep)
	expectSIPpSuccess(t, cust)

	streams, err := capt.RTPStreams(rep.MediaPort, cust.MediaPort)
	if err != nil {
		t.Fatal(err)
	}
	var toRep, fromRep, toCust, fromCust int
	var repStreams int
	for _, s := range streams {
		t.Log(s)
		switch {
		case s.Dst.Port() == uint16(rep.MediaPort):
			toRep += s.Packets
			repStreams++
			// Ringback, then the customer's early media, then the answer: one
			// stream to the rep, with no gap in its sequence numbers.
			if s.Lost != 0 {
				t.Errorf("stream to the rep has %d sequence gaps across the source switches", s.Lost)
			}
		case s.Src.Port() == uint16(rep.MediaPort):
			fromRep += s.Packets
		case s.Dst.Port() == uint16(cust.MediaPort):
			toCust += s.Packets
		case s.Src.Port() == uint16(cust.MediaPort):
			fromCust += s.Packets
		}
	}
	if repStreams != 1 {
		t.Errorf("%d RTP streams (SSRCs) to the rep, want one across ringback, early media and answer", repStreams)
	}
	// The customer's tone crossed to the rep, who echoed it back across.
	if fromCust < 50 || toRep < 50 || fromRep < 50 || toCust < 50 {
		t.Errorf("captured RTP: customer sent %d, rep got %d, rep sent %d, customer got %d; want >= 50 each", fromCust, toRep, fromRep, toCust)
	}
	if uint64(toCust) < res.Relay.AToB*9/10 {
		t.Errorf("captured %d packets to the customer, relay counted %d", toCust, res.Relay.AToB)
	}
}

// Outcomes decided by real peers through the proxy. Numbers starting with 1
// reach the sandbox (whose tone number is the audio source where the SIPp far
// end only echoes), 2 and 3 a SIPp scenario each.
func TestKamailioOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		rep, customer  string
		repSIPp, cSIPp string // scenarios behind +2001 and +3001
		want           Outcome
		wantSide       Side
		wantCode       int
	}{
		{"customer busy", sandbox.NumberEcho, "+3001", "", "uas_busy.xml", CustomerBusy, "", 486},
		{"rep never answers", "+2001", sandbox.NumberEcho, "uas_no_answer.xml", "", RepNoAnswer, "", 487},
		{"customer hangs up", sandbox.NumberTone, "+3001", "", "uas_answer_bye.xml", Connected, HangupCustomer, 200},
		{"customer answers PCMA only", sandbox.NumberTone, "+3001", "", "uas_pcma.xml", Connected, HangupMaxDuration, 200},
		{"rep holds and resumes", "+2001", sandbox.NumberTone, "uas_reinvite_hold.xml", "", Connected, HangupMaxDuration, 200},
		{"customer rings then answers", sandbox.NumberTone, "+3001", "", "uas_ring_answer.xml", Connected, HangupMaxDuration, 200},
		// Broken answers end the customer leg with a clear cause; the rep hears the prompt.
		{"customer answers a codec never offered", sandbox.NumberEcho, "+3001", "", "uas_g722.xml", Failed, "", 0},
		{"customer answers unparsable SDP", sandbox.NumberEcho, "+3001", "", "uas_bad_sdp.xml", Failed, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sb := startSandbox(t)
			dests := map[int]string{1: "sip:" + sb.Addr().String()}
			var peers []*testpeer.SIPp
			for d, sc := range map[int]string{2: tt.repSIPp, 3: tt.cSIPp} {
				if sc != "" {
					p := sippUAS(t, sc, true)
					dests[d] = sipURI(p)
					peers = append(peers, p)
				}
			}
			e := kamailioEnv(t, dests, envOptions{})
			plan := Plan{Trunk: "kamailio", Reps: reps(tt.rep), Customer: Party{Number: tt.customer},
				RepRingTimeout: 3 * time.Second, MaxDuration: 3 * time.Second, Unreachable: &audio.Clip{Samples: make([]int16, 1600)}}
			res, _ := e.run(t, plan, 30*time.Second)
			if res.Outcome != tt.want || res.HungUpBy != tt.wantSide || res.Code != tt.wantCode {
				t.Fatalf("outcome %s by %q code %d (%s); want %s by %q code %d", res.Outcome, res.HungUpBy, res.Code, res.Cause, tt.want, tt.wantSide, tt.wantCode)
			}
			if tt.want == Connected && (res.Relay.AToB < 20 || res.Relay.BToA < 20) {
				t.Errorf("relay %+v; want packets both ways", res.Relay)
			}
			if tt.want == Failed && !strings.Contains(res.Cause, "media") {
				t.Errorf("cause %q does not say what was wrong with the answer", res.Cause)
			}
			for _, p := range peers {
				expectSIPpSuccess(t, p)
			}
		})
	}
}

func startSandbox(t *testing.T) *sandbox.Sandbox {
	t.Helper()
	ip := testpeer.LoopbackIP(t)
	sb, err := sandbox.New(sandbox.Config{Listen: ip.String() + ":0"}, testLogger(t).With("peer", "sandbox"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb
}

// baresip, a real softphone, is the customer and streams a known tone
// sequence; the rep (the sandbox's echo number, behind the same Kamailio)
// sends it back. baresip's recording of what it heard must contain its own
// tones: audio crossed the relay both ways intact, not just packets.
func TestBaresipAudioCrosses(t *testing.T) {
	t.Parallel()
	recDir := t.TempDir()
	phone := testpeer.StartBaresip(t, testpeer.BaresipOptions{Users: []string{"2000"}, RecordDir: recDir})
	sb := startSandbox(t)
	e := kamailioEnv(t, map[int]string{1: "sip:" + sb.Addr().String(), 2: "sip:" + phone.Addr().String()}, envOptions{})

	plan := Plan{Trunk: "kamailio", Reps: reps(sandbox.NumberEcho), Customer: Party{Number: "2000"}, MaxDuration: 4 * time.Second}
	res, _ := e.run(t, plan, 30*time.Second)
	if res.Outcome != Connected || res.HungUpBy != HangupMaxDuration {
		t.Fatalf("outcome %s by %s (%s)\n%s", res.Outcome, res.HungUpBy, res.Cause, tailStr(phone.Log(), 4000))
	}
	if res.Relay.AToB < 100 || res.Relay.BToA < 100 {
		t.Errorf("relay %+v; want >= 100 packets each way in 4 s", res.Relay)
	}
	time.Sleep(300 * time.Millisecond) // baresip sees our BYE
	phone.Stop()                       // closes the recordings

	wavs, _ := filepath.Glob(filepath.Join(recDir, "*.wav"))
	t.Logf("recordings: %v", wavs)
	var heard string
	for _, w := range wavs {
		if strings.Contains(filepath.Base(w), "dec") { // decoded: what baresip received
			heard = w
		}
	}
	if heard == "" {
		t.Fatalf("no recording of received audio among %v", wavs)
	}
	f, err := os.Open(heard)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	clip, err := audio.LoadWAV(f)
	if err != nil {
		t.Fatal(err)
	}
	// Each 20 ms frame: which of the tone sequence's frequencies dominates.
	tones, frames := 0, 0
	for i := 0; i+160 <= len(clip.Samples); i += 160 {
		fr := clip.Samples[i : i+160]
		if rms(fr) < 300 {
			continue // silence before the answer and after the BYE
		}
		frames++
		if dominantTone(fr, testpeer.ToneSequence) {
			tones++
		}
	}
	t.Logf("received %d audible frames, %d of them baresip's own tones", frames, tones)
	if frames < 100 || tones < frames*8/10 {
		t.Errorf("heard %d audible frames, %d with the sent tones; want >= 100 and >= 80%% tones", frames, tones)
	}
}

func rms(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)))
}

// dominantTone reports whether one of freqs holds most of the frame's energy
// (Goertzel at each frequency against the frame's total).
func dominantTone(s []int16, freqs []float64) bool {
	var total float64
	for _, v := range s {
		total += float64(v) * float64(v)
	}
	best := 0.0
	for _, f := range freqs {
		best = max(best, goertzel(s, f))
	}
	// A pure tone puts about N/2 * total into its Goertzel power.
	return best > 0.5*float64(len(s))/2*total
}

func goertzel(s []int16, f float64) float64 {
	w := 2 * math.Pi * f / 8000
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range s {
		s0 := float64(v) + c*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - c*s1*s2
}
