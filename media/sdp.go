package media

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// remote is what the far end's latest SDP says about a leg. It is never
// changed once published; a new SDP publishes a new one, which is how the
// reader goroutine notices a re-INVITE without a lock.
type remote struct {
	rtp, rtcp netip.AddrPort // announced; rtp's address is 0.0.0.0 on RFC 2543 hold
	codec     Codec          // negotiated, as we name it
	txAudioPT uint8          // payload type the far end wants codec under
	txKind    kind
	txDTMFPT  uint8
	hasDTMF   bool
	rx        [128]kind // what each payload type received on this leg carries
	sends     bool      // far end sends media (not recvonly/inactive)
	recvs     bool      // far end wants media (not sendonly/inactive/0.0.0.0)
	dir       string    // far end's direction attribute
	at        int64     // monoNow when published; the latching window starts here
}

// dest is where a leg's media goes: the announced address or, once latched,
// the address the far end really sends from.
type dest struct {
	rs        *remote
	rtp       netip.AddrPort
	announced netip.AddrPort // last address an SDP announced other than 0.0.0.0
}

// format is one payload type of an m= line.
type format struct {
	pt   uint8
	name string // upper case encoding name
	rate uint32
}

// audioLine is the usable audio stream of a parsed SDP.
type audioLine struct {
	index   int // position among the m= lines
	addr    netip.Addr
	port    uint16
	rtcp    netip.AddrPort
	formats []format
	dir     string
}

const teName = "TELEPHONE-EVENT"

// parseSDP parses a far-end SDP, tolerating the usual real-world disorder.
// Whatever goes wrong is ErrBadSDP; pion/sdp is trusted not to panic but a
// panic would take down every call, so one is turned into an error too.
func parseSDP(b []byte) (sd *sdp.SessionDescription, err error) {
	defer func() {
		if r := recover(); r != nil {
			sd, err = nil, fmt.Errorf("%w: parser panic: %v", ErrBadSDP, r)
		}
	}()
	sd = new(sdp.SessionDescription)
	if err := sd.UnmarshalString(tidySDP(b)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	return sd, nil
}

// findAudio picks the first RTP/AVP(F) audio line with a port. An audio
// line that is only rejected (port 0) or only SRTP means no common codec.
func findAudio(sd *sdp.SessionDescription) (*audioLine, error) {
	sawAudio := false
	for i, md := range sd.MediaDescriptions {
		if !strings.EqualFold(md.MediaName.Media, "audio") {
			continue
		}
		sawAudio = true
		proto := strings.ToUpper(strings.Join(md.MediaName.Protos, "/"))
		if md.MediaName.Port.Value == 0 || (proto != "RTP/AVP" && proto != "RTP/AVPF") {
			continue
		}
		return parseAudio(sd, i, md)
	}
	if sawAudio {
		return nil, fmt.Errorf("%w: audio rejected or not plain RTP/AVP", ErrNoCommonCodec)
	}
	return nil, fmt.Errorf("%w: no audio stream", ErrBadSDP)
}

func parseAudio(sd *sdp.SessionDescription, i int, md *sdp.MediaDescription) (*audioLine, error) {
	port := md.MediaName.Port.Value
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("%w: audio port %d", ErrBadSDP, port)
	}
	ci := md.ConnectionInformation
	if ci == nil {
		ci = sd.ConnectionInformation
	}
	if ci == nil || ci.Address == nil {
		return nil, fmt.Errorf("%w: no c= line for audio", ErrBadSDP)
	}
	if !strings.EqualFold(ci.NetworkType, "IN") || !strings.EqualFold(ci.AddressType, "IP4") {
		return nil, fmt.Errorf("%w: c=%s %s: only IN IP4 is supported", ErrBadSDP, ci.NetworkType, ci.AddressType)
	}
	addr, err := netip.ParseAddr(ci.Address.Address)
	if err != nil || !addr.Is4() {
		return nil, fmt.Errorf("%w: c= address %q is not an IPv4 address", ErrBadSDP, ci.Address.Address)
	}
	al := &audioLine{index: i, addr: addr, port: uint16(port), dir: "sendrecv"}
	al.rtcp = netip.AddrPortFrom(addr, uint16(port+1))
	if d := direction(sd.Attributes); d != "" {
		al.dir = d
	}
	if d := direction(md.Attributes); d != "" {
		al.dir = d
	}
	maps := map[uint8]format{}
	for _, a := range md.Attributes {
		switch strings.ToLower(a.Key) {
		case "rtpmap":
			if f, ok := parseRtpmap(a.Value); ok {
				maps[f.pt] = f
			}
		case "rtcp":
			if ap, ok := parseRTCPAttr(a.Value, addr); ok {
				al.rtcp = ap
			}
		}
	}
	for _, fs := range md.MediaName.Formats {
		n, err := strconv.ParseUint(fs, 10, 8)
		if err != nil || n > 127 {
			continue // not an RTP payload type; ignore rather than fail the call
		}
		f, ok := maps[uint8(n)]
		if !ok {
			switch n { // static payload types need no rtpmap (RFC 3551)
			case 0:
				f = format{pt: 0, name: PCMU.Name, rate: 8000}
			case 8:
				f = format{pt: 8, name: PCMA.Name, rate: 8000}
			default:
				f = format{pt: uint8(n)}
			}
		}
		al.formats = append(al.formats, f)
	}
	return al, nil
}

