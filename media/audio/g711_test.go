package audio

import (
	"bytes"
	"testing"
)

func TestG711KnownVectors(t *testing.T) {
	tests := []struct {
		name string
		got  int
		want int
	}{
		{"mulaw enc 0", int(MulawEncode(0)), 0xFF},
		{"mulaw enc max", int(MulawEncode(32767)), 0x80},
		{"mulaw enc min", int(MulawEncode(-32768)), 0x00},
		{"mulaw enc -1", int(MulawEncode(-1)), 0x7F},
		{"mulaw dec 0xFF", int(MulawDecode(0xFF)), 0},
		{"mulaw dec 0x7F", int(MulawDecode(0x7F)), 0},
		{"mulaw dec 0x80", int(MulawDecode(0x80)), 32124},
		{"mulaw dec 0x00", int(MulawDecode(0x00)), -32124},
		{"alaw enc 0", int(AlawEncode(0)), 0xD5},
		{"alaw enc -1", int(AlawEncode(-1)), 0x55},
		{"alaw enc max", int(AlawEncode(32767)), 0xAA},
		{"alaw enc min", int(AlawEncode(-32768)), 0x2A},
		{"alaw dec 0xD5", int(AlawDecode(0xD5)), 8},
		{"alaw dec 0x55", int(AlawDecode(0x55)), -8},
		{"alaw dec 0xAA", int(AlawDecode(0xAA)), 32256},
		{"alaw dec 0x2A", int(AlawDecode(0x2A)), -32256},
		{"mu->a silence", int(MulawToAlaw(0xFF)), 0xD5},
		// G.711 maps A-law code 0 (+8) to mu-law +8, not to mu-law zero.
		{"a->mu silence", int(AlawToMulaw(0xD5)), 0xFE},
		{"PCMU silence byte", int(PCMU.SilenceByte()), 0xFF},
		{"PCMA silence byte", int(PCMA.SilenceByte()), 0xD5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %#x, want %#x", tt.got, tt.want)
			}
		})
	}
}

// Every code decodes to a value that encodes back to the same code, except
// mu-law's negative zero, which the encoder never produces.
func TestG711ByteRoundTrip(t *testing.T) {
	for i := range 256 {
		b := byte(i)
		if got := MulawEncode(MulawDecode(b)); got != b && b != 0x7F {
			t.Errorf("mulaw %#02x -> %d -> %#02x", b, MulawDecode(b), got)
		}
		if got := AlawEncode(AlawDecode(b)); got != b {
			t.Errorf("alaw %#02x -> %d -> %#02x", b, AlawDecode(b), got)
		}
	}
}

// Quantisation error stays within half a step of the segment, which grows
// with the magnitude (about 1/32 of it), plus the clipping at full scale.
func TestG711SampleRoundTripError(t *testing.T) {
	for _, enc := range []Encoding{PCMU, PCMA} {
		t.Run(enc.String(), func(t *testing.T) {
			for i := -32768; i <= 32767; i++ {
				s := int16(i)
				d := int(enc.Decode(enc.Encode(s)))
				errAbs := d - i
				if errAbs < 0 {
					errAbs = -errAbs
				}
				mag := i
				if mag < 0 {
					mag = -mag
				}
				if limit := mag/16 + 40; errAbs > limit {
					t.Fatalf("%d -> %d: error %d > %d", i, d, errAbs, limit)
				}
			}
		})
	}
}

func TestG711DecodeMonotonic(t *testing.T) {
	// Positive codes of both laws, ordered by magnitude, must decode to
	// strictly increasing values; a table mix-up shows here first.
	prevMu, prevA := -1, -1
	for m := range 128 {
		mu := int(MulawDecode(0xFF - byte(m)))
		if mu <= prevMu && m > 0 {
			t.Fatalf("mulaw not monotonic at magnitude %d: %d after %d", m, mu, prevMu)
		}
		prevMu = mu
		a := int(AlawDecode(byte(m) ^ 0xD5))
		if a <= prevA && m > 0 {
			t.Fatalf("alaw not monotonic at magnitude %d: %d after %d", m, a, prevA)
		}
		prevA = a
	}
}

