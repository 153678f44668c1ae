// Package sip is callbackd's SIP user agent on sipgo: it places outbound call legs
// through configured trunks (digest auth, limits, keep-alives, registration),
// keeps their dialogs (BYE, re-INVITE/UPDATE offers, RFC 4028 session timers) and
// refuses everything else. It never touches media: SDP goes in and out as bytes.
package sip

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

const allowMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE"

// closeGrace bounds how long Close lets background work (CANCELs, stray-answer
// BYEs, unregistration) finish before it tears the transaction layer down.
const closeGrace = time.Second

// UA is the SIP user agent. Create it with New, then Start; it is safe for
// concurrent use.
type UA struct {
	lc     listenConfig
	log    *slog.Logger
	trunks map[string]*trunk
	order  []*trunk // config order

	sua *sipgo.UserAgent
	srv *sipgo.Server

	// Set by Start.
	clients   map[string]*transportClient // by transport: udp, tcp, tls
	closers   []io.Closer
	serveWG   sync.WaitGroup
	bgWG      sync.WaitGroup
	ctx       context.Context // ends at Close
	cancel    context.CancelFunc
	localAddr netip.AddrPort

	mu      sync.Mutex
	started bool
	closed  bool
	legs    map[string]*Leg      // by dialog ID
	strays  map[string]time.Time // stray 2xx dialogs we already ended, for dedupe

	sources atomic.Pointer[map[netip.Addr]struct{}] // trunk IPs we accept requests from

	// timerScale shrinks session-timer and retry intervals; tests only.
	timerScale float64
}

// transportClient sends requests over one transport with the right Via/Contact.
type transportClient struct {
	network string // UDP, TCP, TLS (sipgo's spelling)
	client  *sipgo.Client
	dua     *sipgo.DialogUA
	contact sip.ContactHeader
	laddr   sip.Addr // UDP only: send from the listening socket
}

// New checks the configuration and builds the UA; nothing is bound until Start.
func New(cfg Config, trunks []TrunkConfig, logger *slog.Logger) (*UA, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	lc, err := cfg.check()
	if err != nil {
		return nil, err
	}
	u := &UA{
		lc:         lc,
		log:        logger,
		trunks:     make(map[string]*trunk, len(trunks)),
		legs:       make(map[string]*Leg),
		strays:     make(map[string]time.Time),
		timerScale: 1,
	}
	for _, tc := range trunks {
		spec, err := tc.check(lc)
		if err != nil {
			return nil, err
		}
		if _, dup := u.trunks[spec.Name]; dup {
			return nil, fmt.Errorf("trunk %q configured twice", spec.Name)
		}
		t := newTrunk(u, spec)
		u.trunks[spec.Name] = t
		u.order = append(u.order, t)
	}
	empty := map[netip.Addr]struct{}{}
	u.sources.Store(&empty)

	// sipgo logs per packet at error level (parse failures print the datagram):
	// keep those at debug so garbage on the wire cannot flood our logs.
	sl := slog.New(debugOnly{logger.Handler()}).With("component", "sipgo")
	clientTLS, err := trunkTLSConfig(cfg.TLSCA)
	if err != nil {
		return nil, err
	}
	u.sua, err = sipgo.NewUA(
		sipgo.WithUserAgent(lc.userAgent),
		sipgo.WithUserAgenTLSConfig(clientTLS),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sl)),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(sl),
			sip.WithTransactionLayerUnhandledResponseHandler(u.onStrayResponse),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("sipgo user agent: %w", err)
	}
	u.srv, err = sipgo.NewServer(u.sua, sipgo.WithServerLogger(sl))
	if err != nil {
		u.sua.Close()
		return nil, fmt.Errorf("sipgo server: %w", err)
	}
	u.srv.OnInvite(u.guard(u.onInvite))
	u.srv.OnUpdate(u.guard(u.onUpdate))
	u.srv.OnBye(u.guard(u.onBye))
	u.srv.OnAck(u.onAck)
	u.srv.OnCancel(u.guard(u.onCancel))
	u.srv.OnOptions(u.guard(u.onOptions))
	u.srv.OnNoRoute(u.guard(u.onOther))
	return u, nil
}

