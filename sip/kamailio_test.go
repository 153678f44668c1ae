package sip

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/testpeer"
)

// kamailioTrunk starts Kamailio with testdata/kamailio/trunk.cfg (digest 407,
// record-routing) relaying numbers starting with 1 to a SIPp UAS running
// scenario, and a UA whose trunk is Kamailio.
func kamailioTrunk(t *testing.T, scenarioName, password string, tc TrunkConfig) (*UA, *sippPeer, *mediaSock) {
	t.Helper()
	var s *sippPeer
	defines := map[string]string{}
	if scenarioName != "" {
		s = startSIPp(t, scenarioName, true)
		defines["DEST1"] = "sip:" + s.ip.String() + ":" + itoa(s.port)
	}
	k := testpeer.StartKamailio(t, testpeer.KamailioOptions{Defines: defines})
	tc.Name, tc.Host, tc.Port = "kamailio", k.IP.String(), k.Port
	tc.Username, tc.Password = "callback", password
	tc.FromDomain = "trunk.test"
	ip := loopbackIP(t)
	return newTestUA(t, ip, Config{}, tc), s, newMediaSock(t, ip)
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestKamailioDigestAuthCall(t *testing.T) {
	t.Parallel()
	u, s, m := kamailioTrunk(t, "uas_answer.xml", "secret", TrunkConfig{KeepAlive: 200 * time.Millisecond})
	leg, err := u.Dial(dialCtx(t, 10*time.Second), DialRequest{Number: "+1001", CallerID: "+15550001", SDP: offerSDP(u.LocalAddr().Addr(), m.port)})
	if err != nil {
		t.Fatalf("Dial through Kamailio: %v", err)
	}
	if _, ok := sdpMedia(leg.AnswerSDP()); !ok {
		t.Errorf("answer SDP %q", leg.AnswerSDP())
	}
	deadline := time.Now().Add(3 * time.Second)
	for u.TrunkHealth("kamailio").State != HealthUp {
		if time.Now().After(deadline) {
			t.Fatalf("trunk health %+v, want up", u.TrunkHealth("kamailio"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The BYE follows Kamailio's Record-Route; SIPp succeeds only if it arrives.
	hangup(t, leg)
	s.expectSuccess(10 * time.Second)
}

func TestKamailioRingTimeout(t *testing.T) {
	t.Parallel()
	u, s, m := kamailioTrunk(t, "uas_no_answer.xml", "secret", TrunkConfig{})
	_, err := u.Dial(dialCtx(t, 10*time.Second), DialRequest{Number: "1002", SDP: offerSDP(u.LocalAddr().Addr(), m.port), RingTimeout: 700 * time.Millisecond})
	var de *DialError
	if !errors.As(err, &de) || de.Outcome != OutcomeNoAnswer || de.Code != 487 {
		t.Fatalf("Dial: %v, want no_answer 487", err)
	}
	s.expectSuccess(10 * time.Second)
}

func TestKamailioFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		password string
		number   string
		outcome  Outcome
		code     int
	}{
		{"wrong password", "wrong", "1001", OutcomeAuthFailed, 407},
		{"no credentials", "", "1001", OutcomeAuthFailed, 407},
		{"unrouted number", "secret", "5001", OutcomeUnreachable, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tc := TrunkConfig{}
			u, _, m := kamailioTrunk(t, "", tt.password, tc)
			_, err := u.Dial(dialCtx(t, 10*time.Second), DialRequest{Number: tt.number, SDP: offerSDP(u.LocalAddr().Addr(), m.port)})
			var de *DialError
			if !errors.As(err, &de) || de.Outcome != tt.outcome || de.Code != tt.code {
				t.Fatalf("Dial: %v, want %s %d", err, tt.outcome, tt.code)
			}
		})
	}
}

func TestKamailioRegister(t *testing.T) {
	t.Parallel()
	u, _, _ := kamailioTrunk(t, "", "secret", TrunkConfig{Register: true, RegisterExpires: 60 * time.Second})
	deadline := time.Now().Add(5 * time.Second)
	for !u.TrunkHealth("kamailio").Registered {
		if time.Now().After(deadline) {
			t.Fatalf("not registered: %+v", u.TrunkHealth("kamailio"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
