package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/callbackd/callbackd/api"
	"github.com/callbackd/callbackd/bridge"
	"github.com/callbackd/callbackd/config"
	"github.com/callbackd/callbackd/engine"
	"github.com/callbackd/callbackd/media/audio"
	"github.com/callbackd/callbackd/metrics"
	"github.com/callbackd/callbackd/sandbox"
	"github.com/callbackd/callbackd/schedule"
	"github.com/callbackd/callbackd/sip"
	"github.com/callbackd/callbackd/store"
	"github.com/callbackd/callbackd/webhook"
)

// bootstrapKeyID is the ID under which api.admin_key is stored, so that
// changing the key in the configuration replaces it rather than adding one.
const bootstrapKeyID = "key_config_admin"

// server is the callback service on top of the telephony stack.
type server struct {
	db      *store.DB
	engine  *engine.Engine
	api     *api.Server
	http    *http.Server
	ln      net.Listener
	metrics *metrics.Metrics
	sender  *webhook.Sender

	stopPrune func() // stops pruneIdempotency and waits for it
}

// idemPruneInterval is how often expired idempotency records are deleted.
const idemPruneInterval = time.Hour

// openStore opens the bbolt file, creating its folder.
func openStore(cfg *config.Config) (*store.DB, error) {
	if err := os.MkdirAll(filepath.Dir(cfg.Store.Path), 0o700); err != nil {
		return nil, fmt.Errorf("store folder: %w", err)
	}
	db, err := store.Open(cfg.Store.Path, store.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", cfg.Store.Path, err)
	}
	return db, nil
}

// startServer opens the store, starts the engine (which re-arms what a
// previous run left pending) and listens for the API.
func startServer(ctx context.Context, cfg *config.Config, st *stack, builtin bool, log *slog.Logger, clk schedule.Clock) (_ *server, err error) {
	s := &server{metrics: metrics.New()}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.db, err = openStore(cfg); err != nil {
		return nil, err
	}
	if cfg.API.AdminKey != "" {
		k := &store.APIKey{ID: bootstrapKeyID, Name: "admin key from the configuration", Prefix: cfg.API.AdminKey[:min(12, len(cfg.API.AdminKey))],
			Hash: api.HashKey(cfg.API.AdminKey), Scopes: []string{store.ScopeAdmin}, CreatedAt: time.Now().UTC()}
		if err := s.db.PutAPIKey(k); err != nil {
			return nil, fmt.Errorf("store the configured admin key: %w", err)
		}
	}

	// The sender starts first so that the events the engine's recovery
	// writes are sent too.
	s.sender = webhook.New(s.db, webhookConfig(cfg, log, s.metrics))
	if err := s.sender.Start(ctx); err != nil {
		return nil, fmt.Errorf("start webhook sender: %w", err)
	}
	ecfg, err := engineConfig(cfg, builtin, log)
	if err != nil {
		return nil, err
	}
	br := bridge.New(st.ua, st.pool, log)
	if s.engine, err = engine.New(ecfg, s.db, br, clk, log, s.metrics); err != nil {
		return nil, &configError{fmt.Errorf("engine: %w", err)}
	}
	if err := s.engine.Start(ctx); err != nil {
		return nil, fmt.Errorf("start engine: %w", err)
	}

	pctx, cancel := context.WithCancel(context.Background())
	pruned := make(chan struct{})
	go func() { defer close(pruned); pruneIdempotency(pctx, s.db, log) }()
	s.stopPrune = func() { cancel(); <-pruned }

	checks := []api.Check{{Name: "store", Fn: func(context.Context) error { return s.db.Ping() }}}
	for _, t := range cfg.Trunks {
		name := t.Name
		checks = append(checks, api.Check{Name: "trunk:" + name, Fn: func(context.Context) error {
			// Unknown (no keep-alive configured, or none answered yet) is
			// not a failure: only a trunk known to be down is.
			if h := st.ua.TrunkHealth(name); h.State == sip.HealthDown {
				return fmt.Errorf("trunk %s down: %s", name, h.LastError)
			}
			return nil
		}})
	}
	s.api = api.New(s.engine, s.db, api.Options{Checks: checks, Log: log, Metrics: s.metrics})
	s.api.SetBackup(s.db.Backup)

	if s.ln, err = net.Listen("tcp", cfg.API.Listen); err != nil {
		return nil, fmt.Errorf("api listen: %w", err)
	}
	s.http = &http.Server{
		Handler:           s.api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("api server stopped", "err", err)
		}
	}()
	return s, nil
}

