package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/callbackd/callbackd/config"
	"github.com/callbackd/callbackd/sip"
)

var serveCommand = command{
	name:    "serve",
	summary: "run the SIP user agent, media relay and sandbox trunk until stopped",
	usage:   serveUsage,
	run:     runServe,
}

const serveUsage = `usage: callbackd serve [--config FILE]

Starts the sandbox trunk (when sandbox.enabled), the RTP port pool and the SIP
user agent (trunk keep-alives and registrations), logs where SIP listens and
the trunks' health, and runs until SIGINT or SIGTERM, then shuts down cleanly
and exits 0.

Nothing asks serve to place calls yet: the REST API, scheduling and webhooks
are planned for later issues. To place a call today, use "callbackd call".

Flags:
  --config FILE  configuration file (default: the built-in default, the same
                 as configs/callbackd.yaml: loopback and the sandbox trunk)
`

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configPath := fs.String("config", "", "")
	if code, done := parseFlags(fs, "serve", serveUsage, args, stdout, stderr); done {
		return code
	}

	cfg, err := loadConfig(*configPath)
	if err != nil {
		return fail(stderr, "serve", exitCode(err), err)
	}
	log := cfg.Log.NewLogger(stderr)

	st, err := startStack(ctx, cfg, log, false)
	if err != nil {
		return fail(stderr, "serve", exitCode(err), err)
	}
	log.Info("callbackd serving",
		"sip", st.ua.LocalAddr().String(),
		"transports", strings.Join(cfg.SIP.Transports, ","),
		"trunks", trunkSummary(cfg, st.ua),
		"media", fmt.Sprintf("%s:%d-%d", cfg.Media.IP, cfg.Media.PortMin, cfg.Media.PortMax),
		"sandbox", sandboxSummary(cfg, st),
		"config", cmp.Or(*configPath, builtinName))

	<-ctx.Done()
	log.Info("shutting down")
	if err := st.Close(); err != nil {
		return fail(stderr, "serve", exitFail, fmt.Errorf("shut down: %w", err))
	}
	log.Info("stopped")
	return exitOK
}

// parseFlags parses args into fs and rejects positional arguments. done is
// true when the command must return code at once (-h, or a usage error).
func parseFlags(fs *flag.FlagSet, cmd, usage string, args []string, stdout, stderr io.Writer) (code int, done bool) {
	err := fs.Parse(args)
	switch {
	case err == flag.ErrHelp:
		fmt.Fprint(stdout, usage)
		return exitOK, true
	case err != nil:
		return usageError(stderr, cmd, "%v", err), true
	case fs.NArg() > 0:
		return usageError(stderr, cmd, "unexpected argument %q", fs.Arg(0)), true
	}
	return 0, false
}

// trunkSummary is "name host:port transport health" per trunk, for the start-up line.
func trunkSummary(cfg *config.Config, ua *sip.UA) string {
	parts := make([]string, 0, len(cfg.Trunks))
	for _, t := range cfg.Trunks {
		transport := cmp.Or(t.Transport, "udp")
		port := t.Port
		if port == 0 {
			port = 5060
			if transport == "tls" {
				port = 5061
			}
		}
		parts = append(parts, fmt.Sprintf("%s %s %s health=%s", t.Name,
			net.JoinHostPort(t.Host, strconv.Itoa(port)), transport, ua.TrunkHealth(t.Name).State))
	}
	return strings.Join(parts, "; ")
}

func sandboxSummary(cfg *config.Config, st *stack) string {
	switch {
	case !cfg.Sandbox.Enabled:
		return "off"
	case st.sandbox != nil:
		return st.sandbox.Addr().String()
	default:
		return "borrowed " + cfg.Sandbox.Listen
	}
}
