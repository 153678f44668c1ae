package testpeer

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestParseRTPStreams(t *testing.T) {
	out := []byte(`========================= RTP Streams ========================
   Start time      End time     Src IP addr  Port    Dest IP addr  Port       SSRC          Payload  Pkts         Lost   Min Delta(ms)  Mean Delta(ms)   Max Delta(ms)  Min Jitter(ms) Mean Jitter(ms)  Max Jitter(ms) Problems?
     0.000000      0.969217       127.5.5.5 12000       127.5.5.6 12002 0xDEADBEEF            g711U    49     1 (2.0%)          20.158          20.192          20.367           0.016           0.511           1.324 X
     0.010000      2.969217       127.5.5.6 12002       127.5.5.5 12000 0x00000001   ITU-T G.711 PCMA   150     -2 (-1.3%)          19.000          20.000          21.500           0.010           0.100           0.200
==============================================================
`)
	got, err := ParseRTPStreams(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []RTPStream{
		{Src: netip.MustParseAddrPort("127.5.5.5:12000"), Dst: netip.MustParseAddrPort("127.5.5.6:12002"), SSRC: 0xdeadbeef,
			Payload: "g711U", Packets: 49, Lost: 1, MaxDelta: 20.367, MeanJitter: 0.511, MaxJitter: 1.324, Problem: true},
		{Src: netip.MustParseAddrPort("127.5.5.6:12002"), Dst: netip.MustParseAddrPort("127.5.5.5:12000"), SSRC: 1,
			Payload: "ITU-T G.711 PCMA", Packets: 150, Lost: -2, MaxDelta: 21.5, MeanJitter: 0.1, MaxJitter: 0.2},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d streams, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("stream %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestCaptureRTP(t *testing.T) {
	RequirePeer(t, "tcpdump")
	RequirePeer(t, "tshark")
	src, dst := LoopbackIP(t), LoopbackIP(t)
	sp, dp := FreePortPair(t, src), FreePortPair(t, dst)
	capt := StartCapture(t, src)

	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, uint16(sp))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, uint16(dp)))
	pkt := make([]byte, 12+160)
	pkt[0] = 0x80
	for i := range 30 {
		if i == 7 {
			continue // one lost packet
		}
		pkt[2], pkt[3] = byte(i>>8), byte(i)
		ts := uint32(i * 160)
		pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		pkt[8], pkt[9], pkt[10], pkt[11] = 0xca, 0xfe, 0x00, 0x01
		if _, err := conn.WriteToUDP(pkt, to); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	streams, err := capt.RTPStreams(dp)
	if err != nil {
		t.Fatal(err)
	}
	if len(streams) != 1 {
		t.Fatalf("got streams %v, want 1", streams)
	}
	s := streams[0]
	t.Log(s)
	if s.SSRC != 0xcafe0001 || s.Packets != 29 || s.Lost != 1 || s.Src.Port() != uint16(sp) || s.Dst.Addr() != dst {
		t.Errorf("stream %v: want ssrc 0xcafe0001, 29 packets, 1 lost, %v:%d -> %v:%d", s, src, sp, dst, dp)
	}
}
