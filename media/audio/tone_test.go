package audio

import (
	"math"
	"testing"
	"time"
)

// zeroCrossings counts sign changes, a cheap frequency estimate that does
// not need an FFT.
func zeroCrossings(frames [][]byte, enc Encoding) (n int, peak int) {
	prev := 0
	for _, f := range frames {
		for _, b := range f {
			v := int(enc.Decode(b))
			peak = max(peak, v, -v)
			if (prev < 0 && v >= 0) || (prev >= 0 && v < 0) {
				n++
			}
			prev = v
		}
	}
	return n, peak
}

func TestTone(t *testing.T) {
	tests := []struct {
		name   string
		freqs  []float64
		dur    time.Duration
		frames int
		// expected crossings per second, ±5 %; 0 means silence
		crossings int
	}{
		{"440 Hz 1 s", []float64{440}, time.Second, 50, 880},
		{"1 kHz 500 ms", []float64{1000}, 500 * time.Millisecond, 25, 2000},
		{"rounds up to a frame", []float64{440}, 21 * time.Millisecond, 2, -1},
		{"zero duration", []float64{440}, 0, 0, 0},
		{"no freqs is silence", nil, 100 * time.Millisecond, 5, 0},
	}
	for _, enc := range []Encoding{PCMU, PCMA} {
		for _, tt := range tests {
			t.Run(enc.String()+"/"+tt.name, func(t *testing.T) {
				fr := Tone(tt.freqs, tt.dur, enc)
				if len(fr) != tt.frames {
					t.Fatalf("got %d frames, want %d", len(fr), tt.frames)
				}
				n, peak := zeroCrossings(fr, enc)
				switch {
				case tt.crossings == 0:
					if peak > 8 {
						t.Fatalf("expected silence, peak %d", peak)
					}
				case tt.crossings > 0:
					perSec := float64(n) / tt.dur.Seconds()
					if math.Abs(perSec-float64(tt.crossings)) > 0.05*float64(tt.crossings) {
						t.Fatalf("%.0f crossings/s, want about %d", perSec, tt.crossings)
					}
					if peak < 5000 || peak > 16000 {
						t.Fatalf("peak %d outside the expected level", peak)
					}
				}
			})
		}
	}
}

func TestRingback(t *testing.T) {
	for _, enc := range []Encoding{PCMU, PCMA} {
		t.Run(enc.String(), func(t *testing.T) {
			fr := Ringback(enc)
			on := int(RingbackOn / FrameDuration)
			off := int(RingbackOff / FrameDuration)
			if len(fr) != on+off {
				t.Fatalf("got %d frames, want %d", len(fr), on+off)
			}
			if _, peak := zeroCrossings(fr[:on], enc); peak < 5000 {
				t.Fatalf("tone part too quiet: %d", peak)
			}
			if _, peak := zeroCrossings(fr[on:], enc); peak > 8 {
				t.Fatalf("off part not silent: %d", peak)
			}
			// Two summed sines never clip.
			if _, peak := zeroCrossings(fr, enc); peak >= 32000 {
				t.Fatalf("clipping: %d", peak)
			}
		})
	}
}

func TestSilence(t *testing.T) {
	for enc, want := range map[Encoding]byte{PCMU: 0xFF, PCMA: 0xD5} {
		s := Silence(enc)
		if len(s) != FrameSamples {
			t.Fatalf("%v: %d bytes", enc, len(s))
		}
		for _, b := range s {
			if b != want {
				t.Fatalf("%v: byte %#x", enc, b)
			}
		}
		s[0] = 0
		if Silence(enc)[0] != want {
			t.Fatal("Silence returns shared memory")
		}
	}
}
