package main

import (
	"bytes"
	"fmt"
	"net"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/testpeer"
)

// busyTrunk is the far end for the trigger benchmark: a UDP socket that
// notes when each INVITE arrives (by Request-URI user) and answers 486, so
// that every attempt ends at once.
type busyTrunk struct {
	conn *net.UDPConn
	mu   sync.Mutex
	seen map[string]time.Time
	got  chan string
}

var (
	reqUser = regexp.MustCompile(`^INVITE sip:([^@;> ]+)`)
	hdrLine = regexp.MustCompile(`(?mi)^(Via|From|To|Call-ID|CSeq):.*\r\n`)
)

func startBusyTrunk(tb testing.TB) *busyTrunk {
	tb.Helper()
	ip := testpeer.LoopbackIP(tb)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip.AsSlice()})
	if err != nil {
		tb.Fatal(err)
	}
	bt := &busyTrunk{conn: conn, seen: map[string]time.Time{}, got: make(chan string, 1024)}
	tb.Cleanup(func() { conn.Close() })
	go bt.serve()
	return bt
}

func (bt *busyTrunk) serve() {
	buf := make([]byte, 8192)
	for {
		n, from, err := bt.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		at := time.Now()
		msg := buf[:n]
		m := reqUser.FindSubmatch(msg)
		if m == nil {
			continue // ACK, OPTIONS and the like
		}
		user := string(m[1])
		bt.mu.Lock()
		_, dup := bt.seen[user]
		if !dup {
			bt.seen[user] = at
		}
		bt.mu.Unlock()
		if !dup {
			bt.got <- user
		}
		var resp bytes.Buffer
		resp.WriteString("SIP/2.0 486 Busy Here\r\n")
		for _, h := range hdrLine.FindAll(msg, -1) {
			if bytes.HasPrefix(bytes.ToLower(h), []byte("to:")) && !bytes.Contains(bytes.ToLower(h), []byte("tag=")) {
				h = append(bytes.TrimRight(h, "\r\n"), []byte(";tag=busy\r\n")...)
			}
			resp.Write(h)
		}
		resp.WriteString("Content-Length: 0\r\n\r\n")
		bt.conn.WriteToUDP(resp.Bytes(), from)
	}
}

// BenchmarkPostToInvite measures the time from sending POST /v1/callbacks
// for a callback due now to its first INVITE arriving at the trunk: HTTP,
// validation, the durable write, dispatch, and SIP.
func BenchmarkPostToInvite(b *testing.B) {
	bt := startBusyTrunk(b)
	addr := bt.conn.LocalAddr().(*net.UDPAddr)
	trunk := fmt.Sprintf("  - name: far\n    host: %s\n    port: %d\n", addr.IP, addr.Port)
	l := startLive(b, configOptions{trunk: trunk, trunkName: "far", quiet: true, mediaPorts: 4000,
		extra: "guardrails:\n  allow: [\"+1\"]\n  per_number_per_day: -1\n"}, nil)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		rep := fmt.Sprintf("+1415555%04d", i%10000)
		bt.mu.Lock()
		delete(bt.seen, rep)
		bt.mu.Unlock()
		start := time.Now()
		createCallback(b, l.base, map[string]any{
			"customer":   map[string]any{"number": fmt.Sprintf("+1212555%04d", i%10000)},
			"rep_number": rep,
			"retry":      map[string]any{"max_attempts": 1},
		})
	wait:
		for {
			select {
			case user := <-bt.got:
				if user == rep {
					break wait
				}
			case <-time.After(10 * time.Second):
				b.Fatalf("no INVITE for callback %d in 10 s", i)
			}
		}
		bt.mu.Lock()
		lat = append(lat, bt.seen[rep].Sub(start))
		bt.mu.Unlock()
	}
	b.StopTimer()
	reportPercentiles(b, lat)
	m := scrapeTB(b, l.base)
	b.Logf("POST mean %.2f ms, creation to INVITE mean %.2f ms",
		1000*m[`callbackd_api_request_duration_seconds_sum{code="201",method="POST",route="/v1/callbacks"}`]/m[`callbackd_api_request_duration_seconds_count{code="201",method="POST",route="/v1/callbacks"}`],
		1000*m["callbackd_trigger_latency_seconds_sum"]/m["callbackd_trigger_latency_seconds_count"])
}

// BenchmarkCreateCallbacks64 creates callbacks for next month from 64
// concurrent clients: the API's and the store's throughput, each create
// durable (fsynced) before its 201.
func BenchmarkCreateCallbacks64(b *testing.B) {
	l := startLive(b, configOptions{quiet: true,
		extra: "guardrails:\n  allow: [\"+1\"]\n  per_number_per_day: -1\n"}, nil)
	later := time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)
	var next atomic.Int64
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	b.SetParallelism(32) // 2 cores x 32 = 64 clients
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			i := next.Add(1)
			t0 := time.Now()
			createCallback(b, l.base, map[string]any{
				"customer":     map[string]any{"number": fmt.Sprintf("+1212555%04d", i%10000)},
				"rep_number":   "+14155550123",
				"scheduled_at": later,
			})
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "creates/s")
	reportPercentiles(b, lat)
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
}
