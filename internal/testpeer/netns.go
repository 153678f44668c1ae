package testpeer

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// NetNS is a network namespace of its own, joined to the host's by a veth
// pair on a private /30: HostIP on the host end, NSIP inside. Peers started
// in it (SIPpOptions.NetNS) are reached across the veth, where Loss and
// Delay impair their UDP in both directions, as netem would on a link.
//
// Everything it creates (namespace, veth, iptables rules, NFQUEUE clients)
// is removed in t.Cleanup, after the peers started later have stopped.
type NetNS struct {
	// Name is the namespace's name (ip netns), unique per test and run:
	// cbdtest-<pid>-<random>.
	Name   string
	HostIP netip.Addr
	NSIP   netip.Addr
	// HostIf and NSIf are the veth ends, in the host and in the namespace.
	HostIf, NSIf string

	t  testing.TB
	mu sync.Mutex
	// Settings of Loss and DelayJitter.
	loss          float64
	delay, jitter time.Duration
	// Rules installed for them, as "CHAIN rule..." for iptables -D.
	rules [][]string
	// Queues into and out of the namespace, and the counters of those
	// closed; what the removed loss rules had dropped.
	queues       [2]*nfQueue
	closedQueues [2]nfQueueStats
	lossInGone   uint64
	nextQueue    uint16
}

// NetNSStats counts the UDP packets that crossed the veth, as seen inside the
// namespace. In is towards the namespace, Out from it.
type NetNSStats struct {
	// UDPIn and UDPOut count every UDP packet, before loss.
	UDPIn, UDPOut uint64
	// DroppedIn and DroppedOut count the packets Loss dropped.
	DroppedIn, DroppedOut uint64
	// DelayedIn and DelayedOut count the packets the NFQUEUE client let
	// pass, each held for the delay (if any); MeanDelayIn and MeanDelayOut
	// are how long they were held on average.
	DelayedIn, DelayedOut     uint64
	MeanDelayIn, MeanDelayOut time.Duration
}

func (s NetNSStats) String() string {
	return fmt.Sprintf("in: %d udp, %d dropped, %d delayed (mean %v); out: %d udp, %d dropped, %d delayed (mean %v)",
		s.UDPIn, s.DroppedIn, s.DelayedIn, s.MeanDelayIn.Round(100*time.Microsecond),
		s.UDPOut, s.DroppedOut, s.DelayedOut, s.MeanDelayOut.Round(100*time.Microsecond))
}

// netnsDir is where iproute2 keeps named namespaces.
const netnsDir = "/var/run/netns"

// netnsPrefix starts the name of every namespace NewNetNS creates, followed by
// the creating process's id, so that one left by a crashed run is recognised
// and removed by the next.
const netnsPrefix = "cbdtest-"

// Comments on our iptables rules, for their counters.
const (
	commentCountIn  = "cbdtest count in"
	commentCountOut = "cbdtest count out"
	commentLossIn   = "cbdtest loss in"
	commentQueueIn  = "cbdtest queue in"
	commentQueueOut = "cbdtest queue out"
)

// netnsHandedOut keeps two namespaces of this process off the same /30 and
// the same interface names.
var netnsHandedOut = struct {
	sync.Mutex
	subnets  map[netip.Prefix]bool
	suffixes map[string]bool
}{subnets: map[netip.Prefix]bool{}, suffixes: map[string]bool{}}