// Start binds the listeners, waits until they serve, and starts keep-alives and
// registrations. ctx bounds start-up only; Close stops the UA.
func (u *UA) Start(ctx context.Context) error {
	u.mu.Lock()
	if u.started || u.closed {
		u.mu.Unlock()
		return errors.New("sip user agent already started or closed")
	}
	u.started = true
	u.mu.Unlock()
	u.ctx, u.cancel = context.WithCancel(context.Background())

	// Everything the handlers read is set before the first datagram is served.
	serve, err := u.bind()
	if err != nil {
		u.closeListeners()
		return err
	}
	u.buildClients()
	u.resolveTrunks(ctx)
	for _, f := range serve {
		u.serve(f)
	}
	if err := u.waitReady(ctx); err != nil {
		u.closeListeners()
		return err
	}
	for _, t := range u.order {
		t.start()
	}
	u.bgWG.Add(1)
	go u.maintain()
	u.log.Info("sip user agent started", "listen", u.localAddr.String(), "transports", strings.Join(u.lc.transports, ","))
	return nil
}

// bind opens the listening sockets (port 0: UDP picks, TCP takes the same) and
// returns the functions that serve them.
func (u *UA) bind() ([]func() error, error) {
	ip := u.lc.ip
	port := u.lc.port
	var serve []func() error
	if u.lc.udp {
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err != nil {
			return nil, fmt.Errorf("sip listen udp %s: %w", netip.AddrPortFrom(ip, uint16(port)), err)
		}
		u.closers = append(u.closers, conn)
		port = conn.LocalAddr().(*net.UDPAddr).Port
		serve = append(serve, func() error { return u.srv.ServeUDP(conn) })
	}
	if u.lc.tcp {
		ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err != nil {
			return nil, fmt.Errorf("sip listen tcp %s: %w", netip.AddrPortFrom(ip, uint16(port)), err)
		}
		u.closers = append(u.closers, ln)
		port = ln.Addr().(*net.TCPAddr).Port
		serve = append(serve, func() error { return u.srv.ServeTCP(ln) })
	}
	u.localAddr = netip.AddrPortFrom(ip, uint16(port))
	if u.lc.tls {
		cert, err := tls.LoadX509KeyPair(u.lc.tlsCert, u.lc.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("sip tls certificate: %w", err)
		}
		conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln, err := tls.Listen("tcp", u.lc.tlsAddr.String(), conf)
		if err != nil {
			return nil, fmt.Errorf("sip listen tls %s: %w", u.lc.tlsAddr, err)
		}
		u.closers = append(u.closers, ln)
		tap := ln.Addr().(*net.TCPAddr).AddrPort()
		u.lc.tlsAddr = netip.AddrPortFrom(tap.Addr().Unmap(), tap.Port())
		serve = append(serve, func() error { return u.srv.ServeTLS(ln) })
	}
	return serve, nil
}

