package testpeer

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// SIPpOptions configures one SIPp run. Zero values get sensible defaults.
type SIPpOptions struct {
	// Scenario is the XML scenario file (-sf), relative to the test's
	// working directory or absolute.
	Scenario string
	// Builtin names an embedded scenario (-sn: uac, uas, ...), used when
	// Scenario is empty.
	Builtin string
	// IP is the local SIP and media address (-i, -mi); default LoopbackIP.
	IP netip.Addr
	// Port is the local SIP port (-p); default a free port. SIPp binds 5060
	// when -p is missing, so it is always passed.
	Port int
	// MediaPort is the local RTP port (-mp); default a free even port.
	MediaPort int
	// RTPEcho sends every RTP packet received on MediaPort back (-rtp_echo).
	RTPEcho bool
	// Remote is the host:port to send to (a UAC's target); empty for a UAS.
	Remote string
	// Service is the Request-URI user (-s).
	Service string
	// Calls ends SIPp after this many calls (-m); default 1.
	Calls int
	// Timeout ends SIPp with an error after this long (-timeout,
	// -timeout_error); default 30 s.
	Timeout time.Duration
	// Extra arguments, e.g. "-au", "user", "-ap", "pass", "-d", "2000".
	Extra []string
	// Dir is the working directory (paths in <exec rtp_stream> are relative
	// to it); default the scenario's folder, or a temp dir for Builtin.
	Dir string
	// NetNS runs SIPp inside this network namespace (`ip netns exec`), e.g.
	// a NetNS's Name; IP is then required and must be an address there
	// (its NSIP). Default ports are drawn without probing the host, whose
	// sockets are not the namespace's.
	NetNS string
}

// SIPp is a running SIPp instance.
type SIPp struct {
	IP        netip.Addr
	Port      int
	MediaPort int
	// LogDir holds messages.log (all SIP, -trace_msg), errors.log
	// (-trace_err), logs.log (<log> actions) and sipp.log (stdout: the
	// final statistics screens).
	LogDir string

	p *process
}