func TestTranscode(t *testing.T) {
	src := make([]byte, 256)
	for i := range src {
		src[i] = byte(i)
	}
	t.Run("mulaw to alaw", func(t *testing.T) {
		dst := make([]byte, 256)
		TranscodeMulawToAlaw(dst, src)
		for i, b := range src {
			if want := AlawEncode(MulawDecode(b)); dst[i] != want || MulawToAlaw(b) != want {
				t.Fatalf("%#02x: got %#02x, want %#02x", b, dst[i], want)
			}
			if d := int(AlawDecode(dst[i])) - int(MulawDecode(b)); d > 1100 || d < -1100 {
				t.Fatalf("%#02x: transcoded value off by %d", b, d)
			}
		}
	})
	t.Run("alaw to mulaw", func(t *testing.T) {
		dst := make([]byte, 256)
		TranscodeAlawToMulaw(dst, src)
		for i, b := range src {
			if want := MulawEncode(AlawDecode(b)); dst[i] != want || AlawToMulaw(b) != want {
				t.Fatalf("%#02x: got %#02x, want %#02x", b, dst[i], want)
			}
		}
	})
	t.Run("in place", func(t *testing.T) {
		buf := bytes.Clone(src)
		TranscodeMulawToAlaw(buf, buf)
		want := make([]byte, 256)
		TranscodeMulawToAlaw(want, src)
		if !bytes.Equal(buf, want) {
			t.Fatal("in-place transcode differs")
		}
	})
	t.Run("short dst", func(t *testing.T) {
		dst := []byte{1, 2}
		TranscodeAlawToMulaw(dst, src)
		if dst[0] != AlawToMulaw(0) || dst[1] != AlawToMulaw(1) {
			t.Fatalf("got %v", dst)
		}
	})
}

func TestEncodeDecodeSlices(t *testing.T) {
	samples := []int16{0, 1000, -1000, 32767, -32768}
	for _, enc := range []Encoding{PCMU, PCMA} {
		b := make([]byte, len(samples))
		if n := Encode(b, samples, enc); n != len(samples) {
			t.Fatalf("%v: Encode wrote %d", enc, n)
		}
		back := make([]int16, len(b))
		Decode(back, b, enc)
		for i, s := range samples {
			if b[i] != enc.Encode(s) || back[i] != enc.Decode(b[i]) {
				t.Errorf("%v sample %d mismatch", enc, i)
			}
		}
	}
}

func TestEncodingString(t *testing.T) {
	for enc, want := range map[Encoding]string{PCMU: "PCMU", PCMA: "PCMA", 3: "Encoding(3)"} {
		if enc.String() != want {
			t.Errorf("%d: got %q", enc, enc.String())
		}
	}
	if Encoding(3).Valid() || !PCMA.Valid() {
		t.Error("Valid wrong")
	}
}

func TestTranscodeNoAlloc(t *testing.T) {
	src := Silence(PCMU)
	dst := make([]byte, len(src))
	if n := testing.AllocsPerRun(100, func() {
		TranscodeMulawToAlaw(dst, src)
		TranscodeAlawToMulaw(src, dst)
		_ = MulawEncode(123) + AlawEncode(-5)
	}); n != 0 {
		t.Fatalf("%v allocs per run", n)
	}
}

func BenchmarkTranscodeMulawToAlaw(b *testing.B) {
	src := Tone([]float64{440}, FrameDuration, PCMU)[0]
	dst := make([]byte, len(src))
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		TranscodeMulawToAlaw(dst, src)
	}
}

func BenchmarkTranscodeAlawToMulaw(b *testing.B) {
	src := Tone([]float64{440}, FrameDuration, PCMA)[0]
	dst := make([]byte, len(src))
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		TranscodeAlawToMulaw(dst, src)
	}
}

func BenchmarkMulawEncodeFrame(b *testing.B) {
	samples := make([]int16, FrameSamples)
	for i := range samples {
		samples[i] = int16(i * 200)
	}
	dst := make([]byte, FrameSamples)
	b.ReportAllocs()
	for b.Loop() {
		Encode(dst, samples, PCMU)
	}
}
