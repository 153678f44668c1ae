package media

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

func readSDP(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "sdp", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t testing.TB, b []byte) *sdp.SessionDescription {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(b); err != nil {
		t.Fatalf("our own SDP does not parse: %v\n%s", err, b)
	}
	return &sd
}

func attr(md *sdp.MediaDescription, key string) []string {
	var out []string
	for _, a := range md.Attributes {
		if a.Key == key {
			out = append(out, a.Value)
		}
	}
	return out
}

func TestOffer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		mod         func(*Config)
		codec       *Codec // OfferCodec instead of Offer
		wantFormats []string
		wantAddr    string // "" = the pool's IP
	}{
		{name: "default", wantFormats: []string{"0", "8", "101"}},
		{name: "config order", mod: func(c *Config) { c.Codecs = []string{"PCMA", "PCMU"} }, wantFormats: []string{"8", "0", "101"}},
		{name: "second leg PCMA first", codec: &PCMA, wantFormats: []string{"8", "0", "101"}},
		{name: "second leg PCMU first", codec: &PCMU, wantFormats: []string{"0", "8", "101"}},
		{name: "public ip", mod: func(c *Config) { c.PublicIP = "203.0.113.77" }, wantFormats: []string{"0", "8", "101"}, wantAddr: "203.0.113.77"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newTestPool(t, 1, tt.mod)
			s := newTestSession(t, p)
			var b []byte
			var err error
			if tt.codec != nil {
				b, err = s.OfferCodec(*tt.codec)
			} else {
				b, err = s.Offer()
			}
			if err != nil {
				t.Fatal(err)
			}
			sd := mustParse(t, b)
			want := tt.wantAddr
			if want == "" {
				want = p.set.ip.String()
			}
			if got := sd.ConnectionInformation.Address.Address; got != want {
				t.Errorf("c= %s, want %s", got, want)
			}
			if sd.Origin.UnicastAddress != want {
				t.Errorf("o= address %s, want %s", sd.Origin.UnicastAddress, want)
			}
			if len(sd.MediaDescriptions) != 1 {
				t.Fatalf("%d m= lines", len(sd.MediaDescriptions))
			}
			md := sd.MediaDescriptions[0]
			if md.MediaName.Port.Value != int(s.LocalAddr().Port()) {
				t.Errorf("m= port %d, want %d", md.MediaName.Port.Value, s.LocalAddr().Port())
			}
			if !slices.Equal(md.MediaName.Formats, tt.wantFormats) {
				t.Errorf("formats %v, want %v", md.MediaName.Formats, tt.wantFormats)
			}
			if !slices.Contains(attr(md, "rtpmap"), "101 telephone-event/8000") {
				t.Errorf("no telephone-event rtpmap in %v", attr(md, "rtpmap"))
			}
			if got := attr(md, "ptime"); !slices.Equal(got, []string{"20"}) {
				t.Errorf("ptime %v", got)
			}
			if _, ok := md.Attribute("sendrecv"); !ok {
				t.Error("no a=sendrecv")
			}
		})
	}
}

func TestOfferCodecUnknown(t *testing.T) {
	t.Parallel()
	s := newTestSession(t, newTestPool(t, 1, nil))
	if _, err := s.OfferCodec(Codec{Name: "G729", PT: 18, ClockRate: 8000}); !errors.Is(err, ErrNoCommonCodec) {
		t.Errorf("err = %v, want ErrNoCommonCodec", err)
	}
}

