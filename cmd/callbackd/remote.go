package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/callbackd/callbackd/client"
)

// The commands that talk to a running server's REST API (create, get,
// list, cancel, events, teams, webhooks, and keys with a server) share the
// flags below, the client package, and these exit codes on top of exitOK,
// exitFail and exitUsage. Scripts rely on them (see "callbackd help"), so
// they never change.
const (
	exitNotFound    = 3 // the API answered 404
	exitAuth        = 4 // the API answered 401 or 403 forbidden: the key
	exitUnavailable = 5 // no answer, 429, or 5xx: try again later
)

// defaultServer is api.listen's default.
const defaultServer = "http://127.0.0.1:8080"

// remoteFlagsHelp documents apiFlags in each command's usage.
const remoteFlagsHelp = `  --server URL   the server's API (default: CALLBACKD_URL, else ` + defaultServer + `)
  --key KEY      API key (default: CALLBACKD_API_KEY, else CALLBACKD_ADMIN_KEY)
  --json         print JSON for scripts instead of a table
`

// apiFlags are the flags of every API command.
type apiFlags struct {
	server string
	key    string
	json   bool
}

func (f *apiFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.server, "server", "", "")
	fs.StringVar(&f.key, "key", "", "")
	fs.BoolVar(&f.json, "json", false, "")
}

// serverURL is --server, else CALLBACKD_URL; empty when neither is given.
func (f *apiFlags) serverURL() string {
	return cmp.Or(f.server, os.Getenv("CALLBACKD_URL"))
}

// client makes the API client; a missing key or a bad URL is a usage error.
func (f *apiFlags) client(cmd string, stderr io.Writer) (*client.Client, int, bool) {
	key := cmp.Or(f.key, os.Getenv("CALLBACKD_API_KEY"), os.Getenv("CALLBACKD_ADMIN_KEY"))
	if key == "" {
		return nil, usageError(stderr, cmd, "no API key: give --key or set CALLBACKD_API_KEY"), true
	}
	c, err := client.New(cmp.Or(f.serverURL(), defaultServer), key, client.WithUserAgent("callbackd-cli"))
	if err != nil {
		return nil, usageError(stderr, cmd, "--server: %v", err), true
	}
	return c, 0, false
}

// apiExit reports an error of an API call and returns its exit code.
func apiExit(stderr io.Writer, cmd string, err error) int {
	code := exitFail
	switch e := client.AsError(err); {
	case e != nil && e.Status == 404:
		code = exitNotFound
	case e != nil && (e.Status == 401 || e.Code() == client.CodeForbidden):
		code = exitAuth
	case e != nil && (e.Status == 429 || e.Status >= 500):
		code = exitUnavailable
	case e != nil:
	case client.IsConnection(err):
		code = exitUnavailable
	case errors.Is(err, context.Canceled):
		err = errors.New("interrupted")
	}
	return fail(stderr, cmd, code, err)
}

