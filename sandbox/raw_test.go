package sandbox

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/testpeer"
)

// rawSIP is a bare UDP socket for sending hand-written SIP, to test what
// a well-behaved client library would never do (skip the ACK, send BYE for
// an unknown dialog).
type rawSIP struct {
	conn *net.UDPConn
	dst  netip.AddrPort
}

func newRawSIP(t *testing.T, s *Sandbox) *rawSIP {
	t.Helper()
	ip := testpeer.LoopbackIP(t)
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawSIP{conn: conn, dst: s.Addr()}
}

func (r *rawSIP) local() netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (r *rawSIP) send(t *testing.T, msg string) {
	t.Helper()
	msg = strings.ReplaceAll(strings.TrimLeft(msg, "\n"), "\n", "\r\n")
	if _, err := r.conn.WriteToUDPAddrPort([]byte(msg), r.dst); err != nil {
		t.Fatal(err)
	}
}

// recv returns the start lines and To headers of messages received within
// d, returning early once it has max messages (max 0: no limit).
func (r *rawSIP) recv(d time.Duration, max int) (lines []string, tos []string) {
	buf := make([]byte, 4096)
	deadline := time.Now().Add(d)
	for {
		_ = r.conn.SetReadDeadline(deadline)
		n, err := r.conn.Read(buf)
		if err != nil {
			return
		}
		sc := bufio.NewScanner(bytes.NewReader(buf[:n]))
		sc.Scan()
		lines = append(lines, sc.Text())
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(strings.ToLower(l), "to:") {
				tos = append(tos, strings.TrimSpace(l[3:]))
			}
		}
		if max > 0 && len(lines) >= max {
			return
		}
	}
}

func count(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func rawInvite(r *rawSIP, callID, number, branch string) string {
	l := r.local()
	body := offerSDP(netip.AddrPortFrom(l.Addr(), 4000), "0")
	return fmt.Sprintf(`
INVITE sip:%s@%s SIP/2.0
Via: SIP/2.0/UDP %s;branch=%s
From: <sip:raw@%s>;tag=rawtag
To: <sip:%s@%s>
Call-ID: %s
CSeq: 1 INVITE
Contact: <sip:raw@%s>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: %d

%s`, number, r.dst, l, branch, l, number, r.dst, callID, l, len(body), strings.ReplaceAll(string(body), "\r\n", "\n"))
}

// Without an ACK the 200 OK is retransmitted (T1, 2*T1, ...); the ACK stops it.
func TestOKRetransmittedUntilACK(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	r := newRawSIP(t, s)
	r.send(t, rawInvite(r, "retrans-1", NumberEcho, "z9hG4bK-raw-1"))
	lines, tos := r.recv(1700*time.Millisecond, 3) // 200 at 0, 0.5, 1.5 s
	if n := count(lines, "SIP/2.0 200"); n < 3 {
		t.Fatalf("%d 200 OKs in 1.7 s, want 3: %v", n, lines)
	}
	for _, to := range tos[1:] {
		if to != tos[0] {
			t.Fatalf("To changed between responses: %q vs %q", tos[0], to)
		}
	}
	l := r.local()
	r.send(t, fmt.Sprintf(`
ACK sip:sandbox@%s SIP/2.0
Via: SIP/2.0/UDP %s;branch=z9hG4bK-raw-ack
From: <sip:raw@%s>;tag=rawtag
To: %s
Call-ID: retrans-1
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

`, r.dst, l, l, tos[0]))
	// Without the ACK the next copy would come 2 s after the last one.
	lines, _ = r.recv(2200*time.Millisecond, 0)
	if n := count(lines, "SIP/2.0 200"); n != 0 {
		t.Fatalf("200 OK retransmitted after ACK: %v", lines)
	}
	r.send(t, fmt.Sprintf(`
BYE sip:sandbox@%s SIP/2.0
Via: SIP/2.0/UDP %s;branch=z9hG4bK-raw-bye
From: <sip:raw@%s>;tag=rawtag
To: %s
Call-ID: retrans-1
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

`, r.dst, l, l, tos[0]))
	if lines, _ := r.recv(time.Second, 1); count(lines, "SIP/2.0 200") != 1 {
		t.Fatalf("BYE: %v", lines)
	}
	st := waitCall(t, s, "retrans-1", "end", func(c CallStats) bool { return !c.Active() })
	if st.EndCause != "caller_bye" {
		t.Fatalf("stats %+v", st)
	}
}

func TestOutOfDialogRequests(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	r := newRawSIP(t, s)
	l := r.local()
	tests := []struct {
		method string
		want   string
	}{
		{"BYE", "SIP/2.0 481"},
		{"CANCEL", "SIP/2.0 481"},
		{"INFO", "SIP/2.0 405"},
	}
	for i, tt := range tests {
		r.send(t, fmt.Sprintf(`
%s sip:x@%s SIP/2.0
Via: SIP/2.0/UDP %s;branch=z9hG4bK-ood-%d
From: <sip:raw@%s>;tag=a
To: <sip:x@%s>;tag=nosuchdialog
Call-ID: ood-%d
CSeq: 1 %s
Max-Forwards: 70
Content-Length: 0

`, tt.method, r.dst, l, i, l, r.dst, i, tt.method))
		lines, _ := r.recv(500*time.Millisecond, 1)
		if count(lines, tt.want) != 1 {
			t.Errorf("%s: got %v, want %s", tt.method, lines, tt.want)
		}
	}
	// A second INVITE with a live call's Call-ID but a new branch.
	r.send(t, rawInvite(r, "dup-1", NumberNoAnswer, "z9hG4bK-dup-1"))
	lines, _ := r.recv(time.Second, 1)
	if count(lines, "SIP/2.0 180") != 1 {
		t.Fatalf("first INVITE: %v", lines)
	}
	r.send(t, rawInvite(r, "dup-1", NumberNoAnswer, "z9hG4bK-dup-2"))
	lines, _ = r.recv(time.Second, 1)
	if count(lines, "SIP/2.0 482") != 1 {
		t.Fatalf("duplicate INVITE: %v", lines)
	}
}
