// Package sandbox is callbackd's built-in sandbox trunk: an in-process SIP
// user agent server on loopback that answers a fixed set of test numbers
// (see Numbers) the way real phones and carriers do — ringing, answering
// with audio, busy, declining, never answering, hanging up — with real RTP.
// It lets a new user see a whole callback, webhooks included, without a SIP
// account, and gives the project's tests a well-behaved far end.
//
// It speaks SIP over UDP only and G.711 (PCMU, PCMA) with RFC 4733
// telephone-event. It keeps its own small dialog state rather than sipgo's
// dialog cache so that Close can end ringing and answered calls at once
// instead of waiting out SIP timers.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Config is the `sandbox:` section of the configuration.
type Config struct {
	// Enabled is for the caller (cmd/callbackd) to decide whether to start
	// the sandbox at all; New ignores it.
	Enabled bool `yaml:"enabled"`
	// Listen is the SIP UDP address, an explicit IP and a port, e.g.
	// "127.0.0.1:5070". Port 0 picks a free port (see Addr). Empty means
	// "127.0.0.1:0".
	Listen string `yaml:"listen"`
	// RTPPortMin and RTPPortMax bound the RTP ports (even ports are used).
	// Both zero lets the system pick a free port per call.
	RTPPortMin int `yaml:"rtp_port_min"`
	RTPPortMax int `yaml:"rtp_port_max"`
}

// DefaultListen is used when Config.Listen is empty.
const DefaultListen = "127.0.0.1:0"

// ErrConfig is returned (wrapped) by New for an invalid Config.
var ErrConfig = errors.New("sandbox: invalid config")

func (c Config) validate() (netip.AddrPort, error) {
	listen := c.Listen
	if listen == "" {
		listen = DefaultListen
	}
	ap, err := netip.ParseAddrPort(listen)
	if err != nil {
		return ap, fmt.Errorf("%w: listen %q: want IP:port (%v)", ErrConfig, c.Listen, err)
	}
	if !ap.Addr().Is4() || ap.Addr().IsUnspecified() {
		return ap, fmt.Errorf("%w: listen %q: want an explicit IPv4 address", ErrConfig, c.Listen)
	}
	switch {
	case c.RTPPortMin == 0 && c.RTPPortMax == 0:
	case c.RTPPortMin < 1024 || c.RTPPortMax > 65535 || c.RTPPortMin > c.RTPPortMax:
		return ap, fmt.Errorf("%w: rtp ports %d-%d: want 1024 <= min <= max <= 65535", ErrConfig, c.RTPPortMin, c.RTPPortMax)
	case (c.RTPPortMin+1)&^1 > c.RTPPortMax:
		return ap, fmt.Errorf("%w: rtp ports %d-%d hold no even port", ErrConfig, c.RTPPortMin, c.RTPPortMax)
	}
	return ap, nil
}

// CallStats describes one call the sandbox received. Counters are a
// snapshot taken when Stats was called.
type CallStats struct {
	CallID string
	Number string // Request-URI user as dialled
	Name   string // Number.Name of the script played, "" for unknown numbers
	Codec  string // "PCMU" or "PCMA" once media was set up
	Status int    // final status sent for the INVITE (487 when cancelled), 0 while pending
	// EndCause is "" while the call is active, else one of: caller_bye,
	// sandbox_bye (the sandbox hung up: script or missing ACK), canceled,
	// rejected (a non-2xx final response), closed (Close ended it).
	EndCause    string
	Started     time.Time
	Answered    time.Time // zero if never answered
	Ended       time.Time // zero while active
	RTPReceived uint64
	RTPSent     uint64
	Digits      string // RFC 4733 digits received from the caller
}

// Active reports whether the call has not ended yet.
func (c CallStats) Active() bool { return c.Ended.IsZero() }

// Sandbox is the running sandbox trunk.
type Sandbox struct {
	cfg    Config
	listen netip.AddrPort
	log    *slog.Logger

	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client

	ctx    context.Context // ends every call when cancelled (Close)
	cancel context.CancelFunc

	mu      sync.Mutex
	started bool
	closed  bool
	addr    netip.AddrPort
	conn    *net.UDPConn
	calls   map[string]*call // active, by Call-ID
	history []*call          // ended, oldest first, at most maxHistory

	wg        sync.WaitGroup // call handlers
	serveDone chan struct{}
	closeOnce sync.Once
	closeErr  error
	rtpNext   atomic.Uint32
	draining  atomic.Bool // drop every incoming message (Close)
}

// drainGrace is how long Close lets messages already read finish before it
// closes the transport.
const drainGrace = 50 * time.Millisecond

