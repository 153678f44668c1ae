package testpeer

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ToneSequence is the repeating pattern of ToneWAV: 250 ms each, so a
// recording can be recognised and its gaps measured.
var ToneSequence = []float64{400, 600, 800, 1000}

// WriteToneWAV writes an 8 kHz mono 16-bit PCM WAV of dur, ToneSequence
// repeated at about -12 dBFS. It is generated rather than committed: a
// minute of it is almost 1 MB.
func WriteToneWAV(path string, dur time.Duration) error {
	const rate = 8000
	n := int(dur.Seconds() * rate)
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("tone wav: %w", err)
	}
	w := bufio.NewWriter(f)
	hdr := make([]byte, 44)
	copy(hdr[0:], "RIFF")
	binary.LittleEndian.PutUint32(hdr[4:], uint32(36+2*n))
	copy(hdr[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(hdr[16:], 16)
	binary.LittleEndian.PutUint16(hdr[20:], 1) // PCM
	binary.LittleEndian.PutUint16(hdr[22:], 1) // mono
	binary.LittleEndian.PutUint32(hdr[24:], rate)
	binary.LittleEndian.PutUint32(hdr[28:], rate*2)
	binary.LittleEndian.PutUint16(hdr[32:], 2)
	binary.LittleEndian.PutUint16(hdr[34:], 16)
	copy(hdr[36:], "data")
	binary.LittleEndian.PutUint32(hdr[40:], uint32(2*n))
	w.Write(hdr)
	const seg = rate / 4
	var s [2]byte
	for i := range n {
		freq := ToneSequence[(i/seg)%len(ToneSequence)]
		v := 8000 * math.Sin(2*math.Pi*freq*float64(i)/rate)
		binary.LittleEndian.PutUint16(s[:], uint16(int16(v)))
		w.Write(s[:])
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("tone wav: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tone wav: %w", err)
	}
	return nil
}

// ToneWAV writes a tone WAV of dur into a temp dir and returns its path.
func ToneWAV(t testing.TB, dur time.Duration) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tones.wav")
	if err := WriteToneWAV(path, dur); err != nil {
		t.Fatalf("testpeer: %v", err)
	}
	return path
}
