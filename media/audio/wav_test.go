package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wavSpec builds WAV files for tests; zero fields take valid defaults for
// 16-bit 8 kHz mono PCM.
type wavSpec struct {
	format     uint16
	channels   uint16
	rate       uint32
	bits       uint16
	blockAlign uint16
	fmtSize    uint32 // 0 → 16
	data       []byte
	dataSize   *uint32 // nil → len(data)
	before     []byte  // raw chunks before fmt
	between    []byte  // raw chunks between fmt and data
	noFmt      bool
	noData     bool
}

func (s wavSpec) bytes() []byte {
	if s.format == 0 {
		s.format = wavFormatPCM
	}
	if s.channels == 0 {
		s.channels = 1
	}
	if s.rate == 0 {
		s.rate = SampleRate
	}
	if s.bits == 0 {
		s.bits = 16
	}
	if s.blockAlign == 0 {
		s.blockAlign = s.channels * s.bits / 8
	}
	if s.fmtSize == 0 {
		s.fmtSize = 16
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	b.Write([]byte{0, 0, 0, 0}) // patched below
	b.WriteString("WAVE")
	b.Write(s.before)
	le := binary.LittleEndian
	if !s.noFmt {
		b.WriteString("fmt ")
		b.Write(le.AppendUint32(nil, s.fmtSize))
		f := make([]byte, max(s.fmtSize, 16))
		le.PutUint16(f[0:], s.format)
		le.PutUint16(f[2:], s.channels)
		le.PutUint32(f[4:], s.rate)
		le.PutUint32(f[8:], s.rate*uint32(s.blockAlign))
		le.PutUint16(f[12:], s.blockAlign)
		le.PutUint16(f[14:], s.bits)
		b.Write(f[:s.fmtSize])
	}
	b.Write(s.between)
	if !s.noData {
		b.WriteString("data")
		size := uint32(len(s.data))
		if s.dataSize != nil {
			size = *s.dataSize
		}
		b.Write(le.AppendUint32(nil, size))
		b.Write(s.data)
	}
	out := b.Bytes()
	le.PutUint32(out[4:], uint32(len(out)-8))
	return out
}

func pcm16(samples ...int16) []byte {
	b := make([]byte, 0, 2*len(samples))
	for _, s := range samples {
		b = binary.LittleEndian.AppendUint16(b, uint16(s))
	}
	return b
}

func u32(v uint32) *uint32 { return &v }

func extensibleFmt(sub uint16) []byte {
	f := make([]byte, 40)
	le := binary.LittleEndian
	le.PutUint16(f[0:], wavFormatExtensible)
	le.PutUint16(f[2:], 1)
	le.PutUint32(f[4:], SampleRate)
	le.PutUint32(f[8:], SampleRate*2)
	le.PutUint16(f[12:], 2)
	le.PutUint16(f[14:], 16)
	le.PutUint16(f[16:], 22)
	le.PutUint16(f[24:], sub)
	return append(append([]byte("fmt "), le.AppendUint32(nil, 40)...), f...)
}

func TestLoadWAVValid(t *testing.T) {
	samples := []int16{0, 100, -100, 32767, -32768, 1234}
	mu := make([]byte, len(samples))
	Encode(mu, samples, PCMU)
	al := make([]byte, len(samples))
	Encode(al, samples, PCMA)
	decoded := func(b []byte, enc Encoding) []int16 {
		s := make([]int16, len(b))
		Decode(s, b, enc)
		return s
	}
	tests := []struct {
		name string
		wav  []byte
		want []int16
	}{
		{"pcm16", wavSpec{data: pcm16(samples...)}.bytes(), samples},
		{"mulaw", wavSpec{format: wavFormatMuLaw, bits: 8, data: mu}.bytes(), decoded(mu, PCMU)},
		{"alaw", wavSpec{format: wavFormatALaw, bits: 8, data: al}.bytes(), decoded(al, PCMA)},
		{"g711 fmt size 18", wavSpec{format: wavFormatALaw, bits: 8, fmtSize: 18, data: al}.bytes(), decoded(al, PCMA)},
		{"empty data", wavSpec{data: nil, dataSize: u32(0)}.bytes(), []int16{}},
		{"LIST before fmt, odd chunk padded", wavSpec{
			before: []byte("LIST\x03\x00\x00\x00abc\x00"), data: pcm16(samples...)}.bytes(), samples},
		{"fact between fmt and data", wavSpec{format: wavFormatMuLaw, bits: 8,
			between: []byte("fact\x04\x00\x00\x00\x06\x00\x00\x00"), data: mu}.bytes(), decoded(mu, PCMU)},
		{"streamed size 0xFFFFFFFF", wavSpec{data: pcm16(samples...), dataSize: u32(0xFFFFFFFF)}.bytes(), samples},
		{"trailing chunk after data", append(wavSpec{data: pcm16(samples...)}.bytes(), "LIST\x00\x00\x00\x00"...), samples},
		{"extensible PCM", wavSpec{noFmt: true, between: extensibleFmt(wavFormatPCM), data: pcm16(samples...)}.bytes(), samples},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadWAV(bytes.NewReader(tt.wav))
			if err != nil {
				t.Fatalf("LoadWAV: %v", err)
			}
			if len(c.Samples) != len(tt.want) {
				t.Fatalf("got %d samples, want %d", len(c.Samples), len(tt.want))
			}
			for i := range tt.want {
				if c.Samples[i] != tt.want[i] {
					t.Fatalf("sample %d: got %d, want %d", i, c.Samples[i], tt.want[i])
				}
			}
			// The same bytes through a reader that cannot seek.
			if _, err := LoadWAV(struct{ *bytes.Reader }{bytes.NewReader(tt.wav)}); err != nil {
				t.Fatalf("non-seeking reader: %v", err)
			}
		})
	}
}

