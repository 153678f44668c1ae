package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Sentinels for errors.Is: a WAV is either broken (not a WAV, truncated,
// inconsistent) or a valid WAV in a format we do not play.
var (
	ErrMalformedWAV   = errors.New("malformed WAV")
	ErrUnsupportedWAV = errors.New("unsupported WAV format")
)

// WAVError says what is wrong with a WAV file. Kind is ErrMalformedWAV or
// ErrUnsupportedWAV; Field names the part of the file (e.g. "sample rate").
type WAVError struct {
	Kind   error
	Field  string
	Detail string
}

func (e *WAVError) Error() string {
	return fmt.Sprintf("audio: %v: %s: %s", e.Kind, e.Field, e.Detail)
}

func (e *WAVError) Unwrap() error { return e.Kind }

func malformed(field, format string, args ...any) error {
	return &WAVError{Kind: ErrMalformedWAV, Field: field, Detail: fmt.Sprintf(format, args...)}
}

func unsupported(field, format string, args ...any) error {
	return &WAVError{Kind: ErrUnsupportedWAV, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// Audio format codes from the WAVE fmt chunk.
const (
	wavFormatPCM        = 1
	wavFormatALaw       = 6
	wavFormatMuLaw      = 7
	wavFormatExtensible = 0xFFFE
)

// MaxWAVBytes caps the audio data LoadWAV reads. Prompts are seconds long;
// the cap keeps a hostile or mistaken file (a header claiming 4 GiB) from
// exhausting memory. 16 MiB is about 17 minutes of 16-bit 8 kHz audio.
const MaxWAVBytes = 16 << 20

// Audio parameters of everything in this package.
const (
	SampleRate    = 8000
	FrameSamples  = 160 // one 20 ms frame; one byte per sample in G.711
	FrameDuration = 20 * time.Millisecond
)

// Clip is decoded audio: 16-bit linear samples, 8 kHz, mono.
type Clip struct {
	Samples []int16
}

// Duration is the clip's play time.
func (c *Clip) Duration() time.Duration {
	return time.Duration(len(c.Samples)) * time.Second / SampleRate
}

// Frames encodes the clip as 20 ms G.711 frames of FrameSamples bytes each;
// the last frame is padded with silence. An empty clip gives no frames.
func (c *Clip) Frames(enc Encoding) [][]byte {
	return framesOf(c.Samples, enc)
}

func framesOf(samples []int16, enc Encoding) [][]byte {
	n := (len(samples) + FrameSamples - 1) / FrameSamples
	if n == 0 {
		return nil
	}
	// One backing array keeps a long prompt to two allocations.
	buf := make([]byte, n*FrameSamples)
	w := Encode(buf, samples, enc)
	sil := enc.SilenceByte()
	for i := w; i < len(buf); i++ {
		buf[i] = sil
	}
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = buf[i*FrameSamples : (i+1)*FrameSamples : (i+1)*FrameSamples]
	}
	return frames
}

// LoadWAVFile reads a WAV file; see LoadWAV.
func LoadWAVFile(path string) (*Clip, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audio: open WAV: %w", err)
	}
	defer f.Close()
	c, err := LoadWAV(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

type wavFormat struct {
	format     uint16
	channels   uint16
	sampleRate uint32
	blockAlign uint16
	bits       uint16
}

// LoadWAV reads a RIFF/WAVE stream that is 8 kHz mono and either 16-bit
// little-endian PCM or 8-bit G.711 (A-law or mu-law). Anything else is a
// *WAVError naming the offending field, so a user who converted a prompt
// the wrong way learns exactly what to fix. Unknown chunks (LIST, fact, ...)
// are skipped.
func LoadWAV(r io.Reader) (*Clip, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, malformed("RIFF header", "file is %s", shortRead(err))
	}
	if string(hdr[0:4]) != "RIFF" {
		if string(hdr[0:4]) == "RF64" || string(hdr[0:4]) == "RIFX" {
			return nil, unsupported("container", "%q files are not supported, want little-endian RIFF", hdr[0:4])
		}
		return nil, malformed("RIFF header", "not a RIFF file (starts with %q)", hdr[0:4])
	}
	if string(hdr[8:12]) != "WAVE" {
		return nil, malformed("RIFF header", "RIFF type is %q, want \"WAVE\"", hdr[8:12])
	}

	var fmtc *wavFormat
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if errors.Is(err, io.EOF) {
				if fmtc == nil {
					return nil, malformed("fmt chunk", "missing")
				}
				return nil, malformed("data chunk", "missing")
			}
			return nil, malformed("chunk header", "%s", shortRead(err))
		}
		id := string(ch[0:4])
		size := binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if fmtc != nil {
				return nil, malformed("fmt chunk", "appears twice")
			}
			f, err := readFmt(r, size)
			if err != nil {
				return nil, err
			}
			fmtc = f
		case "data":
			if fmtc == nil {
				return nil, malformed("fmt chunk", "missing before data chunk")
			}
			return readData(r, size, fmtc)
		default:
			if err := skip(r, int64(size)+int64(size&1)); err != nil {
				return nil, malformed(fmt.Sprintf("%q chunk", id), "%s", shortRead(err))
			}
		}
	}
}

