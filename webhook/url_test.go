package webhook

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckURL(t *testing.T) {
	tests := []struct {
		name         string
		url          string
		allowPrivate bool
		wantErr      error    // nil: accepted
		wantText     []string // in the error
	}{
		{name: "public IPv4 literal", url: "https://93.184.216.34/hook"},
		{name: "public IPv4 literal with port", url: "http://93.184.216.34:8080/hook?x=1"},
		{name: "public IPv6 literal", url: "https://[2606:2800:220:1:248:1893:25c8:1946]/hook"},
		{name: "loopback", url: "http://127.0.0.1:8080/x", wantErr: ErrPrivateAddress, wantText: []string{"loopback", "127.0.0.1", "webhooks.allow_private_urls"}},
		{name: "loopback elsewhere in 127/8", url: "http://127.1.2.3/x", wantErr: ErrPrivateAddress, wantText: []string{"loopback"}},
		{name: "10/8", url: "https://10.0.0.1/x", wantErr: ErrPrivateAddress,
			wantText: []string{"webhook URL https://10.0.0.1/x points at a private address (10.0.0.1); set webhooks.allow_private_urls to allow it"}},
		{name: "172.16/12", url: "https://172.20.1.1/x", wantErr: ErrPrivateAddress, wantText: []string{"private"}},
		{name: "192.168/16", url: "https://192.168.1.10/x", wantErr: ErrPrivateAddress, wantText: []string{"private", "192.168.1.10"}},
		{name: "169.254/16 link-local", url: "http://169.254.169.254/latest/meta-data", wantErr: ErrPrivateAddress, wantText: []string{"link-local"}},
		{name: "::1", url: "http://[::1]:9000/x", wantErr: ErrPrivateAddress, wantText: []string{"loopback", "::1"}},
		{name: "fc00::/7", url: "http://[fd12:3456::1]/x", wantErr: ErrPrivateAddress, wantText: []string{"private"}},
		{name: "fc00::", url: "http://[fc00::]/x", wantErr: ErrPrivateAddress, wantText: []string{"private"}},
		{name: "fe80:: link-local", url: "http://[fe80::1]/x", wantErr: ErrPrivateAddress, wantText: []string{"link-local"}},
		{name: "100.64/10 CGNAT", url: "http://100.64.0.1/x", wantErr: ErrPrivateAddress, wantText: []string{"CGNAT"}},
		{name: "100.127 CGNAT edge", url: "http://100.127.255.254/x", wantErr: ErrPrivateAddress},
		{name: "100.128 is public", url: "http://100.128.0.1/x"},
		{name: "0.0.0.0", url: "http://0.0.0.0/x", wantErr: ErrPrivateAddress, wantText: []string{"unspecified"}},
		{name: "::", url: "http://[::]/x", wantErr: ErrPrivateAddress, wantText: []string{"unspecified"}},
		{name: "multicast", url: "http://224.0.0.1/x", wantErr: ErrPrivateAddress, wantText: []string{"multicast"}},
		{name: "IPv4-mapped loopback", url: "http://[::ffff:127.0.0.1]/x", wantErr: ErrPrivateAddress, wantText: []string{"loopback", "(127.0.0.1)"}},
		{name: "IPv4-mapped private", url: "http://[::ffff:10.1.2.3]/x", wantErr: ErrPrivateAddress, wantText: []string{"private"}},
		{name: "localhost by name", url: "http://localhost:8080/x", wantErr: ErrPrivateAddress, wantText: []string{"loopback"}},
		{name: "private allowed", url: "https://10.0.0.1/x", allowPrivate: true},
		{name: "loopback allowed", url: "http://127.0.0.1:8080/x", allowPrivate: true},
		{name: "ftp scheme", url: "ftp://93.184.216.34/x", wantErr: ErrBadURL, wantText: []string{`scheme "ftp"`}},
		{name: "ftp scheme even when private allowed", url: "ftp://10.0.0.1/x", allowPrivate: true, wantErr: ErrBadURL},
		{name: "user and password", url: "https://user:pass@93.184.216.34/x", wantErr: ErrBadURL, wantText: []string{"user information"}},
		{name: "fragment", url: "https://93.184.216.34/x#frag", wantErr: ErrBadURL, wantText: []string{"fragment"}},
		{name: "relative", url: "/hooks/x", wantErr: ErrBadURL, wantText: []string{"absolute"}},
		{name: "no host", url: "https:///x", wantErr: ErrBadURL, wantText: []string{"no host"}},
		{name: "opaque", url: "http:93.184.216.34", wantErr: ErrBadURL},
		{name: "empty", url: "", wantErr: ErrBadURL},
		{name: "unparseable", url: "http://[::1", wantErr: ErrBadURL},
		{name: "bad port", url: "http://93.184.216.34:99999/x", wantErr: ErrBadURL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckURL(t.Context(), tc.url, tc.allowPrivate)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("CheckURL(%q): %v", tc.url, err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("CheckURL(%q) = %v, want %v", tc.url, err, tc.wantErr)
			}
			for _, s := range tc.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}

func TestDialControl(t *testing.T) {
	if DialControl(true) != nil {
		t.Errorf("DialControl(true) is not nil")
	}
	ctl := DialControl(false)
	tests := []struct {
		addr    string
		blocked bool
	}{
		{"93.184.216.34:443", false},
		{"[2606:2800:220:1:248:1893:25c8:1946]:443", false},
		{"127.0.0.1:80", true},
		{"10.2.3.4:80", true},
		{"192.168.0.1:443", true},
		{"169.254.169.254:80", true},
		{"100.100.100.100:80", true},
		{"0.0.0.0:80", true},
		{"[::1]:80", true},
		{"[fc00::1]:80", true},
		{"[fe80::1%eth0]:80", true},
		{"[::ffff:127.0.0.1]:80", true},
		{"not-an-ip:80", true},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			err := ctl("tcp", tc.addr, nil)
			if (err != nil) != tc.blocked {
				t.Fatalf("control(%s) = %v, blocked %v wanted", tc.addr, err, tc.blocked)
			}
			if tc.blocked && !strings.HasPrefix(tc.addr, "not") && !errors.Is(err, ErrPrivateAddress) {
				t.Errorf("error %v is not ErrPrivateAddress", err)
			}
		})
	}
}