func TestLoadWAVErrors(t *testing.T) {
	good := wavSpec{data: pcm16(1, 2, 3, 4)}.bytes()
	tests := []struct {
		name  string
		wav   []byte
		kind  error
		field string
	}{
		{"empty", nil, ErrMalformedWAV, "RIFF header"},
		{"short header", []byte("RIFF\x00\x00"), ErrMalformedWAV, "RIFF header"},
		{"not RIFF", []byte("OggS\x00\x00\x00\x00WAVE"), ErrMalformedWAV, "RIFF header"},
		{"RIFX big endian", []byte("RIFX\x00\x00\x00\x00WAVE"), ErrUnsupportedWAV, "container"},
		{"not WAVE", []byte("RIFF\x00\x00\x00\x00AVI "), ErrMalformedWAV, "RIFF header"},
		{"no chunks", []byte("RIFF\x04\x00\x00\x00WAVE"), ErrMalformedWAV, "fmt chunk"},
		{"no data", wavSpec{noData: true}.bytes(), ErrMalformedWAV, "data chunk"},
		{"data before fmt", wavSpec{noFmt: true, data: pcm16(1)}.bytes(), ErrMalformedWAV, "fmt chunk"},
		{"fmt too small", wavSpec{fmtSize: 14}.bytes(), ErrMalformedWAV, "fmt chunk"},
		{"fmt huge", []byte("RIFF\x00\x00\x00\x00WAVEfmt \xff\xff\xff\x7f"), ErrMalformedWAV, "fmt chunk"},
		{"fmt truncated", good[:30], ErrMalformedWAV, "fmt chunk"},
		{"chunk header truncated", good[:40], ErrMalformedWAV, "chunk header"},
		{"data truncated", good[:len(good)-3], ErrMalformedWAV, "data chunk"},
		{"unknown chunk truncated", []byte("RIFF\x00\x00\x00\x00WAVELIST\x10\x00\x00\x00ab"), ErrMalformedWAV, "\"LIST\" chunk"},
		{"odd PCM data", wavSpec{data: []byte{1, 2, 3}}.bytes(), ErrMalformedWAV, "data chunk"},
		{"stereo", wavSpec{channels: 2, data: pcm16(1, 2)}.bytes(), ErrUnsupportedWAV, "channels"},
		{"44.1 kHz", wavSpec{rate: 44100, data: pcm16(1)}.bytes(), ErrUnsupportedWAV, "sample rate"},
		{"16 kHz", wavSpec{rate: 16000, data: pcm16(1)}.bytes(), ErrUnsupportedWAV, "sample rate"},
		{"8-bit PCM", wavSpec{bits: 8, data: []byte{1}}.bytes(), ErrUnsupportedWAV, "bits per sample"},
		{"24-bit PCM", wavSpec{bits: 24, data: []byte{1, 2, 3}}.bytes(), ErrUnsupportedWAV, "bits per sample"},
		{"16-bit mulaw", wavSpec{format: wavFormatMuLaw, bits: 16, data: []byte{1, 2}}.bytes(), ErrUnsupportedWAV, "bits per sample"},
		{"float", wavSpec{format: 3, bits: 32, data: make([]byte, 4)}.bytes(), ErrUnsupportedWAV, "audio format"},
		{"GSM", wavSpec{format: 0x31, data: nil}.bytes(), ErrUnsupportedWAV, "audio format"},
		{"extensible float", wavSpec{noFmt: true, between: extensibleFmt(3), data: pcm16(1)}.bytes(), ErrUnsupportedWAV, "audio format"},
		{"extensible too short", wavSpec{format: wavFormatExtensible, fmtSize: 18, data: pcm16(1)}.bytes(), ErrMalformedWAV, "fmt chunk"},
		{"bad block align", wavSpec{blockAlign: 4, data: pcm16(1, 2)}.bytes(), ErrMalformedWAV, "block align"},
		{"two fmt chunks", wavSpec{between: extensibleFmt(1), data: pcm16(1)}.bytes(), ErrMalformedWAV, "fmt chunk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadWAV(bytes.NewReader(tt.wav))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, tt.kind) {
				t.Fatalf("error %v is not %v", err, tt.kind)
			}
			var we *WAVError
			if !errors.As(err, &we) {
				t.Fatalf("error %T is not *WAVError", err)
			}
			if we.Field != tt.field {
				t.Fatalf("field %q, want %q (%v)", we.Field, tt.field, err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("message %q does not name %q", err, tt.field)
			}
		})
	}
}

