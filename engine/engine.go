package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/callbackd/callbackd/bridge"
	"github.com/callbackd/callbackd/media/audio"
	"github.com/callbackd/callbackd/metrics"
	"github.com/callbackd/callbackd/schedule"
	"github.com/callbackd/callbackd/store"
	"github.com/callbackd/callbackd/trigger"
)

// Limit is a trunk's capacity. Calls beyond it wait in the queue; they are
// never refused.
type Limit struct {
	// MaxCalls is the number of concurrent calls (SIP dialogs) the trunk
	// takes; an attempt holds two, one per leg. 0 = no limit.
	MaxCalls int
	// CallsPerSecond is the number of attempts started per second.
	// 0 = no limit.
	CallsPerSecond float64
}

// Guardrails limit where and how often callbacks call, against toll fraud
// and harassment.
type Guardrails struct {
	// Allow lists the E.164 prefixes ("+1", "+44", "+4420") customer and
	// rep numbers may have. Empty: the calling codes of all teams' reps.
	Allow []string
	// Deny lists prefixes never called, on top of the numbers
	// libphonenumber types as premium rate, which are always refused.
	Deny []string
	// PerNumberPerDay limits the callbacks created for one customer number
	// in 24 hours: 0 = DefaultPerNumberPerDay, -1 = no limit.
	PerNumberPerDay int
}

// Defaults of Config.
const (
	DefaultTick             = 10 * time.Millisecond
	DefaultMetadataMaxBytes = 8 << 10
	DefaultPerNumberPerDay  = 5
	MetadataMaxKeys         = 50
	MetadataMaxKeyLen       = 40
	MetadataMaxValueLen     = 500
)

// Config is what the engine needs from the configuration file.
type Config struct {
	// Trunk is the trunk every call goes out through.
	Trunk string
	// Limits are per trunk name.
	Limits map[string]Limit
	Guard  Guardrails
	// TestNumbers are accepted without libphonenumber's validity check and
	// without guardrails: the sandbox trunk's numbers.
	TestNumbers []string
	// Plan is the base of every attempt's plan: timeouts, whisper, accept,
	// unreachable prompt, customer first, maximum duration. The engine
	// fills in trunk, parties, caller IDs and the team's settings.
	Plan bridge.Plan
	// Prompt loads a team's whisper by name; nil: the base whisper only.
	Prompt func(name string) (*audio.Clip, error)
	// Tick is the timer wheel's resolution; 0 = DefaultTick.
	Tick time.Duration
	// MetadataMaxBytes bounds a callback's metadata (keys plus values);
	// 0 = DefaultMetadataMaxBytes.
	MetadataMaxBytes int
	// CheckWebhookURL says whether webhooks may be sent to a URL (a
	// webhook endpoint's url, a callback's webhook_url) beyond its syntax,
	// such as that it is a public address (webhook.CheckURL); its error is
	// the refusal's message. nil: the syntax checks only.
	CheckWebhookURL func(ctx context.Context, url string) error
}

// Engine runs callbacks. Create it with New, then call Start once, and
// Shutdown at the end.
type Engine struct {
	cfg   Config
	st    Store
	dial  Dialer
	clk   schedule.Clock
	log   *slog.Logger
	m     *metrics.Metrics
	wheel *schedule.Wheel
	disp  *dispatcher

	allow    []string          // configured allow prefixes; empty = teams'
	deny     []string          // configured deny prefixes
	tests    map[string]string // compact form of a test number -> as configured
	perDay   int               // -1 = no limit
	numLocks [64]sync.Mutex    // serialise count-then-create per customer number

	mu        sync.Mutex
	started   bool
	draining  bool // Shutdown began: no new callbacks, no new dispatches
	cutting   bool // Shutdown's drain time is over: hang up what runs
	timers    map[string]*armed
	timerIDs  map[uint64]*armed
	nextTimer uint64
	runs      map[string]*run // callback ID -> its running attempt
	teamAllow []string        // default allow prefixes from the teams; nil = recompute
	teamGen   uint64          // counts team changes, so a stale list is not cached

	triggers *triggerCache
	limiter  *trigger.Limiter

	stopLoops context.CancelFunc
	loopCtx   context.Context // the wheel's, dispatcher's and pruner's; nil before Start
	loops     sync.WaitGroup  // wheel, dispatcher and pruner goroutines
	attempts  sync.WaitGroup  // attempt goroutines
}

