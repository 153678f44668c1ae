package bridge

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/testpeer"
	"github.com/callbackd/callbackd/sip"
)

// A lossy, slow trunk: SIPp is the trunk and both far ends, in a network
// namespace of its own, and the veth to it drops 3% of the UDP packets and
// holds each one 40 ms, each way (SIP and RTP alike). The call still connects
// (SIP retransmissions repair lost requests and answers), the relay carries
// the far ends' audio both ways, our BYEs reach SIPp, and the delay shows in
// the time each leg took to answer. Needs root; skipped otherwise.
func TestLossyTrunk(t *testing.T) {
	t.Parallel()
	ns := testpeer.NewNetNS(t)
	// One SIPp answers both legs and streams a tone on each from our ACK
	// until our BYE.
	trunk := testpeer.StartSIPp(t, testpeer.SIPpOptions{
		Scenario: filepath.Join("testdata", "uas_answer_stream.xml"),
		Dir:      testpeer.RepoPath(t, "testdata", "sipp"), // tone440.ul
		IP:       ns.NSIP,
		NetNS:    ns.Name,
		Calls:    2,
		Timeout:  60 * time.Second,
	})
	const (
		loss  = 0.03
		delay = 40 * time.Millisecond
		pps   = 50 // G.711 at 20 ms
	)
	ns.Loss(loss)
	ns.Delay(delay)

	e := newEnv(t, envOptions{ip: ns.HostIP,
		trunk: &sip.TrunkConfig{Name: "lossy", Host: ns.NSIP.String(), Port: trunk.Port}})
	plan := Plan{Trunk: "lossy", Reps: reps("+2001"), Customer: Party{Number: "+3001"},
		RepCallerID: CallerID{Number: "+3001"}, CustomerCallerID: CallerID{Number: "+15550100"},
		MaxDuration: 4 * time.Second}
	res, _ := e.run(t, plan, 90*time.Second)
	stats, err := ns.Stats()
	if err != nil {
		t.Errorf("namespace counters: %v", err)
	}
	t.Logf("veth to the trunk: %v", stats)
	if res.Outcome != Connected || res.HungUpBy != HangupMaxDuration {
		t.Fatalf("outcome %s hung up by %q (%s); want connected, ended by max_duration\n%s",
			res.Outcome, res.HungUpBy, res.Cause, tailStr(trunk.Messages(), 6000))
	}
	checkLegTimes(t, res.Reps[0], false) // a 180 may be lost: no ringing required
	checkLegTimes(t, res.Customer, false)

	// Each INVITE crossed the link one way and its 200 the other way.
	for _, lr := range []LegResult{res.Reps[0], res.Customer} {
		setup := lr.AnsweredAt.Sub(lr.InvitedAt)
		t.Logf("%s answered %v after the INVITE", lr.Role, setup.Round(time.Millisecond))
		if setup < 2*delay {
			t.Errorf("%s answered %v after the INVITE, across %v each way; want >= %v", lr.Role, setup, delay, 2*delay)
		}
	}

	// Audio both ways, all but what the link lost. The far ends stream from
	// our ACK: a lost ACK costs 0.5 s (until SIPp's 200 retransmission draws
	// another), two losses 1.5 s. So: at least 70% of 50 packets/s over the
	// talk time less a second.
	want := uint64((res.TalkTime - time.Second).Seconds() * pps * 0.7)
	t.Logf("talk time %v: relayed rep->customer %d, customer->rep %d (want >= %d each); %+v",
		res.TalkTime.Round(time.Millisecond), res.Relay.AToB, res.Relay.BToA, want, res.Relay)
	if res.Relay.AToB < want || res.Relay.BToA < want {
		t.Errorf("relay %+v over %v; want >= %d packets each way", res.Relay, res.TalkTime, want)
	}

	// SIPp saw both calls through, our BYEs included, whatever was lost.
	expectSIPpSuccess(t, trunk)
	t.Logf("SIPp's SIP traffic (2 calls without loss: received INVITE 2, ACK 2, BYE 2; sent 100 2, 180 2, 200 4): %s",
		sippTraffic(trunk.Messages()))

	// The link really was lossy and slow in both directions.
	for _, d := range []struct {
		name             string
		udp, drop, delay uint64
		mean             time.Duration
	}{
		{"to the trunk", stats.UDPIn, stats.DroppedIn, stats.DelayedIn, stats.MeanDelayIn},
		{"from the trunk", stats.UDPOut, stats.DroppedOut, stats.DelayedOut, stats.MeanDelayOut},
	} {
		// About 400 packets each way: 12 ± 3.4 dropped.
		if d.udp < want || d.drop == 0 || float64(d.drop) > float64(d.udp)*loss*3 {
			t.Errorf("%s: %d of %d UDP packets dropped; want about %.0f%%", d.name, d.drop, d.udp, loss*100)
		}
		if d.delay < want || d.mean < delay {
			t.Errorf("%s: %d packets held %v on average; want >= %d held >= %v", d.name, d.delay, d.mean, want, delay)
		}
	}
}

// sippTraffic sums up SIPp's messages.log (-trace_msg): the requests it
// received and the responses it sent, retransmissions included, e.g.
// "received ACK 2, BYE 2, INVITE 3; sent 100 3, 180 2, 200 5".
func sippTraffic(log string) string {
	got, sent := map[string]int{}, map[string]int{}
	lines := strings.Split(log, "\n")
	for i, l := range lines {
		l = strings.TrimSpace(l)
		var m map[string]int
		switch {
		case strings.HasPrefix(l, "UDP message received"):
			m = got
		case strings.HasPrefix(l, "UDP message sent"):
			m = sent
		default:
			continue
		}
		// The start line follows an empty line.
		for _, next := range lines[i+1 : min(i+3, len(lines))] {
			f := strings.Fields(next)
			if len(f) < 2 {
				continue
			}
			if f[0] == "SIP/2.0" {
				m[f[1]]++
			} else {
				m[f[0]]++
			}
			break
		}
	}
	list := func(m map[string]int) string {
		var s []string
		for k, v := range m {
			s = append(s, fmt.Sprintf("%s %d", k, v))
		}
		slices.Sort(s)
		return strings.Join(s, ", ")
	}
	return "received " + list(got) + "; sent " + list(sent)
}
