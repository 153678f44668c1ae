package rtpload

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// A load generator in the same process as the relay under test shares its
// Go scheduler and garbage collector, which a relay in another process
// (rtpengine) does not. Spawn runs the far ends in a child process instead,
// so that every relay measured gets a process of its own and competes with
// the generator only for the CPU, through the kernel's scheduler.
//
// The child is the test binary itself, run with -test.run naming a test
// function that calls ServeChild, the usual helper-process pattern:
//
//	func TestRtploadChild(t *testing.T) { rtpload.ServeChild(t) }
//
// Parent and child exchange gob messages: the parent writes to the child's
// stdin, the child answers on its file descriptor 3 (stdout stays free for
// the testing package's own output).

// EnvChild is set to "1" in the child's environment.
const EnvChild = "CALLBACKD_RTPLOAD_CHILD"

type childHello struct {
	IP    netip.Addr
	Calls int
}

type childAddrs struct {
	Addrs []netip.AddrPort
	Err   string
}

type childRun struct {
	Targets []netip.AddrPort
	Opts    Options
}

type childResult struct {
	Result Result
	Err    string
}

// Fataler is the part of testing.TB that ServeChild needs.
type Fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// ServeChild is the child side of Spawn. Outside a child (EnvChild unset)
// it returns at once, so the test function that calls it passes as a no-op
// in ordinary test runs.
func ServeChild(t Fataler) {
	if os.Getenv(EnvChild) != "1" {
		return
	}
	t.Helper()
	if err := serveChild(os.Stdin, os.NewFile(3, "rtpload-results")); err != nil {
		t.Fatalf("rtpload child: %v", err)
	}
}

func serveChild(in io.Reader, out io.Writer) error {
	dec, enc := gob.NewDecoder(in), gob.NewEncoder(out)
	var hello childHello
	if err := dec.Decode(&hello); err != nil {
		return fmt.Errorf("read hello: %w", err)
	}
	l, err := New(hello.IP, hello.Calls)
	if err != nil {
		return enc.Encode(childAddrs{Err: err.Error()})
	}
	defer l.Close()
	addrs := make([]netip.AddrPort, len(l.ends))
	for i, e := range l.ends {
		addrs[i] = e.addr
	}
	if err := enc.Encode(childAddrs{Addrs: addrs}); err != nil {
		return err
	}
	var run childRun
	if err := dec.Decode(&run); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // the parent gave up before the run
		}
		return fmt.Errorf("read run: %w", err)
	}
	if len(run.Targets) != len(l.ends) {
		return enc.Encode(childResult{Err: fmt.Sprintf("%d targets for %d far ends", len(run.Targets), len(l.ends))})
	}
	for i, to := range run.Targets {
		l.ends[i].target = to
	}
	cpu0 := processCPU()
	r := l.Run(run.Opts)
	r.GeneratorCPU = processCPU() - cpu0
	return enc.Encode(childResult{Result: r})
}

// processCPU is the user+system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Remote is a Load running in a child process (see Spawn).
type Remote struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	results *os.File
	enc     *gob.Encoder
	dec     *gob.Decoder
	done    chan struct{}
	output  *bytes.Buffer // the child's stdout and stderr; read once done
	addrs   []netip.AddrPort
	targets []netip.AddrPort
	ran     bool
}

// Spawn starts the test binary again as a load generator child running only
// the test named testName (which must call ServeChild), and returns once the
// child has bound 2*calls far ends on ip. Close it when done.
func Spawn(testName string, ip netip.Addr, calls int) (*Remote, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("rtpload: spawn: %w", err)
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("rtpload: spawn: %w", err)
	}
	cmd := exec.Command(exe, "-test.run=^"+testName+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), EnvChild+"=1")
	// The child's output (the testing package's PASS, or its failure) is
	// kept for error messages, not mixed into the benchmark output.
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	cmd.ExtraFiles = []*os.File{wr}
	// Its own process group, and SIGKILL if this process dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		rd.Close()
		wr.Close()
		return nil, fmt.Errorf("rtpload: spawn: %w", err)
	}
	if err := cmd.Start(); err != nil {
		rd.Close()
		wr.Close()
		return nil, fmt.Errorf("rtpload: spawn: %w", err)
	}
	wr.Close() // the child holds its copy
	r := &Remote{cmd: cmd, stdin: stdin, results: rd, enc: gob.NewEncoder(stdin), dec: gob.NewDecoder(rd),
		done: make(chan struct{}), output: &output}
	go func() {
		_ = cmd.Wait()
		close(r.done)
	}()
	if err := r.enc.Encode(childHello{IP: ip, Calls: calls}); err != nil {
		r.Close()
		return nil, fmt.Errorf("rtpload: child: %w", err)
	}
	var a childAddrs
	if err := r.dec.Decode(&a); err != nil {
		r.Close()
		return nil, fmt.Errorf("rtpload: child did not report its far ends (does %s call ServeChild?): %w%s", testName, err, r.childOutput())
	}
	if a.Err != "" {
		r.Close()
		return nil, fmt.Errorf("rtpload: child: %s", a.Err)
	}
	if len(a.Addrs) != 2*calls {
		r.Close()
		return nil, fmt.Errorf("rtpload: child reported %d far ends for %d calls", len(a.Addrs), calls)
	}
	r.addrs = a.Addrs
	r.targets = make([]netip.AddrPort, len(a.Addrs))
	for i := range r.targets {
		r.targets[i] = a.Addrs[i^1]
	}
	return r, nil
}

// Calls is the number of calls.
func (r *Remote) Calls() int { return len(r.addrs) / 2 }

// Addr is the address of a call's far end on leg, as for Load.
func (r *Remote) Addr(call int, leg Leg) netip.AddrPort { return r.addrs[2*call+int(leg)] }

// SetTarget sets where the far end on leg sends, as for Load.
func (r *Remote) SetTarget(call int, leg Leg, to netip.AddrPort) { r.targets[2*call+int(leg)] = to }

// Pid is the child's process id.
func (r *Remote) Pid() int { return r.cmd.Process.Pid }

// Run runs the load in the child and returns its result, whose
// GeneratorCPU is the CPU time the child used during the run.
func (r *Remote) Run(opts Options) (Result, error) {
	if r.ran {
		return Result{}, errors.New("rtpload: Run called twice")
	}
	r.ran = true
	if err := r.enc.Encode(childRun{Targets: r.targets, Opts: opts}); err != nil {
		return Result{}, fmt.Errorf("rtpload: child: %w", err)
	}
	var res childResult
	if err := r.dec.Decode(&res); err != nil {
		return Result{}, fmt.Errorf("rtpload: child result: %w%s", err, r.childOutput())
	}
	if res.Err != "" {
		return Result{}, fmt.Errorf("rtpload: child: %s", res.Err)
	}
	return res.Result, nil
}

// childOutput waits briefly for a failed child to exit and returns the end
// of its output, for an error message.
func (r *Remote) childOutput() string {
	select {
	case <-r.done:
	case <-time.After(2 * time.Second):
		return " (child still running)"
	}
	out := r.output.Bytes()
	if len(out) > 4<<10 {
		out = out[len(out)-4<<10:]
	}
	return fmt.Sprintf(" (child %v; output:\n%s)", r.cmd.ProcessState, out)
}

// Close ends the child: it exits by itself after a run or when its stdin
// closes; SIGKILL to its process group after 5 s otherwise.
func (r *Remote) Close() {
	r.stdin.Close()
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.done
	}
	r.results.Close()
}