func direction(attrs []sdp.Attribute) string {
	d := ""
	for _, a := range attrs {
		switch k := strings.ToLower(a.Key); k {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			d = k
		}
	}
	return d
}

// parseRtpmap reads "101 telephone-event/8000" or "0 PCMU/8000/1".
func parseRtpmap(v string) (format, bool) {
	ptStr, enc, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return format{}, false
	}
	pt, err := strconv.ParseUint(ptStr, 10, 8)
	if err != nil || pt > 127 {
		return format{}, false
	}
	parts := strings.Split(strings.TrimSpace(enc), "/")
	if len(parts) < 2 {
		return format{}, false
	}
	rate, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil {
		return format{}, false
	}
	return format{pt: uint8(pt), name: strings.ToUpper(parts[0]), rate: uint32(rate)}, true
}

// parseRTCPAttr reads RFC 3605 "a=rtcp:port [IN IP4 addr]".
func parseRTCPAttr(v string, def netip.Addr) (netip.AddrPort, bool) {
	f := strings.Fields(v)
	if len(f) == 0 {
		return netip.AddrPort{}, false
	}
	p, err := strconv.ParseUint(f[0], 10, 16)
	if err != nil || p == 0 {
		return netip.AddrPort{}, false
	}
	addr := def
	if len(f) == 4 && strings.EqualFold(f[1], "IN") && strings.EqualFold(f[2], "IP4") {
		if a, err := netip.ParseAddr(f[3]); err == nil && a.Is4() {
			addr = a
		}
	}
	return netip.AddrPortFrom(addr, uint16(p)), true
}

// supported returns the line's format for codec c, if offered/answered.
func (al *audioLine) supported(c Codec) (format, bool) {
	for _, f := range al.formats {
		if f.name == c.Name && f.rate == c.ClockRate {
			return f, true
		}
	}
	return format{}, false
}

// dtmf returns the line's telephone-event/8000 payload type, if any.
func (al *audioLine) dtmf() (uint8, bool) {
	for _, f := range al.formats {
		if f.name == teName && f.rate == 8000 {
			return f.pt, true
		}
	}
	return 0, false
}

// newRemote builds the published state for a negotiated line. ours lists
// the payload types our own SDP declared, which a correct far end uses when
// it sends to us.
func newRemote(al *audioLine, c Codec, cf format, ours []format) *remote {
	rs := &remote{
		rtp:       netip.AddrPortFrom(al.addr, al.port),
		rtcp:      al.rtcp,
		codec:     c,
		txAudioPT: cf.pt,
		txKind:    c.kind(),
		dir:       al.dir,
		at:        monoNow(),
	}
	rs.txDTMFPT, rs.hasDTMF = al.dtmf()
	rs.rx[PCMU.PT], rs.rx[PCMA.PT] = kindPCMU, kindPCMA
	for _, set := range [][]format{al.formats, ours} {
		for _, f := range set {
			switch {
			case f.name == PCMU.Name && f.rate == 8000:
				rs.rx[f.pt] = kindPCMU
			case f.name == PCMA.Name && f.rate == 8000:
				rs.rx[f.pt] = kindPCMA
			case f.name == teName && f.rate == 8000:
				rs.rx[f.pt] = kindDTMF
			}
		}
	}
	held := al.addr.IsUnspecified()
	rs.sends = al.dir == "sendrecv" || al.dir == "sendonly"
	rs.recvs = !held && (al.dir == "sendrecv" || al.dir == "recvonly")
	return rs
}

// answerDirection is our direction in answer to the far end's.
func answerDirection(theirs string) string {
	switch theirs {
	case "sendonly":
		return "recvonly"
	case "recvonly":
		return "sendonly"
	case "inactive":
		return "inactive"
	}
	return "sendrecv"
}
