package testpeer

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
)

// handedOut remembers addresses and ports already given to a test in this
// process, so two calls never return the same one while the first is unbound.
var handedOut = struct {
	sync.Mutex
	ips   map[netip.Addr]bool
	ports map[int]bool
}{ips: map[netip.Addr]bool{}, ports: map[int]bool{}}

// LoopbackIP returns a random, bindable 127.x.y.z address that is neither
// 127.0.0.x nor 127.0.1.x (used by resolvers and /etc/hosts), so each test
// has an address of its own.
func LoopbackIP(t testing.TB) netip.Addr {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 100 {
		x, y, z := byte(rand.IntN(256)), byte(rand.IntN(256)), byte(1+rand.IntN(254))
		if x == 0 && y <= 1 {
			continue
		}
		ip := netip.AddrFrom4([4]byte{127, x, y, z})
		if handedOut.ips[ip] {
			continue
		}
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
		if err != nil {
			continue
		}
		c.Close()
		handedOut.ips[ip] = true
		return ip
	}
	t.Fatalf("testpeer: no bindable loopback address found")
	return netip.Addr{}
}

// Ports are drawn below the kernel's ephemeral range (32768+), so no socket
// bound to port 0 by any program can take one after we checked it, and
// outside 20000-20999, the default media range of a locally running callbackd.
const (
	portLow  = 10000
	portHigh = 32000
)

func randomPort() int {
	for {
		p := portLow + rand.IntN(portHigh-portLow)
		if p < 20000 || p > 20999 {
			return p
		}
	}
}

// udpFree reports whether UDP port p is free on every address. Binding the
// wildcard fails when any address holds p, which matters because some peers
// (baresip's RTP) bind the wildcard whatever address they announce.
func udpFree(ip netip.Addr, p int) bool {
	for _, a := range []netip.Addr{netip.IPv4Unspecified(), ip} {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, uint16(p))))
		if err != nil {
			return false
		}
		c.Close()
	}
	return true
}

// tcpFree is the same check for TCP: SIP peers listen on TCP beside UDP.
func tcpFree(ip netip.Addr, p int) bool {
	l, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(p))))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// freeRange finds n consecutive ports, starting at an even one when even is
// set, free for UDP (and TCP on ip when tcp is set).
func freeRange(t testing.TB, ip netip.Addr, n int, even, tcp bool) int {
	t.Helper()
	base, ok := pickRange(n, even, func(p int) bool { return udpFree(ip, p) && (!tcp || tcpFree(ip, p)) })
	if !ok {
		t.Fatalf("testpeer: no free range of %d UDP ports on %v", n, ip)
	}
	// Back in the pool when the test ends: a few ranges of thousands (media
	// pools) would otherwise fragment it until no such range is left.
	// Cleanups run last-first, so whatever the test started on these ports
	// afterwards has stopped by then.
	t.Cleanup(func() {
		handedOut.Lock()
		defer handedOut.Unlock()
		for p := base; p < base+n; p++ {
			delete(handedOut.ports, p)
		}
	})
	return base
}

// pickRange hands out n consecutive ports that free accepts and that no
// earlier call handed out, trying random bases.
func pickRange(n int, even bool, free func(port int) bool) (int, bool) {
	handedOut.Lock()
	defer handedOut.Unlock()
next:
	for range 1000 {
		base := randomPort()
		if even {
			base &^= 1
		}
		if base+n > portHigh {
			continue
		}
		for p := base; p < base+n; p++ {
			if handedOut.ports[p] || !free(p) {
				continue next
			}
		}
		for p := base; p < base+n; p++ {
			handedOut.ports[p] = true
		}
		return base, true
	}
	return 0, false
}

// FreeUDPPort returns a port free for UDP on all addresses and for TCP on
// ip, suitable for a SIP listener.
func FreeUDPPort(t testing.TB, ip netip.Addr) int {
	t.Helper()
	return freeRange(t, ip, 1, false, true)
}

// FreePortPair returns an even port p with p and p+1 free for UDP: an RTP
// port and its RTCP port.
func FreePortPair(t testing.TB, ip netip.Addr) int {
	t.Helper()
	return freeRange(t, ip, 2, true, false)
}

// FreePortRange returns n consecutive free UDP ports [lo, hi] starting at an
// even port, e.g. for a media port pool or baresip's rtp_ports.
func FreePortRange(t testing.TB, ip netip.Addr, n int) (lo, hi int) {
	t.Helper()
	if n < 1 {
		t.Fatalf("testpeer: FreePortRange(%d)", n)
	}
	lo = freeRange(t, ip, n, true, false)
	return lo, lo + n - 1
}
