package testpeer

import (
	"net/netip"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// KamailioOptions configures one Kamailio instance.
type KamailioOptions struct {
	// IP and Port are where it listens (defines IP and PORT); defaults are
	// LoopbackIP and a free port.
	IP   netip.Addr
	Port int
	// Defines are passed as -A 'NAME="value"' (quoted, except CHILDREN), e.g.
	// AUTH_USER, AUTH_PASS, REALM, DEST1..DEST9, NOAUTH_SRC, CHILDREN for
	// trunk.cfg.
	Defines map[string]string
	// Config is the script; default testdata/kamailio/trunk.cfg.
	Config string
}

// numericDefines are used where Kamailio wants a number, not a string.
var numericDefines = map[string]bool{"PORT": true, "CHILDREN": true}

// Kamailio is a running Kamailio.
type Kamailio struct {
	IP   netip.Addr
	Port int
	p    *process
}

// StartKamailio starts Kamailio in the foreground (-DD -E) and returns when
// its UDP socket is bound. It is stopped by SIGTERM in t.Cleanup; its log
// is written to the test output when the test failed.
func StartKamailio(t testing.TB, opts KamailioOptions) *Kamailio {
	t.Helper()
	RequirePeer(t, "kamailio")
	bin, _ := peerPath("kamailio")
	if !opts.IP.IsValid() {
		opts.IP = LoopbackIP(t)
	}
	if opts.Port == 0 {
		opts.Port = FreeUDPPort(t, opts.IP)
	}
	if opts.Config == "" {
		opts.Config = RepoPath(t, "testdata", "kamailio", "trunk.cfg")
	}
	cfg, err := filepath.Abs(opts.Config)
	if err != nil {
		t.Fatalf("testpeer: kamailio config path: %v", err)
	}
	// PORT goes unquoted: listen= rejects a quoted port.
	args := []string{"-DD", "-E", "-f", cfg,
		"-A", `IP="` + opts.IP.String() + `"`,
		"-A", "PORT=" + strconv.Itoa(opts.Port),
		// Small shared memory: several instances may run at once.
		"-m", "32", "-M", "8",
	}
	names := make([]string, 0, len(opts.Defines))
	for k := range opts.Defines {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := opts.Defines[k]
		if strings.ContainsAny(v, "\"\r\n") || strings.ContainsAny(k, "=\" ") {
			t.Fatalf("testpeer: kamailio define %s=%q cannot be quoted", k, v)
		}
		if numericDefines[k] {
			args = append(args, "-A", k+"="+v)
		} else {
			args = append(args, "-A", k+`="`+v+`"`)
		}
	}
	dir := t.TempDir()
	name := "kamailio " + opts.IP.String() + ":" + strconv.Itoa(opts.Port)
	p := startProcess(t, name, dir, filepath.Join(dir, "kamailio.log"), bin, args...)
	k := &Kamailio{IP: opts.IP, Port: opts.Port, p: p}
	p.mustBeReady("UDP socket "+k.Addr().String(), func() bool { return socketBound("udp", opts.IP, opts.Port) })
	return k
}

// Addr is Kamailio's SIP address.
func (k *Kamailio) Addr() netip.AddrPort {
	return netip.AddrPortFrom(k.IP, uint16(k.Port))
}

// URI is "sip:IP:PORT", for a DESTn define or an outbound proxy.
func (k *Kamailio) URI() string { return "sip:" + k.Addr().String() }

// Stop ends Kamailio with SIGTERM and waits for it.
func (k *Kamailio) Stop() { k.p.stop() }
