package sip

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/testpeer"
)

func loopbackIP(t testing.TB) netip.Addr { return testpeer.LoopbackIP(t) }

// scenario is the path of one of our SIPp scenarios.
func scenario(name string) string { return filepath.Join("..", "testdata", "sipp", name) }

// sippPeer is a one-call SIPp UAS, from testpeer (UDP) or startSIPpTCP.
type sippPeer struct {
	t    testing.TB
	ip   netip.Addr
	port int
	wait func(ctx context.Context) (int, error)
	logs func() string
}

func startSIPp(t testing.TB, name string, echo bool, extra ...string) *sippPeer {
	t.Helper()
	s := testpeer.StartSIPp(t, testpeer.SIPpOptions{
		Scenario: scenario(name),
		RTPEcho:  echo,
		Timeout:  20 * time.Second,
		Extra:    extra,
	})
	return &sippPeer{t: t, ip: s.IP, port: s.Port, wait: s.Wait, logs: s.Messages}
}

// expectExit fails the test unless SIPp exits with want within d (0: every
// step of the scenario happened).
func (s *sippPeer) expectExit(want int, d time.Duration) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	code, err := s.wait(ctx)
	if err != nil || code != want {
		s.t.Fatalf("sipp exit code %d (err %v), want %d\n%s", code, err, want, tail(s.logs(), 8000))
	}
}

func (s *sippPeer) expectSuccess(d time.Duration) {
	s.t.Helper()
	s.expectExit(0, d)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// startSIPpTCP runs SIPp over TCP (-t t1). testpeer.StartSIPp waits for a
// UDP socket, which SIPp does not bind in TCP mode.
func startSIPpTCP(t testing.TB, name string, echo bool) *sippPeer {
	t.Helper()
	testpeer.RequirePeer(t, "sipp")
	ip := testpeer.LoopbackIP(t)
	port := testpeer.FreeUDPPort(t, ip) // free for TCP as well
	mport := testpeer.FreePortPair(t, ip)
	dir := t.TempDir()
	sf, err := filepath.Abs(scenario(name))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-sf", sf, "-t", "t1", "-i", ip.String(), "-p", strconv.Itoa(port),
		"-mi", ip.String(), "-mp", strconv.Itoa(mport), "-m", "1", "-nostdin",
		"-timeout", "20s", "-timeout_error",
		"-trace_msg", "-message_file", filepath.Join(dir, "messages.log"),
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log")}
	if echo {
		args = append(args, "-rtp_echo")
	}
	out, err := os.Create(filepath.Join(dir, "sipp.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sipp", args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); out.Close(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
			return
		default:
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	logs := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "messages.log"))
		e, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
		return string(e) + string(b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !tcpListening(ip, port) {
		select {
		case <-done:
			t.Fatalf("sipp exited at start:\n%s", logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("sipp did not listen")
		}
		time.Sleep(5 * time.Millisecond)
	}
	wait := func(ctx context.Context) (int, error) {
		select {
		case <-done:
			return cmd.ProcessState.ExitCode(), nil
		case <-ctx.Done():
			return -1, ctx.Err()
		}
	}
	return &sippPeer{t: t, ip: ip, port: port, wait: wait, logs: logs}
}

// tcpListening reads /proc/net/tcp: a probe connection would be a call to SIPp.
func tcpListening(ip netip.Addr, port int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	a := ip.As4()
	want := strings.ToUpper(strconv.FormatUint(uint64(a[3])<<24|uint64(a[2])<<16|uint64(a[1])<<8|uint64(a[0]), 16))
	want = strings.Repeat("0", 8-len(want)) + want + ":" + strings.ToUpper(strconv.FormatInt(int64(0x10000+port), 16))[1:]
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[1] == want && f[3] == "0A" {
			return true
		}
	}
	return false
}
