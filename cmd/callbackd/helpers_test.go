package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/testpeer"
)

// testAdminKey is the admin API key of the test configurations.
const testAdminKey = "test-admin-key-0123456789abcdef"

// testConfig writes a configuration like configs/callbackd.yaml, but on a
// loopback address and ports of the test's own, so that it runs beside other
// packages' tests and a developer's "make run".
type testConfig struct {
	Path       string
	IP         netip.Addr
	SIPPort    int
	SandboxSIP int
	API        string // http://IP:port
	Store      string
}

// configOptions changes writeTestConfig's defaults.
type configOptions struct {
	prompts bool
	// trunk replaces the sandbox trunk (YAML list items under trunks:);
	// the sandbox stays on, so its numbers are still accepted.
	trunk string
	// trunkName is the trunk calls go out through (default sandbox).
	trunkName string
	// store is the store file (default a new one in a temp dir).
	store string
	// extra YAML appended (guardrails:, shutdown:).
	extra string
	// quiet logs only warnings (benchmarks).
	quiet bool
	// mediaPorts is the size of the RTP port range (default 20).
	mediaPorts int
}

func writeTestConfig(t *testing.T, prompts bool) testConfig {
	t.Helper()
	return writeTestConfigOpts(t, configOptions{prompts: prompts})
}

func writeTestConfigOpts(t testing.TB, o configOptions) testConfig {
	t.Helper()
	ip := testpeer.LoopbackIP(t)
	c := testConfig{IP: ip, SIPPort: testpeer.FreeUDPPort(t, ip), SandboxSIP: testpeer.FreeUDPPort(t, ip)}
	apiPort := testpeer.FreeUDPPort(t, ip)
	c.API = fmt.Sprintf("http://%s:%d", ip, apiPort)
	c.Store = o.store
	if c.Store == "" {
		c.Store = filepath.Join(t.TempDir(), "data", "callbackd.db")
	}
	lo, hi := testpeer.FreePortRange(t, ip, cmp.Or(o.mediaPorts, 20))
	var promptLines string
	if o.prompts {
		promptLines = fmt.Sprintf("  whisper_prompt: %s\n  unreachable_prompt: %s\n",
			testpeer.RepoPath(t, "testdata", "audio", "whisper.wav"),
			testpeer.RepoPath(t, "testdata", "audio", "customer-unreachable.wav"))
	}
	trunk := o.trunk
	if trunk == "" {
		trunk = fmt.Sprintf("  - name: sandbox\n    host: %s\n    port: %d\n", ip, c.SandboxSIP)
	}
	trunkName := o.trunkName
	if trunkName == "" {
		trunkName = "sandbox"
	}
	extra := o.extra
	if !strings.Contains(extra, "guardrails:") {
		extra += "guardrails:\n  allow: [\"+1\"]\n  per_number_per_day: -1\n"
	}
	yaml := fmt.Sprintf(`sip:
  listen: %[1]s:%[2]d
  transports: [udp]
trunks:
%[8]smedia:
  ip: %[1]s
  port_min: %[4]d
  port_max: %[5]d
  port_hold: 1s
sandbox:
  enabled: true
  listen: %[1]s:%[3]d
bridge:
  trunk: %[9]s
  rep_ring_timeout: 5s
  customer_ring_timeout: 5s
%[6]sapi:
  listen: %[1]s:%[7]d
  admin_key: %[10]s
store:
  path: %[11]s
%[12]slog:
  level: info
  format: json
`, ip, c.SIPPort, c.SandboxSIP, lo, hi, promptLines, apiPort, trunk, trunkName, testAdminKey, c.Store, extra)
	c.Path = filepath.Join(t.TempDir(), "callbackd.yaml")
	if err := os.WriteFile(c.Path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// runCmd runs the command in-process and returns its exit code and output.
func runCmd(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// callOutput is the --json output of "callbackd call".
type callOutput struct {
	Events []jsonEvent
	Result *jsonResult
}

func parseCallJSON(t *testing.T, stdout string) callOutput {
	t.Helper()
	var o callOutput
	for line := range strings.Lines(stdout) {
		var kind struct{ Kind string }
		if err := json.Unmarshal([]byte(line), &kind); err != nil {
			t.Fatalf("stdout line is not JSON: %q: %v", line, err)
		}
		switch kind.Kind {
		case "event":
			var e jsonEvent
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatal(err)
			}
			o.Events = append(o.Events, e)
		case "result":
			if o.Result != nil {
				t.Fatalf("second result line: %q", line)
			}
			o.Result = new(jsonResult)
			if err := json.Unmarshal([]byte(line), o.Result); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("stdout line of unknown kind: %q", line)
		}
	}
	if o.Result == nil {
		t.Fatalf("no result line in stdout:\n%s", stdout)
	}
	return o
}

// buildBinary builds cmd/callbackd into a temp dir, with -race when the test
// runs with it, so the packages just compiled for the test are reused.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "callbackd")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, ".")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is the built binary running, its output collected line by line.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and output is read
	err  error

	mu     sync.Mutex
	stdout []string
	stderr []string
	lines  chan struct{} // signalled on each new line
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan struct{}), lines: make(chan struct{}, 1)}
	outR, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var readers sync.WaitGroup
	readers.Add(2)
	go p.collect(&readers, outR, &p.stdout)
	go p.collect(&readers, errR, &p.stderr)
	go func() {
		readers.Wait()
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s stdout:\n%s\nstderr:\n%s", filepath.Base(bin), p.Stdout(), p.Stderr())
		}
	})
	return p
}

func (p *proc) collect(wg *sync.WaitGroup, r io.Reader, into *[]string) {
	defer wg.Done()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		p.mu.Lock()
		*into = append(*into, sc.Text())
		p.mu.Unlock()
		select {
		case p.lines <- struct{}{}:
		default:
		}
	}
}

func (p *proc) Stdout() string { p.mu.Lock(); defer p.mu.Unlock(); return strings.Join(p.stdout, "\n") }
func (p *proc) Stderr() string { p.mu.Lock(); defer p.mu.Unlock(); return strings.Join(p.stderr, "\n") }

// waitFor waits until stdout or stderr (as chosen) contains s.
func (p *proc) waitFor(t *testing.T, stderr bool, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		out := p.Stdout()
		if stderr {
			out = p.Stderr()
		}
		if strings.Contains(out, s) {
			return
		}
		select {
		case <-p.lines:
		case <-p.done:
			t.Fatalf("process exited (%v) before printing %q", p.err, s)
		case <-deadline:
			t.Fatalf("no %q within %v", s, timeout)
		}
	}
}

// exit waits for the process to end and returns its exit code.
func (p *proc) exit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("process still running after %v", timeout)
	}
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatalf("wait: %v", p.err)
	return -1
}
