package testpeer

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BaresipModulePath is where Debian's baresip-core installs its modules.
var BaresipModulePath = "/usr/lib/baresip/modules"

// BaresipOptions configures one baresip softphone that auto-answers.
type BaresipOptions struct {
	// IP and Port are its SIP address; defaults LoopbackIP and a free port
	// (baresip also listens on TCP Port and TLS Port+1).
	IP   netip.Addr
	Port int
	// Users are the Request-URI users it answers, one account each:
	// baresip 1.0 answers only users that match an account. Default "1000".
	Users []string
	// AudioWAV is the 8 kHz mono 16-bit WAV it sends; baresip hangs up when
	// it runs out. Default: a generated 5-minute tone sequence (ToneWAV).
	AudioWAV string
	// RecordDir, when set, gets a WAV per call and direction (sndfile).
	RecordDir string
	// RTPPorts is the RTP port range. baresip binds RTP on the wildcard
	// address, so the default is a range free on every address.
	RTPPorts [2]int
	// Ctrl enables ctrl_tcp for Command and WaitEvent.
	Ctrl bool
	// TLSCert is a PEM file holding the certificate and its key that
	// baresip presents on its TLS port (Port+1).
	TLSCert string
}

// Baresip is a running baresip.
type Baresip struct {
	IP       netip.Addr
	Port     int
	RTPPorts [2]int
	// CtrlAddr is the ctrl_tcp address when Ctrl was set.
	CtrlAddr netip.AddrPort
	// Dir holds config, accounts and baresip.log.
	Dir string

	p    *process
	t    testing.TB
	ctrl *baresipCtrl
}

// StartBaresip writes a config for opts into a temp dir, starts baresip and
// returns once it printed "baresip is ready." and its SIP socket is bound.
func StartBaresip(t testing.TB, opts BaresipOptions) *Baresip {
	t.Helper()
	RequirePeer(t, "baresip")
	bin, _ := peerPath("baresip")
	if !opts.IP.IsValid() {
		opts.IP = LoopbackIP(t)
	}
	if opts.Port == 0 {
		opts.Port = freeRange(t, opts.IP, 2, false, true) // +1 is its TLS port
	}
	if len(opts.Users) == 0 {
		opts.Users = []string{"1000"}
	}
	if opts.AudioWAV == "" {
		opts.AudioWAV = ToneWAV(t, 5*time.Minute)
	}
	wav, err := filepath.Abs(opts.AudioWAV)
	if err != nil {
		t.Fatalf("testpeer: baresip wav: %v", err)
	}
	if opts.RTPPorts == [2]int{} {
		lo, hi := FreePortRange(t, opts.IP, 20)
		opts.RTPPorts = [2]int{lo, hi}
	}
	dir := t.TempDir()
	b := &Baresip{IP: opts.IP, Port: opts.Port, RTPPorts: opts.RTPPorts, Dir: dir, t: t}

	var cfg strings.Builder
	line := func(k, v string) { fmt.Fprintf(&cfg, "%-20s %s\n", k, v) }
	line("poll_method", "epoll")
	line("sip_listen", netip.AddrPortFrom(opts.IP, uint16(opts.Port)).String())
	line("net_interface", opts.IP.String()) // "lo" fails in 1.0.0
	if opts.TLSCert != "" {
		cert, err := filepath.Abs(opts.TLSCert)
		if err != nil {
			t.Fatalf("testpeer: baresip tls cert: %v", err)
		}
		line("sip_certificate", cert)
	}
	line("rtp_ports", fmt.Sprintf("%d-%d", opts.RTPPorts[0], opts.RTPPorts[1]))
	line("audio_source", "aufile,"+wav)
	line("ausrc_srate", "8000")
	line("ausrc_channels", "1")
	line("module_path", BaresipModulePath)
	line("module", "g711.so")
	line("module", "aufile.so")
	if opts.RecordDir != "" {
		rd, err := filepath.Abs(opts.RecordDir)
		if err != nil {
			t.Fatalf("testpeer: baresip record dir: %v", err)
		}
		line("module", "sndfile.so")
		line("snd_path", rd)
	}
	line("module_app", "account.so")
	line("module_app", "menu.so") // answermode=auto is carried out by menu in 1.0
	if opts.Ctrl {
		b.CtrlAddr = netip.AddrPortFrom(opts.IP, uint16(FreeUDPPort(t, opts.IP)))
		line("module_app", "ctrl_tcp.so")
		line("ctrl_tcp_listen", b.CtrlAddr.String())
	}
	var acc strings.Builder
	for _, u := range opts.Users {
		fmt.Fprintf(&acc, "<sip:%s@%s>;regint=0;answermode=auto;audio_codecs=PCMU;ptime=20\n",
			u, netip.AddrPortFrom(opts.IP, uint16(opts.Port)))
	}
	for name, content := range map[string]string{"config": cfg.String(), "accounts": acc.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatalf("testpeer: baresip %s: %v", name, err)
		}
	}
	log := filepath.Join(dir, "baresip.log")
	name := "baresip " + netip.AddrPortFrom(opts.IP, uint16(opts.Port)).String()
	b.p = startProcess(t, name, dir, log, bin, "-f", dir)
	b.p.logs = append(b.p.logs, filepath.Join(dir, "config"), filepath.Join(dir, "accounts"))
	b.p.mustBeReady("\"baresip is ready.\" and SIP socket", func() bool {
		return fileContains(log, "baresip is ready.") && socketBound("udp", opts.IP, opts.Port) &&
			(!opts.Ctrl || socketBound("tcp", opts.IP, int(b.CtrlAddr.Port())))
	})
	if opts.Ctrl {
		// Connect now so that no event of the first call is missed.
		if _, err := b.control(); err != nil {
			t.Fatalf("testpeer: %v", err)
		}
	}
	return b
}