// waitReady returns once sipgo serves the UDP listener.
func (u *UA) waitReady(ctx context.Context) error {
	if !u.lc.udp {
		return nil
	}
	// sipgo registers the UDP listener in its connection pool inside ServeUDP;
	// a request sent before that would open a second socket on the same address
	// and fail with "address in use".
	tp := u.sua.TransportLayer()
	for {
		if _, err := tp.GetConnection("udp", u.localAddr.String()); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sip udp listener not ready: %w", ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

func (u *UA) serve(f func() error) {
	u.serveWG.Add(1)
	go func() {
		defer u.serveWG.Done()
		if err := f(); err != nil && !errors.Is(err, net.ErrClosed) {
			u.log.Debug("sip listener stopped", "err", err)
		}
	}()
}

func (u *UA) buildClients() {
	u.clients = make(map[string]*transportClient, 3)
	host := u.lc.ip.String()
	if u.lc.extHost != "" {
		host = u.lc.extHost
	}
	port := int(u.localAddr.Port())
	if u.lc.extPort != 0 {
		port = u.lc.extPort
	}
	for _, t := range u.lc.transports {
		p := port
		if t == "tls" {
			p = int(u.lc.tlsAddr.Port())
		}
		opts := []sipgo.ClientOption{
			sipgo.WithClientLogger(slog.New(debugOnly{u.log.Handler()}).With("component", "sipgo")),
			sipgo.WithClientHostname(host),
			sipgo.WithClientPort(p),
		}
		if u.lc.extHost != "" {
			opts = append(opts, sipgo.WithClientNAT())
		}
		tc := &transportClient{network: strings.ToUpper(t)}
		if t == "udp" {
			// Send from the listening socket so replies and NAT bindings match
			// what we advertise. Not for TCP/TLS: sipgo would pick whichever
			// accepted connection was last pooled under the listen address.
			opts = append(opts, sipgo.WithClientConnectionAddr(u.localAddr.String()))
			tc.laddr = sip.Addr{IP: net.IP(u.lc.ip.AsSlice()), Port: int(u.localAddr.Port()), Hostname: u.lc.ip.String()}
		}
		c, err := sipgo.NewClient(u.sua, opts...)
		if err != nil {
			// Options above cannot fail for a checked config.
			panic(fmt.Sprintf("sipgo client: %v", err))
		}
		tc.client = c
		tc.contact = sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: defaultUserAgent, Host: host, Port: p}}
		if t != "udp" {
			tc.contact.Address.UriParams = sip.NewParams()
			tc.contact.Address.UriParams.Add("transport", t)
		}
		tc.dua = &sipgo.DialogUA{Client: c, ContactHDR: tc.contact}
		u.clients[t] = tc
	}
}

// LocalAddr is the bound UDP/TCP listen address (useful with port 0).
func (u *UA) LocalAddr() netip.AddrPort { return u.localAddr }

// Close hangs up every leg, unregisters, stops keep-alives and closes the
// listeners. It waits for the UA's goroutines.
func (u *UA) Close() error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	started := u.started
	legs := make([]*Leg, 0, len(u.legs))
	for _, l := range u.legs {
		legs = append(legs, l)
	}
	u.mu.Unlock()
	if !started {
		return u.sua.Close()
	}
	u.cancel()

	var wg sync.WaitGroup
	for _, l := range legs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = l.hangup(ctx, CauseShutdown)
		}()
	}
	wg.Wait()

	// Dials being cancelled and unregistrations get a moment to finish cleanly;
	// closing the transaction layer then ends whatever still waits (a dial to
	// a silent trunk would otherwise wait for Timer B).
	bgDone := make(chan struct{})
	go func() { u.bgWG.Wait(); close(bgDone) }()
	select {
	case <-bgDone:
	case <-time.After(closeGrace):
	}
	err := u.sua.Close()
	<-bgDone
	u.closeListeners()
	u.serveWG.Wait()
	u.log.Info("sip user agent closed")
	return err
}

func (u *UA) closeListeners() {
	for _, c := range u.closers {
		_ = c.Close()
	}
	u.closers = nil
}

// maintain re-resolves trunk addresses and forgets old stray-response records.
func (u *UA) maintain() {
	defer u.bgWG.Done()
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-u.ctx.Done():
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(u.ctx, 10*time.Second)
			u.resolveTrunks(ctx)
			cancel()
			u.mu.Lock()
			for k, at := range u.strays {
				if time.Since(at) > time.Minute {
					delete(u.strays, k)
				}
			}
			u.mu.Unlock()
		}
	}
}

// resolveTrunks refreshes the set of source IPs requests are accepted from: the
// trunks' hosts and outbound proxies.
func (u *UA) resolveTrunks(ctx context.Context) {
	set := make(map[netip.Addr]struct{})
	for _, t := range u.order {
		for _, h := range []string{t.spec.Host, t.spec.proxyHost} {
			if h == "" {
				continue
			}
			if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
				set[ip.Unmap()] = struct{}{}
				continue
			}
			ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", h)
			if err != nil {
				u.log.Warn("trunk host does not resolve", "trunk", t.spec.Name, "host", h, "err", err)
				// Keep what we knew, a DNS hiccup must not cut live calls.
				for ip := range *u.sources.Load() {
					set[ip] = struct{}{}
				}
				continue
			}
			for _, ip := range ips {
				set[ip.Unmap()] = struct{}{}
			}
		}
	}
	u.sources.Store(&set)
}

