package sip

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// ourGoroutines returns the stacks of goroutines running UA or sipgo code.
func ourGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "emiago/sipgo") || strings.Contains(g, "callbackd/sip.(*UA)") ||
			strings.Contains(g, "callbackd/sip.(*Leg)") || strings.Contains(g, "callbackd/sip.(*trunk)") ||
			strings.Contains(g, "callbackd/sip.(*dialing)") {
			out = append(out, g)
		}
	}
	return out
}

// Not parallel: it runs before the parallel tests resume, so every UA or sipgo
// goroutine left is this test's.
func TestNoGoroutinesAfterClose(t *testing.T) {
	if gs := ourGoroutines(); len(gs) > 0 {
		t.Fatalf("goroutines before the test:\n%s", strings.Join(gs, "\n\n"))
	}
	peer := newFakePeer(t, loopbackIP(t), answerAll)
	silent := newFakePeer(t, loopbackIP(t), nil)
	ip := loopbackIP(t)
	u, err := New(Config{Listen: netip.AddrPortFrom(ip, 0).String(), Transports: []string{"udp", "tcp"}},
		[]TrunkConfig{
			{Name: "a", Host: peer.addr.Addr().String(), Port: int(peer.addr.Port()), KeepAlive: 50 * time.Millisecond,
				Register: true, Username: "u", Password: "p"},
			{Name: "silent", Host: silent.addr.Addr().String(), Port: int(silent.addr.Port())},
		}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	leg, err := u.Dial(dialCtx(t, 5*time.Second), DialRequest{Trunk: "a", Number: "1", SDP: offerSDP(ip, 4000)})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	// A dial nobody answers, given up at once: its INVITE transaction goes on
	// in the background until Close.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	if _, err := u.Dial(ctx, DialRequest{Trunk: "silent", Number: "2", SDP: offerSDP(ip, 4002)}); err == nil {
		t.Fatal("silent dial answered")
	}
	time.Sleep(100 * time.Millisecond) // a few keep-alives
	if err := u.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if leg.HangupCause() != CauseShutdown {
		t.Errorf("leg cause %q after Close, want shutdown", leg.HangupCause())
	}
	peer.next(time.Second, "BYE at Close", isRequest(sip.BYE))
	if _, err := u.Dial(dialCtx(t, time.Second), DialRequest{Trunk: "a", Number: "1"}); !errorsIs(err, ErrClosed) {
		t.Errorf("Dial after Close: %v", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		gs := ourGoroutines()
		if len(gs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left after Close:\n%s", len(gs), strings.Join(gs, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTLSListener(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir)
	trunkIP := loopbackIP(t)
	ip := loopbackIP(t)
	u := newTestUA(t, ip, Config{Transports: []string{"udp"}, TLSCert: certFile, TLSKey: keyFile},
		TrunkConfig{Name: "tls", Host: trunkIP.String(), Transport: "tls"})
	if !u.lc.tlsAddr.IsValid() || u.lc.tlsAddr.Port() == 0 {
		t.Fatalf("tls address %v", u.lc.tlsAddr)
	}
	d := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(trunkIP, 0)), Timeout: 2 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", u.lc.tlsAddr.String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.TCPAddr).AddrPort()
	req := strings.Replace(rawRequest("OPTIONS", u.lc.tlsAddr.String(), local), "SIP/2.0/UDP", "SIP/2.0/TLS", 1)
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
		t.Errorf("OPTIONS over TLS: %q", buf[:n])
	}
}

func writeSelfSigned(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "callbackd test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
