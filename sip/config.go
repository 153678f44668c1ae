package sip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the user agent's own side: where it listens and what it advertises.
type Config struct {
	// Listen is an explicit IP:port for UDP and TCP ("192.0.2.10:5060"). Port 0
	// picks a free port (the same one for UDP and TCP).
	Listen string `yaml:"listen"`
	// Transports enabled on Listen: "udp", "tcp", "tls". Default ["udp"].
	// "tls" is enabled as well whenever TLSCert and TLSKey are set.
	Transports []string `yaml:"transports"`
	// TLSListen is the IP:port for TLS. Default: Listen's IP with Listen's port + 1.
	TLSListen string `yaml:"tls_listen"`
	TLSCert   string `yaml:"tls_cert"`
	TLSKey    string `yaml:"tls_key"`
	// TLSCA is a PEM file of CA certificates trusted for trunks over TLS,
	// besides the system's: a PBX with its own CA or a self-signed certificate.
	TLSCA string `yaml:"tls_ca"`
	// ExternalHost and ExternalPort are advertised in Via and Contact instead of
	// the listen address, for a UA behind NAT. ExternalPort applies to UDP and TCP;
	// TLS advertises its own listen port on ExternalHost.
	ExternalHost string `yaml:"external_host"`
	ExternalPort int    `yaml:"external_port"`
	// UserAgent is sent in the User-Agent header. Default "callbackd".
	UserAgent string `yaml:"user_agent"`
}

// TrunkConfig is one SIP trunk or PBX calls go out through.
type TrunkConfig struct {
	Name string `yaml:"name"`
	Host string `yaml:"host"`
	// Port defaults to 5060 (5061 for TLS).
	Port int `yaml:"port"`
	// Transport is udp (default), tcp or tls; it must be enabled in Config.
	Transport string `yaml:"transport"`
	// OutboundProxy ("host[:port]") receives every initial request, with the
	// trunk in the Request-URI and the proxy in a Route header.
	OutboundProxy string `yaml:"outbound_proxy"`
	// Username and Password answer 401/407 digest challenges.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// FromUser is the From user when a dial gives no caller ID (default Username,
	// then "callbackd"); FromDomain the From/To host (default Host).
	FromUser   string `yaml:"from_user"`
	FromDomain string `yaml:"from_domain"`
	// PAssertedIdentity adds a P-Asserted-Identity with the caller ID.
	PAssertedIdentity bool `yaml:"p_asserted_identity"`
	// MaxCalls limits concurrent calls (0: no limit); CallsPerSecond limits call
	// attempts (0: no limit). A dial over either limit waits for a slot.
	MaxCalls       int     `yaml:"max_calls"`
	CallsPerSecond float64 `yaml:"calls_per_second"`
	// KeepAlive is the OPTIONS ping interval that drives TrunkHealth; 0 = off.
	KeepAlive time.Duration `yaml:"keep_alive"`
	// Register sends REGISTER (refreshed at half the granted expiry).
	Register        bool          `yaml:"register"`
	RegisterExpires time.Duration `yaml:"register_expires"` // default 1h
	// SessionExpires is the RFC 4028 session interval we ask for (0: we do not ask,
	// but still honour one the far end sets). At least 90s.
	SessionExpires time.Duration `yaml:"session_expires"`
}

const (
	defaultUserAgent       = "callbackd"
	defaultRegisterExpires = time.Hour
	minSessionExpires      = 90 * time.Second
)

// listenConfig is Config checked and resolved.
type listenConfig struct {
	ip         netip.Addr
	port       int
	udp, tcp   bool
	tls        bool
	tlsAddr    netip.AddrPort
	tlsCert    string
	tlsKey     string
	extHost    string
	extPort    int
	userAgent  string
	transports []string
}

