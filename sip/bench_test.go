package sip

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkDialToInvite measures how long Dial takes to put the INVITE on the
// wire: from the Dial call to the datagram arriving at a raw UDP socket
// standing for the trunk (reported as ns/invite). The trunk answers 486 so each
// Dial ends; ns/op and the allocations cover that whole round trip, the
// responder's own work included.
func BenchmarkDialToInvite(b *testing.B) {
	peerIP, uaIP := loopbackIP(b), loopbackIP(b)
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(peerIP, 0)))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	peer := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	arrived := make(chan time.Time, 1)
	go busyResponder(conn, arrived)

	u, err := New(Config{Listen: netip.AddrPortFrom(uaIP, 0).String()},
		[]TrunkConfig{{Name: "bench", Host: peer.Addr().String(), Port: int(peer.Port())}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer u.Close()
	req := DialRequest{Trunk: "bench", Number: "+4930123456", CallerID: "+15550001", CallerName: "Bench",
		SDP: offerSDP(uaIP, 40000)}
	ctx := context.Background()
	var total time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if _, err := u.Dial(ctx, req); err == nil {
			b.Fatal("dial answered")
		}
		total += (<-arrived).Sub(start)
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/invite")
}

// busyResponder answers each INVITE 486, copying the headers a response needs,
// and reports when the INVITE arrived.
func busyResponder(conn *net.UDPConn, arrived chan<- time.Time) {
	buf := make([]byte, 65535)
	out := make([]byte, 0, 2048)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		at := time.Now()
		msg := buf[:n]
		if !bytes.HasPrefix(msg, []byte("INVITE ")) {
			continue // the ACK for our 486
		}
		out = append(out[:0], "SIP/2.0 486 Busy Here\r\n"...)
		for _, line := range bytes.Split(msg, []byte("\r\n")) {
			for _, h := range [][]byte{[]byte("Via:"), []byte("From:"), []byte("Call-ID:"), []byte("CSeq:")} {
				if bytes.HasPrefix(line, h) {
					out = append(append(out, line...), "\r\n"...)
				}
			}
			if bytes.HasPrefix(line, []byte("To:")) {
				out = append(append(out, line...), ";tag=bench\r\n"...)
			}
		}
		out = append(out, "Content-Length: 0\r\n\r\n"...)
		if _, err := conn.WriteToUDPAddrPort(out, from); err != nil {
			return
		}
		arrived <- at
	}
}
