// Package testpeer starts real SIP peers (SIPp, Kamailio, baresip) and packet
// captures for tests, each on its own loopback address and free ports so that
// packages can run in parallel.
//
// A test that needs a peer binary is skipped when the binary is missing,
// unless CALLBACKD_REQUIRE_PEERS=1 (set by `make test`), where it fails: CI
// must never pass by skipping everything.
package testpeer

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvRequirePeers turns a missing peer binary from a skip into a failure.
const EnvRequirePeers = "CALLBACKD_REQUIRE_PEERS"

// ReadyTimeout bounds how long a peer may take to bind its socket. Kamailio
// was seen taking 0.8 s on a loaded 2-core machine; -race and parallel
// packages make it slower still.
var ReadyTimeout = 20 * time.Second

// debianPackage names the package that provides each peer, for skip messages.
var debianPackage = map[string]string{
	"sipp":      "sip-tester",
	"kamailio":  "kamailio",
	"baresip":   "baresip-core",
	"tcpdump":   "tcpdump",
	"tshark":    "tshark",
	"rtpengine": "rtpengine-daemon",
	"sox":       "sox",
	"espeak-ng": "espeak-ng",
}

// RequirePeer skips the test when bin is not installed, or fails it when
// CALLBACKD_REQUIRE_PEERS=1.
func RequirePeer(t testing.TB, bin string) {
	t.Helper()
	if _, err := peerPath(bin); err == nil {
		return
	}
	pkg := debianPackage[bin]
	if pkg == "" {
		pkg = bin
	}
	if os.Getenv(EnvRequirePeers) == "1" {
		t.Fatalf("peer %q not installed and %s=1: install Debian package %s (.ci/install-peers.sh)", bin, EnvRequirePeers, pkg)
	}
	t.Skipf("peer %q not installed: skipping (apt-get install %s, or run `make test`)", bin, pkg)
}

// peerPath finds bin on PATH, then in the sbin folders that a non-login
// root shell may lack (kamailio lives in /usr/sbin).
func peerPath(bin string) (string, error) {
	if p, err := exec.LookPath(bin); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin", "/usr/local/bin"} {
		p := filepath.Join(dir, bin)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", bin, exec.ErrNotFound)
}

// RepoRoot returns the module root (the folder holding go.mod), found by
// walking up from the test's working directory (its package folder).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testpeer: getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("testpeer: no go.mod above the working directory")
		}
		dir = parent
	}
}

// RepoPath joins elems to the module root, e.g. RepoPath(t, "testdata", "audio", "whisper.wav").
func RepoPath(t testing.TB, elems ...string) string {
	t.Helper()
	return filepath.Join(append([]string{RepoRoot(t)}, elems...)...)
}

// process is a peer child process with its log files.
type process struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // from cmd.Wait, valid after done
	logs []string

	stopOnce sync.Once
}

// startProcess runs path with args in dir, stdout and stderr to logFile, and
// registers a cleanup that stops it and dumps its logs when the test failed.
func startProcess(t testing.TB, name, dir, logFile string, path string, args ...string) *process {
	t.Helper()
	out, err := os.Create(logFile)
	if err != nil {
		t.Fatalf("testpeer: %s: create log: %v", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Stdout = out
	cmd.Stderr = out
	// Each peer leads a process group of its own, so that stop reaches the
	// workers Kamailio forks too. Pdeathsig covers a test binary that dies
	// without cleanup: SIGTERM lets the peer end its own children.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("testpeer: start %s: %v", name, err)
	}
	p := &process{t: t, name: name, cmd: cmd, done: make(chan struct{}), logs: []string{logFile}}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	t.Logf("testpeer: started %s (pid %d): %s %s", name, cmd.Process.Pid, filepath.Base(path), strings.Join(args, " "))
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			p.dumpLogs()
		}
	})
	return p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stopGrace is how long a peer may take to end after SIGTERM. Kamailio's
// main process waits for busy workers before it exits.
const stopGrace = 10 * time.Second

