package sip

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// HealthState is a trunk's reachability as seen by OPTIONS keep-alives.
type HealthState string

const (
	// HealthUnknown: no keep-alive configured, or none answered or failed yet.
	HealthUnknown HealthState = "unknown"
	HealthUp      HealthState = "up"
	HealthDown    HealthState = "down"
)

// Health is a trunk's state for status pages and metrics.
type Health struct {
	State      HealthState
	LastChange time.Time // when State last changed (zero: never)
	LastCheck  time.Time // last keep-alive result
	LastError  string    // why the last check or registration failed
	// Registered is true while a REGISTER is in force (trunks with register: true).
	Registered bool
	// ActiveCalls counts dials in progress and answered legs not yet ended.
	ActiveCalls int
}

type trunk struct {
	u    *UA
	spec trunkSpec

	slots  chan struct{} // nil: no concurrent-call limit
	active atomic.Int32  // dials in progress and legs not yet ended

	rateMu   sync.Mutex
	interval time.Duration // 0: no calls-per-second limit
	next     time.Time     // earliest start of the next call

	mu     sync.Mutex
	health Health

	regCallID string
	regCSeq   uint32
}

func newTrunk(u *UA, spec trunkSpec) *trunk {
	t := &trunk{u: u, spec: spec, health: Health{State: HealthUnknown}}
	if spec.MaxCalls > 0 {
		t.slots = make(chan struct{}, spec.MaxCalls)
	}
	if spec.CallsPerSecond > 0 {
		t.interval = time.Duration(float64(time.Second) / spec.CallsPerSecond)
	}
	t.regCallID = sip.GenerateTagN(24)
	return t
}

// TrunkHealth reports a trunk's state; an unknown name gives HealthUnknown.
func (u *UA) TrunkHealth(name string) Health {
	t := u.trunks[name]
	if t == nil {
		return Health{State: HealthUnknown}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.health
	h.ActiveCalls = int(t.active.Load())
	return h
}

// acquire waits for a concurrent-call slot and a calls-per-second turn. Going
// over a limit delays the call; only ctx ends the wait.
func (t *trunk) acquire(ctx context.Context) (release func(), err error) {
	if t.slots != nil {
		select {
		case t.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for a free call slot on trunk %q: %w", t.spec.Name, ctx.Err())
		}
	}
	t.active.Add(1)
	var once sync.Once
	release = func() {
		once.Do(func() {
			t.active.Add(-1)
			if t.slots != nil {
				<-t.slots
			}
		})
	}
	if t.interval > 0 {
		t.rateMu.Lock()
		now := time.Now()
		at := t.next
		if at.Before(now) {
			at = now
		}
		t.next = at.Add(t.interval)
		t.rateMu.Unlock()
		if wait := time.Until(at); wait > 0 {
			timer := time.NewTimer(wait)
			defer timer.Stop()
			select {
			case <-timer.C:
			case <-ctx.Done():
				t.rateMu.Lock()
				if t.next.Equal(at.Add(t.interval)) {
					t.next = at // give the unused turn back
				}
				t.rateMu.Unlock()
				release()
				return nil, fmt.Errorf("waiting for a calls-per-second turn on trunk %q: %w", t.spec.Name, ctx.Err())
			}
		}
	}
	return release, nil
}

func (t *trunk) client() *transportClient { return t.u.clients[t.spec.transport] }

// uri is the trunk address as a SIP URI, with user when non-empty.
func (t *trunk) uri(user string) sip.Uri {
	u := sip.Uri{Scheme: "sip", User: user, Host: t.spec.Host, Port: t.spec.Port}
	if t.spec.transport != "udp" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", t.spec.transport)
	}
	return u
}

// route adds the outbound proxy as a loose route, so the request goes to it.
func (t *trunk) route(req *sip.Request) {
	if t.spec.proxyHost == "" {
		return
	}
	r := &sip.RouteHeader{Address: sip.Uri{Scheme: "sip", Host: t.spec.proxyHost, Port: t.spec.proxyPort, UriParams: sip.NewParams()}}
	if t.spec.transport != "udp" {
		r.Address.UriParams.Add("transport", t.spec.transport)
	}
	r.Address.UriParams.Add("lr", "")
	req.AppendHeader(r)
}

func (t *trunk) setHealth(f func(h *Health)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.health.State
	f(&t.health)
	if t.health.State != old {
		t.health.LastChange = time.Now()
		t.u.log.Info("trunk health changed", "trunk", t.spec.Name, "from", string(old), "to", string(t.health.State), "err", t.health.LastError)
	}
}

func (t *trunk) start() {
	if t.spec.KeepAlive > 0 {
		t.u.bgWG.Add(1)
		go t.keepAlive()
	}
	if t.spec.Register {
		t.u.bgWG.Add(1)
		go t.registerLoop()
	}
}