func (u *UA) fromTrunk(source string) bool {
	ap, err := netip.ParseAddrPort(source)
	if err != nil {
		return false
	}
	_, ok := (*u.sources.Load())[ap.Addr().Unmap()]
	return ok
}

// guard answers 403 to requests from anywhere but a configured trunk: we take no
// calls and talk to nobody else.
func (u *UA) guard(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if !u.fromTrunk(req.Source()) {
			u.respond(req, tx, 403, "Forbidden", nil)
			return
		}
		h(req, tx)
	}
}

// respond sends a final response with our standard headers.
func (u *UA) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, body []byte, hdrs ...sip.Header) {
	u.send(req, tx, u.response(req, code, reason, body, hdrs...))
}

func (u *UA) response(req *sip.Request, code int, reason string, body []byte, hdrs ...sip.Header) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	res.AppendHeader(sip.NewHeader("User-Agent", u.lc.userAgent))
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	return res
}

func (u *UA) send(req *sip.Request, tx sip.ServerTransaction, res *sip.Response) {
	if err := tx.Respond(res); err != nil {
		u.log.Debug("sip respond failed", "code", res.StatusCode, "method", string(req.Method), "err", err)
	}
}

func (u *UA) legFor(req *sip.Request) *Leg {
	id, err := sip.DialogIDFromRequestUAC(req)
	if err != nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.legs[id]
}

func hasToTag(req *sip.Request) bool {
	to := req.To()
	return to != nil && to.Params.Has("tag")
}

func (u *UA) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if !hasToTag(req) {
		// We place calls; we never take them.
		u.respond(req, tx, 403, "Forbidden", nil)
		return
	}
	l := u.legFor(req)
	if l == nil {
		u.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	l.onRemoteOffer(req, tx)
}

func (u *UA) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	l := u.legFor(req)
	if l == nil {
		u.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	l.onRemoteOffer(req, tx)
}

func (u *UA) onBye(req *sip.Request, tx sip.ServerTransaction) {
	l := u.legFor(req)
	if l == nil {
		u.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	l.onRemoteBye(req, tx)
}

func (u *UA) onAck(req *sip.Request, tx sip.ServerTransaction) {
	// The ACK for our 2xx to a re-INVITE ends that exchange; there is nothing to
	// answer. An ACK carrying an SDP answer (to an offer-less re-INVITE) is not
	// used: our offer there was our current SDP, unchanged.
	if l := u.legFor(req); l != nil {
		l.onAck(req)
	}
}

func (u *UA) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	// Matching CANCELs are handled by the transaction layer; this one matches nothing.
	u.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
}

func (u *UA) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	u.respond(req, tx, 200, "OK", nil,
		sip.NewHeader("Allow", allowMethods),
		sip.NewHeader("Accept", "application/sdp"),
		sip.NewHeader("Supported", "timer"))
}