func TestSDPVersion(t *testing.T) {
	t.Parallel()
	s := newTestSession(t, newTestPool(t, 1, nil))
	version := func(b []byte) uint64 { return mustParse(t, b).Origin.SessionVersion }
	o1, _ := s.Offer()
	o2, _ := s.Offer()
	if version(o1) != version(o2) {
		t.Errorf("unchanged offer changed version %d -> %d", version(o1), version(o2))
	}
	a1, err := s.AnswerOffer(readSDP(t, "hold-sendonly.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	if version(a1) != version(o2)+1 {
		t.Errorf("changed SDP: version %d, want %d", version(a1), version(o2)+1)
	}
	if mustParse(t, a1).Origin.SessionID != mustParse(t, o1).Origin.SessionID {
		t.Error("session id changed")
	}
}

// corpus lists what every file in testdata/sdp must give as an answer to
// our full offer. A new file without a line here fails the test.
var corpus = map[string]struct {
	err    error
	codec  Codec
	rtp    string
	rtcp   string
	dtmfPT int // -1: none
	sends  bool
	recvs  bool
}{
	"asterisk-pcmu.sdp":      {codec: PCMU, rtp: "203.0.113.10:17998", dtmfPT: 101, sends: true, recvs: true},
	"freeswitch-pcma.sdp":    {codec: PCMA, rtp: "198.51.100.7:24576", rtcp: "198.51.100.7:24577", dtmfPT: 101, sends: true, recvs: true},
	"cisco-c-after-t.sdp":    {codec: PCMU, rtp: "192.0.2.33:16438", dtmfPT: 101, sends: true, recvs: true},
	"sbc-lf-te96.sdp":        {codec: PCMU, rtp: "10.20.30.40:40000", dtmfPT: 96, sends: true, recvs: true},
	"sipp-uas.sdp":           {codec: PCMU, rtp: "127.0.0.1:6000", dtmfPT: -1, sends: true, recvs: true},
	"baresip-answer.sdp":     {codec: PCMU, rtp: "127.0.0.3:10004", dtmfPT: 101, sends: true, recvs: true},
	"sonus-pcma-first.sdp":   {codec: PCMA, rtp: "192.0.2.81:31000", dtmfPT: 101, sends: true, recvs: true},
	"media-level-c.sdp":      {codec: PCMU, rtp: "192.0.2.91:50000", dtmfPT: 101, sends: true, recvs: true},
	"media-a-before-c.sdp":   {codec: PCMA, rtp: "192.0.2.44:41000", dtmfPT: 101, sends: true, recvs: true},
	"no-t-line.sdp":          {codec: PCMU, rtp: "192.0.2.45:41002", dtmfPT: -1, sends: true, recvs: true},
	"zoiper-audio-video.sdp": {codec: PCMU, rtp: "192.168.1.20:8000", dtmfPT: 101, sends: true, recvs: true},
	"hold-sendonly.sdp":      {codec: PCMU, rtp: "198.51.100.7:24576", dtmfPT: 101, sends: true, recvs: false},
	"hold-inactive.sdp":      {codec: PCMU, rtp: "198.51.100.7:24576", dtmfPT: 101, sends: false, recvs: false},
	"hold-c0.sdp":            {codec: PCMU, rtp: "0.0.0.0:24576", dtmfPT: 101, sends: true, recvs: false},
	"srtp-only.sdp":          {err: ErrNoCommonCodec},
	"g729-only.sdp":          {err: ErrNoCommonCodec},
	"audio-rejected.sdp":     {err: ErrNoCommonCodec},
	"garbage.sdp":            {err: ErrBadSDP},
	"ipv6.sdp":               {err: ErrBadSDP},
	"bad-port.sdp":           {err: ErrBadSDP},
}

func TestSetAnswerCorpus(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "sdp", "*.sdp"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no SDP corpus: %v", err)
	}
	p := newTestPool(t, 1, noHold)
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			want, ok := corpus[name]
			if !ok {
				t.Fatalf("%s has no expectation in the corpus table", name)
			}
			s := newTestSession(t, p)
			defer s.Close()
			if _, err := s.Offer(); err != nil {
				t.Fatal(err)
			}
			err := s.SetAnswer(readSDP(t, name))
			if want.err != nil {
				if !errors.Is(err, want.err) {
					t.Fatalf("err = %v, want %v", err, want.err)
				}
				if s.dst.Load() != nil {
					t.Error("a failed answer was applied")
				}
				return
			}
			if err != nil {
				t.Fatalf("SetAnswer: %v", err)
			}
			if s.Codec() != want.codec {
				t.Errorf("codec %v, want %v", s.Codec(), want.codec)
			}
			rs := s.dst.Load().rs
			if rs.rtp.String() != want.rtp {
				t.Errorf("rtp %v, want %s", rs.rtp, want.rtp)
			}
			if want.rtcp != "" && rs.rtcp.String() != want.rtcp {
				t.Errorf("rtcp %v, want %s", rs.rtcp, want.rtcp)
			}
			gotPT := -1
			if rs.hasDTMF {
				gotPT = int(rs.txDTMFPT)
			}
			if gotPT != want.dtmfPT {
				t.Errorf("telephone-event PT %d, want %d", gotPT, want.dtmfPT)
			}
			if rs.sends != want.sends || rs.recvs != want.recvs {
				t.Errorf("sends/recvs %v/%v, want %v/%v", rs.sends, rs.recvs, want.sends, want.recvs)
			}
			if rs.rx[want.codec.PT] != want.codec.kind() || rs.rx[dtmfPT] != kindDTMF {
				t.Errorf("receive table misses our own payload types")
			}
		})
	}
}

