package sandbox

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/callbackd/callbackd/media/audio"
)

func sdpLines(lines ...string) []byte { return []byte(strings.Join(lines, "\r\n") + "\r\n") }

var sdpHead = []string{"v=0", "o=x 1 1 IN IP4 127.1.2.3", "s=-", "c=IN IP4 127.1.2.3", "t=0 0"}

func TestParseOffer(t *testing.T) {
	addr := netip.MustParseAddrPort("127.1.2.3:4000")
	tests := []struct {
		name    string
		sdp     []byte
		want    offer
		wantErr error
	}{
		{"PCMU first", offerSDP(addr, "0 8 101"), offer{addr, audio.PCMU, 0, 101, sendrecv}, nil},
		{"PCMA first", offerSDP(addr, "8 0"), offer{addr, audio.PCMA, 8, -1, sendrecv}, nil},
		{"skips unknown codec", offerSDP(addr, "18 8 96"), offer{addr, audio.PCMA, 8, 96, sendrecv}, nil},
		{"static PT without rtpmap", sdpLines(append(sdpHead, "m=audio 4000 RTP/AVP 8")...), offer{addr, audio.PCMA, 8, -1, sendrecv}, nil},
		{"dynamic PT for PCMU", sdpLines(append(sdpHead, "m=audio 4000 RTP/AVP 97", "a=rtpmap:97 pcmu/8000")...), offer{addr, audio.PCMU, 97, -1, sendrecv}, nil},
		{"media-level c= wins", sdpLines("v=0", "o=x 1 1 IN IP4 127.9.9.9", "s=-", "c=IN IP4 127.9.9.9", "t=0 0", "m=audio 4000 RTP/AVP 0", "c=IN IP4 127.1.2.3"), offer{addr, audio.PCMU, 0, -1, sendrecv}, nil},
		{"session-level sendonly", sdpLines(append(sdpHead, "a=sendonly", "m=audio 4000 RTP/AVP 0")...), offer{addr, audio.PCMU, 0, -1, sendonly}, nil},
		{"media-level inactive", offerSDP(addr, "0", "a=inactive"), offer{addr, audio.PCMU, 0, -1, inactive}, nil},
		{"old-style hold", sdpLines("v=0", "o=x 1 1 IN IP4 0.0.0.0", "s=-", "c=IN IP4 0.0.0.0", "t=0 0", "m=audio 4000 RTP/AVP 0"),
			offer{netip.MustParseAddrPort("0.0.0.0:4000"), audio.PCMU, 0, -1, inactive}, nil},
		{"rejected stream skipped", sdpLines(append(sdpHead, "m=audio 0 RTP/AVP 0", "m=audio 4000 RTP/AVP 8")...), offer{addr, audio.PCMA, 8, -1, sendrecv}, nil},
		{"video skipped", sdpLines(append(sdpHead, "m=video 5000 RTP/AVP 96", "m=audio 4000 RTP/AVP 0")...), offer{addr, audio.PCMU, 0, -1, sendrecv}, nil},
		{"no common codec", offerSDP(addr, "18"), offer{}, errNoCommonCodec},
		{"telephone-event only", offerSDP(addr, "101"), offer{}, errNoCommonCodec},
		{"no audio", sdpLines(append(sdpHead, "m=video 5000 RTP/AVP 96")...), offer{}, errNoAudio},
		{"no media", sdpLines(sdpHead...), offer{}, errNoAudio},
		{"no c= line", sdpLines("v=0", "o=x 1 1 IN IP4 127.1.2.3", "s=-", "t=0 0", "m=audio 4000 RTP/AVP 0"), offer{}, errBadSDP},
		{"hostname in c=", sdpLines("v=0", "o=x 1 1 IN IP4 h", "s=-", "c=IN IP4 host.example", "t=0 0", "m=audio 4000 RTP/AVP 0"), offer{}, errBadSDP},
		{"IPv6", sdpLines("v=0", "o=x 1 1 IN IP6 ::1", "s=-", "c=IN IP6 ::1", "t=0 0", "m=audio 4000 RTP/AVP 0"), offer{}, errUnsupportedSDP},
		{"SRTP", sdpLines(append(sdpHead, "m=audio 4000 RTP/SAVP 0")...), offer{}, errUnsupportedSDP},
		{"garbage", []byte("hello"), offer{}, errBadSDP},
		{"empty", nil, offer{}, errNoAudio}, // pion accepts an empty description
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOffer(tt.sdp)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Our answer must parse back (with pion) into what we meant.
func TestAnswerSDPRoundTrip(t *testing.T) {
	local := netip.MustParseAddrPort("127.5.6.7:30000")
	remote := netip.MustParseAddrPort("127.1.2.3:4000")
	tests := []struct {
		name string
		o    offer
		dir  direction
	}{
		{"PCMU with events", offer{remote, audio.PCMU, 0, 101, sendrecv}, sendrecv},
		{"PCMA no events", offer{remote, audio.PCMA, 8, -1, sendrecv}, sendrecv},
		{"hold", offer{remote, audio.PCMU, 0, 96, sendonly}, recvonly},
		{"inactive", offer{remote, audio.PCMU, 0, -1, inactive}, inactive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := answerSDP(local, 42, 7, tt.o)
			back, err := parseOffer(b)
			if err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			want := offer{local, tt.o.enc, tt.o.pt, tt.o.tePT, tt.dir}
			if back != want {
				t.Fatalf("got %+v, want %+v\n%s", back, want, b)
			}
			if !strings.Contains(string(b), "o=callbackd-sandbox 42 7 IN IP4 127.5.6.7\r\n") {
				t.Fatalf("origin line:\n%s", b)
			}
		})
	}
}

func FuzzParseOffer(f *testing.F) {
	addr := netip.MustParseAddrPort("127.1.2.3:4000")
	f.Add(offerSDP(addr, "0 8 101"))
	f.Add(offerSDP(addr, "8", "a=sendonly"))
	f.Add(sdpLines(append(sdpHead, "m=audio 4000 RTP/AVP 97", "a=rtpmap:97 PCMU/8000")...))
	f.Add(sdpLines(append(sdpHead, "m=audio 4000/2 RTP/AVP 0")...))
	f.Add([]byte("v=0\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := parseOffer(b)
		if err != nil {
			return
		}
		if !o.enc.Valid() || o.pt > 127 || o.tePT > 127 || !o.remote.Addr().Is4() {
			t.Fatalf("implausible offer %+v", o)
		}
		if _, err := parseOffer(answerSDP(netip.MustParseAddrPort("127.0.0.2:2000"), 1, 1, o)); err != nil {
			t.Fatalf("our answer to %+v does not parse: %v", o, err)
		}
	})
}
