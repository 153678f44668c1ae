package rtpload

import (
	"math"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/testpeer"
)

// Direct load (each end sending straight to the other) loses nothing on
// loopback and sends at the offered rate.
func TestDirect(t *testing.T) {
	ip := testpeer.LoopbackIP(t)
	l, err := New(ip, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Calls() != 10 || l.Addr(3, LegA) == l.Addr(3, LegB) || l.Addr(3, LegA).Addr() != ip {
		t.Fatalf("addresses: %v %v", l.Addr(3, LegA), l.Addr(3, LegB))
	}
	r := l.Run(Options{Duration: 400 * time.Millisecond, Drain: 100 * time.Millisecond})
	// 20 ends × 50 packets/s × 0.4 s = 400.
	if r.Scheduled != 400 || r.Sent != 400 || r.Unsent() != 0 {
		t.Errorf("scheduled %d, sent %d packets, want 400", r.Scheduled, r.Sent)
	}
	if r.Loss() != 0 || r.Missing() != 0 || r.Misrouted != 0 || r.Other != 0 {
		t.Errorf("loss %v, misrouted %d, other %d; want none", r.Loss(), r.Misrouted, r.Other)
	}
	if q := r.Quantile(0.5); q <= 0 || q > 100*time.Millisecond {
		t.Errorf("median latency %v", q)
	}
	if got, want := r.OfferedRate(), 1000.0; got != want {
		t.Errorf("offered rate %v, want %v", got, want)
	}
}

// Packets that reach the wrong end, and packets that are not load packets,
// are counted apart and never as received.
func TestMisroutedAndOther(t *testing.T) {
	ip := testpeer.LoopbackIP(t)
	l, err := New(ip, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Call 0's leg A sends to call 1's leg B: every packet is misrouted,
	// and call 1's leg B sends to call 0's leg A.
	l.SetTarget(0, LegA, l.Addr(1, LegB))
	l.SetTarget(1, LegB, l.Addr(0, LegA))
	stray, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer stray.Close()
	go func() {
		time.Sleep(50 * time.Millisecond)
		_, _ = stray.WriteToUDPAddrPort([]byte{0x80, 0xc8, 0, 1}, l.Addr(1, LegA))
	}()
	r := l.Run(Options{Duration: 200 * time.Millisecond, Drain: 50 * time.Millisecond})
	if r.Misrouted == 0 || r.Other != 1 {
		t.Errorf("misrouted %d, other %d; want some and 1", r.Misrouted, r.Other)
	}
	if want := r.Sent - r.Misrouted; r.Received() != want {
		t.Errorf("received %d, want %d (sent %d - misrouted %d)", r.Received(), want, r.Sent, r.Misrouted)
	}
}

func TestRtploadChild(t *testing.T) { ServeChild(t) }

// A load run in a child process reports the same kind of result, and the
// generator's CPU time.
func TestSpawn(t *testing.T) {
	ip := testpeer.LoopbackIP(t)
	r, err := Spawn("TestRtploadChild", ip, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Calls() != 5 || r.Addr(2, LegA).Addr() != ip || r.Addr(2, LegA) == r.Addr(2, LegB) {
		t.Fatalf("far ends %v %v", r.Addr(2, LegA), r.Addr(2, LegB))
	}
	// Call 4 loops back on itself in leg A: its packets are misrouted.
	r.SetTarget(4, LegA, r.Addr(4, LegA))
	res, err := r.Run(Options{Duration: 300 * time.Millisecond, Drain: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Calls != 5 || res.Sent != 150 || res.Misrouted == 0 || res.Received() != res.Sent-res.Misrouted {
		t.Errorf("result: calls %d sent %d received %d misrouted %d", res.Calls, res.Sent, res.Received(), res.Misrouted)
	}
	if res.GeneratorCPU <= 0 {
		t.Errorf("generator CPU %v", res.GeneratorCPU)
	}
	if _, err := r.Run(Options{}); err == nil {
		t.Error("second Run accepted")
	}
}

func TestResultFractions(t *testing.T) {
	r := Result{Scheduled: 10, Sent: 8, Latency: []int64{1, 2, 3, 50, 60, 70}}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if got := r.Unsent(); !near(got, 0.2) {
		t.Errorf("Unsent = %v, want 0.2", got)
	}
	if got := r.Loss(); !near(got, 0.25) {
		t.Errorf("Loss = %v, want 0.25", got)
	}
	if got := r.Missing(); !near(got, 0.4) {
		t.Errorf("Missing = %v, want 0.4", got)
	}
	if got := r.Late(50); !near(got, 0.2) {
		t.Errorf("Late(50) = %v, want 0.2 (60 and 70 of 10 scheduled)", got)
	}
	if got := r.Quantile(0.5); got != 50 {
		t.Errorf("Quantile(0.5) = %v, want 50", got)
	}
}
