package bridge

import (
	"bytes"
	"context"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/testpeer"
	"github.com/callbackd/callbackd/sip"
)

// BenchmarkRunToInvite measures the time from bridge.Run to the rep's INVITE
// arriving at the trunk's socket: plan checks, a media session, the SDP
// offer, sipgo's transaction and the UDP write. The fake trunk answers 486 so
// each attempt ends at once.
func BenchmarkRunToInvite(b *testing.B) {
	ip := testpeer.LoopbackIP(b)
	trunk, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip.AsSlice()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { trunk.Close() })
	addr := trunk.LocalAddr().(*net.UDPAddr)
	e := newEnv(b, envOptions{trunk: &sip.TrunkConfig{Name: "t", Host: ip.String(), Port: addr.Port}})
	plan := Plan{Trunk: "t", Reps: reps("+15550000003"), Customer: Party{Number: "+15550000001"}}

	lat := make([]time.Duration, 0, b.N)
	buf := make([]byte, 4096)
	b.ResetTimer()
	for range b.N {
		done := make(chan struct{})
		start := time.Now()
		go func() {
			defer close(done)
			e.b.Run(context.Background(), plan)
		}()
		for {
			n, from, err := trunk.ReadFromUDP(buf)
			if err != nil {
				b.Fatal(err)
			}
			msg := buf[:n]
			if bytes.HasPrefix(msg, []byte("INVITE ")) {
				lat = append(lat, time.Since(start))
				if _, err := trunk.WriteToUDP(busyFor(msg), from); err != nil {
					b.Fatal(err)
				}
				break
			}
		}
		<-done
		drain(trunk, buf) // the ACK
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs-to-invite")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs-to-invite")
}

// busyFor builds a 486 for an INVITE, copying the headers a response needs.
func busyFor(inv []byte) []byte {
	var out bytes.Buffer
	out.WriteString("SIP/2.0 486 Busy Here\r\n")
	for _, line := range bytes.Split(inv, []byte("\r\n")) {
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch string(bytes.ToLower(bytes.TrimSpace(name))) {
		case "via", "from", "call-id", "cseq", "v", "f", "i":
			out.Write(line)
			out.WriteString("\r\n")
		case "to", "t":
			out.Write(line)
			out.WriteString(";tag=bench\r\n")
		}
	}
	out.WriteString("Content-Length: 0\r\n\r\n")
	return out.Bytes()
}

func drain(c *net.UDPConn, buf []byte) {
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	for {
		if _, _, err := c.ReadFromUDP(buf); err != nil {
			break
		}
	}
	c.SetReadDeadline(time.Time{})
}

// BenchmarkBridgedCallsPerSecond sets up whole bridged calls against SIPp:
// two INVITEs answered (180, 200), two ACKs, media joined, then two BYEs,
// with 50 calls in flight. SIPp's built-in uas scenario is the far end.
func BenchmarkBridgedCallsPerSecond(b *testing.B) {
	const inFlight = 50
	uas := testpeer.StartSIPp(b, testpeer.SIPpOptions{Builtin: "uas", Calls: 1 << 30, Timeout: time.Hour})
	e := newEnv(b, envOptions{ports: 8 * inFlight, trunk: &sip.TrunkConfig{Name: "sipp", Host: uas.IP.String(), Port: uas.Port}})
	plan := Plan{Trunk: "sipp", Reps: reps("+2001"), Customer: Party{Number: "+3001"}, MaxDuration: time.Millisecond}

	var next, failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				res, err := e.b.Run(context.Background(), plan)
				if err != nil || res.Outcome != Connected {
					if failed.Add(1) == 1 {
						b.Logf("first failure: %v %s %s", err, res.Outcome, res.Cause)
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
	if f := failed.Load(); f > 0 {
		b.Errorf("%d of %d calls did not connect", f, b.N)
	}
}
