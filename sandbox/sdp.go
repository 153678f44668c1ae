package sandbox

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/callbackd/callbackd/media/audio"
)

// Errors from offer negotiation; both become 488 Not Acceptable Here.
var (
	errBadSDP         = errors.New("unparsable or incomplete SDP offer")
	errNoCommonCodec  = errors.New("no common codec (PCMU or PCMA) in the offer")
	errNoAudio        = errors.New("no usable audio stream in the offer")
	errUnsupportedSDP = errors.New("unsupported SDP offer")
)

// Direction attributes of an audio stream (RFC 3264 section 6.1).
type direction string

const (
	sendrecv direction = "sendrecv"
	sendonly direction = "sendonly"
	recvonly direction = "recvonly"
	inactive direction = "inactive"
)

// answerDir is what we answer to a stream the offerer marks d: it sends only
// → we receive only, and so on.
func (d direction) answerDir() direction {
	switch d {
	case sendonly:
		return recvonly
	case recvonly:
		return sendonly
	case inactive:
		return inactive
	}
	return sendrecv
}

// offer is what the sandbox takes from a caller's SDP.
type offer struct {
	remote netip.AddrPort // where to send RTP; port 0 = stream put on hold by RFC 2543 style c=0.0.0.0
	enc    audio.Encoding // chosen codec
	pt     uint8          // its payload type in the offer (static 0 or 8, or a dynamic one)
	tePT   int            // telephone-event/8000 PT, -1 when not offered
	dir    direction      // the offerer's direction
}

// parseOffer picks the first codec of the first audio stream that we speak,
// in the offerer's order of preference.
func parseOffer(b []byte) (offer, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(b); err != nil {
		return offer{}, fmt.Errorf("%w: %v", errBadSDP, err)
	}
	sessDir := sendrecv
	for _, a := range sd.Attributes {
		if d, ok := parseDir(a.Key); ok {
			sessDir = d
		}
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		if !slicesContainsFold(md.MediaName.Protos, "AVP") {
			return offer{}, fmt.Errorf("%w: transport %s (only RTP/AVP)", errUnsupportedSDP, strings.Join(md.MediaName.Protos, "/"))
		}
		ci := md.ConnectionInformation
		if ci == nil {
			ci = sd.ConnectionInformation
		}
		if ci == nil || ci.Address == nil {
			return offer{}, fmt.Errorf("%w: no c= line", errBadSDP)
		}
		if ci.AddressType != "IP4" {
			return offer{}, fmt.Errorf("%w: address type %q (only IP4)", errUnsupportedSDP, ci.AddressType)
		}
		ip, err := netip.ParseAddr(ci.Address.Address)
		if err != nil || !ip.Is4() {
			return offer{}, fmt.Errorf("%w: connection address %q", errBadSDP, ci.Address.Address)
		}
		port := md.MediaName.Port.Value
		if port < 0 || port > 65535 {
			return offer{}, fmt.Errorf("%w: port %d", errBadSDP, port)
		}
		o := offer{remote: netip.AddrPortFrom(ip, uint16(port)), tePT: -1, dir: sessDir}
		rtpmap := map[string]string{}
		for _, a := range md.Attributes {
			if d, ok := parseDir(a.Key); ok {
				o.dir = d
			}
			if a.Key == "rtpmap" {
				pt, enc, _ := strings.Cut(a.Value, " ")
				rtpmap[pt] = strings.ToUpper(enc)
			}
		}
		if ip.IsUnspecified() && o.dir == sendrecv {
			o.dir = inactive // RFC 2543 hold
		}
		found := false
		for _, f := range md.MediaName.Formats {
			n, err := strconv.Atoi(f)
			if err != nil || n < 0 || n > 127 {
				continue
			}
			name := rtpmap[f]
			if name == "" {
				switch n {
				case 0:
					name = "PCMU/8000"
				case 8:
					name = "PCMA/8000"
				}
			}
			switch {
			case strings.HasPrefix(name, "TELEPHONE-EVENT/8000"):
				if o.tePT < 0 {
					o.tePT = n
				}
			case !found && strings.HasPrefix(name, "PCMU/8000"):
				o.enc, o.pt, found = audio.PCMU, uint8(n), true
			case !found && strings.HasPrefix(name, "PCMA/8000"):
				o.enc, o.pt, found = audio.PCMA, uint8(n), true
			}
		}
		if !found {
			return offer{}, errNoCommonCodec
		}
		return o, nil
	}
	return offer{}, errNoAudio
}

func parseDir(key string) (direction, bool) {
	switch d := direction(key); d {
	case sendrecv, sendonly, recvonly, inactive:
		return d, true
	}
	return "", false
}

func slicesContainsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// answerSDP is our answer: one audio stream with the chosen codec, plus
// telephone-event when the offer had it (with the offerer's PT, as RFC 3264
// asks for).
func answerSDP(local netip.AddrPort, sessID, version uint64, o offer) []byte {
	ip := local.Addr().String()
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\n")
	fmt.Fprintf(&b, "o=callbackd-sandbox %d %d IN IP4 %s\r\n", sessID, version, ip)
	fmt.Fprintf(&b, "s=callbackd sandbox\r\n")
	fmt.Fprintf(&b, "c=IN IP4 %s\r\n", ip)
	fmt.Fprintf(&b, "t=0 0\r\n")
	fmt.Fprintf(&b, "m=audio %d RTP/AVP %d", local.Port(), o.pt)
	if o.tePT >= 0 {
		fmt.Fprintf(&b, " %d", o.tePT)
	}
	b.WriteString("\r\n")
	fmt.Fprintf(&b, "a=rtpmap:%d %s/8000\r\n", o.pt, o.enc)
	if o.tePT >= 0 {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\n", o.tePT)
		fmt.Fprintf(&b, "a=fmtp:%d 0-15\r\n", o.tePT)
	}
	fmt.Fprintf(&b, "a=ptime:20\r\n")
	fmt.Fprintf(&b, "a=%s\r\n", o.dir.answerDir())
	return []byte(b.String())
}
