package bridge

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/testpeer"
	"github.com/callbackd/callbackd/media"
	"github.com/callbackd/callbackd/sandbox"
	"github.com/callbackd/callbackd/sip"
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// env is a whole telephony stack on one loopback address: UA, media pool and
// bridge, with a trunk that is the sandbox unless a test gives another.
type env struct {
	ip   netip.Addr
	ua   *sip.UA
	pool *media.Pool
	b    *Bridge
	sb   *sandbox.Sandbox
}

type envOptions struct {
	trunk        *sip.TrunkConfig // nil: an in-process sandbox
	ports        int              // RTP ports in the pool; default 40
	mediaTimeout time.Duration
	ip           netip.Addr // for the UA and the pool; default a fresh loopback address
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	e := &env{ip: o.ip}
	if !e.ip.IsValid() {
		e.ip = testpeer.LoopbackIP(t)
	}
	log := testLogger(t)
	if _, ok := t.(*testing.B); ok {
		log = slog.New(slog.DiscardHandler) // logging would dominate the figures
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	trunk := o.trunk
	if trunk == nil {
		lo, hi := testpeer.FreePortRange(t, e.ip, 40)
		sb, err := sandbox.New(sandbox.Config{Listen: netip.AddrPortFrom(e.ip, 0).String(), RTPPortMin: lo, RTPPortMax: hi}, log.With("peer", "sandbox"))
		if err != nil {
			t.Fatal(err)
		}
		if err := sb.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sb.Close() })
		e.sb = sb
		trunk = &sip.TrunkConfig{Name: "sandbox", Host: sb.Addr().Addr().String(), Port: int(sb.Addr().Port())}
	}
	ua, err := sip.New(sip.Config{Listen: netip.AddrPortFrom(e.ip, 0).String()}, []sip.TrunkConfig{*trunk}, log.With("pkg", "sip"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ua.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	e.ua = ua
	n := o.ports
	if n == 0 {
		n = 40
	}
	lo, hi := testpeer.FreePortRange(t, e.ip, n)
	pool, err := media.NewPool(media.Config{IP: e.ip.String(), PortMin: lo, PortMax: hi,
		MediaTimeout: o.mediaTimeout, PortHold: 10 * time.Millisecond}, log.With("pkg", "media"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e.pool = pool
	e.b = New(ua, pool, log.With("pkg", "bridge"))
	return e
}

// recorder keeps the events of one Run.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) list() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// types lists "leg:type" in order, e.g. "rep:call.initiated".
func (r *recorder) types() []string {
	var s []string
	for _, e := range r.list() {
		s = append(s, string(e.Leg)+":"+e.Type)
	}
	return s
}

// run runs plan through e with events recorded, bounded by d.
func (e *env) run(t *testing.T, plan Plan, d time.Duration) (Result, *recorder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return e.runCtx(t, ctx, plan)
}

func (e *env) runCtx(t *testing.T, ctx context.Context, plan Plan) (Result, *recorder) {
	t.Helper()
	rec := &recorder{}
	if plan.Trunk == "" {
		plan.Trunk = "sandbox"
	}
	user := plan.OnEvent
	plan.OnEvent = func(ev Event) {
		rec.add(ev)
		if user != nil {
			user(ev)
		}
	}
	res, err := e.b.Run(ctx, plan)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("result: %+v", res)
	t.Logf("events: %v", rec.types())
	return res, rec
}

// sandboxCall waits until the sandbox has ended the call with callID and returns it.
func (e *env) sandboxCall(t *testing.T, callID string) sandbox.CallStats {
	t.Helper()
	return endedCall(t, e.sb, callID)
}

func endedCall(t *testing.T, sb *sandbox.Sandbox, callID string) sandbox.CallStats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, ok := sb.Call(callID)
		if ok && !c.Active() {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox call %q: found %v, %+v; want ended", callID, ok, c)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func reps(numbers ...string) []Party {
	var p []Party
	for _, n := range numbers {
		p = append(p, Party{Number: n})
	}
	return p
}

// checkLegTimes checks the order of an answered leg's timestamps.
func checkLegTimes(t *testing.T, lr LegResult, wantRinging bool) {
	t.Helper()
	if lr.InvitedAt.IsZero() || lr.AnsweredAt.IsZero() || lr.EndedAt.IsZero() {
		t.Errorf("%s leg times invited=%v answered=%v ended=%v; want all set", lr.Role, lr.InvitedAt, lr.AnsweredAt, lr.EndedAt)
		return
	}
	if wantRinging && (lr.RingingAt.IsZero() || lr.RingingAt.Before(lr.InvitedAt) || lr.AnsweredAt.Before(lr.RingingAt)) {
		t.Errorf("%s leg ringing at %v, invited %v, answered %v", lr.Role, lr.RingingAt, lr.InvitedAt, lr.AnsweredAt)
	}
	if lr.AnsweredAt.Before(lr.InvitedAt) || lr.EndedAt.Before(lr.AnsweredAt) {
		t.Errorf("%s leg times out of order: %+v", lr.Role, lr)
	}
	if lr.CallID == "" {
		t.Errorf("%s leg has no Call-ID", lr.Role)
	}
}