func TestLoadWAVErrorMessage(t *testing.T) {
	_, err := LoadWAV(bytes.NewReader(wavSpec{rate: 44100, data: pcm16(1)}.bytes()))
	want := "audio: unsupported WAV format: sample rate: 44100 Hz, want 8000 Hz"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

func TestLoadWAVFile(t *testing.T) {
	dir := t.TempDir()
	want := &Clip{Samples: []int16{1, -2, 300, -32768, 32767}}
	var buf bytes.Buffer
	if err := WriteWAV(&buf, want); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "a.wav")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadWAVFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Samples) != len(want.Samples) {
		t.Fatalf("got %v", got.Samples)
	}
	for i := range want.Samples {
		if got.Samples[i] != want.Samples[i] {
			t.Fatalf("got %v, want %v", got.Samples, want.Samples)
		}
	}
	if _, err := LoadWAVFile(filepath.Join(dir, "missing.wav")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.wav")
	if err := os.WriteFile(bad, []byte("nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadWAVFile(bad); !errors.Is(err, ErrMalformedWAV) || !strings.Contains(err.Error(), "bad.wav") {
		t.Fatalf("bad file: %v", err)
	}
}

// Fixtures under the repository's testdata/audio (written by `make audio`)
// must load; skipped when none are present.
func TestLoadWAVFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "audio", "*.wav"))
	if len(files) == 0 {
		t.Skip("no WAV fixtures in testdata/audio")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := LoadWAVFile(f)
			if err != nil {
				// Fixtures in other formats are allowed; they must fail
				// with our typed error, never anything else.
				var we *WAVError
				if !errors.As(err, &we) {
					t.Fatalf("untyped error: %v", err)
				}
				t.Logf("not loadable (expected for non-8kHz fixtures): %v", err)
				return
			}
			if len(c.Samples) == 0 {
				t.Log("empty clip")
			}
		})
	}
}

func TestClipFrames(t *testing.T) {
	tests := []struct {
		name    string
		samples int
		frames  int
	}{
		{"empty", 0, 0},
		{"one sample", 1, 1},
		{"exact frame", FrameSamples, 1},
		{"frame and one", FrameSamples + 1, 2},
		{"one second", SampleRate, 50},
	}
	for _, enc := range []Encoding{PCMU, PCMA} {
		for _, tt := range tests {
			t.Run(enc.String()+"/"+tt.name, func(t *testing.T) {
				c := &Clip{Samples: make([]int16, tt.samples)}
				for i := range c.Samples {
					c.Samples[i] = int16(i*37 - 3000)
				}
				fr := c.Frames(enc)
				if len(fr) != tt.frames {
					t.Fatalf("got %d frames, want %d", len(fr), tt.frames)
				}
				for i, f := range fr {
					if len(f) != FrameSamples {
						t.Fatalf("frame %d has %d bytes", i, len(f))
					}
					for j, b := range f {
						k := i*FrameSamples + j
						want := enc.SilenceByte()
						if k < tt.samples {
							want = enc.Encode(c.Samples[k])
						}
						if b != want {
							t.Fatalf("frame %d byte %d: %#x, want %#x", i, j, b, want)
						}
					}
				}
				// Appending to one frame must not overwrite the next.
				if len(fr) > 1 {
					_ = append(fr[0], 0x00)
					if fr[1][0] != enc.Encode(c.Samples[FrameSamples]) {
						t.Fatal("frames share capacity")
					}
				}
			})
		}
	}
	if d := (&Clip{Samples: make([]int16, 12000)}).Duration(); d.Seconds() != 1.5 {
		t.Fatalf("Duration %v", d)
	}
}

func FuzzLoadWAV(f *testing.F) {
	f.Add(wavSpec{data: pcm16(1, 2, 3)}.bytes())
	f.Add(wavSpec{format: wavFormatMuLaw, bits: 8, data: []byte{0xFF, 0x00, 0x80}}.bytes())
	f.Add(wavSpec{format: wavFormatALaw, bits: 8, data: []byte{0xD5}, dataSize: u32(0xFFFFFFFF)}.bytes())
	f.Add(wavSpec{before: []byte("LIST\x01\x00\x00\x00x\x00"), data: pcm16(7)}.bytes())
	f.Add(wavSpec{noFmt: true, between: extensibleFmt(1), data: pcm16(1)}.bytes())
	f.Add(wavSpec{rate: 44100, channels: 2}.bytes())
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVE"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := LoadWAV(bytes.NewReader(b))
		if err != nil {
			var we *WAVError
			if !errors.As(err, &we) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			if !errors.Is(err, ErrMalformedWAV) && !errors.Is(err, ErrUnsupportedWAV) {
				t.Fatalf("error of unknown kind: %v", err)
			}
			return
		}
		// Never more samples than input bytes could hold.
		if len(c.Samples) > len(b) {
			t.Fatalf("%d samples from %d bytes", len(c.Samples), len(b))
		}
		for _, fr := range c.Frames(PCMU) {
			if len(fr) != FrameSamples {
				t.Fatal("bad frame length")
			}
		}
	})
}