// shutdown stops taking requests, lets calls in progress run for up to
// drain, then hangs up what is left and closes the store with everything
// recorded.
func (s *server) shutdown(drain time.Duration, log *slog.Logger) error {
	var errs []error
	// Requests already being served get a few seconds; new ones are refused.
	hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := s.http.Shutdown(hctx); err != nil {
		// A client that opened a connection and sent nothing keeps
		// Shutdown waiting; closing it loses no request.
		log.Warn("api connections still open after 5 s; closing them", "err", err)
		s.http.Close()
	}
	cancel()
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	log.Info("draining calls in progress", "drain", drain)
	if err := s.engine.Shutdown(dctx); err != nil {
		errs = append(errs, fmt.Errorf("engine: %w", err))
	}
	s.engine = nil
	s.http = nil
	// Deliveries in flight get a moment; whatever is left stays pending in
	// the store for the next start.
	wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Second)
	if err := s.sender.Close(wctx); err != nil {
		log.Warn("webhook deliveries still in flight at exit; they stay pending", "err", err)
	}
	wcancel()
	s.sender = nil
	if err := s.close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// pruneIdempotency deletes the idempotency records older than their TTL,
// at start and then every idemPruneInterval, until ctx ends: without it
// every keyed POST would be kept for ever.
func pruneIdempotency(ctx context.Context, db *store.DB, log *slog.Logger) {
	t := time.NewTicker(idemPruneInterval)
	defer t.Stop()
	for {
		n, err := db.PruneIdempotency(time.Now().Add(-store.IdempotencyTTL))
		switch {
		case err != nil:
			log.Warn("pruning idempotency records failed", "err", err)
		case n > 0:
			log.Info("idempotency records pruned", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// close releases what start-up acquired, for a start that failed half way.
func (s *server) close() error {
	var errs []error
	if s.stopPrune != nil {
		s.stopPrune()
		s.stopPrune = nil
	}
	if s.http != nil {
		errs = append(errs, s.http.Close())
	} else if s.ln != nil {
		s.ln.Close()
	}
	if s.engine != nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // hang up at once
		errs = append(errs, s.engine.Shutdown(ctx))
	}
	if s.sender != nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.sender.Close(ctx) // pending deliveries stay in the store
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	return errors.Join(errs...)
}

// engineConfig turns the configuration into the engine's.
func engineConfig(cfg *config.Config, builtin bool, log *slog.Logger) (engine.Config, error) {
	plan, err := buildPlan(cfg, builtin, log)
	if err != nil {
		return engine.Config{}, &configError{err}
	}
	plan.Trunk = cfg.Bridge.Trunk
	ec := engine.Config{
		Trunk:  cfg.Bridge.Trunk,
		Limits: map[string]engine.Limit{},
		Guard: engine.Guardrails{
			Allow:           cfg.Guardrails.Allow,
			Deny:            cfg.Guardrails.Deny,
			PerNumberPerDay: cfg.Guardrails.PerNumberPerDay,
		},
		Plan: plan,
		CheckWebhookURL: func(ctx context.Context, u string) error {
			return webhook.CheckURL(ctx, u, cfg.Webhooks.AllowPrivateURLs)
		},
	}
	for _, t := range cfg.Trunks {
		ec.Limits[t.Name] = engine.Limit{MaxCalls: t.MaxCalls, CallsPerSecond: t.CallsPerSecond}
	}
	if cfg.Sandbox.Enabled {
		for _, n := range sandbox.Numbers {
			ec.TestNumbers = append(ec.TestNumbers, n.Number)
		}
	}
	// A team's whisper names a WAV beside the configured one.
	dir := filepath.Dir(cfg.Bridge.WhisperPrompt)
	ec.Prompt = func(name string) (*audio.Clip, error) {
		if name != filepath.Base(name) {
			return nil, fmt.Errorf("whisper %q: a file name, not a path", name)
		}
		return audio.LoadWAVFile(filepath.Join(dir, name))
	}
	return ec, nil
}

// webhookConfig turns the configuration into the webhook sender's.
func webhookConfig(cfg *config.Config, log *slog.Logger, m *metrics.Metrics) webhook.Config {
	w := cfg.Webhooks
	ua := "callbackd"
	if version != "" {
		ua += "/" + version
	}
	return webhook.Config{
		Workers:      w.Workers,
		PerTarget:    w.PerTarget,
		Timeout:      w.Timeout,
		Schedule:     w.RetrySchedule,
		DisableAfter: w.DisableAfter,
		AllowPrivate: w.AllowPrivateURLs,
		UserAgent:    ua,
		Log:          log,
		OnAttempt: func(_ *store.Delivery, a store.DeliveryAttempt) {
			m.WebhookAttempt(a.StatusCode >= 200 && a.StatusCode < 300, time.Duration(a.LatencyMS*float64(time.Millisecond)))
		},
	}
}