func (u *UA) onOther(req *sip.Request, tx sip.ServerTransaction) {
	if !hasToTag(req) {
		u.respond(req, tx, 405, "Method Not Allowed", nil, sip.NewHeader("Allow", allowMethods))
		return
	}
	if u.legFor(req) == nil {
		u.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	if req.Method == sip.INFO {
		// SIP INFO DTMF or keep-alives: accepted and ignored (we use RFC 4733).
		u.respond(req, tx, 200, "OK", nil)
		return
	}
	u.respond(req, tx, 405, "Method Not Allowed", nil, sip.NewHeader("Allow", allowMethods))
}

// onStrayResponse sees responses no transaction wants. A 2xx to an INVITE here is
// an answer we no longer wait for (it crossed our CANCEL, or came after we gave
// up): ACK it and hang up at once, or the far end stays off-hook.
func (u *UA) onStrayResponse(res *sip.Response) {
	cseq := res.CSeq()
	if cseq == nil || cseq.MethodName != sip.INVITE || !res.IsSuccess() || !u.fromTrunk(res.Source()) {
		return
	}
	id, err := sip.DialogIDFromResponse(res)
	if err != nil {
		return
	}
	tc := u.clients[strings.ToLower(res.Transport())]
	if tc == nil {
		return
	}
	u.mu.Lock()
	_, live := u.legs[id]
	_, seen := u.strays[id]
	if u.closed || live {
		// live: a retransmission of a live leg's 2xx after sipgo's Timer M; it was ACKed.
		u.mu.Unlock()
		return
	}
	if !seen {
		u.strays[id] = time.Now()
		u.bgWG.Add(1) // under mu: Close waits only after marking closed
	}
	u.mu.Unlock()
	ack := strayRequest(res, sip.ACK, cseq.SeqNo, tc)
	if err := tc.client.WriteRequest(ack); err != nil {
		u.log.Warn("ack to stray answer failed", "call_id", callID(res), "err", err)
	}
	if seen {
		return // a retransmission: our ACK got lost, the BYE already went
	}
	u.log.Info("answer arrived after we gave up: hanging up", "call_id", callID(res))
	go func() {
		defer u.bgWG.Done()
		bye := strayRequest(res, sip.BYE, cseq.SeqNo+1, tc)
		ctx, cancel := context.WithTimeout(u.ctx, 5*time.Second)
		defer cancel()
		if _, err := tc.client.Do(ctx, bye); err != nil {
			u.log.Warn("bye to stray answer failed", "call_id", callID(res), "err", err)
		}
	}()
}

// strayRequest builds an in-dialog request from a 2xx alone (RFC 3261 12.1.2 and
// 13.2.2.4): target from Contact, route set from Record-Route reversed.
func strayRequest(res *sip.Response, method sip.RequestMethod, seq uint32, tc *transportClient) *sip.Request {
	target := sip.Uri{Scheme: "sip", Host: res.Source()}
	if c := res.Contact(); c != nil {
		target = *c.Address.Clone()
	} else if ap, err := netip.ParseAddrPort(res.Source()); err == nil {
		target = sip.Uri{Scheme: "sip", Host: ap.Addr().String(), Port: int(ap.Port())}
	}
	req := sip.NewRequest(method, target)
	req.AppendHeader(sip.HeaderClone(res.From()))
	req.AppendHeader(sip.HeaderClone(res.To()))
	req.AppendHeader(sip.HeaderClone(res.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	rr := res.GetHeaders("Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		req.AppendHeader(sip.NewHeader("Route", rr[i].Value()))
	}
	req.AppendHeader(sip.HeaderClone(&tc.contact))
	req.SetTransport(tc.network)
	req.SetBody(nil)
	return req
}

func callID(m sip.Message) string {
	if c := m.CallID(); c != nil {
		return c.Value()
	}
	return ""
}

// scaled shortens d in tests (timerScale < 1); 1 in production.
func (u *UA) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * u.timerScale)
}

// debugOnly hands every record to h at debug level.
type debugOnly struct{ h slog.Handler }

func (d debugOnly) Enabled(ctx context.Context, _ slog.Level) bool {
	return d.h.Enabled(ctx, slog.LevelDebug)
}

func (d debugOnly) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return d.h.Handle(ctx, r)
}

func (d debugOnly) WithAttrs(as []slog.Attr) slog.Handler { return debugOnly{d.h.WithAttrs(as)} }
func (d debugOnly) WithGroup(n string) slog.Handler       { return debugOnly{d.h.WithGroup(n)} }

// trunkTLSConfig is how we verify trunks over TLS: the system's roots plus
// the CAs in caFile, if any.
func trunkTLSConfig(caFile string) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return conf, nil
	}
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("sip tls_ca: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("sip tls_ca %s: no PEM certificate in it", caFile)
	}
	conf.RootCAs = pool
	return conf, nil
}