func readFmt(r io.Reader, size uint32) (*wavFormat, error) {
	if size < 16 {
		return nil, malformed("fmt chunk", "size %d, want at least 16", size)
	}
	if size > 1024 {
		return nil, malformed("fmt chunk", "size %d is implausibly large", size)
	}
	b := make([]byte, int(size)+int(size&1))
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, malformed("fmt chunk", "%s", shortRead(err))
	}
	f := &wavFormat{
		format:     binary.LittleEndian.Uint16(b[0:2]),
		channels:   binary.LittleEndian.Uint16(b[2:4]),
		sampleRate: binary.LittleEndian.Uint32(b[4:8]),
		blockAlign: binary.LittleEndian.Uint16(b[12:14]),
		bits:       binary.LittleEndian.Uint16(b[14:16]),
	}
	if f.format == wavFormatExtensible {
		// WAVE_FORMAT_EXTENSIBLE carries the real format code in the first
		// two bytes of the SubFormat GUID (offset 24 of the chunk).
		if size < 40 {
			return nil, malformed("fmt chunk", "extensible format with size %d, want 40", size)
		}
		f.format = binary.LittleEndian.Uint16(b[24:26])
	}
	switch f.format {
	case wavFormatPCM:
		if f.bits != 16 {
			return nil, unsupported("bits per sample", "%d-bit PCM, want 16-bit", f.bits)
		}
	case wavFormatALaw, wavFormatMuLaw:
		if f.bits != 8 {
			return nil, unsupported("bits per sample", "%d-bit G.711, want 8-bit", f.bits)
		}
	default:
		return nil, unsupported("audio format", "format code %d (%s), want 1 (PCM), 6 (A-law) or 7 (mu-law)",
			f.format, formatName(f.format))
	}
	if f.channels != 1 {
		return nil, unsupported("channels", "%d channels, want 1 (mono)", f.channels)
	}
	if f.sampleRate != SampleRate {
		return nil, unsupported("sample rate", "%d Hz, want %d Hz", f.sampleRate, SampleRate)
	}
	if want := f.bits / 8; f.blockAlign != want {
		return nil, malformed("block align", "%d, want %d", f.blockAlign, want)
	}
	return f, nil
}

func formatName(code uint16) string {
	switch code {
	case 2:
		return "MS ADPCM"
	case 3:
		return "IEEE float"
	case 0x11:
		return "IMA ADPCM"
	case 0x31:
		return "GSM 6.10"
	case 0x55:
		return "MP3"
	}
	return "unknown"
}

func readData(r io.Reader, size uint32, f *wavFormat) (*Clip, error) {
	// Streaming writers that cannot seek back leave the size as 0xFFFFFFFF
	// (or 0); then the data runs to the end of the file.
	toEOF := size == 0xFFFFFFFF || size == 0
	limit := int64(size)
	if toEOF || limit > MaxWAVBytes {
		limit = MaxWAVBytes
	}
	// Read through a LimitReader into a growing buffer rather than
	// allocating the declared size up front: the header may lie.
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, malformed("data chunk", "read: %v", err)
	}
	if n > limit {
		if toEOF || int64(size) > MaxWAVBytes {
			return nil, unsupported("data chunk", "longer than %d bytes", MaxWAVBytes)
		}
		n = limit // the rest is trailing chunks, which we ignore
	}
	if !toEOF && n < int64(size) {
		return nil, malformed("data chunk", "truncated: header says %d bytes, file has %d", size, n)
	}
	data := buf.Bytes()[:n]
	switch f.format {
	case wavFormatPCM:
		if len(data)%2 != 0 {
			if !toEOF {
				return nil, malformed("data chunk", "odd length %d for 16-bit samples", len(data))
			}
			data = data[:len(data)-1]
		}
		s := make([]int16, len(data)/2)
		for i := range s {
			s[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
		}
		return &Clip{Samples: s}, nil
	default:
		enc := PCMU
		if f.format == wavFormatALaw {
			enc = PCMA
		}
		s := make([]int16, len(data))
		Decode(s, data, enc)
		return &Clip{Samples: s}, nil
	}
}

func skip(r io.Reader, n int64) error {
	// Read rather than seek: seeking past the end succeeds silently and
	// would blame the wrong chunk, and chunks before the data are small.
	m, err := io.CopyN(io.Discard, r, n)
	if err != nil && m < n {
		return io.ErrUnexpectedEOF
	}
	return nil
}

func shortRead(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "truncated"
	}
	return err.Error()
}

// WriteWAV writes samples as a 16-bit 8 kHz mono PCM WAV. It exists for
// tests and tools that need a fixture; the server never writes WAVs.
func WriteWAV(w io.Writer, c *Clip) error {
	n := len(c.Samples) * 2
	b := make([]byte, 44+n)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], wavFormatPCM)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], SampleRate)
	binary.LittleEndian.PutUint32(b[28:], SampleRate*2)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(n))
	for i, s := range c.Samples {
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(s))
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("audio: write WAV: %w", err)
	}
	return nil
}
