package sip

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateNumber(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"+4930123456", true},
		{"1001", true},
		{"*21#", true},
		{"#31#0049", true},
		{"", false},
		{"+", false},
		{"*#", false},
		{"12+34", false},
		{"1001\r\nX-Evil: 1", false},
		{"1001\n", false},
		{"100 1", false},
		{"1001@evil.example", false},
		{"1001;transport=tcp", false},
		{"1001>", false},
		{"sip:1001", false},
		{"١٢٣", false}, // non-ASCII digits
		{strings.Repeat("1", 33), false},
	}
	for _, tt := range tests {
		err := ValidateNumber(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateNumber(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidInput) {
			t.Errorf("ValidateNumber(%q) error %v is not ErrInvalidInput", tt.in, err)
		}
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"", true},
		{"Sales Team", true},
		{"Zoë Müller-Lüdenscheidt", true},
		{"O'Brien & Co.", true},
		{"Bad\"Quote", false},
		{`Back\slash`, false},
		{"Line\r\nX-Evil: 1", false},
		{"Tab\tName", false},
		{"Nul\x00", false},
		{"Del\x7f", false},
		{"\xff\xfe", false},
		{"Zero\u200bWidth", false},
		{strings.Repeat("n", 65), false},
	}
	for _, tt := range tests {
		err := ValidateName(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidInput) {
			t.Errorf("ValidateName(%q) error %v is not ErrInvalidInput", tt.in, err)
		}
	}
}

func TestClassifyCode(t *testing.T) {
	tests := map[int]Outcome{
		486: OutcomeBusy, 600: OutcomeBusy,
		408: OutcomeNoAnswer, 480: OutcomeNoAnswer,
		403: OutcomeRejected, 603: OutcomeRejected,
		404: OutcomeUnreachable, 484: OutcomeUnreachable, 503: OutcomeUnreachable,
		401: OutcomeAuthFailed, 407: OutcomeAuthFailed,
		302: OutcomeFailed, 488: OutcomeFailed, 500: OutcomeFailed, 487: OutcomeFailed,
	}
	for code, want := range tests {
		if got := classifyCode(code); got != want {
			t.Errorf("classifyCode(%d) = %s, want %s", code, got, want)
		}
	}
}

func TestConfigChecks(t *testing.T) {
	good := Config{Listen: "127.0.0.5:5060"}
	tests := []struct {
		name   string
		cfg    Config
		trunks []TrunkConfig
		ok     bool
	}{
		{"minimal", good, []TrunkConfig{{Name: "t", Host: "sip.example.com"}}, true},
		{"wildcard listen", Config{Listen: "0.0.0.0:5060"}, nil, false},
		{"host name listen", Config{Listen: "localhost:5060"}, nil, false},
		{"unknown transport", Config{Listen: "127.0.0.5:5060", Transports: []string{"sctp"}}, nil, false},
		{"tls without cert", Config{Listen: "127.0.0.5:5060", Transports: []string{"tls"}}, nil, false},
		{"cert without key", Config{Listen: "127.0.0.5:5060", TLSCert: "c.pem"}, nil, false},
		{"trunk transport not enabled", good, []TrunkConfig{{Name: "t", Host: "h", Transport: "tcp"}}, false},
		{"trunk without name", good, []TrunkConfig{{Host: "h"}}, false},
		{"duplicate trunk", good, []TrunkConfig{{Name: "t", Host: "h"}, {Name: "t", Host: "h2"}}, false},
		{"injected host", good, []TrunkConfig{{Name: "t", Host: "h\r\nX: y"}}, false},
		{"injected from user", good, []TrunkConfig{{Name: "t", Host: "h", FromUser: "a@b"}}, false},
		{"password with newline", good, []TrunkConfig{{Name: "t", Host: "h", Password: "a\nb"}}, false},
		{"short session expires", good, []TrunkConfig{{Name: "t", Host: "h", SessionExpires: 30 * time.Second}}, false},
		{"register without user", good, []TrunkConfig{{Name: "t", Host: "h", Register: true}}, false},
		{"bad proxy", good, []TrunkConfig{{Name: "t", Host: "h", OutboundProxy: "p:0"}}, false},
		{"negative limits", good, []TrunkConfig{{Name: "t", Host: "h", MaxCalls: -1}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := New(tt.cfg, tt.trunks, nil)
			if (err == nil) != tt.ok {
				t.Fatalf("New: %v, want ok=%v", err, tt.ok)
			}
			if u != nil {
				u.Close()
			}
		})
	}
}

func TestParseSessionExpires(t *testing.T) {
	tests := []struct {
		hdr, name string
		d         time.Duration
		refresher string
		ok        bool
	}{
		{"1800;refresher=uac", "Session-Expires", 1800 * time.Second, "uac", true},
		{"90 ; refresher=UAS", "Session-Expires", 90 * time.Second, "uas", true},
		{"600", "x", 600 * time.Second, "", true},
		{"abc", "Session-Expires", 0, "", false},
		{"-5", "Session-Expires", 0, "", false},
	}
	for _, tt := range tests {
		res := sipResponse(200)
		res.AppendHeader(sipHeader(tt.name, tt.hdr))
		d, r, ok := parseSessionExpires(res)
		if d != tt.d || r != tt.refresher || ok != tt.ok {
			t.Errorf("%s: %s = %v %q %v, want %v %q %v", tt.name, tt.hdr, d, r, ok, tt.d, tt.refresher, tt.ok)
		}
	}
}
