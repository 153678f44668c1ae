package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("SIP_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newTestUA starts a UA on ip (port 0: UDP and TCP on one free port).
func newTestUA(t testing.TB, ip netip.Addr, cfg Config, trunks ...TrunkConfig) *UA {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = netip.AddrPortFrom(ip, 0).String()
	}
	if cfg.Transports == nil {
		cfg.Transports = []string{"udp", "tcp"}
	}
	u, err := New(cfg, trunks, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	u.timerScale = 1
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := u.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// mediaSock is a UDP socket standing for our RTP endpoint.
type mediaSock struct {
	conn *net.UDPConn
	port int
}

func newMediaSock(t testing.TB, ip netip.Addr) *mediaSock {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &mediaSock{conn: c, port: c.LocalAddr().(*net.UDPAddr).Port}
}

func offerSDP(ip netip.Addr, port int) []byte {
	return []byte(fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"+
		"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n", ip, ip, port))
}

// sdpMedia returns the c= address and m=audio port of an SDP.
func sdpMedia(sdp []byte) (netip.AddrPort, bool) {
	var ip netip.Addr
	port := 0
	for _, line := range strings.Split(string(sdp), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "c=IN IP4 "); ok {
			ip, _ = netip.ParseAddr(strings.TrimSpace(v))
		}
		if v, ok := strings.CutPrefix(line, "m=audio "); ok {
			fmt.Sscanf(v, "%d", &port)
		}
	}
	return netip.AddrPortFrom(ip, uint16(port)), ip.IsValid() && port > 0
}

// rtpPacket is a minimal PCMU RTP packet.
func rtpPacket(seq uint16) []byte {
	p := make([]byte, 12+160)
	p[0] = 0x80
	p[1] = 0
	p[2], p[3] = byte(seq>>8), byte(seq)
	ts := uint32(seq) * 160
	p[4], p[5], p[6], p[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
	p[8], p[9], p[10], p[11] = 0x11, 0x22, 0x33, 0x44
	for i := 12; i < len(p); i++ {
		p[i] = 0xff
	}
	return p
}

func dialCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
