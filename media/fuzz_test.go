package media

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// FuzzParseSDP feeds far-end SDP to SetAnswer and AnswerOffer: never a
// panic, only typed errors, and an answer we give always parses.
func FuzzParseSDP(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "sdp", "*.sdp"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(""))
	f.Add([]byte("v=0\r\nm=audio 1 RTP/AVP 0\r\n"))
	f.Add([]byte("v=0\r\no=- 0 0 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4/127/3\r\nt=0 0\r\nm=audio 9/2 RTP/AVP 0 300 -1 x\r\na=rtpmap:0\r\na=rtcp:abc\r\n"))
	p := newTestPool(f, 1, nil)
	s := newTestSession(f, p)
	if _, err := s.Offer(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		typed := func(err error) bool {
			return err == nil || errors.Is(err, ErrBadSDP) || errors.Is(err, ErrNoCommonCodec)
		}
		if err := s.SetAnswer(in); !typed(err) {
			t.Fatalf("SetAnswer: untyped error %v", err)
		}
		ans, err := s.AnswerOffer(in)
		if !typed(err) {
			t.Fatalf("AnswerOffer: untyped error %v", err)
		}
		if err == nil {
			var sd sdp.SessionDescription
			if err := sd.Unmarshal(ans); err != nil {
				t.Fatalf("our answer does not parse: %v\n%s", err, ans)
			}
		}
		if once := tidySDP(in); tidySDP([]byte(once)) != once {
			t.Fatalf("tidySDP not stable on %q", in)
		}
	})
}

// FuzzRTPHeader runs arbitrary datagrams through the relay's per-packet
// path: the header parser must agree with pion/rtp, stay in bounds, survive
// its own rewrite, and the full handler must not panic.
func FuzzRTPHeader(f *testing.F) {
	seed := func(p *rtp.Packet) {
		b, err := p.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed(audioPacket(0, 1, 2, 3, frame(0)))
	seed(audioPacket(101, 1, 2, 3, []byte{5, 0x8a, 0, 160}))
	seed(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, CSRC: []uint32{1, 2}}, Payload: frame(1)})
	ext := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0}, Payload: frame(2)}
	_ = ext.Header.SetExtension(1, []byte{1, 2, 3})
	seed(ext)
	seed(&rtp.Packet{Header: rtp.Header{Version: 2, Padding: true, PayloadType: 0}, Payload: frame(3), PaddingSize: 4})
	f.Add([]byte{0x80, 0, 0})
	f.Add([]byte{0xb0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0xff, 0xff})
	f.Add([]byte{0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(bytes.Repeat([]byte{0xff}, 40))

	c := newCall(f, callOpts{})
	r := &rtpReader{s: c.a, window: int64(c.pool.latchWindow)}
	f.Fuzz(func(t *testing.T, in []byte) {
		h, ok := parseRTP(in)
		var pp rtp.Packet
		perr := pp.Unmarshal(bytes.Clone(in))
		if ok {
			if h.off < 12 || h.off > h.end || h.end > len(in) {
				t.Fatalf("bounds off=%d end=%d len=%d", h.off, h.end, len(in))
			}
			if perr == nil && (pp.SequenceNumber != h.seq || pp.Timestamp != h.ts || pp.SSRC != h.ssrc ||
				pp.PayloadType != h.pt || pp.Marker != h.marker || !bytes.Equal(pp.Payload, in[h.off:h.end])) {
				t.Fatalf("disagrees with pion: ours %+v, pion %+v", h, pp.Header)
			}
			b := bytes.Clone(in)
			writeRTPHeader(b, !h.marker, 96, h.seq+1, h.ts+160, 0xfeed)
			h2, ok2 := parseRTP(b)
			if !ok2 || h2.pt != 96 || h2.seq != h.seq+1 || h2.ssrc != 0xfeed || h2.off != h.off || h2.end != h.end {
				t.Fatalf("rewrite broke the packet: %+v", h2)
			}
		} else if perr == nil && len(in) >= 12 && in[0]>>6 == 2 && (pp.PayloadType < 72 || pp.PayloadType > 76) {
			t.Fatalf("pion accepts what we refuse: %x", in)
		}
		r.handle(bytes.Clone(in), c.pa.addr)
	})
}
