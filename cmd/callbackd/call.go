package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/callbackd/callbackd/bridge"
	"github.com/callbackd/callbackd/config"
	"github.com/callbackd/callbackd/media/audio"
	"github.com/callbackd/callbackd/sip"
)

var callCommand = command{
	name:    "call",
	summary: "place one bridged call and print its events and result",
	usage:   callUsage,
	run:     runCall,
}

const callUsage = `usage: callbackd call --rep NUMBER [--rep NUMBER ...] --customer NUMBER [flags]

Places one bridged call through a configured trunk, the way a callback will
be placed: dials the rep (the next --rep on no answer, busy or decline), plays
the whisper prompt, dials the customer, joins their audio until either hangs
up or --max-duration passes (bridge.customer_first dials the customer first).
Prints each event as it happens, then the result. This is the tool to check
a trunk. Ctrl-C hangs the call up cleanly.

It starts its own SIP user agent, RTP port pool and (when sandbox.enabled)
sandbox trunk. While "callbackd serve" runs with the same configuration, it
calls the sandbox of that server and listens for SIP on a free port instead.

Flags:
  --rep NUMBER           rep to call; repeat to try several in order (required)
  --customer NUMBER      customer to call (required)
  --config FILE          configuration file (default: the built-in default, the
                         same as configs/callbackd.yaml)
  --trunk NAME           trunk to call through (default: bridge.trunk)
  --caller-id NUMBER     number the customer sees (default: the trunk's from_user;
                         the rep sees the customer's number)
  --max-duration D       hang up after D of talk, e.g. 30s (default:
                         bridge.max_call_length; 0: no limit)
  --json                 print events and the result as JSON lines
  -v                     log at the configuration's log level (default: only
                         warnings and errors, so the events stand out)

Numbers are E.164-like: an optional '+', then digits, '*' and '#'.

Exit status: 0 connected, 1 not connected (any other outcome, or a run-time
failure), 2 usage or configuration error.
`

// numberList collects a repeated flag.
type numberList []string

func (l *numberList) String() string     { return strings.Join(*l, ",") }
func (l *numberList) Set(v string) error { *l = append(*l, v); return nil }

func runCall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const cmd = "call"
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var reps numberList
	fs.Var(&reps, "rep", "")
	customer := fs.String("customer", "", "")
	configPath := fs.String("config", "", "")
	trunk := fs.String("trunk", "", "")
	callerID := fs.String("caller-id", "", "")
	maxDuration := fs.Duration("max-duration", -1, "")
	asJSON := fs.Bool("json", false, "")
	verbose := fs.Bool("v", false, "")
	if code, done := parseFlags(fs, cmd, callUsage, args, stdout, stderr); done {
		return code
	}

	// Numbers are checked here, before anything starts, so that a typo is a
	// usage error and not a failed call.
	if len(reps) == 0 {
		return usageError(stderr, cmd, "missing --rep NUMBER")
	}
	if *customer == "" {
		return usageError(stderr, cmd, "missing --customer NUMBER")
	}
	for _, n := range reps {
		if err := sip.ValidateNumber(n); err != nil {
			return usageError(stderr, cmd, "--rep %q: %v", n, err)
		}
	}
	if err := sip.ValidateNumber(*customer); err != nil {
		return usageError(stderr, cmd, "--customer %q: %v", *customer, err)
	}
	if *callerID != "" {
		if err := sip.ValidateNumber(*callerID); err != nil {
			return usageError(stderr, cmd, "--caller-id %q: %v", *callerID, err)
		}
	}
	if *maxDuration < -1 {
		return usageError(stderr, cmd, "--max-duration %v: must not be negative", *maxDuration)
	}

	cfg, err := loadConfig(*configPath)
	if err != nil {
		return fail(stderr, cmd, exitCode(err), err)
	}
	if *trunk == "" {
		*trunk = cfg.Bridge.Trunk
	}
	names := make([]string, len(cfg.Trunks))
	for i, t := range cfg.Trunks {
		names[i] = t.Name
	}
	if !slices.Contains(names, *trunk) {
		return usageError(stderr, cmd, "--trunk %q: no such trunk in the configuration (have: %s)", *trunk, strings.Join(names, ", "))
	}

	logCfg := cfg.Log
	if !*verbose {
		logCfg.Level = "warn"
	}
	log := logCfg.NewLogger(stderr)

	plan, err := buildPlan(cfg, *configPath == "", log)
	if err != nil {
		return fail(stderr, cmd, exitUsage, err)
	}
	plan.Trunk = *trunk
	for _, n := range reps {
		plan.Reps = append(plan.Reps, bridge.Party{Number: n})
	}
	plan.Customer = bridge.Party{Number: *customer}
	// The rep learns who is calling before picking up.
	plan.RepCallerID = bridge.CallerID{Number: *customer}
	plan.CustomerCallerID = bridge.CallerID{Number: *callerID}
	if *maxDuration >= 0 {
		plan.MaxDuration = *maxDuration
	}

	out := newPrinter(stdout, *asJSON)
	plan.OnEvent = out.event

	st, err := startStack(ctx, cfg, log, true)
	if err != nil {
		return fail(stderr, cmd, exitCode(err), err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Warn("shutting down after the call", "err", err)
		}
	}()

	stopNotice := context.AfterFunc(ctx, func() {
		fmt.Fprintln(stderr, "callbackd call: interrupted, hanging up (interrupt again to quit at once)")
	})
	defer stopNotice()

	res, err := bridge.New(st.ua, st.pool, log).Run(ctx, plan)
	if err != nil {
		return fail(stderr, cmd, exitUsage, fmt.Errorf("run call: %w", err))
	}
	out.result(res)
	if res.Outcome != bridge.Connected {
		return exitFail
	}
	return exitOK
}

// buildPlan turns the configuration's bridge section into a Plan without the
// parties. builtin is true for the embedded default configuration.
func buildPlan(cfg *config.Config, builtin bool, log *slog.Logger) (bridge.Plan, error) {
	b := cfg.Bridge
	p := bridge.Plan{
		RepRingTimeout:      b.RepRingTimeout,
		CustomerRingTimeout: b.CustomerRingTimeout,
		MaxDuration:         b.MaxCallLength,
		RequireAccept:       b.RequireAccept,
		AcceptTimeout:       b.AcceptTimeout,
		CustomerFirst:       b.CustomerFirst,
	}
	var err error
	if p.Whisper, err = loadPrompt("bridge.whisper_prompt", b.WhisperPrompt, builtin, log); err != nil {
		return p, err
	}
	if p.Unreachable, err = loadPrompt("bridge.unreachable_prompt", b.UnreachablePrompt, builtin, log); err != nil {
		return p, err
	}
	return p, nil
}

// loadPrompt reads a prompt WAV (path already resolved by config). The
// built-in configuration names the repository's prompts relative to the
// working directory, so outside a checkout they are missing: that is worth a
// warning, not a refusal to call, since a call works without prompts.
func loadPrompt(key, path string, builtin bool, log *slog.Logger) (*audio.Clip, error) {
	if path == "" {
		return nil, nil
	}
	clip, err := audio.LoadWAVFile(path)
	if builtin && errors.Is(err, os.ErrNotExist) {
		log.Warn("prompt of the built-in configuration not found (run from the repository root, or use --config); playing none",
			"key", key, "path", path)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return clip, nil
}