// NewNetNS creates a network namespace with a veth pair to the host on a
// free 10.x.y.z/30, lo up inside. It skips the test when not run as root, and
// when ip or iptables is missing (a failure with CALLBACKD_REQUIRE_PEERS=1).
func NewNetNS(t testing.TB) *NetNS {
	t.Helper()
	if uid := os.Geteuid(); uid != 0 {
		t.Skipf("lossy-trunk test needs root (network namespaces, iptables): running as uid %d, skipping", uid)
	}
	requireTool(t, "ip", "iproute2")
	requireTool(t, "iptables", "iptables")
	removeStaleNetNS(t)

	hx := netnsSuffix()
	n := &NetNS{
		t:      t,
		Name:   fmt.Sprintf("%s%d-%s", netnsPrefix, os.Getpid(), hx),
		HostIf: "cbdh" + hx,
		NSIf:   "cbdn" + hx,
	}
	subnet := freeSubnet(t)
	n.HostIP = subnet.Addr().Next()
	n.NSIP = n.HostIP.Next()

	if out, err := runTool("ip", "netns", "add", n.Name); err != nil {
		msg := fmt.Sprintf("testpeer: ip netns add %s: %v: %s", n.Name, err, out)
		if strings.Contains(out, "not permitted") && os.Getenv(EnvRequirePeers) != "1" {
			t.Skipf("%s (root without CAP_SYS_ADMIN/CAP_NET_ADMIN, e.g. in a container?): skipping", msg)
		}
		t.Fatal(msg)
	}
	t.Cleanup(func() {
		if out, err := runTool("ip", "netns", "del", n.Name); err != nil {
			t.Errorf("testpeer: ip netns del %s: %v: %s", n.Name, err, out)
		}
	})
	// The namespace's end is created in it directly, so its name never
	// meets the host's interfaces. Deleting the namespace deletes the pair;
	// the host end is deleted first all the same.
	n.mustIP("link", "add", n.HostIf, "type", "veth", "peer", "name", n.NSIf, "netns", n.Name)
	t.Cleanup(func() {
		if out, err := runTool("ip", "link", "del", n.HostIf); err != nil && !strings.Contains(out, "Cannot find device") {
			t.Errorf("testpeer: ip link del %s: %v: %s", n.HostIf, err, out)
		}
	})
	bits := strconv.Itoa(subnet.Bits())
	n.mustIP("addr", "add", n.HostIP.String()+"/"+bits, "dev", n.HostIf)
	n.mustIP("link", "set", n.HostIf, "up")
	n.mustIP("-n", n.Name, "addr", "add", n.NSIP.String()+"/"+bits, "dev", n.NSIf)
	n.mustIP("-n", n.Name, "link", "set", n.NSIf, "up")
	n.mustIP("-n", n.Name, "link", "set", "lo", "up")
	n.waitLinkUp()

	// Counting rules first in each chain: every UDP packet across the veth.
	n.mustIPTables("-A", "INPUT", "-i", n.NSIf, "-p", "udp", "-m", "comment", "--comment", commentCountIn)
	n.mustIPTables("-A", "OUTPUT", "-o", n.NSIf, "-p", "udp", "-m", "comment", "--comment", commentCountOut)
	// Registered after the namespace's own cleanup, so it runs before it:
	// the queues are closed (their held packets let through) first.
	t.Cleanup(func() {
		if t.Failed() {
			if s, err := n.Stats(); err == nil {
				t.Logf("testpeer: netns %s: %v", n.Name, s)
			}
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		if err := n.clearLocked(); err != nil {
			t.Errorf("testpeer: netns %s: %v", n.Name, err)
		}
	})
	t.Logf("testpeer: network namespace %s: %s %v <-> %s %v", n.Name, n.HostIf, n.HostIP, n.NSIf, n.NSIP)
	return n
}

// Path is the namespace's file, for setns(2).
func (n *NetNS) Path() string { return filepath.Join(netnsDir, n.Name) }

// Loss drops each UDP packet crossing the veth with probability p, in each
// direction on its own. 0 ends the loss. Loss applies before Delay: a
// dropped packet is never held.
//
// Into the namespace an iptables rule drops (-m statistic --mode random).
// Out of it the packets go through the NFQUEUE client, which drops with a
// verdict: an iptables DROP in OUTPUT would fail the sender's sendto with
// EPERM, where a lossy link drops silently.
func (n *NetNS) Loss(p float64) {
	n.t.Helper()
	if p < 0 || p >= 1 {
		n.t.Fatalf("testpeer: NetNS.Loss(%v): want 0 <= p < 1", p)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.loss = p
	n.applyLocked()
}

// Delay holds each UDP packet crossing the veth for d, in each direction,
// so that a round trip across it takes at least 2d. 0 ends the delay.
func (n *NetNS) Delay(d time.Duration) { n.t.Helper(); n.DelayJitter(d, 0) }

// DelayJitter holds each UDP packet for d ± a uniformly random jitter, each
// direction on its own. Like netem, a jitter larger than the packet interval
// reorders packets.
//
// The kernel here has no sch_netem, so iptables hands the packets to an
// NFQUEUE queue (--queue-bypass: they pass unharmed when no client is bound)
// and a client of our own accepts each one when it is due.
func (n *NetNS) DelayJitter(d, jitter time.Duration) {
	n.t.Helper()
	if d < 0 || jitter < 0 || jitter > d {
		n.t.Fatalf("testpeer: NetNS.DelayJitter(%v, %v): want 0 <= jitter <= d", d, jitter)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.delay, n.jitter = d, jitter
	n.applyLocked()
}

// applyLocked replaces the rules and queues with those the settings need.
// Packets held by the old queues pass at once.
func (n *NetNS) applyLocked() {
	n.t.Helper()
	if err := n.clearLocked(); err != nil {
		n.t.Fatalf("testpeer: netns %s: %v", n.Name, err)
	}
	// Appended in this order after the counting rules: the loss rule must
	// come before the NFQUEUE rule, since a packet accepted from the queue
	// does not come back to its chain.
	if n.loss > 0 {
		n.addRuleLocked("INPUT", "-i", n.NSIf, "-p", "udp",
			"-m", "statistic", "--mode", "random", "--probability", strconv.FormatFloat(n.loss, 'f', -1, 64),
			"-m", "comment", "--comment", commentLossIn, "-j", "DROP")
	}
	imps := [2]impairment{
		{Delay: n.delay, Jitter: n.jitter},
		{Loss: n.loss, Delay: n.delay, Jitter: n.jitter},
	}
	for i, imp := range imps {
		if imp == (impairment{}) {
			continue
		}
		// The queue is bound before any packet is sent to it; numbers are
		// not reused, so a late verdict can never meet a new queue.
		num := n.nextQueue
		n.nextQueue++
		q, err := openNFQueue(n.Path(), num, imp)
		if err != nil {
			n.t.Fatalf("testpeer: netns %s: %v", n.Name, err)
		}
		n.queues[i] = q
		if i == 0 {
			n.addRuleLocked("INPUT", "-i", n.NSIf, "-p", "udp", "-m", "comment", "--comment", commentQueueIn,
				"-j", "NFQUEUE", "--queue-num", strconv.Itoa(int(num)), "--queue-bypass")
		} else {
			n.addRuleLocked("OUTPUT", "-o", n.NSIf, "-p", "udp", "-m", "comment", "--comment", commentQueueOut,
				"-j", "NFQUEUE", "--queue-num", strconv.Itoa(int(num)), "--queue-bypass")
		}
	}
}

// addRuleLocked appends a rule (chain first) and remembers it for removal.
func (n *NetNS) addRuleLocked(rule ...string) {
	n.t.Helper()
	n.mustIPTables(append([]string{"-A"}, rule...)...)
	n.rules = append(n.rules, rule)
}

// clearLocked removes the loss and NFQUEUE rules, then closes the queues,
// which let every packet they still hold pass.
func (n *NetNS) clearLocked() error {
	var errs []error
	if dropped, err := n.counter("INPUT", commentLossIn); err != nil {
		errs = append(errs, err)
	} else {
		n.lossInGone += dropped
	}
	for _, r := range n.rules {
		if out, err := n.iptables(append([]string{"-D"}, r...)...); err != nil {
			errs = append(errs, fmt.Errorf("iptables -D %s: %v: %s", strings.Join(r, " "), err, out))
		}
	}
	n.rules = nil
	for i, q := range n.queues {
		if q == nil {
			continue
		}
		if err := q.close(); err != nil {
			errs = append(errs, fmt.Errorf("nfqueue %d ended early: %w", q.num, err))
		}
		s := q.stats()
		if s.Failed > 0 {
			errs = append(errs, fmt.Errorf("nfqueue %d: %d verdicts failed", q.num, s.Failed))
		}
		n.closedQueues[i] = addQueueStats(n.closedQueues[i], s)
		n.queues[i] = nil
	}
	return errors.Join(errs...)
}

func addQueueStats(a, b nfQueueStats) nfQueueStats {
	total := a.MeanHold*time.Duration(a.Accepted) + b.MeanHold*time.Duration(b.Accepted)
	s := nfQueueStats{Received: a.Received + b.Received, Accepted: a.Accepted + b.Accepted,
		Dropped: a.Dropped + b.Dropped, Failed: a.Failed + b.Failed}
	if s.Accepted > 0 {
		s.MeanHold = total / time.Duration(s.Accepted)
	}
	return s
}

// Stats reads the counters of the iptables rules and the queues, since the
// namespace was made.
func (n *NetNS) Stats() (NetNSStats, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var s NetNSStats
	for _, c := range []struct {
		chain, comment string
		v              *uint64
	}{
		{"INPUT", commentCountIn, &s.UDPIn},
		{"OUTPUT", commentCountOut, &s.UDPOut},
		{"INPUT", commentLossIn, &s.DroppedIn},
	} {
		v, err := n.counter(c.chain, c.comment)
		if err != nil {
			return s, err
		}
		*c.v = v
	}
	// A removed loss rule took its counter along: add what it had.
	s.DroppedIn += n.lossInGone
	var qs [2]nfQueueStats
	for i := range qs {
		qs[i] = n.closedQueues[i]
		if q := n.queues[i]; q != nil {
			qs[i] = addQueueStats(qs[i], q.stats())
		}
	}
	s.DelayedIn, s.MeanDelayIn = qs[0].Accepted, qs[0].MeanHold
	s.DelayedOut, s.MeanDelayOut = qs[1].Accepted, qs[1].MeanHold
	s.DroppedOut = qs[1].Dropped
	return s, nil
}

// counter sums the packet counters of the rules in chain with comment.
func (n *NetNS) counter(chain, comment string) (uint64, error) {
	out, err := n.iptables("-L", chain, "-n", "-v", "-x")
	if err != nil {
		return 0, fmt.Errorf("iptables -L %s: %v: %s", chain, err, out)
	}
	var sum uint64
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "/* "+comment+" */") {
			continue
		}
		v, err := strconv.ParseUint(strings.Fields(line)[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("iptables counter in %q: %v", line, err)
		}
		sum += v
	}
	return sum, nil
}

// Do runs f on an OS thread inside the namespace. Sockets f creates belong to
// the namespace and may be used from any goroutine afterwards.
func (n *NetNS) Do(f func() error) error { return inNetNS(n.Path(), f) }

// ListenUDP binds a UDP socket on NSIP:port inside the namespace (port 0: any).
func (n *NetNS) ListenUDP(t testing.TB, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := n.Do(func() error {
		var err error
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(n.NSIP, uint16(port))))
		return err
	})
	if err != nil {
		t.Fatalf("testpeer: listen in netns %s: %v", n.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// inNetNS runs f on an OS thread moved into the namespace at nsPath, then
// moves the thread back and unlocks it.
//
// The thread is restored rather than left to die with its goroutine: a peer
// started with Pdeathsig (startProcess) gets SIGTERM when the thread that
// forked it ends, and that may be any thread of the runtime, this one
// included. Only when the move back fails does the thread stay locked and
// die, so that no goroutine ever runs in the wrong namespace.
func inNetNS(nsPath string, f func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("open the thread's own namespace: %w", err)
			return
		}
		defer home.Close()
		nsf, err := os.Open(nsPath)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("open namespace: %w", err)
			return
		}
		err = unix.Setns(int(nsf.Fd()), unix.CLONE_NEWNET)
		nsf.Close()
		if err != nil {
			runtime.UnlockOSThread() // still at home
			ch <- fmt.Errorf("setns %s: %w", nsPath, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
			// Stay locked: the thread ends with this goroutine.
			ch <- errors.Join(ferr, fmt.Errorf("setns back from %s: %w", nsPath, err))
			return
		}
		runtime.UnlockOSThread()
		ch <- ferr
	}()
	return <-ch
}

// inNetNSOf reports whether process pid is in the namespace at nsPath.
func inNetNSOf(pid int, nsPath string) bool {
	a, err := os.Stat("/proc/" + strconv.Itoa(pid) + "/ns/net")
	if err != nil {
		return false
	}
	b, err := os.Stat(nsPath)
	return err == nil && os.SameFile(a, b)
}

func (n *NetNS) mustIP(args ...string) {
	n.t.Helper()
	if out, err := runTool("ip", args...); err != nil {
		n.t.Fatalf("testpeer: netns %s: ip %s: %v: %s", n.Name, strings.Join(args, " "), err, out)
	}
}

// iptables runs iptables inside the namespace, waiting for the xtables lock.
func (n *NetNS) iptables(args ...string) (string, error) {
	return runTool("ip", append([]string{"netns", "exec", n.Name, "iptables", "-w", "10"}, args...)...)
}

func (n *NetNS) mustIPTables(args ...string) {
	n.t.Helper()
	if out, err := n.iptables(args...); err != nil {
		n.t.Fatalf("testpeer: netns %s: iptables %s: %v: %s", n.Name, strings.Join(args, " "), err, out)
	}
}

// waitLinkUp waits until the veth carries packets: both ends up.
func (n *NetNS) waitLinkUp() {
	n.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join("/sys/class/net", n.HostIf, "operstate"))
		if err == nil && strings.TrimSpace(string(b)) == "up" {
			return
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("testpeer: netns %s: veth %s not up after 5 s (operstate %q, %v)", n.Name, n.HostIf, bytes.TrimSpace(b), err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runTool runs a system tool (ip, iptables) and returns its combined output.
func runTool(name string, args ...string) (string, error) {
	path, err := peerPath(name)
	if err != nil {
		return "", err
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// requireTool skips the test when a system tool is missing, or fails it
// when CALLBACKD_REQUIRE_PEERS=1.
func requireTool(t testing.TB, bin, pkg string) {
	t.Helper()
	if _, err := peerPath(bin); err == nil {
		return
	}
	if os.Getenv(EnvRequirePeers) == "1" {
		t.Fatalf("%s not installed and %s=1: install Debian package %s", bin, EnvRequirePeers, pkg)
	}
	t.Skipf("%s not installed: skipping (apt-get install %s)", bin, pkg)
}

// removeStaleNetNS deletes the namespaces that a test process which no longer
// exists left behind (it crashed before its cleanup). The veth pairs and
// iptables rules go with them.
func removeStaleNetNS(t testing.TB) {
	t.Helper()
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return // no named namespace yet
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), netnsPrefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
			continue // its process still runs
		}
		if out, err := runTool("ip", "netns", "del", e.Name()); err != nil {
			t.Logf("testpeer: removing stale namespace %s: %v: %s", e.Name(), err, out)
		} else {
			t.Logf("testpeer: removed stale namespace %s (process %d is gone)", e.Name(), pid)
		}
	}
}

// netnsSuffix returns 6 random hex digits not used before in this process,
// for the names of a namespace and its veth ends (cbdh<suffix> on the host:
// interface names have at most 15 characters).
func netnsSuffix() string {
	netnsHandedOut.Lock()
	defer netnsHandedOut.Unlock()
	for {
		var b [3]byte
		for i := range b {
			b[i] = byte(rand.IntN(256))
		}
		if s := hex.EncodeToString(b[:]); !netnsHandedOut.suffixes[s] {
			netnsHandedOut.suffixes[s] = true
			return s
		}
	}
}

// freeSubnet picks a random 10.x.y.z/30 that overlaps no address or route of
// the host and none handed out in this process.
func freeSubnet(t testing.TB) netip.Prefix {
	t.Helper()
	var used []netip.Prefix
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
				used = append(used, p.Masked())
			}
		}
	}
	used = append(used, hostRoutes()...)
	netnsHandedOut.Lock()
	defer netnsHandedOut.Unlock()