// keepAlive pings the trunk with OPTIONS. Any response means up (a 404 or 405
// still proves the trunk is there); a timeout or transport error means down.
func (t *trunk) keepAlive() {
	defer t.u.bgWG.Done()
	ctx := t.u.ctx
	timeout := min(t.spec.KeepAlive, 10*time.Second)
	for {
		err := t.ping(ctx, timeout)
		if ctx.Err() != nil {
			return
		}
		t.setHealth(func(h *Health) {
			h.LastCheck = time.Now()
			if err != nil {
				h.State, h.LastError = HealthDown, err.Error()
			} else {
				h.State, h.LastError = HealthUp, ""
			}
		})
		select {
		case <-ctx.Done():
			return
		case <-time.After(t.spec.KeepAlive):
		}
	}
}

func (t *trunk) ping(ctx context.Context, timeout time.Duration) error {
	tc := t.client()
	req := sip.NewRequest(sip.OPTIONS, t.uri(""))
	req.SetTransport(tc.network)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: t.spec.FromUser, Host: t.spec.FromDomain}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", Host: t.spec.FromDomain}})
	req.AppendHeader(sip.NewHeader("User-Agent", t.u.lc.userAgent))
	t.route(req)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := tc.client.Do(ctx, req); err != nil {
		return fmt.Errorf("options ping: %w", err)
	}
	return nil
}

// registerLoop keeps a registration in force and removes it at Close.
func (t *trunk) registerLoop() {
	defer t.u.bgWG.Done()
	ctx := t.u.ctx
	registered := false
	for {
		granted, err := t.register(ctx, t.spec.RegisterExpires)
		if ctx.Err() != nil {
			break
		}
		wait := granted / 2
		if err != nil {
			t.u.log.Warn("trunk registration failed", "trunk", t.spec.Name, "err", err)
			wait = min(t.spec.RegisterExpires/2, 30*time.Second)
		}
		registered = err == nil
		t.setHealth(func(h *Health) {
			h.Registered = registered
			if err != nil {
				h.LastError = err.Error()
			}
		})
		wait = max(t.u.scaled(wait), 100*time.Millisecond)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
			continue
		}
		break
	}
	if registered {
		uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := t.register(uctx, 0); err != nil {
			t.u.log.Warn("trunk unregistration failed", "trunk", t.spec.Name, "err", err)
		}
		t.setHealth(func(h *Health) { h.Registered = false })
	}
}

// register sends one REGISTER (answering a digest challenge) and returns the
// expiry the registrar granted.
func (t *trunk) register(ctx context.Context, expires time.Duration) (time.Duration, error) {
	tc := t.client()
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: t.spec.FromDomain})
	if t.spec.FromDomain == t.spec.Host {
		req.Recipient = t.uri("")
	}
	req.SetTransport(tc.network)
	aor := sip.Uri{Scheme: "sip", User: t.spec.Username, Host: t.spec.FromDomain}
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: *aor.Clone()})
	cid := sip.CallIDHeader(t.regCallID)
	req.AppendHeader(&cid)
	t.regCSeq++
	req.AppendHeader(&sip.CSeqHeader{SeqNo: t.regCSeq, MethodName: sip.REGISTER})
	contact := tc.contact.Clone()
	contact.Address.User = t.spec.Username
	req.AppendHeader(contact)
	exp := sip.ExpiresHeader(uint32(expires / time.Second))
	req.AppendHeader(&exp)
	req.AppendHeader(sip.NewHeader("User-Agent", t.u.lc.userAgent))
	t.route(req)
	if t.spec.FromDomain != t.spec.Host && t.spec.proxyHost == "" {
		// The registrar is the trunk host even when the AOR domain differs.
		req.SetDestination(net.JoinHostPort(t.spec.Host, strconv.Itoa(t.spec.Port)))
	}

	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := tc.client.Do(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("register: %w", err)
	}
	if (res.StatusCode == 401 || res.StatusCode == 407) && t.spec.Password != "" {
		res, err = tc.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: t.spec.Username, Password: t.spec.Password})
		if cs := req.CSeq(); cs != nil {
			t.regCSeq = cs.SeqNo
		}
		if err != nil {
			return 0, fmt.Errorf("register with credentials: %w", err)
		}
	}
	if !res.IsSuccess() {
		return 0, fmt.Errorf("register: %d %s", res.StatusCode, res.Reason)
	}
	return grantedExpiry(res, contact, expires), nil
}

// grantedExpiry reads the expiry from our Contact's expires parameter in the
// 2xx, else from its Expires header, else keeps what we asked for.
func grantedExpiry(res *sip.Response, ours *sip.ContactHeader, asked time.Duration) time.Duration {
	for _, h := range res.GetHeaders("Contact") {
		v := h.Value()
		if !strings.Contains(v, ours.Address.Host) {
			continue
		}
		for _, p := range strings.Split(v, ";") {
			k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(k, "expires") {
				if n, err := strconv.Atoi(strings.TrimSpace(val)); err == nil && n > 0 {
					return time.Duration(n) * time.Second
				}
			}
		}
	}
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	if asked <= 0 {
		return 0
	}
	return asked
}
