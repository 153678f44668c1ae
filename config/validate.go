package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/callbackd/callbackd/sip"
)

// minSessionExpires is RFC 4028's lower bound for Session-Expires.
const minSessionExpires = 90 * time.Second

// Validate checks the configuration as a whole and returns every problem
// found, joined; each is a *KeyError.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, c.keyErr(key, format, args...))
	}

	// sip
	transports := map[string]bool{}
	ts := c.SIP.Transports
	if len(ts) == 0 {
		ts = []string{"udp"}
	}
	for i, t := range ts {
		switch t := strings.ToLower(t); t {
		case "udp", "tcp", "tls":
			transports[t] = true
		default:
			bad(fmt.Sprintf("sip.transports[%d]", i), "unknown transport %q (want udp, tcp or tls)", t)
		}
	}
	if c.SIP.TLSCert != "" || c.SIP.TLSKey != "" {
		transports["tls"] = true
	}
	if c.SIP.Listen == "" {
		bad("sip.listen", "missing: set an explicit IP:port such as 127.0.0.1:5060")
	} else if err := explicitAddrPort(c.SIP.Listen); err != nil {
		bad("sip.listen", "%v", err)
	}
	if transports["tls"] && (c.SIP.TLSCert == "" || c.SIP.TLSKey == "") {
		bad("sip.tls_cert", "tls needs both tls_cert and tls_key")
	}
	if c.SIP.TLSListen != "" {
		if err := explicitAddrPort(c.SIP.TLSListen); err != nil {
			bad("sip.tls_listen", "%v", err)
		}
	}
	if c.SIP.ExternalPort < 0 || c.SIP.ExternalPort > 65535 {
		bad("sip.external_port", "%d is not a port", c.SIP.ExternalPort)
	}

	// trunks
	if len(c.Trunks) == 0 {
		bad("trunks", "no trunk configured")
	}
	names := map[string]int{}
	for i, tr := range c.Trunks {
		key := func(k string) string { return fmt.Sprintf("trunks[%d].%s", i, k) }
		if tr.Name == "" {
			bad(fmt.Sprintf("trunks[%d]", i), "missing name")
		} else if j, dup := names[tr.Name]; dup {
			bad(key("name"), "duplicate trunk name %q (also trunks[%d])", tr.Name, j)
		} else {
			names[tr.Name] = i
		}
		if tr.Host == "" {
			bad(fmt.Sprintf("trunks[%d]", i), "trunk %q: missing host", tr.Name)
		}
		if tr.Port < 0 || tr.Port > 65535 {
			bad(key("port"), "%d is not a port", tr.Port)
		}
		tt := strings.ToLower(tr.Transport)
		if tt == "" {
			tt = "udp"
		}
		switch {
		case tt != "udp" && tt != "tcp" && tt != "tls":
			bad(key("transport"), "unknown transport %q (want udp, tcp or tls)", tr.Transport)
		case !transports[tt]:
			bad(key("transport"), "%s is not enabled in sip.transports", tt)
		}
		if strings.ContainsAny(tr.Password, "\r\n\x00") {
			bad(key("password"), "contains a line break or NUL")
		}
		if tr.MaxCalls < 0 {
			bad(key("max_calls"), "must not be negative")
		}
		if tr.CallsPerSecond < 0 {
			bad(key("calls_per_second"), "must not be negative")
		}
		if tr.KeepAlive < 0 {
			bad(key("keep_alive"), "must not be negative")
		}
		if tr.Register && tr.Username == "" {
			bad(key("register"), "register needs a username")
		}
		if tr.SessionExpires != 0 && tr.SessionExpires < minSessionExpires {
			bad(key("session_expires"), "%v is below the RFC 4028 minimum of 90s", tr.SessionExpires)
		}
	}

	// media
	m := c.Media
	if ip, err := netip.ParseAddr(m.IP); err != nil || !ip.Is4() || ip.IsUnspecified() {
		bad("media.ip", "%q is not an explicit IPv4 address", m.IP)
	}
	if m.PublicIP != "" {
		if ip, err := netip.ParseAddr(m.PublicIP); err != nil || !ip.Is4() || ip.IsUnspecified() {
			bad("media.public_ip", "%q is not an IPv4 address", m.PublicIP)
		}
	}
	switch {
	case m.PortMin < 1024 || m.PortMax > 65535:
		bad("media.port_min", "port range %d-%d must lie within 1024-65535", m.PortMin, m.PortMax)
	case m.PortMin%2 != 0:
		bad("media.port_min", "%d is odd: RTP uses even ports, RTCP the odd one above", m.PortMin)
	case m.PortMax <= m.PortMin:
		bad("media.port_max", "%d is not above port_min %d (a range holds at least one RTP/RTCP pair)", m.PortMax, m.PortMin)
	}
	if m.MediaTimeout < 0 {
		bad("media.media_timeout", "must not be negative")
	}
	if m.PortHold < 0 {
		bad("media.port_hold", "must not be negative")
	}
	for i, codec := range m.Codecs {
		if !strings.EqualFold(codec, "PCMU") && !strings.EqualFold(codec, "PCMA") {
			bad(fmt.Sprintf("media.codecs[%d]", i), "unknown codec %q (want PCMU or PCMA)", codec)
		}
	}

	// sandbox
	if sb := c.Sandbox; sb.Enabled {
		if sb.Listen != "" {
			if err := explicitAddrPort(sb.Listen); err != nil {
				bad("sandbox.listen", "%v", err)
			}
		}
		switch {
		case sb.RTPPortMin == 0 && sb.RTPPortMax == 0:
		case sb.RTPPortMin < 1024 || sb.RTPPortMax > 65535 || sb.RTPPortMax <= sb.RTPPortMin:
			bad("sandbox.rtp_port_min", "port range %d-%d must lie within 1024-65535, min below max", sb.RTPPortMin, sb.RTPPortMax)
		case sb.RTPPortMin <= m.PortMax && m.PortMin <= sb.RTPPortMax:
			bad("sandbox.rtp_port_min", "port range %d-%d overlaps media's %d-%d", sb.RTPPortMin, sb.RTPPortMax, m.PortMin, m.PortMax)
		}
	}

	// bridge
	b := c.Bridge
	if b.Trunk != "" && len(c.Trunks) > 0 && !slices.ContainsFunc(c.Trunks, func(t sip.TrunkConfig) bool { return t.Name == b.Trunk }) {
		bad("bridge.trunk", "no trunk named %q", b.Trunk)
	}
	for _, d := range []struct {
		key string
		d   time.Duration
	}{
		{"bridge.rep_ring_timeout", b.RepRingTimeout}, {"bridge.customer_ring_timeout", b.CustomerRingTimeout},
		{"bridge.max_call_length", b.MaxCallLength}, {"bridge.accept_timeout", b.AcceptTimeout},
	} {
		if d.d < 0 {
			bad(d.key, "must not be negative")
		}
	}

	// api, store, guardrails, shutdown
	if err := explicitAddrPort(c.API.Listen); err != nil {
		bad("api.listen", "%v", err)
	}
	if k := c.API.AdminKey; k != "" && (len(k) < 24 || strings.ContainsAny(k, " \t\r\n")) {
		// Not echoed: it is a secret.
		bad("api.admin_key", "too weak: use at least 24 characters without spaces")
	}
	for i, p := range c.Guardrails.Allow {
		if err := e164Prefix(p); err != nil {
			bad(fmt.Sprintf("guardrails.allow[%d]", i), "%v", err)
		}
	}
	for i, p := range c.Guardrails.Deny {
		if err := e164Prefix(p); err != nil {
			bad(fmt.Sprintf("guardrails.deny[%d]", i), "%v", err)
		}
	}
	if c.Guardrails.PerNumberPerDay < -1 {
		bad("guardrails.per_number_per_day", "must be positive, or -1 for no limit")
	}
	if c.Shutdown.Drain < 0 {
		bad("shutdown.drain", "must not be negative")
	}

	// webhooks
	w := c.Webhooks
	if w.Workers < 1 {
		bad("webhooks.workers", "must be at least 1")
	}
	if w.PerTarget < 1 || w.PerTarget > w.Workers {
		bad("webhooks.per_target", "must be between 1 and webhooks.workers (%d)", w.Workers)
	}
	if w.Timeout < 0 {
		bad("webhooks.timeout", "must not be negative")
	}
	if w.DisableAfter < 0 {
		bad("webhooks.disable_after", "must not be negative")
	}
	for i, d := range w.RetrySchedule {
		if d < 0 {
			bad(fmt.Sprintf("webhooks.retry_schedule[%d]", i), "must not be negative")
		}
	}

	// log
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Log.Level)); err != nil {
		bad("log.level", "unknown level %q (want debug, info, warn or error)", c.Log.Level)
	}
	if f := strings.ToLower(c.Log.Format); f != "text" && f != "json" {
		bad("log.format", "unknown format %q (want text or json)", c.Log.Format)
	}

	slices.SortStableFunc(errs, func(a, b error) int {
		var ka, kb *KeyError
		errors.As(a, &ka)
		errors.As(b, &kb)
		return ka.Line - kb.Line
	})
	return errors.Join(errs...)
}

func explicitAddrPort(s string) error {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return fmt.Errorf("%q is not IP:port", s)
	}
	if ap.Addr().IsUnspecified() {
		return fmt.Errorf("%q: bind an explicit IP, not a wildcard", s)
	}
	return nil
}

// e164Prefix checks "+" followed by 1 to 15 digits, the first not 0.
func e164Prefix(p string) error {
	if len(p) < 2 || len(p) > 16 || p[0] != '+' || p[1] == '0' {
		return fmt.Errorf("%q is not an E.164 prefix such as +1 or +4420", p)
	}
	for _, r := range p[1:] {
		if r < '0' || r > '9' {
			return fmt.Errorf("%q is not an E.164 prefix such as +1 or +4420", p)
		}
	}
	return nil
}
