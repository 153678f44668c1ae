package audio

import "fmt"

// Encoding is a G.711 variant. The values equal the static RTP payload types
// (RFC 3551) so a caller may convert with uint8(enc) when that is convenient.
type Encoding uint8

const (
	PCMU Encoding = 0 // G.711 mu-law
	PCMA Encoding = 8 // G.711 A-law
)

func (e Encoding) String() string {
	switch e {
	case PCMU:
		return "PCMU"
	case PCMA:
		return "PCMA"
	}
	return fmt.Sprintf("Encoding(%d)", uint8(e))
}

// Valid reports whether e is PCMU or PCMA.
func (e Encoding) Valid() bool { return e == PCMU || e == PCMA }

// Encode converts one linear sample. Unknown encodings fall back to mu-law so
// a zero Encoding is still usable.
func (e Encoding) Encode(s int16) byte {
	if e == PCMA {
		return AlawEncode(s)
	}
	return MulawEncode(s)
}

// Decode converts one G.711 byte to a linear sample.
func (e Encoding) Decode(b byte) int16 {
	if e == PCMA {
		return AlawDecode(b)
	}
	return MulawDecode(b)
}

// SilenceByte is the code for a zero sample, which is what padding and
// silence frames are filled with.
func (e Encoding) SilenceByte() byte { return e.Encode(0) }

// The tables are filled once at start-up from the reference algorithms below,
// so per-sample work on the relay's hot path is a single indexed load. The
// encode tables are indexed by the sample as uint16 (64 KiB each); that is
// cheaper than branching on sign and segment per sample.
var (
	mulawEnc [65536]byte
	alawEnc  [65536]byte
	mulawDec [256]int16
	alawDec  [256]int16
	mu2a     [256]byte
	a2mu     [256]byte
)

func init() {
	for i := range 65536 {
		s := int16(uint16(i))
		mulawEnc[i] = mulawEncodeRef(s)
		alawEnc[i] = alawEncodeRef(s)
	}
	for i := range 256 {
		mulawDec[i] = mulawDecodeRef(byte(i))
		alawDec[i] = alawDecodeRef(byte(i))
	}
	for i := range 256 {
		mu2a[i] = alawEnc[uint16(mulawDec[i])]
		a2mu[i] = mulawEnc[uint16(alawDec[i])]
	}
}

// MulawEncode converts a 16-bit linear sample to G.711 mu-law.
func MulawEncode(s int16) byte { return mulawEnc[uint16(s)] }

// MulawDecode converts a G.711 mu-law byte to a 16-bit linear sample.
func MulawDecode(b byte) int16 { return mulawDec[b] }

// AlawEncode converts a 16-bit linear sample to G.711 A-law.
func AlawEncode(s int16) byte { return alawEnc[uint16(s)] }

// AlawDecode converts a G.711 A-law byte to a 16-bit linear sample.
func AlawDecode(b byte) int16 { return alawDec[b] }

// MulawToAlaw transcodes one byte. It goes through the linear value, so it
// is the nearest A-law code to what the mu-law byte means.
func MulawToAlaw(b byte) byte { return mu2a[b] }

// AlawToMulaw transcodes one byte; see MulawToAlaw.
func AlawToMulaw(b byte) byte { return a2mu[b] }

// TranscodeMulawToAlaw writes the A-law form of src into dst. dst and src may
// be the same slice (in-place). It converts min(len(dst), len(src)) bytes.
func TranscodeMulawToAlaw(dst, src []byte) {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = mu2a[b]
	}
}

// TranscodeAlawToMulaw writes the mu-law form of src into dst; see
// TranscodeMulawToAlaw.
func TranscodeAlawToMulaw(dst, src []byte) {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = a2mu[b]
	}
}

// Encode converts linear samples into dst (one byte each) and returns the
// number written, min(len(dst), len(src)).
func Encode(dst []byte, src []int16, enc Encoding) int {
	n := min(len(dst), len(src))
	tab := &mulawEnc
	if enc == PCMA {
		tab = &alawEnc
	}
	for i := range n {
		dst[i] = tab[uint16(src[i])]
	}
	return n
}

// Decode converts G.711 bytes into linear samples and returns the number
// written, min(len(dst), len(src)).
func Decode(dst []int16, src []byte, enc Encoding) int {
	n := min(len(dst), len(src))
	tab := &mulawDec
	if enc == PCMA {
		tab = &alawDec
	}
	for i := range n {
		dst[i] = tab[src[i]]
	}
	return n
}

// mulawEncodeRef is the G.711 mu-law compander on a 16-bit sample: bias the
// magnitude, find the segment from the highest set bit, keep four mantissa
// bits, and invert all bits (mu-law transmits complemented codes).
func mulawEncodeRef(s int16) byte {
	const (
		bias = 0x84
		clip = 32635
	)
	v := int(s)
	var sign int
	if v < 0 {
		v = -v
		sign = 0x80
	}
	v = min(v, clip) + bias
	exp := 7
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (v >> (exp + 3)) & 0x0F
	return ^byte(sign | exp<<4 | mant)
}

func mulawDecodeRef(b byte) int16 {
	b = ^b
	exp := int(b>>4) & 0x07
	mant := int(b & 0x0F)
	v := ((mant << 3) + 0x84) << exp
	v -= 0x84
	if b&0x80 != 0 {
		v = -v
	}
	return int16(v)
}

// alawEncodeRef is the G.711 A-law compander on the top 13 bits of the
// sample; even bits are inverted (XOR 0x55) as the standard requires.
func alawEncodeRef(s int16) byte {
	v := int(s) >> 3
	mask := 0xD5
	if v < 0 {
		mask = 0x55
		v = -v - 1
	}
	seg := 0
	for end := 0x1F; seg < 8 && v > end; end = end<<1 | 1 {
		seg++
	}
	if seg >= 8 {
		return byte(0x7F ^ mask)
	}
	a := seg << 4
	if seg < 2 {
		a |= (v >> 1) & 0x0F
	} else {
		a |= (v >> seg) & 0x0F
	}
	return byte(a ^ mask)
}

func alawDecodeRef(b byte) int16 {
	b ^= 0x55
	t := int(b&0x0F) << 4
	seg := int(b&0x70) >> 4
	switch seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if b&0x80 == 0 {
		t = -t
	}
	return int16(t)
}