func TestSetAnswerOfferedCodecOnly(t *testing.T) {
	t.Parallel()
	p := newTestPool(t, 1, noHold)
	tests := []struct {
		name  string
		offer Codec
		ans   []string
		want  Codec
		err   error
	}{
		{name: "PCMA-only answer to full offer", ans: []string{"8 PCMA/8000"}, want: PCMA},
		{name: "second leg keeps PCMU", offer: PCMU, ans: []string{"8 PCMA/8000", "0 PCMU/8000"}, want: PCMU},
		{name: "second leg answered with the other law", offer: PCMU, ans: []string{"8 PCMA/8000"}, want: PCMA},
		{name: "codec we never offer", ans: []string{"9 G722/8000"}, err: ErrNoCommonCodec},
		{name: "only telephone-event", ans: []string{"101 telephone-event/8000"}, err: ErrNoCommonCodec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSession(t, p)
			defer s.Close()
			var err error
			if tt.offer != (Codec{}) {
				_, err = s.OfferCodec(tt.offer)
			} else {
				_, err = s.Offer()
			}
			if err != nil {
				t.Fatal(err)
			}
			err = s.SetAnswer(sdpFor(netip.MustParseAddrPort("192.0.2.1:4000"), tt.ans))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || s.Codec() != tt.want {
				t.Fatalf("codec %v err %v, want %v", s.Codec(), err, tt.want)
			}
		})
	}
}

