package bridge

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/callbackd/callbackd/sip"
)

// The real-peer suite against Asterisk, for users who run it. Start Asterisk
// with testdata/asterisk (docker compose, see its README), then:
//
//	CALLBACKD_TEST_ASTERISK=127.0.0.1:5060 go test -race -run Asterisk ./bridge
//
// CALLBACKD_TEST_ASTERISK_PASSWORD overrides the trunk password ("secret").
// pjsip.conf identifies callbackd by its source address 127.0.0.1, so the UA
// and the RTP pool bind there.
func asteriskEnv(t *testing.T) *env {
	t.Helper()
	addr := requireAsterisk(t)
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("CALLBACKD_TEST_ASTERISK=%q: want host:port: %v", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatalf("CALLBACKD_TEST_ASTERISK=%q: bad port: %v", addr, err)
	}
	password := os.Getenv("CALLBACKD_TEST_ASTERISK_PASSWORD")
	if password == "" {
		password = "secret"
	}
	return newEnv(t, envOptions{
		ip:    netip.MustParseAddr("127.0.0.1"),
		trunk: &sip.TrunkConfig{Name: "asterisk", Host: host, Port: port, Username: "callbackd", Password: password, FromUser: "callbackd"},
	})
}

func requireAsterisk(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("CALLBACKD_TEST_ASTERISK")
	if addr == "" {
		t.Skip("Asterisk suite skipped: set CALLBACKD_TEST_ASTERISK=host:port of an Asterisk running testdata/asterisk (see testdata/asterisk/README.md)")
	}
	return addr
}

// The numbers are those of testdata/asterisk/extensions.conf: 6xxx is the
// audio source (a tone), the others echo it back.
func TestAsterisk(t *testing.T) {
	requireAsterisk(t)
	tests := []struct {
		name          string
		rep, customer string
		want          Outcome
		wantCode      int
		minBToA       uint64 // customer -> rep packets
	}{
		{"rings then answers", "6001", "2001", Connected, 200, 50},
		{"early media then answer", "6001", "5001", Connected, 200, 100},
		{"customer busy", "6001", "3001", CustomerBusy, 486, 0},
		{"rep never answers", "4001", "6001", RepNoAnswer, 487, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := asteriskEnv(t)
			plan := Plan{Trunk: "asterisk", Reps: reps(tt.rep), Customer: Party{Number: tt.customer},
				RepRingTimeout: 2 * time.Second, CustomerRingTimeout: 10 * time.Second, MaxDuration: 3 * time.Second}
			res, _ := e.run(t, plan, 30*time.Second)
			if res.Outcome != tt.want || res.Code != tt.wantCode {
				t.Fatalf("outcome %s code %d (%s); want %s %d", res.Outcome, res.Code, res.Cause, tt.want, tt.wantCode)
			}
			if tt.want != Connected {
				return
			}
			if res.HungUpBy != HangupMaxDuration || res.Relay.AToB < 50 || res.Relay.BToA < tt.minBToA {
				t.Errorf("hung up by %s, relay %+v; want max_duration, >= 50 rep->customer, >= %d customer->rep", res.HungUpBy, res.Relay, tt.minBToA)
			}
			checkLegTimes(t, res.Reps[0], false)
			checkLegTimes(t, res.Customer, true)
		})
	}
}
