package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/callbackd/callbackd/config"
	"github.com/callbackd/callbackd/schedule"
	"github.com/callbackd/callbackd/sip"
)

var serveCommand = command{
	name:    "serve",
	summary: "run the callback server: REST API, scheduler, SIP user agent and media relay",
	usage:   serveUsage,
	run:     runServe,
}

const serveUsage = `usage: callbackd serve [--config FILE]

Starts the sandbox trunk (when sandbox.enabled), the RTP port pool, the SIP
user agent (trunk keep-alives and registrations), the store (re-arming every
callback a previous run left pending) and the REST API, logs where each
listens, and runs until SIGINT or SIGTERM. Then it stops taking requests,
lets calls in progress go on for up to shutdown.drain, hangs up the rest,
stores their outcome and exits 0.

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
	srv, err := startServer(ctx, cfg, st, *configPath == "", log, schedule.System)
	if err != nil {
		st.Close()
		return fail(stderr, "serve", exitCode(err), err)
	}
	log.Info("callbackd serving",
		"api", "http://"+srv.ln.Addr().String(),
		"sip", st.ua.LocalAddr().String(),
		"transports", strings.Join(cfg.SIP.Transports, ","),
		"trunks", trunkSummary(cfg, st.ua),
		"media", fmt.Sprintf("%s:%d-%d", cfg.Media.IP, cfg.Media.PortMin, cfg.Media.PortMax),
		"sandbox", sandboxSummary(cfg, st),
		"store", cfg.Store.Path,
		"config", cmp.Or(*configPath, builtinName))

	<-ctx.Done()
	log.Info("shutting down: no new requests or calls")
	var errs []error
	if err := srv.shutdown(cfg.Shutdown.Drain, log); err != nil {
		errs = append(errs, err)
	}
	if err := st.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
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
