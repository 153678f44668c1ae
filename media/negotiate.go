package media

import (
	"fmt"

	"github.com/pion/sdp/v3"
)

// Offer returns our SDP offer: every configured codec in order, and
// telephone-event/8000 as payload type 101, ptime 20.
func (s *Session) Offer() ([]byte, error) {
	return s.offer(s.pool.set.codecs, false)
}

// OfferCodec offers c first, then the pool's other codecs. The bridge offers
// the second leg the codec the first one settled on, so that no transcoding is
// needed, while a trunk that insists on the other G.711 law can still answer
// with it (the relay then transcodes).
func (s *Session) OfferCodec(c Codec) ([]byte, error) {
	known, ok := codecByName(c.Name)
	if !ok {
		return nil, fmt.Errorf("media: offer codec %q: %w", c.Name, ErrNoCommonCodec)
	}
	codecs := []Codec{known}
	for _, o := range s.pool.set.codecs {
		if o.Name != known.Name {
			codecs = append(codecs, o)
		}
	}
	return s.offer(codecs, true)
}

func (s *Session) offer(codecs []Codec, oursFirst bool) ([]byte, error) {
	if s.isClosed() {
		return nil, fmt.Errorf("media: offer: %w", ErrClosed)
	}
	formats := make([]format, 0, len(codecs)+1)
	for _, c := range codecs {
		formats = append(formats, format{pt: c.PT, name: c.Name, rate: c.ClockRate})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out, err := s.writeSDP([]*sdp.MediaDescription{s.audioMedia(formats, dtmfPT, "sendrecv")})
	if err != nil {
		return nil, err
	}
	s.offered = append(formats, format{pt: dtmfPT, name: teName, rate: 8000})
	s.oursFirst = oursFirst
	return out, nil
}

// SetAnswer applies the far end's answer to our last offer. It may be called
// again for the same offer (183 then 200) or after a re-offer; a relay the
// session is in keeps running and follows the new address and codec.
func (s *Session) SetAnswer(answer []byte) error {
	if s.isClosed() {
		return fmt.Errorf("media: set answer: %w", ErrClosed)
	}
	sd, err := parseSDP(answer)
	if err != nil {
		return fmt.Errorf("media: answer: %w", err)
	}
	al, err := findAudio(sd)
	if err != nil {
		return fmt.Errorf("media: answer: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	offered := s.offered
	if offered == nil { // answer without an offer of ours: judge by config
		for _, c := range s.pool.set.codecs {
			offered = append(offered, format{pt: c.PT, name: c.Name, rate: c.ClockRate})
		}
	}
	// The answerer's order is its preference, except after OfferCodec: we may
	// send with any codec the answer lists (RFC 3264 6.1), and taking the other
	// leg's codec when the answerer allows it avoids transcoding.
	for _, f := range al.formats {
		for _, o := range offered {
			if f.name == o.name && f.rate == o.rate && f.name != teName {
				if s.oursFirst && o.name != offered[0].name && answerHas(al.formats, offered[0]) {
					continue
				}
				c, _ := codecByName(f.name)
				s.publish(newRemote(al, c, f, offered))
				return nil
			}
		}
	}
	return fmt.Errorf("media: answer: %w: answer lists %v", ErrNoCommonCodec, formatNames(al.formats))
}

// AnswerOffer applies an offer from the far end (re-INVITE or UPDATE: hold,
// unhold, new address, session refresh) and returns our answer. The codec in
// use is kept when the offer still has it, so a re-INVITE never forces
// transcoding on a running call.
func (s *Session) AnswerOffer(offer []byte) ([]byte, error) {
	if s.isClosed() {
		return nil, fmt.Errorf("media: answer offer: %w", ErrClosed)
	}
	sd, err := parseSDP(offer)
	if err != nil {
		return nil, fmt.Errorf("media: offer: %w", err)
	}
	al, err := findAudio(sd)
	if err != nil {
		return nil, fmt.Errorf("media: offer: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	prefer := s.pool.set.codecs
	if s.codec != (Codec{}) {
		prefer = append([]Codec{s.codec}, prefer...)
	}
	var chosen Codec
	var cf format
	found := false
	for _, c := range prefer {
		if cf, found = al.supported(c); found {
			chosen = c
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("media: offer: %w: offer lists %v", ErrNoCommonCodec, formatNames(al.formats))
	}
	te := -1
	ours := []format{cf}
	if pt, ok := al.dtmf(); ok {
		te = int(pt)
		ours = append(ours, format{pt: pt, name: teName, rate: 8000})
	}
	media := make([]*sdp.MediaDescription, len(sd.MediaDescriptions))
	for i, md := range sd.MediaDescriptions {
		if i == al.index {
			media[i] = s.audioMedia([]format{cf}, te, answerDirection(al.dir))
		} else {
			media[i] = rejectedMedia(md)
		}
	}
	out, err := s.writeSDP(media)
	if err != nil {
		return nil, err
	}
	s.publish(newRemote(al, chosen, cf, ours))
	return out, nil
}

// publish makes a new far-end state visible to the readers and the relay.
// The latched address survives an SDP that keeps the announced address (a
// session refresh, the 200 after a 183 from the same place) or holds with
// 0.0.0.0, so audio from behind a NAT does not go through probation again.
// Call with s.mu held.
func (s *Session) publish(rs *remote) {
	d := &dest{rs: rs, rtp: rs.rtp, announced: rs.rtp}
	if old := s.dst.Load(); old != nil {
		if rs.rtp.Addr().IsUnspecified() {
			d.announced = old.announced
		}
		if d.announced == old.announced {
			d.rtp = old.rtp
		}
	}
	s.codec = rs.codec
	s.dst.Store(d)
}

func formatNames(fs []format) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		if f.name == "" {
			out = append(out, fmt.Sprint(f.pt))
		} else {
			out = append(out, fmt.Sprintf("%d %s/%d", f.pt, f.name, f.rate))
		}
	}
	return out
}

func answerHas(formats []format, o format) bool {
	for _, f := range formats {
		if f.name == o.name && f.rate == o.rate {
			return true
		}
	}
	return false
}