func (c Config) check() (listenConfig, error) {
	var lc listenConfig
	ap, err := netip.ParseAddrPort(c.Listen)
	if err != nil {
		return lc, fmt.Errorf("sip listen %q: want an explicit IP:port: %w", c.Listen, err)
	}
	if ap.Addr().IsUnspecified() {
		return lc, fmt.Errorf("sip listen %q: bind an explicit IP, not a wildcard", c.Listen)
	}
	lc.ip, lc.port = ap.Addr().Unmap(), int(ap.Port())
	ts := c.Transports
	if len(ts) == 0 {
		ts = []string{"udp"}
	}
	for _, t := range ts {
		switch strings.ToLower(t) {
		case "udp":
			lc.udp = true
		case "tcp":
			lc.tcp = true
		case "tls":
			lc.tls = true
		default:
			return lc, fmt.Errorf("sip transports: unknown transport %q", t)
		}
	}
	if c.TLSCert != "" || c.TLSKey != "" {
		if c.TLSCert == "" || c.TLSKey == "" {
			return lc, errors.New("sip tls: set both tls_cert and tls_key")
		}
		lc.tls = true
	}
	if lc.tls {
		if c.TLSCert == "" {
			return lc, errors.New("sip tls: transport tls needs tls_cert and tls_key")
		}
		lc.tlsCert, lc.tlsKey = c.TLSCert, c.TLSKey
		if c.TLSListen != "" {
			tap, err := netip.ParseAddrPort(c.TLSListen)
			if err != nil || tap.Addr().IsUnspecified() {
				return lc, fmt.Errorf("sip tls_listen %q: want an explicit IP:port", c.TLSListen)
			}
			lc.tlsAddr = netip.AddrPortFrom(tap.Addr().Unmap(), tap.Port())
		} else {
			p := 0
			if lc.port != 0 {
				p = lc.port + 1
			}
			lc.tlsAddr = netip.AddrPortFrom(lc.ip, uint16(p))
		}
	}
	if !lc.udp && !lc.tcp && !lc.tls {
		return lc, errors.New("sip transports: none enabled")
	}
	if c.ExternalHost != "" {
		if err := validateHost(c.ExternalHost); err != nil {
			return lc, fmt.Errorf("sip external_host: %w", err)
		}
	}
	if c.ExternalPort < 0 || c.ExternalPort > 65535 {
		return lc, fmt.Errorf("sip external_port %d out of range", c.ExternalPort)
	}
	lc.extHost, lc.extPort = c.ExternalHost, c.ExternalPort
	lc.userAgent = c.UserAgent
	if lc.userAgent == "" {
		lc.userAgent = defaultUserAgent
	}
	if err := ValidateName(lc.userAgent); err != nil {
		return lc, fmt.Errorf("sip user_agent: %w", err)
	}
	for _, t := range []struct {
		on   bool
		name string
	}{{lc.udp, "udp"}, {lc.tcp, "tcp"}, {lc.tls, "tls"}} {
		if t.on {
			lc.transports = append(lc.transports, t.name)
		}
	}
	return lc, nil
}

// trunkSpec is TrunkConfig checked, with defaults filled in.
type trunkSpec struct {
	TrunkConfig
	transport string // udp, tcp, tls
	proxyHost string
	proxyPort int
}

func (tc TrunkConfig) check(lc listenConfig) (trunkSpec, error) {
	s := trunkSpec{TrunkConfig: tc}
	if tc.Name == "" {
		return s, errors.New("trunk without a name")
	}
	wrap := func(err error) error { return fmt.Errorf("trunk %q: %w", tc.Name, err) }
	if err := validateHost(tc.Host); err != nil {
		return s, wrap(fmt.Errorf("host: %w", err))
	}
	s.transport = strings.ToLower(tc.Transport)
	if s.transport == "" {
		s.transport = "udp"
	}
	if !slices.Contains(lc.transports, s.transport) {
		return s, wrap(fmt.Errorf("transport %q is not enabled in sip.transports", s.transport))
	}
	if s.Port == 0 {
		s.Port = 5060
		if s.transport == "tls" {
			s.Port = 5061
		}
	}
	if s.Port < 0 || s.Port > 65535 {
		return s, wrap(fmt.Errorf("port %d out of range", s.Port))
	}
	if tc.OutboundProxy != "" {
		h, p, err := splitHostPort(tc.OutboundProxy)
		if err != nil {
			return s, wrap(fmt.Errorf("outbound_proxy: %w", err))
		}
		s.proxyHost, s.proxyPort = h, p
	}
	if tc.Username != "" {
		if err := validateUser(tc.Username); err != nil {
			return s, wrap(fmt.Errorf("username: %w", err))
		}
	}
	if err := validateSecret(tc.Password); err != nil {
		return s, wrap(err)
	}
	if s.FromUser == "" {
		s.FromUser = tc.Username
	}
	if s.FromUser == "" {
		s.FromUser = defaultUserAgent
	}
	if err := validateUser(s.FromUser); err != nil {
		return s, wrap(fmt.Errorf("from_user: %w", err))
	}
	if s.FromDomain == "" {
		s.FromDomain = tc.Host
	}
	if err := validateHost(s.FromDomain); err != nil {
		return s, wrap(fmt.Errorf("from_domain: %w", err))
	}
	if tc.MaxCalls < 0 || tc.CallsPerSecond < 0 || tc.KeepAlive < 0 || tc.RegisterExpires < 0 {
		return s, wrap(errors.New("max_calls, calls_per_second, keep_alive and register_expires must not be negative"))
	}
	if s.Register && s.RegisterExpires == 0 {
		s.RegisterExpires = defaultRegisterExpires
	}
	if s.Register && s.Username == "" {
		return s, wrap(errors.New("register needs a username"))
	}
	if tc.SessionExpires != 0 && tc.SessionExpires < minSessionExpires {
		return s, wrap(fmt.Errorf("session_expires %v is below the RFC 4028 minimum of 90s", tc.SessionExpires))
	}
	return s, nil
}

// splitHostPort accepts "host" or "host:port" (port 0 when absent).
func splitHostPort(s string) (string, int, error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		// No port given.
		if err := validateHost(s); err != nil {
			return "", 0, err
		}
		return s, 0, nil
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", s)
	}
	if err := validateHost(h); err != nil {
		return "", 0, err
	}
	return h, port, nil
}
