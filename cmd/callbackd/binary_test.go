package main

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinary runs the built command as a user does, for what only a real
// process shows: signals and exit codes.
func TestBinary(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)

	t.Run("serve stops on SIGTERM", func(t *testing.T) {
		t.Parallel()
		cfg := writeTestConfig(t, false)
		p := startProc(t, bin, "serve", "--config", cfg.Path)
		p.waitFor(t, true, `"msg":"callbackd serving"`, 10*time.Second)
		stderr := p.Stderr()
		for _, want := range []string{
			`"sip":"` + cfg.IP.String(),
			`"trunks":"sandbox ` + cfg.IP.String(),
			"health=",
		} {
			if !strings.Contains(stderr, want) {
				t.Errorf("start-up log does not contain %q:\n%s", want, stderr)
			}
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.exit(t, 10*time.Second); code != exitOK {
			t.Errorf("exit code %d after SIGTERM, want 0", code)
		}
		if !strings.Contains(p.Stderr(), `"msg":"stopped"`) {
			t.Errorf("no clean stop logged:\n%s", p.Stderr())
		}
	})

	// The README's tour: "callbackd call" beside a running "callbackd serve"
	// with the same configuration calls the server's sandbox.
	t.Run("call beside serve", func(t *testing.T) {
		t.Parallel()
		cfg := writeTestConfig(t, false)
		srv := startProc(t, bin, "serve", "--config", cfg.Path)
		srv.waitFor(t, true, `"msg":"callbackd serving"`, 10*time.Second)

		code, stdout, stderr := runCmd(t, t.Context(), "call", "--config", cfg.Path, "-v",
			"--rep", number(t, "echo"), "--customer", number(t, "tone"), "--max-duration", "1s", "--json")
		if code != exitOK {
			t.Errorf("call exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if r := parseCallJSON(t, stdout).Result; r.RTP.RepToCustomer == 0 || r.RTP.CustomerToRep == 0 {
			t.Errorf("RTP relayed %+v, want both ways > 0", r.RTP)
		}
		if !strings.Contains(stderr, "calling the sandbox there") || !strings.Contains(stderr, "listening on a free port") {
			t.Errorf("call did not say it borrowed the server's sandbox and SIP port:\n%s", stderr)
		}
		// The server's sandbox took the calls.
		srv.waitFor(t, true, `"msg":"sandbox call ended"`, 5*time.Second)

		srv.cmd.Process.Signal(syscall.SIGTERM)
		if code := srv.exit(t, 10*time.Second); code != exitOK {
			t.Errorf("serve exit code %d after SIGTERM, want 0", code)
		}
	})

	t.Run("call hangs up on SIGINT", func(t *testing.T) {
		t.Parallel()
		cfg := writeTestConfig(t, false)
		p := startProc(t, bin, "call", "--config", cfg.Path,
			"--rep", number(t, "echo"), "--customer", number(t, "no-answer"))
		p.waitFor(t, false, "call.ringing    customer", 10*time.Second)
		if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if code := p.exit(t, 10*time.Second); code != exitFail {
			t.Errorf("exit code %d after SIGINT while ringing, want %d", code, exitFail)
		}
		stdout := p.Stdout()
		for _, want := range []string{"call.missed     customer", "call.completed  rep", "outcome       failed", "customer      +15550000004  canceled"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("stdout does not contain %q:\n%s", want, stdout)
			}
		}
		if !strings.Contains(p.Stderr(), "interrupted, hanging up") {
			t.Errorf("no notice of the interrupt on stderr:\n%s", p.Stderr())
		}
	})
}
