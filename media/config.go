package media

import (
	"fmt"
	"net/netip"
	"time"
)

// Config is the `media:` section of the configuration file.
type Config struct {
	IP           string        `yaml:"ip"`        // explicit IPv4 address RTP binds to
	PublicIP     string        `yaml:"public_ip"` // advertised in SDP when set (NAT)
	PortMin      int           `yaml:"port_min"`
	PortMax      int           `yaml:"port_max"`
	MediaTimeout time.Duration `yaml:"media_timeout"` // default 30s
	PortHold     time.Duration `yaml:"port_hold"`     // default 5s
	Codecs       []string      `yaml:"codecs"`        // offer order, default [PCMU, PCMA]
}

const (
	defaultPortMin      = 20000
	defaultPortMax      = 20999
	defaultMediaTimeout = 30 * time.Second
	defaultPortHold     = 5 * time.Second
)

// settings is a Config checked and with defaults applied.
type settings struct {
	ip, adv          netip.Addr
	portMin, portMax int
	mediaTimeout     time.Duration
	portHold         time.Duration
	codecs           []Codec
}

func (c Config) settings() (settings, error) {
	var s settings
	ip, err := netip.ParseAddr(c.IP)
	if err != nil || !ip.Is4() || ip.IsUnspecified() {
		return s, fmt.Errorf("media: ip %q: need an explicit IPv4 address to bind RTP on", c.IP)
	}
	s.ip, s.adv = ip, ip
	if c.PublicIP != "" {
		pub, err := netip.ParseAddr(c.PublicIP)
		if err != nil || !pub.Is4() || pub.IsUnspecified() {
			return s, fmt.Errorf("media: public_ip %q: need an IPv4 address", c.PublicIP)
		}
		s.adv = pub
	}
	s.portMin, s.portMax = c.PortMin, c.PortMax
	if s.portMin == 0 && s.portMax == 0 {
		s.portMin, s.portMax = defaultPortMin, defaultPortMax
	}
	s.portMin += s.portMin & 1 // RTP takes the even port of each pair
	if s.portMin < 1024 || s.portMax > 65535 || s.portMax < s.portMin+1 {
		return s, fmt.Errorf("media: port range %d-%d: need 1024 <= port_min < port_max <= 65535 with room for one even/odd pair", c.PortMin, c.PortMax)
	}
	s.mediaTimeout, s.portHold = c.MediaTimeout, c.PortHold
	if s.mediaTimeout < 0 || s.portHold < 0 {
		return s, fmt.Errorf("media: media_timeout and port_hold must not be negative")
	}
	if s.mediaTimeout == 0 {
		s.mediaTimeout = defaultMediaTimeout
	}
	if s.portHold == 0 {
		s.portHold = defaultPortHold
	}
	if s.codecs, err = parseCodecs(c.Codecs); err != nil {
		return s, err
	}
	return s, nil
}