// readFilter runs on sipgo's read loop before a message is parsed; returning
// nothing drops it.
func (s *Sandbox) readFilter(_ sip.TransportReadProps, data []byte) ([]byte, error) {
	if s.draining.Load() {
		return nil, nil
	}
	return data, nil
}

// maxHistory bounds the ended calls kept for Stats, so a sandbox left running
// for days does not grow without limit.
const maxHistory = 256

// New checks cfg and prepares the SIP stack; nothing is bound until Start.
func New(cfg Config, logger *slog.Logger) (*Sandbox, error) {
	listen, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "sandbox")
	s := &Sandbox{
		cfg:       cfg,
		listen:    listen,
		log:       logger,
		calls:     map[string]*call{},
		serveDone: make(chan struct{}),
	}
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("callbackd-sandbox"),
		sipgo.WithUserAgentHostname(listen.Addr().String()),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerReadFilter(s.readFilter)),
	)
	if err != nil {
		return nil, fmt.Errorf("sandbox: new user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(logger))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("sandbox: new server: %w", err)
	}
	s.ua, s.srv = ua, srv
	s.ctx, s.cancel = context.WithCancel(context.Background())
	srv.OnInvite(s.onInvite)
	srv.OnAck(s.onAck)
	srv.OnBye(s.onBye)
	srv.OnCancel(s.onCancel)
	srv.OnOptions(s.onOptions)
	return s, nil
}

// Start binds the SIP socket and serves; the sandbox accepts calls when it
// returns. Like sip.UA.Start, ctx bounds start-up only; Close stops it.
func (s *Sandbox) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("sandbox: start after close")
	}
	if s.started {
		return errors.New("sandbox: already started")
	}
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(s.listen))
	if err != nil {
		return fmt.Errorf("sandbox: listen on %v: %w", s.listen, err)
	}
	s.conn = conn
	s.addr = conn.LocalAddr().(*net.UDPAddr).AddrPort()
	client, err := sipgo.NewClient(s.ua,
		sipgo.WithClientLogger(s.log),
		sipgo.WithClientHostname(s.addr.Addr().String()),
		sipgo.WithClientPort(int(s.addr.Port())),
		// BYEs must leave from the listening socket, where the caller
		// expects the sandbox to be.
		sipgo.WithClientConnectionAddr(s.addr.String()),
	)
	if err != nil {
		conn.Close()
		return fmt.Errorf("sandbox: new client: %w", err)
	}
	s.client = client
	s.started = true
	go func() {
		defer close(s.serveDone)
		if err := s.srv.ServeUDP(conn); err != nil && !errors.Is(err, net.ErrClosed) && s.ctx.Err() == nil {
			s.log.Error("SIP listener stopped", "err", err)
		}
	}()
	if err := waitListening(s.ua.TransportLayer(), s.addr.String(), 5*time.Second); err != nil {
		s.mu.Unlock()
		_ = s.Close()
		s.mu.Lock()
		return err
	}
	s.log.Info("sandbox trunk listening", "addr", s.addr.String(), "numbers", len(Numbers))
	return nil
}

// Addr is the SIP address the sandbox listens on (valid after Start).
func (s *Sandbox) Addr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Close ends every call (BYE to answered calls, 480 to ringing ones), stops
// RTP and the SIP listener, and returns when all goroutines it started have
// ended. It is safe to call more than once.
func (s *Sandbox) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		started := s.started
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
		// sipgo handles each message on a goroutine of its own, and one that
		// runs after the transport has dropped the listening socket opens a
		// new socket to answer from, which nothing closes. So: stop taking
		// messages, let those already read finish, then close.
		s.draining.Store(true)
		if started {
			time.Sleep(drainGrace)
		}
		if err := s.ua.Close(); err != nil {
			s.closeErr = fmt.Errorf("sandbox: close user agent: %w", err)
		}
		if started {
			// The transport closes the socket too; closing again is harmless
			// and makes sure ServeUDP returns.
			_ = s.conn.Close()
			<-s.serveDone
			// Sweep anything a straggler opened after all.
			_ = s.ua.TransportLayer().Close()
		}
		s.log.Info("sandbox trunk stopped")
	})
	return s.closeErr
}