func TestAnswerOffer(t *testing.T) {
	t.Parallel()
	p := newTestPool(t, 1, noHold)
	tests := []struct {
		name       string
		before     string // answer applied first (the call's current state)
		offer      []byte
		err        error
		wantDir    string
		wantFmts   []string
		wantMedia  int
		wantRecvs  bool
		wantCodec  Codec
		rejectedAt int // index of a port-0 m= line, -1 none
	}{
		{name: "hold sendonly", offer: readSDP(t, "hold-sendonly.sdp"), wantDir: "recvonly", wantFmts: []string{"0", "101"}, wantMedia: 1, wantCodec: PCMU, rejectedAt: -1},
		{name: "hold inactive", offer: readSDP(t, "hold-inactive.sdp"), wantDir: "inactive", wantFmts: []string{"0", "101"}, wantMedia: 1, wantCodec: PCMU, rejectedAt: -1},
		{name: "hold c=0.0.0.0", offer: readSDP(t, "hold-c0.sdp"), wantDir: "sendrecv", wantFmts: []string{"0", "101"}, wantMedia: 1, wantCodec: PCMU, rejectedAt: -1},
		{name: "unhold", offer: readSDP(t, "asterisk-pcmu.sdp"), wantDir: "sendrecv", wantFmts: []string{"0", "101"}, wantMedia: 1, wantRecvs: true, wantCodec: PCMU, rejectedAt: -1},
		{name: "video rejected", offer: readSDP(t, "zoiper-audio-video.sdp"), wantDir: "sendrecv", wantFmts: []string{"0", "101"}, wantMedia: 2, wantRecvs: true, wantCodec: PCMU, rejectedAt: 1},
		{name: "their telephone-event PT", offer: readSDP(t, "sbc-lf-te96.sdp"), wantDir: "sendrecv", wantFmts: []string{"0", "96"}, wantMedia: 1, wantRecvs: true, wantCodec: PCMU, rejectedAt: -1},
		{name: "current codec kept", before: "freeswitch-pcma.sdp", offer: sdpFor(netip.MustParseAddrPort("198.51.100.7:24576"), []string{"0 PCMU/8000", "8 PCMA/8000"}), wantDir: "sendrecv", wantFmts: []string{"8"}, wantMedia: 1, wantRecvs: true, wantCodec: PCMA, rejectedAt: -1},
		{name: "no telephone-event offered", offer: readSDP(t, "sipp-uas.sdp"), wantDir: "sendrecv", wantFmts: []string{"0"}, wantMedia: 1, wantRecvs: true, wantCodec: PCMU, rejectedAt: -1},
		{name: "no common codec", offer: readSDP(t, "g729-only.sdp"), err: ErrNoCommonCodec},
		{name: "garbage", offer: readSDP(t, "garbage.sdp"), err: ErrBadSDP},
		{name: "empty", offer: nil, err: ErrBadSDP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestSession(t, p)
			defer s.Close()
			if tt.before != "" {
				if _, err := s.Offer(); err != nil {
					t.Fatal(err)
				}
				if err := s.SetAnswer(readSDP(t, tt.before)); err != nil {
					t.Fatal(err)
				}
			}
			ans, err := s.AnswerOffer(tt.offer)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sd := mustParse(t, ans)
			if len(sd.MediaDescriptions) != tt.wantMedia {
				t.Fatalf("%d m= lines, want %d:\n%s", len(sd.MediaDescriptions), tt.wantMedia, ans)
			}
			md := sd.MediaDescriptions[0]
			if md.MediaName.Port.Value != int(s.LocalAddr().Port()) {
				t.Errorf("audio port %d", md.MediaName.Port.Value)
			}
			if !slices.Equal(md.MediaName.Formats, tt.wantFmts) {
				t.Errorf("formats %v, want %v", md.MediaName.Formats, tt.wantFmts)
			}
			if _, ok := md.Attribute(tt.wantDir); !ok {
				t.Errorf("no a=%s in\n%s", tt.wantDir, ans)
			}
			if tt.rejectedAt >= 0 && sd.MediaDescriptions[tt.rejectedAt].MediaName.Port.Value != 0 {
				t.Errorf("m= line %d not rejected", tt.rejectedAt)
			}
			if s.Codec() != tt.wantCodec {
				t.Errorf("codec %v, want %v", s.Codec(), tt.wantCodec)
			}
			if got := s.dst.Load().rs.recvs; got != tt.wantRecvs {
				t.Errorf("we send to the leg: %v, want %v", got, tt.wantRecvs)
			}
		})
	}
}

func TestTidySDP(t *testing.T) {
	t.Parallel()
	in := "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nt=0 0\nc=IN IP4 192.0.2.1\nc=IN IP4 192.0.2.2\ny=0123456789\n\n" +
		"m=audio 4000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\nc=IN IP4 192.0.2.3\n"
	want := "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 0\r\nc=IN IP4 192.0.2.3\r\na=rtpmap:0 PCMU/8000\r\n"
	if got := tidySDP([]byte(in)); got != want {
		t.Errorf("tidySDP:\n%q\nwant\n%q", got, want)
	}
	if strings.Contains(tidySDP([]byte("garbage")), "m=") {
		t.Error("tidySDP invented an m= line")
	}
}