// New checks cfg and returns an engine that is not yet running. clk nil
// means schedule.System, log nil discards, m may be nil.
func New(cfg Config, st Store, d Dialer, clk schedule.Clock, log *slog.Logger, m *metrics.Metrics) (*Engine, error) {
	if st == nil || d == nil {
		return nil, errors.New("engine: store and dialer are required")
	}
	if cfg.Trunk == "" {
		return nil, errors.New("engine: trunk is required")
	}
	if clk == nil {
		clk = schedule.System
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Tick <= 0 {
		cfg.Tick = DefaultTick
	}
	if cfg.MetadataMaxBytes <= 0 {
		cfg.MetadataMaxBytes = DefaultMetadataMaxBytes
	}
	e := &Engine{
		cfg: cfg, st: st, dial: d, clk: clk, log: log, m: m,
		tests:    map[string]string{},
		timers:   map[string]*armed{},
		timerIDs: map[uint64]*armed{},
		runs:     map[string]*run{},
		triggers: newTriggerCache(),
		limiter:  trigger.NewLimiter(clk.Now),
	}
	var err error
	if e.allow, err = prefixes("allow", cfg.Guard.Allow); err != nil {
		return nil, err
	}
	if e.deny, err = prefixes("deny", cfg.Guard.Deny); err != nil {
		return nil, err
	}
	switch p := cfg.Guard.PerNumberPerDay; {
	case p == 0:
		e.perDay = DefaultPerNumberPerDay
	case p == -1 || p > 0:
		e.perDay = p
	default:
		return nil, fmt.Errorf("engine: per_number_per_day %d: must be positive, 0 (default) or -1 (no limit)", p)
	}
	for _, n := range cfg.TestNumbers {
		c := compact(n)
		if c == "" {
			continue
		}
		e.tests[c] = n
		// The sandbox answers its numbers with or without '+'.
		e.tests[strings.TrimPrefix(c, "+")] = n
	}
	lim := cfg.Limits[cfg.Trunk]
	if lim.MaxCalls < 0 || lim.CallsPerSecond < 0 {
		return nil, fmt.Errorf("engine: limits of trunk %q: negative", cfg.Trunk)
	}
	e.disp = newDispatcher(cfg.Trunk, lim)
	e.wheel = schedule.NewWheel(cfg.Tick, clk.Now())
	return e, nil
}

// prefixes checks configured E.164 prefixes: '+' and one to fifteen digits.
func prefixes(what string, in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, p := range in {
		c := compact(p)
		if len(c) < 2 || len(c) > 16 || c[0] != '+' || strings.Trim(c[1:], "0123456789") != "" {
			return nil, fmt.Errorf("engine: guardrails %s prefix %q: want '+' and digits, such as +44", what, p)
		}
		out = append(out, c)
	}
	return out, nil
}

// Start recovers from the store (an attempt that was running when the
// process stopped is recorded as interrupted and retried by policy), arms
// every pending callback and starts the wheel, the dispatcher and the
// pruner of trigger dedup records. Cancelling ctx stops them as Shutdown
// does, but leaves calls in progress running: Shutdown decides when they
// end.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errors.New("engine: started twice")
	}
	e.started = true
	e.mu.Unlock()

	pending, err := e.st.Pending()
	if err != nil {
		return fmt.Errorf("engine: reading pending callbacks: %w", err)
	}
	armed := 0
	for _, cb := range pending {
		if cb.Status == store.InProgress {
			if cb, err = e.recoverInterrupted(cb); err != nil {
				return err
			}
		}
		if cb.Status == store.Scheduled {
			e.arm(cb.ID, cb.NextAttemptAt, cb.CreatedAt)
			armed++
		}
	}
	counts, err := e.st.CountByStatus()
	if err != nil {
		return fmt.Errorf("engine: counting callbacks: %w", err)
	}
	for _, s := range allStatuses {
		e.m.SetCallbacks(string(s), counts[s])
	}

	lctx, stop := context.WithCancel(ctx)
	e.mu.Lock()
	e.stopLoops, e.loopCtx = stop, lctx
	e.mu.Unlock()
	e.loops.Add(3)
	go func() {
		defer e.loops.Done()
		e.runWheel(lctx)
	}()
	go func() {
		defer e.loops.Done()
		e.runDispatcher(lctx)
	}()
	go func() {
		defer e.loops.Done()
		e.runPruner(lctx)
	}()
	e.log.Info("engine started", "pending", armed, "trunk", e.cfg.Trunk)
	return nil
}

// Shutdown stops dispatching (due callbacks stay scheduled in the store for
// the next start), waits for the attempts in progress until ctx is done,
// then hangs up those still running and records them: an attempt cut
// before it connected is "interrupted" and retried by policy after a
// restart. It returns when every attempt is stored; new Creates fail with
// ErrDraining from its start.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	again := e.draining
	e.draining = true
	stop := e.stopLoops
	e.mu.Unlock()
	e.disp.close()
	if stop != nil {
		stop()
	}
	e.loops.Wait()

	done := make(chan struct{})
	go func() {
		e.attempts.Wait()
		close(done)
	}()
	select {
	case <-done:
		if !again {
			e.log.Info("engine stopped")
		}
		return nil
	case <-ctx.Done():
	}
	e.mu.Lock()
	e.cutting = true
	n := len(e.runs)
	for _, r := range e.runs {
		r.cutLocked(cutShutdown)
	}
	e.mu.Unlock()
	e.log.Warn("drain time over, hanging up calls in progress", "calls", n)
	<-done
	e.log.Info("engine stopped")
	return nil
}

// Ready reports whether the store answers.
func (e *Engine) Ready() error {
	if err := e.st.Ping(); err != nil {
		return fmt.Errorf("engine: store: %w", err)
	}
	return nil
}

// dispatching reports whether the dispatcher runs: Start has recovered
// and armed the pending callbacks, and neither Start's context nor Shutdown
// has stopped it.
func (e *Engine) dispatching() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.loopCtx != nil && e.loopCtx.Err() == nil && !e.draining
}

func (e *Engine) isDraining() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.draining
}
