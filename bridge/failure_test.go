package bridge

import (
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/sandbox"
)

// The customer's far end dies mid-call (SIPp killed: no BYE, no RTP). The
// rep keeps talking, so only the per-leg media timeout can notice; the call
// ends with a clear cause and both legs are released.
func TestFarEndVanishesMidCall(t *testing.T) {
	t.Parallel()
	sb := startSandbox(t)
	cust := sippUAS(t, "uas_answer.xml", true)
	e := kamailioEnv(t, map[int]string{1: "sip:" + sb.Addr().String(), 3: sipURI(cust)}, envOptions{mediaTimeout: time.Second})
	free := e.pool.Free()
	plan := Plan{Trunk: "kamailio", Reps: reps(sandbox.NumberTone), Customer: Party{Number: "+3001"}, MaxDuration: 20 * time.Second}
	plan.OnEvent = func(ev Event) {
		if ev.Leg == RoleCustomer && ev.Type == EventConnected {
			time.AfterFunc(time.Second, cust.Stop)
		}
	}
	res, _ := e.run(t, plan, 30*time.Second)
	if res.Outcome != Connected || res.HungUpBy != HangupSystem || !strings.Contains(res.Cause, "media timeout") {
		t.Fatalf("outcome %s by %q cause %q; want connected, ended by system on media timeout", res.Outcome, res.HungUpBy, res.Cause)
	}
	if res.TalkTime < 1500*time.Millisecond || res.TalkTime > 5*time.Second {
		t.Errorf("talk time %v, want about 2 s (1 s of talk, 1 s of timeout)", res.TalkTime)
	}
	if res.Relay.AToB < 25 || res.Relay.BToA < 25 {
		t.Errorf("relay %+v; want audio both ways before the far end died", res.Relay)
	}
	if c := endedCall(t, sb, res.Reps[0].CallID); c.EndCause != "caller_bye" {
		t.Errorf("rep leg ended by %q, want our BYE", c.EndCause)
	}
	// The rep's BYE did not wait for the dead customer's.
	if d := res.Reps[0].EndedAt.Sub(res.ConnectedAt.Add(res.TalkTime)); d > time.Second {
		t.Errorf("rep hung up %v after the talk ended", d)
	}
	waitFree(t, e, free)
}
