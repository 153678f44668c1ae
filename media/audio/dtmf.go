package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// DTMFPayloadLen is the size of one RFC 4733 telephone-event payload.
const DTMFPayloadLen = 4

// Errors from ParseDTMF and MarshalTo.
var (
	ErrDTMFShort  = errors.New("audio: telephone-event payload shorter than 4 bytes")
	ErrDTMFBuffer = errors.New("audio: buffer too small for telephone-event payload")
	ErrDTMFVolume = errors.New("audio: telephone-event volume above 63")
)

// DTMFEvent is one RFC 4733 telephone-event payload (section 2.3). Volume is
// the power level in -dBm0 (0..63). Duration is in timestamp units (1/8000 s
// at 8 kHz) since the start of the event.
type DTMFEvent struct {
	Event    uint8
	End      bool
	Volume   uint8
	Duration uint16
}

// ParseDTMF decodes the first telephone-event of payload. Longer payloads are
// accepted and the rest ignored: some senders pad, and only the first event
// matters for digit collection. The reserved bit is ignored, as RFC 4733
// tells receivers to.
func ParseDTMF(payload []byte) (DTMFEvent, error) {
	if len(payload) < DTMFPayloadLen {
		return DTMFEvent{}, fmt.Errorf("%w (got %d)", ErrDTMFShort, len(payload))
	}
	return DTMFEvent{
		Event:    payload[0],
		End:      payload[1]&0x80 != 0,
		Volume:   payload[1] & 0x3F,
		Duration: binary.BigEndian.Uint16(payload[2:4]),
	}, nil
}

// MarshalTo writes the 4-byte payload into b and returns 4.
func (e DTMFEvent) MarshalTo(b []byte) (int, error) {
	if len(b) < DTMFPayloadLen {
		return 0, ErrDTMFBuffer
	}
	if e.Volume > 0x3F {
		return 0, fmt.Errorf("%w (got %d)", ErrDTMFVolume, e.Volume)
	}
	b[0] = e.Event
	b[1] = e.Volume
	if e.End {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:4], e.Duration)
	return DTMFPayloadLen, nil
}

// Digit returns the keypad character of the event, if it is one.
func (e DTMFEvent) Digit() (rune, bool) { return EventDigit(e.Event) }

const dtmfDigits = "0123456789*#ABCD"

// EventDigit maps an RFC 4733 event code (0-9, 10 = '*', 11 = '#', 12-15 =
// 'A'-'D') to its keypad character. Other events (flash, tones) are not
// digits.
func EventDigit(ev uint8) (rune, bool) {
	if int(ev) < len(dtmfDigits) {
		return rune(dtmfDigits[ev]), true
	}
	return 0, false
}

// DigitEvent is the inverse of EventDigit; 'a'-'d' are accepted too.
func DigitEvent(r rune) (uint8, bool) {
	switch {
	case r >= '0' && r <= '9':
		return uint8(r - '0'), true
	case r == '*':
		return 10, true
	case r == '#':
		return 11, true
	case r >= 'A' && r <= 'D':
		return uint8(r-'A') + 12, true
	case r >= 'a' && r <= 'd':
		return uint8(r-'a') + 12, true
	}
	return 0, false
}