// Stats returns every active call and the most recent ended ones, oldest
// first.
func (s *Sandbox) Stats() []CallStats {
	s.mu.Lock()
	all := make([]*call, 0, len(s.history)+len(s.calls))
	all = append(all, s.history...)
	for _, c := range s.calls {
		all = append(all, c)
	}
	s.mu.Unlock()
	out := make([]CallStats, len(all))
	for i, c := range all {
		out[i] = c.stats()
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out
}

// Call returns the stats of the call with this Call-ID.
func (s *Sandbox) Call(callID string) (CallStats, bool) {
	for _, c := range s.Stats() {
		if c.CallID == callID {
			return c, true
		}
	}
	return CallStats{}, false
}

// WaitIdle blocks until no call is active or ctx ends.
func (s *Sandbox) WaitIdle(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		n := len(s.calls)
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sandbox: %d calls still active: %w", n, ctx.Err())
		case <-t.C:
		}
	}
}

// enter registers a new call handler unless the sandbox is closing.
func (s *Sandbox) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// register adds c as active; false when its Call-ID is already in use.
func (s *Sandbox) register(c *call) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.calls[c.id]; dup {
		return false
	}
	s.calls[c.id] = c
	return true
}

func (s *Sandbox) unregister(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls[c.id] == c {
		delete(s.calls, c.id)
	}
	s.history = append(s.history, c)
	if len(s.history) > maxHistory {
		s.history = append(s.history[:0:0], s.history[len(s.history)-maxHistory:]...)
	}
}

func (s *Sandbox) lookupCall(req *sip.Request) *call {
	id := req.CallID()
	if id == nil {
		return nil
	}
	s.mu.Lock()
	c := s.calls[id.Value()]
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	// The To tag of an in-dialog request must be ours; the From tag the
	// caller's.
	if to := req.To(); to == nil || to.Params.GetOr("tag", "") != c.tag {
		return nil
	}
	return c
}

func (s *Sandbox) contact() *sip.ContactHeader {
	return &sip.ContactHeader{Address: sip.Uri{
		Scheme: "sip",
		User:   "sandbox",
		Host:   s.addr.Addr().String(),
		Port:   int(s.addr.Port()),
	}}
}

func respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, log *slog.Logger) {
	if err := tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil)); err != nil {
		log.Debug("respond failed", "code", code, "method", string(req.Method), "err", err)
	}
}

func (s *Sandbox) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS"))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	if err := tx.Respond(res); err != nil {
		s.log.Debug("respond to OPTIONS failed", "err", err)
	}
}

func (s *Sandbox) onAck(req *sip.Request, tx sip.ServerTransaction) {
	c := s.lookupCall(req)
	if c == nil {
		return // ACK for a non-2xx final is absorbed by the transaction layer
	}
	if cs := req.CSeq(); cs != nil && cs.SeqNo == c.inviteCSeq() {
		c.ackOnce.Do(func() { close(c.acked) })
	}
}

func (s *Sandbox) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := s.lookupCall(req)
	if c == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist", s.log)
		return
	}
	respond(tx, req, 200, "OK", s.log)
	c.byeOnce.Do(func() { close(c.bye) })
}

// onCancel sees only CANCELs that matched no INVITE transaction: sipgo's
// transaction layer answers the others itself (200, then 487 to the INVITE)
// and reports them through ServerTransaction.OnCancel.
func (s *Sandbox) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	respond(tx, req, 481, "Call/Transaction Does Not Exist", s.log)
}

func hasToTag(req *sip.Request) bool {
	to := req.To()
	return to != nil && to.Params.Has("tag")
}

func (s *Sandbox) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if hasToTag(req) {
		s.onReInvite(req, tx)
		return
	}
	if !s.enter() {
		respond(tx, req, 503, "Service Unavailable", s.log)
		return
	}
	defer s.wg.Done()
	if req.CallID() == nil || req.CSeq() == nil || req.From() == nil || req.To() == nil {
		respond(tx, req, 400, "Bad Request", s.log)
		return
	}
	c := newCall(s, req, tx)
	if !s.register(c) {
		respond(tx, req, 482, "Loop Detected", s.log)
		return
	}
	defer s.unregister(c)
	c.run()
	st := c.stats()
	s.log.Info("sandbox call ended", "call_id", st.CallID, "number", st.Number, "status", st.Status,
		"cause", st.EndCause, "codec", st.Codec, "rtp_in", st.RTPReceived, "rtp_out", st.RTPSent,
		"duration", st.Ended.Sub(st.Started).Round(time.Millisecond))
}

func (s *Sandbox) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	c := s.lookupCall(req)
	if c == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist", s.log)
		return
	}
	c.reInvite(req, tx)
}

// waitListening returns once sipgo's transport has registered the listening
// socket. ServeUDP registers it on its own goroutine; a request sent before
// that makes sipgo open a second socket on the same address, which fails.
func waitListening(tl *sip.TransportLayer, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if c, err := tl.GetConnection("udp", addr); err == nil && c != nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sandbox: SIP listener on %s not ready after %v", addr, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}
