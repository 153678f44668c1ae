package media

import (
	"fmt"
	"strings"

	"github.com/callbackd/callbackd/media/audio"
)

// Codec is an audio codec as named in SDP. PT is its static RTP payload type.
type Codec struct {
	Name      string
	PT        uint8
	ClockRate uint32
}

// The codecs callbackd speaks. Both are G.711 at 8 kHz, one byte per sample,
// so converting between them is a table lookup.
var (
	PCMU = Codec{Name: "PCMU", PT: 0, ClockRate: 8000}
	PCMA = Codec{Name: "PCMA", PT: 8, ClockRate: 8000}
)

// dtmfPT is the payload type we give telephone-event/8000 in our offers.
const dtmfPT = 101

// kind is what a payload type carries on one leg; the relay looks it up per
// packet in a 128-entry table.
type kind uint8

const (
	kindNone kind = iota
	kindPCMU
	kindPCMA
	kindDTMF
)

func (c Codec) kind() kind {
	switch c.Name {
	case PCMU.Name:
		return kindPCMU
	case PCMA.Name:
		return kindPCMA
	}
	return kindNone
}

func (c Codec) encoding() audio.Encoding {
	if c.kind() == kindPCMA {
		return audio.PCMA
	}
	return audio.PCMU
}

// codecByName finds a codec we support by its SDP encoding name.
func codecByName(name string) (Codec, bool) {
	switch strings.ToUpper(name) {
	case PCMU.Name:
		return PCMU, true
	case PCMA.Name:
		return PCMA, true
	}
	return Codec{}, false
}

func parseCodecs(names []string) ([]Codec, error) {
	if len(names) == 0 {
		return []Codec{PCMU, PCMA}, nil
	}
	out := make([]Codec, 0, len(names))
	for _, n := range names {
		c, ok := codecByName(n)
		if !ok {
			return nil, fmt.Errorf("media: codec %q not supported (PCMU, PCMA)", n)
		}
		for _, have := range out {
			if have == c {
				return nil, fmt.Errorf("media: codec %q listed twice", n)
			}
		}
		out = append(out, c)
	}
	return out, nil
}
