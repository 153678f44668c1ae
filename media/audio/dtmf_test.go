package audio

import (
	"errors"
	"testing"
)

func TestParseDTMF(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    DTMFEvent
		wantErr error
	}{
		{"digit 5 end vol 10 dur 800", []byte{0x05, 0x8A, 0x03, 0x20}, DTMFEvent{Event: 5, End: true, Volume: 10, Duration: 800}, nil},
		{"star start", []byte{10, 0x00, 0x00, 0xA0}, DTMFEvent{Event: 10, Volume: 0, Duration: 160}, nil},
		{"reserved bit ignored", []byte{11, 0x7F, 0xFF, 0xFF}, DTMFEvent{Event: 11, Volume: 63, Duration: 65535}, nil},
		{"extra bytes ignored", []byte{1, 0x80, 0, 1, 9, 9}, DTMFEvent{Event: 1, End: true, Duration: 1}, nil},
		{"empty", nil, DTMFEvent{}, ErrDTMFShort},
		{"three bytes", []byte{1, 2, 3}, DTMFEvent{}, ErrDTMFShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDTMF(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDTMFMarshal(t *testing.T) {
	tests := []struct {
		name    string
		ev      DTMFEvent
		buf     int
		want    []byte
		wantErr error
	}{
		{"end", DTMFEvent{Event: 5, End: true, Volume: 10, Duration: 800}, 4, []byte{0x05, 0x8A, 0x03, 0x20}, nil},
		{"start", DTMFEvent{Event: 11, Volume: 63, Duration: 160}, 8, []byte{11, 63, 0, 160}, nil},
		{"short buffer", DTMFEvent{}, 3, nil, ErrDTMFBuffer},
		{"volume too high", DTMFEvent{Volume: 64}, 4, nil, ErrDTMFVolume},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, tt.buf)
			n, err := tt.ev.MarshalTo(b)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if n != 4 || string(b[:n]) != string(tt.want) {
				t.Fatalf("got %d %x, want %x", n, b[:n], tt.want)
			}
		})
	}
}

func TestDigits(t *testing.T) {
	for i, r := range "0123456789*#ABCD" {
		ev, ok := DigitEvent(r)
		if !ok || int(ev) != i {
			t.Fatalf("DigitEvent(%q) = %d %v", r, ev, ok)
		}
		back, ok := EventDigit(ev)
		if !ok || back != r {
			t.Fatalf("EventDigit(%d) = %q %v", ev, back, ok)
		}
		if d, _ := (DTMFEvent{Event: ev}).Digit(); d != r {
			t.Fatalf("Digit() = %q", d)
		}
	}
	for _, r := range "abcd" {
		if ev, ok := DigitEvent(r); !ok || ev != uint8(r-'a')+12 {
			t.Fatalf("lower-case %q: %d %v", r, ev, ok)
		}
	}
	for _, r := range "E#"[:1] + "x +\n" {
		if _, ok := DigitEvent(r); ok {
			t.Fatalf("%q accepted", r)
		}
	}
	for _, ev := range []uint8{16, 32, 255} {
		if _, ok := EventDigit(ev); ok {
			t.Fatalf("event %d is a digit", ev)
		}
	}
}

func FuzzParseDTMF(f *testing.F) {
	f.Add([]byte{0x05, 0x8A, 0x03, 0x20})
	f.Add([]byte{10, 0x00, 0x00, 0xA0})
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0x00})
	f.Add([]byte{1, 2})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseDTMF(b)
		if err != nil {
			if len(b) >= DTMFPayloadLen {
				t.Fatalf("rejected %d bytes: %v", len(b), err)
			}
			return
		}
		var out [DTMFPayloadLen]byte
		n, err := ev.MarshalTo(out[:])
		if err != nil || n != DTMFPayloadLen {
			t.Fatalf("re-marshal: %d %v", n, err)
		}
		// Only the reserved bit may differ.
		want := [4]byte{b[0], b[1] &^ 0x40, b[2], b[3]}
		if out != want {
			t.Fatalf("round trip %x -> %x", b[:4], out)
		}
	})
}
