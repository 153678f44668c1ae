package testpeer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func waitExit(t *testing.T, s *SIPp, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, err := s.Wait(ctx)
	if err != nil || code != want {
		t.Errorf("sipp %v exit = %d, %v; want %d", s.Addr(), code, err, want)
	}
}

func TestSIPpBuiltinCall(t *testing.T) {
	t.Parallel()
	uas := StartSIPp(t, SIPpOptions{Builtin: "uas", RTPEcho: true, Timeout: 20 * time.Second})
	uac := StartSIPp(t, SIPpOptions{Builtin: "uac", Service: "1000", Remote: uas.Addr().String(),
		Timeout: 20 * time.Second, Extra: []string{"-d", "200"}})
	waitExit(t, uac, 0)
	waitExit(t, uas, 0)
	if !strings.Contains(uac.Messages(), "SIP/2.0 200 OK") {
		t.Errorf("UAC message log has no 200 OK:\n%s", uac.Messages())
	}
}

// A SIPp that cannot bind its port exits with a fatal code rather than
// hanging StartSIPp.
func TestSIPpBindFailure(t *testing.T) {
	t.Parallel()
	a := StartSIPp(t, SIPpOptions{Builtin: "uas"})
	b := StartSIPp(t, SIPpOptions{Builtin: "uas", IP: a.IP, Port: a.Port, MediaPort: a.MediaPort + 2})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if code, err := b.Wait(ctx); err != nil || code < 254 {
		t.Errorf("second sipp on %v: exit %d, %v; want 254/255", a.Addr(), code, err)
	}
}

// The Kamailio trunk challenges, authenticates and relays an INVITE by its
// first digit to a SIPp UAS, with ACK and BYE along the Record-Route.
func TestKamailioTrunk(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		service  string
		user     string
		pass     string
		wantUAC  int
		wantUAS  bool // whether the UAS must see the call
		wantResp string
	}{
		{"authenticated", "1001", "callback", "secret", 0, true, "SIP/2.0 200 OK"},
		{"plus prefix", "+1555", "callback", "secret", 0, true, "SIP/2.0 200 OK"},
		{"wrong password", "1001", "callback", "wrong", 1, false, "SIP/2.0 407"},
		{"wrong user", "1001", "intruder", "secret", 1, false, "SIP/2.0 407"},
		{"no route", "5001", "callback", "secret", 1, false, "SIP/2.0 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			uas := StartSIPp(t, SIPpOptions{Scenario: "testdata/uas_rr.xml", RTPEcho: true, Timeout: 20 * time.Second})
			k := StartKamailio(t, KamailioOptions{Defines: map[string]string{
				"DEST1": "sip:" + uas.Addr().String(),
			}})
			uac := StartSIPp(t, SIPpOptions{Scenario: "testdata/uac_auth.xml", Service: tt.service,
				Remote: k.Addr().String(), Timeout: 15 * time.Second,
				Extra: []string{"-au", tt.user, "-ap", tt.pass, "-d", "300"}})
			waitExit(t, uac, tt.wantUAC)
			if !strings.Contains(uac.Messages(), tt.wantResp) {
				t.Errorf("UAC did not get %q", tt.wantResp)
			}
			if tt.wantUAS {
				waitExit(t, uas, 0)
				msgs := uas.Messages()
				if !strings.Contains(msgs, "Record-Route: <sip:"+k.IP.String()) {
					t.Errorf("UAS got no Record-Route of the trunk")
				}
				if !strings.Contains(msgs, "BYE sip:") {
					t.Errorf("UAS got no BYE")
				}
				if strings.Contains(msgs, "Proxy-Authorization") {
					t.Errorf("trunk relayed the caller's credentials")
				}
			} else if strings.Contains(uas.Messages(), "INVITE sip:") {
				t.Errorf("UAS got an INVITE that the trunk should have stopped")
			}
		})
	}
}

// An OPTIONS ping to the trunk itself is answered without authentication.
func TestKamailioOptions(t *testing.T) {
	t.Parallel()
	k := StartKamailio(t, KamailioOptions{})
	ping := StartSIPp(t, SIPpOptions{Scenario: "testdata/options.xml", Remote: k.Addr().String(), Timeout: 10 * time.Second})
	waitExit(t, ping, 0)
}

// A CANCEL after the 180 is relayed without a challenge, and the callee's
// 487 reaches the caller.
func TestKamailioCancel(t *testing.T) {
	t.Parallel()
	uas := StartSIPp(t, SIPpOptions{Scenario: "testdata/uas_ring.xml", Timeout: 20 * time.Second})
	k := StartKamailio(t, KamailioOptions{Defines: map[string]string{"DEST4": "sip:" + uas.Addr().String()}})
	uac := StartSIPp(t, SIPpOptions{Scenario: "testdata/uac_cancel.xml", Service: "4004", Remote: k.Addr().String(),
		Timeout: 15 * time.Second, Extra: []string{"-au", "callback", "-ap", "secret"}})
	waitExit(t, uac, 0)
	waitExit(t, uas, 0)
}

