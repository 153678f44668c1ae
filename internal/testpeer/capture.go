package testpeer

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Capture is a running tcpdump on lo.
type Capture struct {
	// File is the pcap file, complete after Stop.
	File string
	t    testing.TB
	p    *process
}

// StartCapture captures UDP to and from any of ips on lo into a pcap file,
// returning once tcpdump is listening. It stops in t.Cleanup.
func StartCapture(t testing.TB, ips ...netip.Addr) *Capture {
	t.Helper()
	RequirePeer(t, "tcpdump")
	bin, _ := peerPath("tcpdump")
	if len(ips) == 0 {
		t.Fatalf("testpeer: StartCapture needs an address")
	}
	hosts := make([]string, len(ips))
	for i, ip := range ips {
		hosts[i] = "host " + ip.String()
	}
	filter := "(" + strings.Join(hosts, " or ") + ") and udp"
	dir := t.TempDir()
	c := &Capture{File: filepath.Join(dir, "capture.pcap"), t: t}
	log := filepath.Join(dir, "tcpdump.log")
	// --immediate-mode and -U hand over and write each packet at once (else
	// packets still in the kernel ring buffer are lost at SIGTERM); -Z root
	// keeps the file writable after tcpdump drops privileges.
	c.p = startProcess(t, "tcpdump", dir, log, bin, "--immediate-mode", "-U", "-n", "-i", "lo", "-Z", "root", "-w", c.File, filter)
	c.p.mustBeReady("\"listening on\"", func() bool { return fileContains(log, "listening on") })
	return c
}

// Stop ends tcpdump and waits until the file is complete.
func (c *Capture) Stop() { c.p.stop() }

// RTPStream is one direction of RTP as tshark's "rtp,streams" reports it.
type RTPStream struct {
	Src, Dst netip.AddrPort
	SSRC     uint32
	Payload  string
	Packets  int
	Lost     int // expected minus received; negative for duplicates
	// Milliseconds.
	MaxDelta, MaxJitter, MeanJitter float64
	Problem                         bool
}

// String is a one-line summary for test logs.
func (s RTPStream) String() string {
	return fmt.Sprintf("%v -> %v ssrc=0x%08x %s packets=%d lost=%d max_delta=%.1fms max_jitter=%.1fms",
		s.Src, s.Dst, s.SSRC, s.Payload, s.Packets, s.Lost, s.MaxDelta, s.MaxJitter)
}

// RTPStreams stops the capture and lists its RTP streams. RTP on an
// arbitrary port is only decoded when the port is named, so pass every RTP
// port of interest (either end of a stream is enough).
func (c *Capture) RTPStreams(ports ...int) ([]RTPStream, error) {
	c.t.Helper()
	RequirePeer(c.t, "tshark")
	c.Stop()
	bin, _ := peerPath("tshark")
	args := []string{"-n", "-r", c.File}
	for _, p := range ports {
		args = append(args, "-d", "udp.port=="+strconv.Itoa(p)+",rtp")
	}
	args = append(args, "-q", "-z", "rtp,streams")
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("tshark rtp,streams: %w: %s", err, stderr.String())
	}
	return ParseRTPStreams(out)
}

// ParseRTPStreams parses the text of `tshark -q -z rtp,streams`:
//
//	Start time End time Src IP addr Port Dest IP addr Port SSRC Payload Pkts Lost Min Delta(ms) Mean Delta(ms) Max Delta(ms) Min Jitter(ms) Mean Jitter(ms) Max Jitter(ms) Problem?
//	0.000 2.980 127.0.0.3 20000 127.0.0.4 30000 0x1A2B3C4D g711U 150 0 (0.0%) 19.8 20.0 20.3 0.0 0.1 0.4
//
// The payload name may contain spaces, so the columns are read from both ends.
func ParseRTPStreams(out []byte) ([]RTPStream, error) {
	var streams []RTPStream
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || !strings.HasPrefix(f[6], "0x") {
			continue
		}
		var s RTPStream
		var err error
		if s.Src, err = addrPort(f[2], f[3]); err != nil {
			return nil, err
		}
		if s.Dst, err = addrPort(f[4], f[5]); err != nil {
			return nil, err
		}
		ssrc, err := strconv.ParseUint(f[6][2:], 16, 32)
		if err != nil {
			return nil, fmt.Errorf("rtp streams: ssrc %q: %w", f[6], err)
		}
		s.SSRC = uint32(ssrc)
		rest := f[7:]
		if rest[len(rest)-1] == "X" {
			s.Problem = true
			rest = rest[:len(rest)-1]
		}
		// From the end: 6 delta/jitter numbers, "(x%)", lost, packets.
		if len(rest) < 10 || !strings.HasPrefix(rest[len(rest)-7], "(") {
			return nil, fmt.Errorf("rtp streams: unexpected line %q", sc.Text())
		}
		nums := rest[len(rest)-6:]
		vals := make([]float64, 6)
		for i, n := range nums {
			if vals[i], err = strconv.ParseFloat(n, 64); err != nil {
				return nil, fmt.Errorf("rtp streams: %q: %w", sc.Text(), err)
			}
		}
		s.MaxDelta, s.MeanJitter, s.MaxJitter = vals[2], vals[4], vals[5]
		if s.Lost, err = strconv.Atoi(rest[len(rest)-8]); err != nil {
			return nil, fmt.Errorf("rtp streams: lost in %q: %w", sc.Text(), err)
		}
		if s.Packets, err = strconv.Atoi(rest[len(rest)-9]); err != nil {
			return nil, fmt.Errorf("rtp streams: packets in %q: %w", sc.Text(), err)
		}
		s.Payload = strings.Join(rest[:len(rest)-9], " ")
		streams = append(streams, s)
	}
	return streams, sc.Err()
}

func addrPort(ip, port string) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("rtp streams: address %q: %w", ip, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("rtp streams: port %q: %w", port, err)
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}
