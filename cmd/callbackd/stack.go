package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"

	"github.com/callbackd/callbackd/config"
	"github.com/callbackd/callbackd/media"
	"github.com/callbackd/callbackd/sandbox"
	"github.com/callbackd/callbackd/sip"
)

// builtinName names the embedded default configuration in messages.
const builtinName = "built-in default configuration"

// loadConfig reads the file at path, or the built-in default when path is
// empty. Errors are *configError.
func loadConfig(path string) (*config.Config, error) {
	if path != "" {
		c, err := config.Load(path)
		if err != nil {
			return nil, &configError{fmt.Errorf("load config: %w", err)}
		}
		return c, nil
	}
	c, err := config.Default()
	if err != nil {
		return nil, &configError{fmt.Errorf("load config: %w", err)}
	}
	return c, nil
}

// stack is the running telephony side: sandbox trunk, RTP port pool, SIP UA.
type stack struct {
	sandbox *sandbox.Sandbox // nil when disabled or when another process serves it
	pool    *media.Pool
	ua      *sip.UA
}

// startStack starts the parts in dependency order: the sandbox first, so
// that the UA's first keep-alive to the sandbox trunk finds it answering.
//
// With borrow set (the call command), a sandbox address already in use is
// taken to be a running "callbackd serve" whose sandbox can be called, and a
// SIP port in use makes the UA listen on a free port instead: an operator
// checks a trunk with "callbackd call" while the server runs.
func startStack(ctx context.Context, cfg *config.Config, log *slog.Logger, borrow bool) (_ *stack, err error) {
	s := &stack{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	if cfg.Sandbox.Enabled {
		sb, err := sandbox.New(cfg.Sandbox, log)
		if err != nil {
			return nil, &configError{fmt.Errorf("sandbox: %w", err)}
		}
		// The sandbox outlives ctx (a Ctrl-C) until Close, so that our BYEs
		// still reach it while the call is torn down.
		err = sb.Start(context.WithoutCancel(ctx))
		switch {
		case err == nil:
			s.sandbox = sb
		case borrow && errors.Is(err, syscall.EADDRINUSE):
			sb.Close()
			log.Info("sandbox address in use, probably by a running callbackd serve; calling the sandbox there",
				"sandbox", cfg.Sandbox.Listen)
		default:
			sb.Close()
			return nil, fmt.Errorf("start sandbox trunk: %w", err)
		}
	}

	s.pool, err = media.NewPool(cfg.Media, log)
	if err != nil {
		return nil, &configError{fmt.Errorf("media: %w", err)}
	}

	s.ua, err = startUA(ctx, cfg.SIP, cfg.Trunks, log)
	if borrow && errors.Is(err, syscall.EADDRINUSE) {
		sc := cfg.SIP
		if sc.Listen, err = anyPort(sc.Listen); err != nil {
			return nil, &configError{fmt.Errorf("sip.listen: %w", err)}
		}
		if sc.TLSCert != "" {
			// Listen's port + 1 would be port 1 now.
			if sc.TLSListen, err = anyPort(cmp.Or(sc.TLSListen, sc.Listen)); err != nil {
				return nil, &configError{fmt.Errorf("sip.tls_listen: %w", err)}
			}
		}
		log.Info("sip listen address in use, probably by a running callbackd serve; listening on a free port",
			"configured", cfg.SIP.Listen)
		s.ua, err = startUA(ctx, sc, cfg.Trunks, log)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

func startUA(ctx context.Context, sc sip.Config, trunks []sip.TrunkConfig, log *slog.Logger) (*sip.UA, error) {
	ua, err := sip.New(sc, trunks, log)
	if err != nil {
		return nil, &configError{fmt.Errorf("sip: %w", err)}
	}
	if err := ua.Start(ctx); err != nil {
		ua.Close()
		return nil, fmt.Errorf("start sip user agent: %w", err)
	}
	return ua, nil
}

// anyPort keeps addr's IP and lets the system pick the port.
func anyPort(addr string) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, "0"), nil
}

// Close stops the parts in reverse order: the UA hangs up its legs while the
// pool and the sandbox can still carry the BYEs and the last packets.
func (s *stack) Close() error {
	var errs []error
	if s.ua != nil {
		if err := s.ua.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close sip user agent: %w", err))
		}
	}
	if s.pool != nil {
		s.pool.Close()
	}
	if s.sandbox != nil {
		if err := s.sandbox.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close sandbox trunk: %w", err))
		}
	}
	return errors.Join(errs...)
}
