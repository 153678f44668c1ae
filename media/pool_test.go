package media

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestConfigSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
		check   func(t *testing.T, s settings)
	}{
		{name: "defaults", cfg: Config{IP: "192.0.2.10"}, check: func(t *testing.T, s settings) {
			if s.portMin != 20000 || s.portMax != 20999 || s.mediaTimeout != 30*time.Second || s.portHold != 5*time.Second {
				t.Errorf("defaults = %+v", s)
			}
			if len(s.codecs) != 2 || s.codecs[0] != PCMU || s.codecs[1] != PCMA {
				t.Errorf("codecs = %v", s.codecs)
			}
			if s.adv != s.ip {
				t.Errorf("adv = %v, want ip", s.adv)
			}
		}},
		{name: "odd min rounds up", cfg: Config{IP: "192.0.2.10", PortMin: 30001, PortMax: 30010}, check: func(t *testing.T, s settings) {
			if s.portMin != 30002 {
				t.Errorf("portMin = %d", s.portMin)
			}
		}},
		{name: "public ip and codec order", cfg: Config{IP: "192.0.2.10", PublicIP: "203.0.113.9", Codecs: []string{"pcma"}}, check: func(t *testing.T, s settings) {
			if s.adv.String() != "203.0.113.9" || len(s.codecs) != 1 || s.codecs[0] != PCMA {
				t.Errorf("got adv %v codecs %v", s.adv, s.codecs)
			}
		}},
		{name: "no ip", cfg: Config{}, wantErr: "explicit IPv4"},
		{name: "wildcard ip", cfg: Config{IP: "0.0.0.0"}, wantErr: "explicit IPv4"},
		{name: "ipv6", cfg: Config{IP: "::1"}, wantErr: "explicit IPv4"},
		{name: "bad public ip", cfg: Config{IP: "192.0.2.10", PublicIP: "example.com"}, wantErr: "public_ip"},
		{name: "inverted range", cfg: Config{IP: "192.0.2.10", PortMin: 30010, PortMax: 30000}, wantErr: "port range"},
		{name: "one port only", cfg: Config{IP: "192.0.2.10", PortMin: 30000, PortMax: 30000}, wantErr: "port range"},
		{name: "privileged", cfg: Config{IP: "192.0.2.10", PortMin: 100, PortMax: 200}, wantErr: "port range"},
		{name: "negative timeout", cfg: Config{IP: "192.0.2.10", MediaTimeout: -1}, wantErr: "negative"},
		{name: "unknown codec", cfg: Config{IP: "192.0.2.10", Codecs: []string{"G729"}}, wantErr: "not supported"},
		{name: "codec twice", cfg: Config{IP: "192.0.2.10", Codecs: []string{"PCMU", "pcmu"}}, wantErr: "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.cfg.settings()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				if _, err := NewPool(tt.cfg, nil); err == nil {
					t.Fatal("NewPool accepted a bad config")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

func TestPoolExhaustionAndHold(t *testing.T) {
	t.Parallel()
	const hold = 300 * time.Millisecond
	p := newTestPool(t, 2, func(c *Config) { c.PortHold = hold })
	if got := p.Free(); got != 2 {
		t.Fatalf("Free() = %d, want 2", got)
	}
	s1 := newTestSession(t, p)
	s2 := newTestSession(t, p)
	if s1.LocalAddr().Port()%2 != 0 || s2.LocalAddr().Port()%2 != 0 {
		t.Errorf("RTP ports %v %v are not even", s1.LocalAddr(), s2.LocalAddr())
	}
	if _, err := p.NewSession(); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("third session: err = %v, want ErrPoolExhausted", err)
	}
	if got := p.Free(); got != 0 {
		t.Fatalf("Free() = %d, want 0", got)
	}

	freed := s1.LocalAddr()
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	// Both sockets really closed: the ports bind again.
	for _, port := range []uint16{freed.Port(), freed.Port() + 1} {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(freed.Addr(), port)))
		if err != nil {
			t.Fatalf("port %d still bound after Close: %v", port, err)
		}
		c.Close()
	}
	if got := p.Free(); got != 0 {
		t.Fatalf("Free() during hold = %d, want 0", got)
	}
	if _, err := p.NewSession(); !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("session during hold: err = %v, want ErrPoolExhausted", err)
	}
	if !waitFor(2*hold, func() bool { return p.Free() == 1 }) {
		t.Fatalf("Free() after hold = %d, want 1", p.Free())
	}
	s3 := newTestSession(t, p)
	if s3.LocalAddr() != freed {
		t.Errorf("reused %v, want the freed %v", s3.LocalAddr(), freed)
	}
}

func TestPoolSkipsPortsInUse(t *testing.T) {
	t.Parallel()
	p := newTestPool(t, 2, nil)
	// Another program holds the first pair's RTCP port.
	first := p.set.portMin
	squat, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.set.ip, uint16(first+1))))
	if err != nil {
		t.Fatal(err)
	}
	defer squat.Close()
	s := newTestSession(t, p)
	if int(s.LocalAddr().Port()) != first+2 {
		t.Errorf("got port %d, want %d (the pair after the squatted one)", s.LocalAddr().Port(), first+2)
	}
	// The squatted pair is held like a freed one, so the pool is empty now.
	if _, err := p.NewSession(); !errors.Is(err, ErrPoolExhausted) {
		t.Errorf("err = %v, want ErrPoolExhausted", err)
	}
}

func TestPoolCloseNoLeak(t *testing.T) {
	// An earlier test's goroutines may still be on their way out.
	waitFor(2*time.Second, func() bool { return mediaGoroutines() == 0 })
	before := mediaGoroutines()
	p := newTestPool(t, 3, nil)
	var ss []*Session
	for range 3 {
		s, err := p.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
	}
	r := Join(ss[0], ss[1])
	p.Close()
	select {
	case <-r.Done():
	case <-time.After(time.Second):
		t.Fatal("relay still running after pool Close")
	}
	if !errors.Is(ss[2].Play(t.Context(), [][]byte{frame(0)}), ErrClosed) {
		t.Error("Play on a closed session did not return ErrClosed")
	}
	if _, err := p.NewSession(); !errors.Is(err, ErrClosed) {
		t.Errorf("NewSession after Close: %v, want ErrClosed", err)
	}
	if !waitFor(time.Second, func() bool { return mediaGoroutines() == before }) {
		t.Errorf("media goroutines: %d before, %d after Close", before, mediaGoroutines())
	}
}