// StartSIPp starts SIPp and returns once its SIP socket is bound (or it has
// already ended, as a fast UAC may). It is stopped in t.Cleanup, and its
// logs are written to the test output when the test failed.
func StartSIPp(t testing.TB, opts SIPpOptions) *SIPp {
	t.Helper()
	RequirePeer(t, "sipp")
	bin, _ := peerPath("sipp")
	if opts.Scenario == "" && opts.Builtin == "" {
		t.Fatalf("testpeer: SIPpOptions needs Scenario or Builtin")
	}
	if opts.NetNS != "" {
		if !opts.IP.IsValid() {
			t.Fatalf("testpeer: SIPpOptions.NetNS %q needs IP, an address in that namespace", opts.NetNS)
		}
		if opts.Port == 0 {
			opts.Port = nsPorts(t, 1, false)
		}
		if opts.MediaPort == 0 {
			opts.MediaPort = nsPorts(t, 4, true) // RTP, RTCP, and -rtp_echo's +2, +3
		}
	}
	if !opts.IP.IsValid() {
		opts.IP = LoopbackIP(t)
	}
	if opts.Port == 0 {
		opts.Port = FreeUDPPort(t, opts.IP)
	}
	if opts.MediaPort == 0 {
		opts.MediaPort = FreePortPair(t, opts.IP)
	}
	if opts.Calls == 0 {
		opts.Calls = 1
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	logDir := t.TempDir()
	var args []string
	if opts.Scenario != "" {
		sf, err := filepath.Abs(opts.Scenario)
		if err != nil {
			t.Fatalf("testpeer: scenario path: %v", err)
		}
		if _, err := os.Stat(sf); err != nil {
			t.Fatalf("testpeer: SIPp scenario: %v", err)
		}
		args = append(args, "-sf", sf)
		if opts.Dir == "" {
			opts.Dir = filepath.Dir(sf)
		}
	} else {
		args = append(args, "-sn", opts.Builtin)
		if opts.Dir == "" {
			opts.Dir = logDir
		}
	}
	ip := opts.IP.String()
	args = append(args,
		"-i", ip, "-p", strconv.Itoa(opts.Port),
		"-mi", ip, "-mp", strconv.Itoa(opts.MediaPort),
		"-m", strconv.Itoa(opts.Calls),
		"-nostdin",
		"-timeout", strconv.FormatInt(opts.Timeout.Milliseconds(), 10)+"ms", "-timeout_error",
		"-trace_err", "-error_file", filepath.Join(logDir, "errors.log"),
		"-trace_msg", "-message_file", filepath.Join(logDir, "messages.log"),
		"-trace_logs", "-log_file", filepath.Join(logDir, "logs.log"),
	)
	if opts.RTPEcho {
		args = append(args, "-rtp_echo")
	}
	if opts.Service != "" {
		args = append(args, "-s", opts.Service)
	}
	args = append(args, opts.Extra...)
	if opts.Remote != "" {
		args = append(args, opts.Remote)
	}
	name := "sipp " + opts.IP.String() + ":" + strconv.Itoa(opts.Port)
	bound := func(pid int) bool { return socketBound("udp", opts.IP, opts.Port) }
	if opts.NetNS != "" {
		// ip netns exec enters the namespace and execs SIPp in the same
		// process: its /proc/<pid>/net shows the namespace's sockets once
		// /proc/<pid>/ns/net is the namespace.
		nsPath := filepath.Join(netnsDir, opts.NetNS)
		if _, err := os.Stat(nsPath); err != nil {
			t.Fatalf("testpeer: SIPp network namespace: %v", err)
		}
		ipBin, err := peerPath("ip")
		if err != nil {
			t.Fatalf("testpeer: SIPp in network namespace %s: %v", opts.NetNS, err)
		}
		args = append([]string{"netns", "exec", opts.NetNS, bin}, args...)
		bin = ipBin
		name += " (netns " + opts.NetNS + ")"
		bound = func(pid int) bool {
			return inNetNSOf(pid, nsPath) &&
				socketBoundIn(filepath.Join("/proc", strconv.Itoa(pid), "net"), "udp", opts.IP, opts.Port)
		}
	}
	p := startProcess(t, name, opts.Dir, filepath.Join(logDir, "sipp.log"), bin, args...)
	p.logs = append(p.logs,
		filepath.Join(logDir, "errors.log"),
		filepath.Join(logDir, "messages.log"),
		filepath.Join(logDir, "logs.log"))
	s := &SIPp{IP: opts.IP, Port: opts.Port, MediaPort: opts.MediaPort, LogDir: logDir, p: p}
	pid := p.cmd.Process.Pid
	p.waitReady("SIP socket "+s.Addr().String(), func() bool { return bound(pid) })
	return s
}

// Addr is SIPp's SIP address.
func (s *SIPp) Addr() netip.AddrPort {
	return netip.AddrPortFrom(s.IP, uint16(s.Port))
}

// Wait blocks until SIPp ends and returns its exit code: 0 when every call
// passed, 1 when some failed, 254/255 on a fatal error (e.g. bind).
func (s *SIPp) Wait(ctx context.Context) (int, error) {
	return s.p.wait(ctx)
}

// Stop ends SIPp with SIGTERM (SIGKILL after 5 s) and waits for it.
func (s *SIPp) Stop() { s.p.stop() }

// Messages returns the SIP messages SIPp sent and received so far.
func (s *SIPp) Messages() string {
	b, _ := os.ReadFile(filepath.Join(s.LogDir, "messages.log"))
	return string(b)
}

// Scenario returns the path of one of testpeer's own SIPp scenarios, for
// tests in other packages:
//
//   - uac_auth.xml: INVITE through an authenticating proxy (407, then -au/-ap
//     credentials), ACK and BYE along the Record-Route after -d ms; a second
//     407 fails the call at once.
//   - uac_rr.xml: the same without authentication.
//   - uas_rr.xml: answers behind a record-routing proxy (180, 200 with PCMU),
//     waits for the caller's BYE.
//   - uac_cancel.xml: INVITE through an authenticating proxy, CANCEL after
//     the 180, expects 200 to the CANCEL and 487.
//   - uas_ring.xml: rings (180) until cancelled, answers 487 with the
//     INVITE's own Via and CSeq.
//   - options.xml: one OPTIONS, expects 200.
//   - register.xml: REGISTER, 401, REGISTER with credentials, expects 200.
func Scenario(t testing.TB, name string) string {
	t.Helper()
	p := RepoPath(t, "internal", "testpeer", "testdata", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testpeer: scenario: %v", err)
	}
	return p
}