// REGISTER is challenged with 401 and then answered 200 with the Contact.
func TestKamailioRegister(t *testing.T) {
	t.Parallel()
	k := StartKamailio(t, KamailioOptions{Defines: map[string]string{"AUTH_USER": "acme", "AUTH_PASS": "pw1"}})
	reg := StartSIPp(t, SIPpOptions{Scenario: "testdata/register.xml", Service: "acme", Remote: k.Addr().String(),
		Timeout: 10 * time.Second, Extra: []string{"-au", "acme", "-ap", "pw1"}})
	waitExit(t, reg, 0)
	if !strings.Contains(reg.Messages(), ";expires=300") {
		t.Errorf("200 to REGISTER does not echo the Contact with its expiry")
	}
}

// A source listed in NOAUTH_SRC is relayed without a challenge.
func TestKamailioNoAuthSource(t *testing.T) {
	t.Parallel()
	uas := StartSIPp(t, SIPpOptions{Scenario: "testdata/uas_rr.xml", Timeout: 20 * time.Second})
	uacIP := LoopbackIP(t)
	k := StartKamailio(t, KamailioOptions{Defines: map[string]string{
		"DEST2":      "sip:" + uas.Addr().String(),
		"NOAUTH_SRC": uacIP.String(),
	}})
	uac := StartSIPp(t, SIPpOptions{Scenario: "testdata/uac_rr.xml", IP: uacIP, Service: "2002", Remote: k.Addr().String(),
		Timeout: 15 * time.Second, Extra: []string{"-d", "200"}})
	waitExit(t, uac, 0)
	waitExit(t, uas, 0)
	if strings.Contains(uac.Messages(), "SIP/2.0 407") {
		t.Errorf("trusted source was challenged")
	}
}

// SIPp calls baresip directly; baresip answers and streams its WAV, SIPp
// echoes it, and the capture sees RTP both ways.
func TestBaresipAnswers(t *testing.T) {
	t.Parallel()
	RequirePeer(t, "tcpdump")
	RequirePeer(t, "tshark")
	rec := t.TempDir()
	b := StartBaresip(t, BaresipOptions{Users: []string{"1000", "1001"}, RecordDir: rec})
	uacIP := LoopbackIP(t)
	capt := StartCapture(t, b.IP, uacIP)
	uac := StartSIPp(t, SIPpOptions{Builtin: "uac", IP: uacIP, Service: "1001", Remote: b.Addr().String(),
		RTPEcho: true, Timeout: 20 * time.Second, Extra: []string{"-d", "2000"}})
	waitExit(t, uac, 0)
	streams, err := capt.RTPStreams(uac.MediaPort)
	if err != nil {
		t.Fatal(err)
	}
	var toSIPp, toBaresip int
	for _, s := range streams {
		t.Log(s)
		switch {
		case s.Dst.Port() == uint16(uac.MediaPort):
			toSIPp += s.Packets
		case s.Src.Port() == uint16(uac.MediaPort):
			toBaresip += s.Packets
		}
	}
	// 2 s of 20 ms packets is 100. This checks that media flows both ways,
	// not its timing: on a loaded 2-core machine baresip was seen stalling
	// for 2.4 s.
	if toSIPp < 25 || toBaresip < 25 {
		t.Errorf("RTP packets baresip->sipp %d, sipp->baresip %d; want >= 25 each", toSIPp, toBaresip)
	}
	if !strings.Contains(b.Log(), "Call established") {
		t.Errorf("baresip log has no established call")
	}
	b.Stop() // closes the recordings
	wavs, _ := filepath.Glob(filepath.Join(rec, "*.wav"))
	if len(wavs) == 0 {
		t.Errorf("no recording in RecordDir")
	}
	for _, w := range wavs {
		fi, err := os.Stat(w)
		if err != nil {
			t.Error(err)
		} else if fi.Size() < 8000 {
			t.Errorf("recording %s has only %d bytes", w, fi.Size())
		}
	}
}

// baresip places a call through ctrl_tcp to a SIPp UAS and hangs up.
func TestBaresipCtrlDial(t *testing.T) {
	t.Parallel()
	b := StartBaresip(t, BaresipOptions{Ctrl: true})
	uas := StartSIPp(t, SIPpOptions{Builtin: "uas", RTPEcho: true, Timeout: 20 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := b.Command(ctx, "dial", "sip:2000@"+uas.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatalf("%v (events %v)", err, b.Events())
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := b.Command(ctx, "hangup", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatal(err)
	}
	waitExit(t, uas, 0)
}