// parseArgs parses flags given anywhere among the arguments ("get ID
// --json" as well as "get --json ID") and wants exactly the positional
// arguments named in want ("ID", "FILE").
func parseArgs(fs *flag.FlagSet, cmd, usage string, args []string, stdout, stderr io.Writer, want ...string) (pos []string, code int, done bool) {
	for {
		err := fs.Parse(args)
		switch {
		case err == flag.ErrHelp:
			fmt.Fprint(stdout, usage)
			return nil, exitOK, true
		case err != nil:
			return nil, usageError(stderr, cmd, "%v", err), true
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) > len(want) {
		return nil, usageError(stderr, cmd, "unexpected argument %q", pos[len(want)]), true
	}
	if len(pos) < len(want) {
		return nil, usageError(stderr, cmd, "missing %s", want[len(pos)]), true
	}
	return pos, 0, false
}

// newFlagSet is a flag set that reports nothing itself.
func newFlagSet(cmd string) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// isHelp reports a help flag given where a verb is expected.
func isHelp(arg string) bool { return arg == "-h" || arg == "--help" || arg == "-help" }

// usageErr is a bad command line found while checking a command's flags.
type usageErr string

func (e usageErr) Error() string { return string(e) }

func badUsage(format string, a ...any) error { return usageErr(fmt.Sprintf(format, a...)) }

// output is where a command prints, and how.
type output struct {
	w, errw io.Writer
	json    bool
}

// apiAction is what an API command does once its flags are parsed: check
// them (optional; a usageErr exits 2 before anything is sent), then run.
type apiAction struct {
	check func(pos []string) error
	run   func(ctx context.Context, c *client.Client, pos []string, out output) error
}

type runFunc = func(ctx context.Context, args []string, stdout, stderr io.Writer) int

// apiCommand makes the run function of an API command that takes the
// positional arguments want: setup registers the command's own flags on
// top of apiFlags and returns what to do with them.
func apiCommand(cmd, usage string, want []string, setup func(fs *flag.FlagSet) apiAction) runFunc {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		fs := newFlagSet(cmd)
		var af apiFlags
		af.register(fs)
		act := setup(fs)
		pos, code, done := parseArgs(fs, cmd, usage, args, stdout, stderr, want...)
		if done {
			return code
		}
		var ue usageErr
		if act.check != nil {
			if err := act.check(pos); errors.As(err, &ue) {
				return usageError(stderr, cmd, "%s", ue)
			} else if err != nil {
				return fail(stderr, cmd, exitFail, err)
			}
		}
		c, code, done := af.client(cmd, stderr)
		if done {
			return code
		}
		err := act.run(ctx, c, pos, output{w: stdout, errw: stderr, json: af.json})
		if err == nil {
			return exitOK
		}
		if errors.As(err, &ue) {
			return usageError(stderr, cmd, "%s", ue)
		}
		return apiExit(stderr, cmd, err)
	}
}

// verbCommand runs a command made of verbs ("teams list", "teams get ID").
func verbCommand(cmd, usage string, verbs map[string]runFunc) runFunc {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		if len(args) > 0 && isHelp(args[0]) {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		names := strings.Join(slices.Sorted(maps.Keys(verbs)), ", ")
		switch {
		case len(args) == 0:
			return usageError(stderr, cmd, "missing verb: %s", names)
		case strings.HasPrefix(args[0], "-"):
			return usageError(stderr, cmd, "give the verb (%s) before the flags", names)
		}
		if run, ok := verbs[args[0]]; ok {
			return run(ctx, args[1:], stdout, stderr)
		}
		return usageError(stderr, cmd, "unknown verb %q (want %s)", args[0], names)
	}
}

// emit prints v: as JSON with --json, else with show, for people.
func emit[T any](out output, v T, show func(io.Writer, T)) {
	if out.json {
		printJSON(out.w, v)
		return
	}
	show(out.w, v)
}

// apiVerb makes a command (or a verb) without flags of its own that takes
// the positional arguments want, calls do and prints what it returns.
func apiVerb[T any](cmd, usage string, want []string, do func(ctx context.Context, c *client.Client, pos []string) (T, error), show func(io.Writer, T)) runFunc {
	return apiCommand(cmd, usage, want, func(*flag.FlagSet) apiAction {
		return apiAction{run: func(ctx context.Context, c *client.Client, pos []string, out output) error {
			v, err := do(ctx, c, pos)
			if err != nil {
				return err
			}
			emit(out, v, show)
			return nil
		}}
	})
}

// printJSON writes v as one line of JSON.
func printJSON(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil { // the client's types always encode
		panic(err)
	}
	w.Write(append(b, '\n'))
}

// table writes aligned columns for people.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() { t.tw.Flush() }

// when is a time for a table: UTC to the second, "-" when unset.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.DateTime)
}

// orDash is s, or "-" when empty.
func orDash(s string) string { return cmp.Or(s, "-") }
