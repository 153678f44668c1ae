package media

import "encoding/binary"

// maxPacket is the largest datagram the relay forwards; readers use a buffer
// one byte larger so that a longer one shows up as oversized, not truncated.
const maxPacket = 1500

// rtpHeader is what the relay needs from an RTP fixed header.
type rtpHeader struct {
	marker bool
	pt     uint8
	seq    uint16
	ts     uint32
	ssrc   uint32
	off    int // payload start (after CSRCs and extension)
	end    int // payload end (before padding)
}

// parseRTP checks b is a well-formed RTP packet and reads its header without
// allocating. RTCP sent to the RTP port (payload types 72-76 once the marker
// bit is taken out, RFC 5761) is refused.
func parseRTP(b []byte) (h rtpHeader, ok bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return h, false
	}
	h.pt = b[1] & 0x7f
	if h.pt >= 72 && h.pt <= 76 {
		return h, false
	}
	off := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < off+4 {
			return h, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
	}
	end := len(b)
	if b[0]&0x20 != 0 {
		pad := int(b[end-1])
		if pad == 0 || pad > end-off {
			return h, false
		}
		end -= pad
	}
	if off > end {
		return h, false
	}
	h.marker = b[1]&0x80 != 0
	h.seq = binary.BigEndian.Uint16(b[2:])
	h.ts = binary.BigEndian.Uint32(b[4:])
	h.ssrc = binary.BigEndian.Uint32(b[8:])
	h.off, h.end = off, end
	return h, true
}

// writeRTPHeader patches a packet's fixed header in place; CSRCs, extension
// and payload are left as they are.
func writeRTPHeader(b []byte, marker bool, pt uint8, seq uint16, ts, ssrc uint32) {
	m := pt & 0x7f
	if marker {
		m |= 0x80
	}
	b[1] = m
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], ssrc)
}

// validRTCP is a cheap sanity check on an RTCP compound packet: version 2,
// a first packet type in the RTCP range and a length word that fits.
func validRTCP(b []byte) bool {
	if len(b) < 8 || b[0]>>6 != 2 || b[1] < 192 || b[1] > 223 {
		return false
	}
	return 4*(int(binary.BigEndian.Uint16(b[2:]))+1) <= len(b)
}
