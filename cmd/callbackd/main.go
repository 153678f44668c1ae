// Command callbackd is the callbackd server and its operator tools.
//
//	callbackd serve [--config FILE]
//	callbackd call --rep NUMBER [--rep NUMBER ...] --customer NUMBER [flags]
//	callbackd create --customer NUMBER (--team ID | --rep NUMBER) [flags]
//	callbackd get ID | cancel ID | events ID [--follow] | list [flags]
//	callbackd teams list|get|create|delete ... [flags]
//	callbackd webhooks list|create|delete|deliveries|test ... [flags]
//	callbackd keys create|list|revoke ... [--config FILE | --server URL]
//	callbackd backup [--config FILE] [--key KEY] FILE
//	callbackd version
//	callbackd help [COMMAND]
//
// Run "callbackd help" for the details and the exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

// Exit codes. Scripts rely on them (see "callbackd help"), so they never
// change. The API commands add exitNotFound, exitAuth and exitUnavailable
// (remote.go).
const (
	exitOK    = 0
	exitFail  = 1 // call: not connected; any command: failed at run time
	exitUsage = 2 // bad command line or configuration
)

// version is set at link time (-ldflags "-X main.version=v1.2.3"); empty means
// "ask the build info".
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		// Restore the default handling, so that a second Ctrl-C ends a shutdown
		// that hangs instead of being swallowed.
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand. run gets the arguments after the subcommand name.
type command struct {
	name    string
	summary string
	usage   string // the synopsis and flag help, printed by "help NAME" and on usage errors
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands is filled in init: help refers to the list it is part of.
var commands []command

func init() {
	commands = []command{serveCommand, callCommand, createCommand, getCommand, listCommand, cancelCommand,
		eventsCommand, teamsCommand, webhooksCommand, triggersCommand, keysCommand, backupCommand, versionCommand, helpCommand}
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainHelp())
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, mainHelp())
		return exitOK
	case "-version", "--version":
		args = []string{"version"}
	}
	c, ok := lookup(args[0])
	if !ok {
		fmt.Fprintf(stderr, "callbackd: unknown command %q\nRun 'callbackd help' for the list of commands.\n", args[0])
		return exitUsage
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

// usageError is a bad command line: the message, then a hint where to look.
func usageError(stderr io.Writer, cmd string, format string, a ...any) int {
	fmt.Fprintf(stderr, "callbackd %s: %s\nRun 'callbackd help %s' for usage.\n", cmd, fmt.Sprintf(format, a...), cmd)
	return exitUsage
}

// fail reports a run-time error (what failed is in err) and returns code.
func fail(stderr io.Writer, cmd string, code int, err error) int {
	// The client package names itself in its errors; the command's name
	// says it already.
	fmt.Fprintf(stderr, "callbackd %s: %s\n", cmd, strings.TrimPrefix(err.Error(), "callbackd: "))
	return code
}

// configError marks errors that come from the configuration rather than from
// the world (a port in use), so they exit with exitUsage.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// exitCode maps an error from setting things up to an exit code.
func exitCode(err error) int {
	var ce *configError
	if errors.As(err, &ce) {
		return exitUsage
	}
	return exitFail
}

func mainHelp() string {
	var b strings.Builder
	b.WriteString(`callbackd: programmable callbacks through your own SIP trunk or PBX.

It phones a sales rep and a customer and joins their audio; no cloud telephony
provider is involved. "callbackd serve" runs the REST API that takes callbacks
and the scheduler that places them in business hours and retries them;
"callbackd call" places one call by hand to check a trunk; create, get, list,
cancel, events, teams, webhooks, triggers and keys talk to a running server's
API.

Usage:
  callbackd COMMAND [flags]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.summary)
	}
	b.WriteString(`
Without --config, commands use the built-in default configuration, the same as
configs/callbackd.yaml: SIP and RTP on loopback and the sandbox trunk, which
answers documented test numbers (+15550000001 answers with a tone,
+15550000002 echoes, +15550000003 is busy, ...), so nothing outside is needed.

The API commands find the server in --server URL, else CALLBACKD_URL, else
` + defaultServer + `; the API key in --key, else CALLBACKD_API_KEY, else
CALLBACKD_ADMIN_KEY. They print tables for people, and JSON with --json
(list: {"data": [...], "has_more": BOOL}; events: one event per line).
"keys" works through the API with --server or CALLBACKD_URL, and otherwise
on the store file while the server is stopped (see "callbackd help keys").
Requests are retried on connection errors, 429 and 5xx, each POST with one
Idempotency-Key.

Exit status:
  0  success; for "call": the rep and the customer were connected
  1  "call": the call did not connect (any outcome other than connected);
     any command: something failed at run time, e.g. a port already in use,
     or the API refused the request (invalid: 400, 422; conflict: 409;
     a guardrail: 403 with another problem type than forbidden)
  2  usage or configuration error
  3  the API answered 404: no such callback, team, webhook or key
  4  the API refused the key: 401 (missing, unknown or revoked key) or 403
     forbidden (the key lacks the scope)
  5  no answer from the server (connection refused or broken, timeout), or
     it answered 429 or 5xx, after the retries: try again later

Run 'callbackd help COMMAND' for a command's flags.
`)
	return b.String()
}

var helpCommand = command{
	name:    "help",
	summary: "show this help, or a command's",
	usage:   "usage: callbackd help [COMMAND]\n",
	run: func(_ context.Context, args []string, stdout, stderr io.Writer) int {
		switch len(args) {
		case 0:
			fmt.Fprint(stdout, mainHelp())
			return exitOK
		case 1:
			c, ok := lookup(args[0])
			if !ok {
				return usageError(stderr, "help", "unknown command %q", args[0])
			}
			fmt.Fprint(stdout, c.usage)
			return exitOK
		default:
			return usageError(stderr, "help", "too many arguments")
		}
	},
}

var versionCommand = command{
	name:    "version",
	summary: "print the version",
	usage:   "usage: callbackd version\n",
	run: func(_ context.Context, args []string, stdout, stderr io.Writer) int {
		if len(args) > 0 {
			return usageError(stderr, "version", "unexpected argument %q", args[0])
		}
		fmt.Fprintln(stdout, versionString())
		return exitOK
	},
}

func versionString() string {
	v := version
	info, ok := debug.ReadBuildInfo()
	if !ok {
		if v == "" {
			v = "unknown"
		}
		return "callbackd " + v
	}
	if v == "" {
		v = info.Main.Version
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	s := "callbackd " + v + " " + info.GoVersion
	var rev, modified string
	for _, kv := range info.Settings {
		switch kv.Key {
		case "vcs.revision":
			rev = kv.Value
		case "vcs.modified":
			if kv.Value == "true" {
				modified = "+modified"
			}
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += " " + rev + modified
	}
	return s
}
