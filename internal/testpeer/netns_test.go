package testpeer

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// udpEcho echoes every datagram on c, counting them and the echoes that
// could not be sent.
func udpEcho(c *net.UDPConn, n, sendErrs *atomic.Int64) {
	buf := make([]byte, 2048)
	for {
		k, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		n.Add(1)
		if _, err := c.WriteToUDPAddrPort(buf[:k], from); err != nil {
			sendErrs.Add(1)
		}
	}
}

// pinger sends numbered datagrams from the host end of ns to the echo.
type pinger struct {
	t  *testing.T
	c  *net.UDPConn
	to netip.AddrPort
}

func newPinger(t *testing.T, ns *NetNS, to netip.AddrPort) *pinger {
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ns.HostIP, 0)))
	if err != nil {
		t.Fatalf("listen on the host end %v: %v", ns.HostIP, err)
	}
	t.Cleanup(func() { c.Close() })
	return &pinger{t: t, c: c, to: to}
}

// rtts sends count pings one after another and returns their round trips;
// a ping lost (no answer within wait) is left out.
func (p *pinger) rtts(count int, wait time.Duration) []time.Duration {
	p.t.Helper()
	var rtts []time.Duration
	buf := make([]byte, 64)
	for i := range count {
		msg := []byte("ping " + strconv.Itoa(i))
		start := time.Now()
		if _, err := p.c.WriteToUDPAddrPort(msg, p.to); err != nil {
			p.t.Fatal(err)
		}
		_ = p.c.SetReadDeadline(start.Add(wait))
		for {
			k, _, err := p.c.ReadFromUDPAddrPort(buf)
			if err != nil {
				break // lost
			}
			if string(buf[:k]) == string(msg) {
				rtts = append(rtts, time.Since(start))
				break
			}
		}
	}
	return rtts
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// Delay holds packets in both directions; removing it lets held packets
// pass at once; the counters see what crossed.
func TestNetNSDelay(t *testing.T) {
	t.Parallel()
	ns := NewNetNS(t)
	echo := ns.ListenUDP(t, 0)
	var got, sendErrs atomic.Int64
	go udpEcho(echo, &got, &sendErrs)
	p := newPinger(t, ns, netip.AddrPortFrom(ns.NSIP, uint16(echo.LocalAddr().(*net.UDPAddr).Port)))

	base := p.rtts(10, 2*time.Second)
	if len(base) != 10 {
		t.Fatalf("%d of 10 pings answered across a clean veth", len(base))
	}
	t.Logf("clean: median round trip %v", median(base))

	const d = 30 * time.Millisecond
	ns.Delay(d)
	delayed := p.rtts(20, 5*time.Second)
	if len(delayed) != 20 {
		t.Fatalf("%d of 20 pings answered with delay", len(delayed))
	}
	t.Logf("delay %v each way: round trips min %v median %v max %v", d, slices.Min(delayed), median(delayed), slices.Max(delayed))
	if m := slices.Min(delayed); m < 2*d {
		t.Errorf("shortest round trip %v with %v each way; want >= %v", m, d, 2*d)
	}
	s, err := ns.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %v", s)
	if s.DelayedIn < 20 || s.DelayedOut < 20 || s.MeanDelayIn < d || s.MeanDelayOut < d {
		t.Errorf("stats %v; want >= 20 packets held >= %v each way", s, d)
	}

	// With jitter each packet is held on its own: 10 to 30 ms each way.
	ns.DelayJitter(20*time.Millisecond, 10*time.Millisecond)
	jittered := p.rtts(20, 5*time.Second)
	if len(jittered) != 20 {
		t.Fatalf("%d of 20 pings answered with jitter", len(jittered))
	}
	lo, hi := slices.Min(jittered), slices.Max(jittered)
	t.Logf("delay 20 ms ± 10 ms each way: round trips min %v median %v max %v", lo, median(jittered), hi)
	if lo < 20*time.Millisecond || hi-lo < 5*time.Millisecond {
		t.Errorf("round trips %v to %v with 20 ms ± 10 ms each way; want >= 20 ms, spread out", lo, hi)
	}

	// Packets held when the delay ends pass at once, not after their delay.
	ns.Delay(2 * time.Second)
	before := got.Load()
	for i := range 10 {
		if _, err := p.c.WriteToUDPAddrPort([]byte("held "+strconv.Itoa(i)), p.to); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := got.Load() - before; n != 0 {
		t.Errorf("%d packets arrived within 100 ms of a 2 s delay", n)
	}
	start := time.Now()
	ns.Delay(0)
	for got.Load()-before < 10 && time.Since(start) < time.Second {
		time.Sleep(5 * time.Millisecond)
	}
	if n := got.Load() - before; n != 10 {
		t.Errorf("%d of 10 held packets arrived within 1 s of removing the delay", n)
	} else {
		t.Logf("10 held packets arrived %v after the delay was removed", time.Since(start).Round(time.Millisecond))
	}

	after := p.rtts(10, 2*time.Second)
	if len(after) < 10 || median(after) >= d {
		t.Errorf("after the delay ended: %d of 10 answered, median %v; want all, under %v", len(after), median(after), d)
	}
}

// Loss drops packets in each direction, and its counters say how many.
func TestNetNSLoss(t *testing.T) {
	t.Parallel()
	ns := NewNetNS(t)
	sink := ns.ListenUDP(t, 0)
	var got, sendErrs atomic.Int64
	go udpEcho(sink, &got, &sendErrs)
	to := netip.AddrPortFrom(ns.NSIP, uint16(sink.LocalAddr().(*net.UDPAddr).Port))
	p := newPinger(t, ns, to)
	var echoed atomic.Int64
	go func() {
		buf := make([]byte, 64)
		for {
			if _, _, err := p.c.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
			echoed.Add(1)
		}
	}()

	ns.Loss(0.3)
	const sent = 500
	for i := range sent {
		if _, err := p.c.WriteToUDPAddrPort([]byte("x"+strconv.Itoa(i)), to); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			time.Sleep(2 * time.Millisecond) // stay far from any socket buffer
		}
	}
	time.Sleep(300 * time.Millisecond)
	s, err := ns.Stats()
	if err != nil {
		t.Fatal(err)
	}
	in, back := got.Load(), echoed.Load()
	t.Logf("sent %d, %d arrived, %d echoes came back; %v", sent, in, back, s)
	// 30% each way: 350 ± 10 (one standard deviation) arrive.
	if in < sent*55/100 || in > sent*85/100 {
		t.Errorf("%d of %d arrived with 30%% loss", in, sent)
	}
	if s.UDPIn != sent || s.DroppedIn+uint64(in) != sent {
		t.Errorf("counters %v: want %d in, of which %d dropped", s, sent, sent-in)
	}
	if s.UDPOut != uint64(in) || s.DroppedOut+uint64(back) != uint64(in) {
		t.Errorf("counters %v: want %d out, of which %d dropped", s, in, uint64(in)-uint64(back))
	}
	// Loss is silent, as on a link: the sender in the namespace is not told
	// (an iptables DROP in OUTPUT would fail its sendto with EPERM).
	if n := sendErrs.Load(); n != 0 {
		t.Errorf("%d echoes failed to send: loss out of the namespace is not silent", n)
	}

	ns.Loss(0)
	// A pinger of its own: the counting goroutine still reads p's socket.
	if r := newPinger(t, ns, to).rtts(20, 2*time.Second); len(r) != 20 {
		t.Errorf("%d of 20 pings answered after the loss ended", len(r))
	}
}

// A namespace is gone after its test, with its veth; one left by a process
// that no longer exists is removed by the next NewNetNS; a queue number can
// have one client only, and the error says so.
func TestNetNSCleanup(t *testing.T) {
	var name, hostIf string
	t.Run("create", func(t *testing.T) {
		ns := NewNetNS(t)
		ns.Loss(0.1)
		ns.Delay(10 * time.Millisecond)
		name, hostIf = ns.Name, ns.HostIf
		if _, err := os.Stat(ns.Path()); err != nil {
			t.Fatal(err)
		}
		num := ns.queues[0].num
		if _, err := openNFQueue(ns.Path(), num, impairment{}); err == nil {
			t.Errorf("a second client bound queue %d", num)
		} else {
			t.Logf("second client: %v", err)
		}
	})
	if name == "" {
		t.Skip("no namespace was created")
	}
	if _, err := os.Stat(netnsDir + "/" + name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace %s still there after its test: %v", name, err)
	}
	if _, err := net.InterfaceByName(hostIf); err == nil {
		t.Errorf("veth %s still there after its test", hostIf)
	}

	// A process that has ended: its pid is free (until reused, rarely).
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	stale := netnsPrefix + strconv.Itoa(cmd.Process.Pid) + "-000000"
	if out, err := runTool("ip", "netns", "add", stale); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", stale, err, out)
	}
	t.Cleanup(func() { _, _ = runTool("ip", "netns", "del", stale) })
	NewNetNS(t)
	if _, err := os.Stat(netnsDir + "/" + stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale namespace %s not removed: %v", stale, err)
	}
}