// Addr is baresip's SIP address.
func (b *Baresip) Addr() netip.AddrPort {
	return netip.AddrPortFrom(b.IP, uint16(b.Port))
}

// URI is "sip:IP:PORT", for a DESTn define of the Kamailio trunk.
func (b *Baresip) URI() string { return "sip:" + b.Addr().String() }

// Log returns baresip's output so far.
func (b *Baresip) Log() string {
	out, _ := os.ReadFile(filepath.Join(b.Dir, "baresip.log"))
	return string(out)
}

// Stop ends baresip with SIGTERM and waits for it.
func (b *Baresip) Stop() {
	if b.ctrl != nil {
		b.ctrl.conn.Close()
	}
	b.p.stop()
}

// BaresipEvent is one ctrl_tcp event, e.g. Type "CALL_ESTABLISHED".
type BaresipEvent struct {
	Type       string `json:"type"`
	Class      string `json:"class"`
	AccountAOR string `json:"accountaor"`
	Direction  string `json:"direction"`
	PeerURI    string `json:"peeruri"`
	ID         string `json:"id"`
	Param      string `json:"param"`
}

type baresipCtrl struct {
	conn      net.Conn
	mu        sync.Mutex // one command at a time
	responses chan ctrlMessage

	evMu   sync.Mutex
	events []BaresipEvent
	evSig  chan struct{} // closed and replaced on every event
	err    error         // set when the reader stopped
}

type ctrlMessage struct {
	Response bool   `json:"response"`
	Event    bool   `json:"event"`
	OK       bool   `json:"ok"`
	Data     string `json:"data"`
	Token    string `json:"token"`
	BaresipEvent
}

func (b *Baresip) control() (*baresipCtrl, error) {
	if b.ctrl != nil {
		return b.ctrl, nil
	}
	if !b.CtrlAddr.IsValid() {
		return nil, fmt.Errorf("baresip: ctrl_tcp not enabled (BaresipOptions.Ctrl)")
	}
	conn, err := net.DialTimeout("tcp", b.CtrlAddr.String(), 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("baresip ctrl_tcp: %w", err)
	}
	c := &baresipCtrl{conn: conn, responses: make(chan ctrlMessage, 8), evSig: make(chan struct{})}
	go c.read()
	b.ctrl = c
	b.t.Cleanup(func() { conn.Close() })
	return c, nil
}

// read splits the netstring stream ("LEN:JSON,") into responses and events.
func (c *baresipCtrl) read() {
	r := bufio.NewReader(c.conn)
	var err error
	for {
		var lenStr string
		lenStr, err = r.ReadString(':')
		if err != nil {
			break
		}
		var n int
		n, err = strconv.Atoi(strings.TrimSuffix(lenStr, ":"))
		if err != nil || n < 0 || n > 1<<20 {
			err = fmt.Errorf("bad netstring length %q", lenStr)
			break
		}
		buf := make([]byte, n+1)
		if _, err = io.ReadFull(r, buf); err != nil {
			break
		}
		var m ctrlMessage
		if json.Unmarshal(buf[:n], &m) != nil {
			continue
		}
		switch {
		case m.Response:
			select {
			case c.responses <- m:
			default:
			}
		case m.Event:
			c.evMu.Lock()
			c.events = append(c.events, m.BaresipEvent)
			close(c.evSig)
			c.evSig = make(chan struct{})
			c.evMu.Unlock()
		}
	}
	c.evMu.Lock()
	c.err = fmt.Errorf("baresip ctrl_tcp closed: %w", err)
	close(c.evSig)
	c.evSig = make(chan struct{})
	c.evMu.Unlock()
	close(c.responses)
}

// Command sends a ctrl_tcp command (e.g. "dial" "sip:1000@127.1.2.3:5060",
// "hangup", "quit") and returns its response data.
func (b *Baresip) Command(ctx context.Context, command, params string) (string, error) {
	c, err := b.control()
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	msg, _ := json.Marshal(map[string]string{"command": command, "params": params, "token": "t"})
	if _, err := fmt.Fprintf(c.conn, "%d:%s,", len(msg), msg); err != nil {
		return "", fmt.Errorf("baresip %s: %w", command, err)
	}
	select {
	case m, ok := <-c.responses:
		if !ok {
			return "", fmt.Errorf("baresip %s: connection closed", command)
		}
		if !m.OK {
			return m.Data, fmt.Errorf("baresip %s: failed: %s", command, m.Data)
		}
		return m.Data, nil
	case <-ctx.Done():
		return "", fmt.Errorf("baresip %s: %w", command, ctx.Err())
	}
}

// Events returns the ctrl_tcp events seen so far.
func (b *Baresip) Events() []BaresipEvent {
	if b.ctrl == nil {
		return nil
	}
	b.ctrl.evMu.Lock()
	defer b.ctrl.evMu.Unlock()
	return append([]BaresipEvent(nil), b.ctrl.events...)
}

// WaitEvent waits for the first event of type typ (seen at any time since
// baresip started) and returns it.
func (b *Baresip) WaitEvent(ctx context.Context, typ string) (BaresipEvent, error) {
	c, err := b.control()
	if err != nil {
		return BaresipEvent{}, err
	}
	for {
		c.evMu.Lock()
		for _, ev := range c.events {
			if ev.Type == typ {
				c.evMu.Unlock()
				return ev, nil
			}
		}
		sig, rerr := c.evSig, c.err
		c.evMu.Unlock()
		if rerr != nil {
			return BaresipEvent{}, rerr
		}
		select {
		case <-sig:
		case <-ctx.Done():
			return BaresipEvent{}, fmt.Errorf("baresip event %s: %w", typ, ctx.Err())
		}
	}
}
