package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	t.Parallel()
	badConfig := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(badConfig, []byte("sip:\n  listen: 127.0.0.1:5062\n  colour: blue\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missingConfig := filepath.Join(t.TempDir(), "missing.yaml")

	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string // substring of stdout, when set
		stderr     string // substring of stderr, when set
		quietOnErr bool   // stdout must be empty
	}{
		{name: "no command", args: nil, code: exitUsage, stderr: "Usage:"},
		{name: "unknown command", args: []string{"dial"}, code: exitUsage, stderr: `unknown command "dial"`},
		{name: "call missing customer", args: []string{"call", "--rep", "+15550000002"}, code: exitUsage,
			stderr: "missing --customer NUMBER"},
		{name: "call missing rep", args: []string{"call", "--customer", "+15550000001"}, code: exitUsage,
			stderr: "missing --rep NUMBER"},
		{name: "call header injection in customer", args: []string{"call", "--rep", "+15550000002", "--customer", "+1 555\r\nX"},
			code: exitUsage, stderr: `--customer "+1 555\r\nX": number has a non-dialable character`},
		{name: "call letters in second rep", args: []string{"call", "--rep", "+15550000002", "--rep", "sip:evil@example.com", "--customer", "+15550000001"},
			code: exitUsage, stderr: `--rep "sip:evil@example.com"`},
		{name: "call bad caller id", args: []string{"call", "--rep", "1", "--customer", "2", "--caller-id", "12;x"},
			code: exitUsage, stderr: `--caller-id "12;x"`},
		{name: "call unknown flag", args: []string{"call", "--colour", "blue"}, code: exitUsage,
			stderr: "flag provided but not defined: -colour"},
		{name: "call positional argument", args: []string{"call", "--rep", "1", "--customer", "2", "now"}, code: exitUsage,
			stderr: `unexpected argument "now"`},
		{name: "call bad duration", args: []string{"call", "--rep", "1", "--customer", "2", "--max-duration", "soon"},
			code: exitUsage, stderr: `invalid value "soon" for flag -max-duration`},
		{name: "call negative duration", args: []string{"call", "--rep", "1", "--customer", "2", "--max-duration", "-5s"},
			code: exitUsage, stderr: "must not be negative"},
		{name: "call unknown trunk", args: []string{"call", "--rep", "1", "--customer", "2", "--trunk", "nope"},
			code: exitUsage, stderr: `--trunk "nope": no such trunk in the configuration (have: sandbox)`},
		{name: "call missing config file", args: []string{"call", "--rep", "1", "--customer", "2", "--config", missingConfig},
			code: exitUsage, stderr: "load config: config: open "},
		{name: "serve unknown config key", args: []string{"serve", "--config", badConfig}, code: exitUsage,
			stderr: "colour"},
		{name: "serve positional argument", args: []string{"serve", "now"}, code: exitUsage, stderr: `unexpected argument "now"`},
		{name: "help unknown command", args: []string{"help", "dial"}, code: exitUsage, stderr: `unknown command "dial"`},
		{name: "version argument", args: []string{"version", "now"}, code: exitUsage, stderr: `unexpected argument "now"`},

		{name: "help", args: []string{"help"}, code: exitOK, stdout: "Exit status:"},
		{name: "--help", args: []string{"--help"}, code: exitOK, stdout: "Exit status:"},
		{name: "help call", args: []string{"help", "call"}, code: exitOK, stdout: "--max-duration D"},
		{name: "call -h", args: []string{"call", "-h"}, code: exitOK, stdout: "usage: callbackd call"},
		{name: "serve --help", args: []string{"serve", "--help"}, code: exitOK, stdout: "REST API"},
		{name: "version", args: []string{"version"}, code: exitOK, stdout: "callbackd "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCmd(t, t.Context(), tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tt.stdout) {
				t.Errorf("stdout does not contain %q:\n%s", tt.stdout, stdout)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr does not contain %q:\n%s", tt.stderr, stderr)
			}
			if tt.code == exitUsage {
				if stdout != "" {
					t.Errorf("usage error wrote to stdout: %q", stdout)
				}
				// A user-supplied CR/LF must never reach the terminal raw.
				if strings.ContainsAny(stderr, "\r") {
					t.Errorf("stderr holds a raw CR: %q", stderr)
				}
			}
		})
	}
}

// The help text is the documentation of the exit codes scripts depend on.
func TestHelpDocumentsExitCodes(t *testing.T) {
	t.Parallel()
	_, stdout, _ := runCmd(t, t.Context(), "help")
	for _, want := range []string{"0  success", "1  \"call\": the call did not connect", "2  usage or configuration error"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("help does not document %q:\n%s", want, stdout)
		}
	}
}

// A bad CALLBACKD_* override of the built-in configuration is a
// configuration error, not a panic.
func TestBadEnvOverrideOfDefaultConfig(t *testing.T) {
	t.Setenv("CALLBACKD_LOG_LEVEL", "chatty")
	code, _, stderr := runCmd(t, t.Context(), "call", "--rep", "1", "--customer", "2")
	if code != exitUsage || !strings.Contains(stderr, "log.level") || !strings.Contains(stderr, "chatty") {
		t.Errorf("exit %d, stderr %q; want %d naming log.level", code, stderr, exitUsage)
	}
	t.Setenv("CALLBACKD_LOG_LEVEL", "")
	t.Setenv("CALLBACKD_SIP_LISTEN", "nonsense")
	code, _, stderr = runCmd(t, t.Context(), "serve")
	if code != exitUsage || !strings.Contains(stderr, "CALLBACKD_SIP_LISTEN") {
		t.Errorf("exit %d, stderr %q; want %d naming CALLBACKD_SIP_LISTEN", code, stderr, exitUsage)
	}
}

func TestLoadPrompt(t *testing.T) {
	t.Parallel()
	log := discardLogger()
	missing := filepath.Join(t.TempDir(), "nope.wav")
	if clip, err := loadPrompt("bridge.whisper_prompt", missing, true, log); clip != nil || err != nil {
		t.Errorf("built-in config, missing prompt: got %v, %v; want nil, nil (a warning)", clip, err)
	}
	if _, err := loadPrompt("bridge.whisper_prompt", missing, false, log); err == nil || !strings.Contains(err.Error(), "bridge.whisper_prompt") {
		t.Errorf("explicit config, missing prompt: err %v, want one naming the key", err)
	}
	notWAV := filepath.Join(t.TempDir(), "x.wav")
	os.WriteFile(notWAV, []byte("not a wav"), 0o644)
	if _, err := loadPrompt("bridge.unreachable_prompt", notWAV, true, log); err == nil {
		t.Error("a broken WAV is accepted")
	}
}
