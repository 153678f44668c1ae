package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// allowHint is appended to errors about non-public addresses so an operator
// knows which setting lifts the restriction.
const allowHint = "set webhooks.allow_private_urls to allow it"

// blockedPrefixes are the address ranges a webhook may not reach unless
// private URLs are allowed. IPv4-mapped IPv6 addresses are unmapped before
// they are checked, so only the plain forms are listed.
var blockedPrefixes = []struct {
	p    netip.Prefix
	what string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified (\"this network\") address"},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a shared (CGNAT) address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("255.255.255.255/32"), "a broadcast address"},
	{netip.MustParsePrefix("::/128"), "an unspecified address"},
	{netip.MustParsePrefix("::1/128"), "a loopback address"},
	{netip.MustParsePrefix("fc00::/7"), "a private address"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
}

// classify reports why ip must not be reached, or "" when it is public.
func classify(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	for _, b := range blockedPrefixes {
		if b.p.Contains(ip) {
			return b.what
		}
	}
	return ""
}

// ErrPrivateAddress is wrapped by the errors CheckURL and the dialer's
// control function return when a URL points at a non-public address.
var ErrPrivateAddress = errors.New("webhook URL points at a non-public address")

// ErrBadURL is wrapped by the errors CheckURL returns for a URL that is not
// an absolute http(s) URL a webhook can be sent to.
var ErrBadURL = errors.New("invalid webhook URL")

type addrError struct {
	url, what string
	ip        netip.Addr
}

func (e *addrError) Error() string {
	if e.url == "" {
		return fmt.Sprintf("webhook connection to %s refused: it is %s; %s", e.ip, e.what, allowHint)
	}
	return fmt.Sprintf("webhook URL %s points at %s (%s); %s", e.url, e.what, e.ip, allowHint)
}

func (e *addrError) Unwrap() error { return ErrPrivateAddress }

func badURL(raw, format string, args ...any) error {
	return fmt.Errorf("%w %s: %s", ErrBadURL, raw, fmt.Sprintf(format, args...))
}

// CheckURL reports whether raw is a URL webhooks may be sent to: an absolute
// http or https URL with a host, without user information or fragment. Unless
// allowPrivate is set, the host (a literal IP, or every address it resolves
// to) must be a public address: not loopback, private (RFC 1918, fc00::/7),
// link-local, unspecified, multicast or CGNAT (100.64.0.0/10), also in
// IPv4-mapped form. Name resolution uses ctx.
func CheckURL(ctx context.Context, raw string, allowPrivate bool) error {
	if strings.TrimSpace(raw) == "" {
		return fmt.Errorf("%w: empty", ErrBadURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w %q: %v", ErrBadURL, raw, unwrapURLError(err))
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	case "":
		return badURL(raw, "must be absolute (http:// or https://)")
	default:
		return badURL(raw, "scheme %q is not http or https", u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return badURL(raw, "has no host")
	}
	if u.User != nil {
		return badURL(raw, "must not contain user information (user:password@)")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return badURL(raw, "must not contain a fragment (#...)")
	}
	if p := u.Port(); p != "" {
		if n, err := parsePort(p); err != nil || n == 0 {
			return badURL(raw, "port %q is not valid", p)
		}
	}
	if allowPrivate {
		return nil
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if what := classify(ip); what != "" {
			return &addrError{url: raw, what: what, ip: ip.Unmap().WithZone("")}
		}
		return nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("webhook URL %s: cannot resolve host %q: %w", raw, host, err)
	}
	if len(ips) == 0 {
		return fmt.Errorf("webhook URL %s: host %q has no addresses", raw, host)
	}
	for _, ip := range ips {
		if what := classify(ip); what != "" {
			return &addrError{url: raw, what: what, ip: ip.Unmap().WithZone("")}
		}
	}
	return nil
}

func parsePort(p string) (int, error) {
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		n = n*10 + int(c-'0')
		if n > 65535 {
			return 0, errors.New("out of range")
		}
	}
	return n, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// dialControl is a net.Dialer Control function that refuses connections to
// non-public addresses. It checks the address actually being dialled, so a
// host name that resolved to a public address at CheckURL time and to a
// private one later (DNS rebinding) is still refused.
func dialControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		host, _, serr := net.SplitHostPort(address)
		if serr != nil {
			return fmt.Errorf("webhook dial %s: %w", address, serr)
		}
		ip, perr := netip.ParseAddr(host)
		if perr != nil {
			return fmt.Errorf("webhook dial %s: not an IP address", address)
		}
		ap = netip.AddrPortFrom(ip, 0)
	}
	if what := classify(ap.Addr()); what != "" {
		return &addrError{what: what, ip: ap.Addr().Unmap().WithZone("")}
	}
	return nil
}

// DialControl returns the Control function for a net.Dialer used to send
// webhooks: nil when private addresses are allowed, otherwise one that
// re-checks every address at connect time.
func DialControl(allowPrivate bool) func(network, address string, c syscall.RawConn) error {
	if allowPrivate {
		return nil
	}
	return dialControl
}
