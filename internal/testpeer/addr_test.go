package testpeer

import (
	"net"
	"net/netip"
	"testing"
)

func TestLoopbackIP(t *testing.T) {
	seen := map[netip.Addr]bool{}
	for range 50 {
		ip := LoopbackIP(t)
		if !ip.Is4() || ip.As4()[0] != 127 || ip == netip.MustParseAddr("127.0.0.1") {
			t.Fatalf("LoopbackIP() = %v, want 127.x.y.z other than 127.0.0.1", ip)
		}
		if seen[ip] {
			t.Fatalf("LoopbackIP() returned %v twice", ip)
		}
		seen[ip] = true
	}
}

func TestFreePorts(t *testing.T) {
	ip := LoopbackIP(t)
	seen := map[int]bool{}
	for range 20 {
		p := FreeUDPPort(t, ip)
		pair := FreePortPair(t, ip)
		lo, hi := FreePortRange(t, ip, 10)
		if pair%2 != 0 || lo%2 != 0 || hi-lo != 9 {
			t.Fatalf("pair %d, range %d-%d: want even starts and 10 ports", pair, lo, hi)
		}
		for _, q := range []int{p, pair, pair + 1, lo, hi} {
			if seen[q] {
				t.Fatalf("port %d handed out twice", q)
			}
			seen[q] = true
		}
	}
}

// Ranges go back when their test ends: eight media pools of 4,000 in a row
// fit, where without that the 22,000 ports fragment after two or three.
func TestFreePortRangeReleased(t *testing.T) {
	ip := LoopbackIP(t)
	for range 8 {
		t.Run("pool", func(t *testing.T) {
			if lo, hi := FreePortRange(t, ip, 4000); hi-lo != 3999 {
				t.Fatalf("range %d-%d, want 4000 ports", lo, hi)
			}
		})
	}
}

// A port held on another loopback address must count as taken: peers that
// bind the wildcard address would fail on it.
func TestUDPFreeSeesOtherAddresses(t *testing.T) {
	a, b := LoopbackIP(t), LoopbackIP(t)
	p := FreeUDPPort(t, a)
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, uint16(p))))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if udpFree(b, p) {
		t.Errorf("udpFree(%v, %d) = true while %v:%d is bound", b, p, a, p)
	}
	if !socketBound("udp", a, p) {
		t.Errorf("socketBound(%v:%d) = false for a bound socket", a, p)
	}
	if socketBound("udp", b, p) {
		t.Errorf("socketBound(%v:%d) = true for another address", b, p)
	}
}

func TestParseProcAddr(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"0100007F:13C4", "127.0.0.1:5060", true},
		{"0303037F:3AD4", "127.3.3.3:15060", true},
		{"00000000:0035", "0.0.0.0:53", true},
		{"zz:1", "", false},
		{"0100007F", "", false},
	}
	for _, tt := range tests {
		got, ok := parseProcAddr(tt.in)
		if ok != tt.ok || (ok && got.String() != tt.want) {
			t.Errorf("parseProcAddr(%q) = %v, %v; want %s, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
