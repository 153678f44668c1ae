package audio

import (
	"math"
	"time"
)

// Ringback cadence (North American, ANSI T1.401): 440 + 480 Hz, two seconds
// on, four seconds off. Callers loop the cycle for as long as they ring.
var (
	RingbackFreqs = []float64{440, 480}
	RingbackOn    = 2 * time.Second
	RingbackOff   = 4 * time.Second
)

// toneAmplitude is the peak of a generated tone in total, about -9 dBFS: loud
// enough to be heard clearly, low enough that two summed sines never clip.
const toneAmplitude = 0.35 * math.MaxInt16

// Tone generates dur of the sum of freqs (Hz) as 20 ms frames; the duration
// is rounded up to whole frames. The phase is continuous across frames, so
// looping is click-free only when dur holds whole periods, as it does for the
// round frequencies used for call progress. No freqs gives silence.
func Tone(freqs []float64, dur time.Duration, enc Encoding) [][]byte {
	if dur <= 0 {
		return nil
	}
	n := int((dur + FrameDuration - 1) / FrameDuration)
	samples := make([]int16, n*FrameSamples)
	if len(freqs) > 0 {
		amp := toneAmplitude / float64(len(freqs))
		for i := range samples {
			t := float64(i) / SampleRate
			var v float64
			for _, f := range freqs {
				v += math.Sin(2 * math.Pi * f * t)
			}
			samples[i] = int16(math.Round(amp * v))
		}
	}
	return framesOf(samples, enc)
}

// Ringback is one cadence cycle of ringback tone (RingbackOn of tone, then
// RingbackOff of silence) as 20 ms frames. The silence frames share one
// backing array; treat all frames as read-only.
func Ringback(enc Encoding) [][]byte {
	on := Tone(RingbackFreqs, RingbackOn, enc)
	off := int(RingbackOff / FrameDuration)
	sil := Silence(enc)
	frames := make([][]byte, 0, len(on)+off)
	frames = append(frames, on...)
	for range off {
		frames = append(frames, sil)
	}
	return frames
}

// Silence returns one new 20 ms frame of silence.
func Silence(enc Encoding) []byte {
	b := make([]byte, FrameSamples)
	s := enc.SilenceByte()
	for i := range b {
		b[i] = s
	}
	return b
}