next:
	for range 1000 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(rand.IntN(256)), byte(rand.IntN(256)), byte(rand.IntN(64) * 4)}), 30)
		if netnsHandedOut.subnets[p] {
			continue
		}
		for _, u := range used {
			if u.Overlaps(p) {
				continue next
			}
		}
		netnsHandedOut.subnets[p] = true
		return p
	}
	t.Fatalf("testpeer: no free 10.x.y.z/30 for a namespace")
	return netip.Prefix{}
}

// hostRoutes lists the host's IPv4 routes from /proc/net/route, all but the
// default route.
func hostRoutes() []netip.Prefix {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return nil
	}
	defer f.Close()
	var ps []netip.Prefix
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 8 {
			continue
		}
		dst, ok1 := parseProcIPv4(fl[1])
		mask, ok2 := parseProcIPv4(fl[7])
		if !ok1 || !ok2 {
			continue
		}
		m := mask.As4()
		bits := 0
		for _, b := range m {
			for i := 7; i >= 0 && b&(1<<i) != 0; i-- {
				bits++
			}
		}
		if bits == 0 {
			continue
		}
		ps = append(ps, netip.PrefixFrom(dst, bits).Masked())
	}
	return ps
}

// parseProcIPv4 decodes an address as /proc/net prints it (see parseProcAddr).
func parseProcIPv4(s string) (netip.Addr, bool) {
	ap, ok := parseProcAddr(s + ":0")
	return ap.Addr(), ok
}

// nsPorts returns the first of n consecutive ports (even when even is set)
// for a peer in a namespace of ours. Only our peers bind there, so the ports
// are not probed (a probe on the host says nothing about the namespace);
// they are only kept apart from the ports handed out in this process.
func nsPorts(t testing.TB, n int, even bool) int {
	t.Helper()
	base, ok := pickRange(n, even, func(int) bool { return true })
	if !ok {
		t.Fatalf("testpeer: no %d free ports for a namespace", n)
	}
	return base
}