// stop sends SIGTERM to the peer's process group and waits; a group still
// there after stopGrace gets SIGKILL, so no forked worker is left behind.
func (p *process) stop() {
	p.stopOnce.Do(func() {
		pgid := p.cmd.Process.Pid // the peer leads its group (Setpgid)
		if !p.exited() {
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(stopGrace):
				p.t.Logf("testpeer: %s ignored SIGTERM for %v, killing process group %d", p.name, stopGrace, pgid)
			}
		}
		// Workers may outlive their main process: end the whole group.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	})
}

// wait returns the exit code once the process has ended. A process ended by
// a signal reports -1 and an error naming the signal.
func (p *process) wait(ctx context.Context) (int, error) {
	select {
	case <-p.done:
	case <-ctx.Done():
		return -1, fmt.Errorf("wait for %s: %w", p.name, ctx.Err())
	}
	st := p.cmd.ProcessState
	if st == nil {
		return -1, fmt.Errorf("%s: %w", p.name, p.err)
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, fmt.Errorf("%s killed by signal %v", p.name, ws.Signal())
	}
	return st.ExitCode(), nil
}

// maxDump caps how much of one log is copied into the test output.
const maxDump = 64 << 10

func (p *process) dumpLogs() {
	for _, f := range p.logs {
		b, err := os.ReadFile(f)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				p.t.Logf("testpeer: %s log %s: %v", p.name, filepath.Base(f), err)
			}
			continue
		}
		if len(b) > maxDump {
			b = append([]byte("...[cut]...\n"), b[len(b)-maxDump:]...)
		}
		p.t.Logf("testpeer: ===== %s %s =====\n%s", p.name, filepath.Base(f), b)
	}
}

// waitReady polls until ready() holds or the process exits. It reports
// whether the peer became ready; an exit before that returns false.
func (p *process) waitReady(what string, ready func() bool) bool {
	p.t.Helper()
	deadline := time.Now().Add(ReadyTimeout)
	for {
		if ready() {
			return true
		}
		if p.exited() {
			return false
		}
		if time.Now().After(deadline) {
			p.stop()
			p.dumpLogs()
			p.t.Fatalf("testpeer: %s not ready after %v: %s", p.name, ReadyTimeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mustBeReady is waitReady for long-running peers, whose early exit is fatal.
func (p *process) mustBeReady(what string, ready func() bool) {
	p.t.Helper()
	if !p.waitReady(what, ready) {
		code, err := p.wait(context.Background())
		p.dumpLogs()
		p.t.Fatalf("testpeer: %s exited before it was ready (%s): code %d %v", p.name, what, code, err)
	}
}

// socketBound reports whether a socket is bound to ip:port (or the wildcard
// address with that port) by reading /proc/net/{udp,tcp}: a probe that binds
// the port itself could steal it from the peer.
func socketBound(proto string, ip netip.Addr, port int) bool {
	return socketBoundIn("/proc/net", proto, ip, port)
}

// socketBoundIn is socketBound for the network namespace whose /proc net
// folder is procNet, e.g. /proc/<pid>/net for the namespace of process pid.
func socketBoundIn(procNet, proto string, ip netip.Addr, port int) bool {
	f, err := os.Open(filepath.Join(procNet, proto))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 {
			continue
		}
		if proto == "tcp" && fields[3] != "0A" { // LISTEN
			continue
		}
		addr, ok := parseProcAddr(fields[1])
		if !ok || int(addr.Port()) != port {
			continue
		}
		if addr.Addr() == ip || addr.Addr().IsUnspecified() {
			return true
		}
	}
	return false
}

// parseProcAddr decodes "0100007F:13C4": the address is the in-memory
// (network order) u32 printed in host byte order, the port is plain hex.
func parseProcAddr(s string) (netip.AddrPort, bool) {
	h, portHex, ok := strings.Cut(s, ":")
	if !ok || len(h) != 8 {
		return netip.AddrPort{}, false
	}
	raw, err := hex.DecodeString(h)
	if err != nil {
		return netip.AddrPort{}, false
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], binary.BigEndian.Uint32(raw))
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(netip.AddrFrom4(b), uint16(port)), true
}

// fileContains reports whether the file at path contains substr.
func fileContains(path, substr string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(b), substr)
}
