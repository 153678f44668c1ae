package sip

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/testpeer"
)

// A call over TLS to a real peer: baresip presents a self-signed certificate
// for its IP, which the UA trusts through tls_ca and verifies.
func TestTLSCallToBaresip(t *testing.T) {
	t.Parallel()
	peerIP := loopbackIP(t)
	dir := t.TempDir()
	peerCert, peerBundle := writePeerCert(t, dir, peerIP)
	b := testpeer.StartBaresip(t, testpeer.BaresipOptions{IP: peerIP, TLSCert: peerBundle})

	tlsTrunk := TrunkConfig{Name: "tls", Host: peerIP.String(), Port: b.Port + 1, Transport: "tls"}
	ip := loopbackIP(t)
	certFile, keyFile := writeSelfSigned(t, t.TempDir())
	u := newTestUA(t, ip, Config{Transports: []string{"udp", "tls"}, TLSCert: certFile, TLSKey: keyFile, TLSCA: peerCert}, tlsTrunk)
	m := newMediaSock(t, ip)
	leg, err := u.Dial(dialCtx(t, 15*time.Second), DialRequest{Number: "1000", SDP: offerSDP(ip, m.port)})
	if err != nil {
		t.Fatalf("Dial over TLS: %v\n%s", err, b.Log())
	}
	if _, ok := sdpMedia(leg.AnswerSDP()); !ok {
		t.Errorf("answer SDP %q", leg.AnswerSDP())
	}
	hangup(t, leg)
	if !strings.Contains(b.Log(), "Call established") {
		t.Errorf("baresip did not establish the call:\n%s", b.Log())
	}
}

// Without the CA the same peer's certificate is refused: TLS is verified.
func TestTLSUntrustedPeerRefused(t *testing.T) {
	t.Parallel()
	peerIP := loopbackIP(t)
	_, peerBundle := writePeerCert(t, t.TempDir(), peerIP)
	b := testpeer.StartBaresip(t, testpeer.BaresipOptions{IP: peerIP, TLSCert: peerBundle})
	ip := loopbackIP(t)
	certFile, keyFile := writeSelfSigned(t, t.TempDir())
	u := newTestUA(t, ip, Config{Transports: []string{"udp", "tls"}, TLSCert: certFile, TLSKey: keyFile},
		TrunkConfig{Name: "tls", Host: peerIP.String(), Port: b.Port + 1, Transport: "tls"})
	m := newMediaSock(t, ip)
	_, err := u.Dial(dialCtx(t, 15*time.Second), DialRequest{Number: "1000", SDP: offerSDP(ip, m.port)})
	var de *DialError
	if !errors.As(err, &de) || de.Outcome != OutcomeUnreachable {
		t.Fatalf("Dial to an untrusted TLS peer: %v, want unreachable", err)
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("error %q does not say the certificate was refused", err)
	}
}

func TestTLSCAFile(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	for _, f := range []string{bad, filepath.Join(t.TempDir(), "missing.pem")} {
		if _, err := New(Config{Listen: "127.0.0.1:0", TLSCA: f}, nil, nil); err == nil || !strings.Contains(err.Error(), "tls_ca") {
			t.Errorf("New with tls_ca %s: %v, want an error naming tls_ca", filepath.Base(f), err)
		}
	}
}

// writePeerCert writes a self-signed certificate for ip, alone (to trust)
// and with its key (for baresip's sip_certificate).
func writePeerCert(t *testing.T, dir string, ip netip.Addr) (certFile, bundleFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(2),
		Subject:               pkix.Name{CommonName: "baresip test peer"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{ip.AsSlice()},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	certFile, bundleFile = filepath.Join(dir, "peer.pem"), filepath.Join(dir, "peer-bundle.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bundleFile, append(certPEM, keyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, bundleFile
}
