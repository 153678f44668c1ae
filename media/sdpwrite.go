package media

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/pion/sdp/v3"
)

// audioMedia is our m=audio line: the codecs (each with the payload type to
// declare), telephone-event when te >= 0, ptime 20 and a direction.
func (s *Session) audioMedia(codecs []format, te int, dir string) *sdp.MediaDescription {
	md := &sdp.MediaDescription{
		MediaName: sdp.MediaName{
			Media:  "audio",
			Port:   sdp.RangedPort{Value: int(s.local.Port())},
			Protos: []string{"RTP", "AVP"},
		},
	}
	for _, f := range codecs {
		pt := strconv.Itoa(int(f.pt))
		md.MediaName.Formats = append(md.MediaName.Formats, pt)
		md.Attributes = append(md.Attributes, sdp.NewAttribute("rtpmap", pt+" "+f.name+"/"+strconv.Itoa(int(f.rate))))
	}
	if te >= 0 {
		pt := strconv.Itoa(te)
		md.MediaName.Formats = append(md.MediaName.Formats, pt)
		md.Attributes = append(md.Attributes,
			sdp.NewAttribute("rtpmap", pt+" telephone-event/8000"),
			sdp.NewAttribute("fmtp", pt+" 0-16"))
	}
	md.Attributes = append(md.Attributes,
		sdp.NewAttribute("ptime", "20"),
		sdp.NewPropertyAttribute(dir))
	return md
}

// rejectedMedia answers an m= line we do not take: same media and proto,
// port 0 (RFC 3264 §6).
func rejectedMedia(md *sdp.MediaDescription) *sdp.MediaDescription {
	formats := md.MediaName.Formats
	if len(formats) > 1 {
		formats = formats[:1]
	}
	return &sdp.MediaDescription{MediaName: sdp.MediaName{
		Media:   md.MediaName.Media,
		Port:    sdp.RangedPort{Value: 0},
		Protos:  md.MediaName.Protos,
		Formats: formats,
	}}
}

// writeSDP wraps media lines into our session description. The o= version
// goes up only when the body changes, as RFC 3264 §8 asks: some gateways
// take a new version for a media change. Call with s.mu held.
func (s *Session) writeSDP(media []*sdp.MediaDescription) ([]byte, error) {
	adv := s.pool.set.adv.String()
	sd := &sdp.SessionDescription{
		Origin: sdp.Origin{
			Username:       "callbackd",
			SessionID:      s.sdpID,
			SessionVersion: s.sdpVer,
			NetworkType:    "IN",
			AddressType:    "IP4",
			UnicastAddress: adv,
		},
		SessionName: "callbackd",
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN",
			AddressType: "IP4",
			Address:     &sdp.Address{Address: adv},
		},
		TimeDescriptions:  []sdp.TimeDescription{{Timing: sdp.Timing{}}},
		MediaDescriptions: media,
	}
	out, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("media: write SDP: %w", err)
	}
	body := out[bytes.Index(out, []byte("\r\ns="))+2:]
	if s.lastSDP != nil && !bytes.Equal(body, s.lastSDP) {
		s.sdpVer++
		sd.Origin.SessionVersion = s.sdpVer
		if out, err = sd.Marshal(); err != nil {
			return nil, fmt.Errorf("media: write SDP: %w", err)
		}
	}
	s.lastSDP = body
	return out, nil
}
