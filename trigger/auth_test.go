package trigger

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestVerifyAuth(t *testing.T) {
	const secret = "tsec_0123456789abcdef"
	body := []byte(`{"phone": "+14155550123"}`)
	h := hmac.New(sha256.New, []byte(secret))
	h.Write(body)
	goodSig := "sha256=" + hex.EncodeToString(h.Sum(nil))
	if got := Sign(secret, body); got != goodSig {
		t.Fatalf("Sign = %q, want %q", got, goodSig)
	}
	otherSig := Sign("another secret", body)

	tests := []struct {
		name    string
		mode    string
		secret  string
		target  string            // the request URL
		headers map[string]string // set on the request
		body    []byte            // what the verifier is given; nil: body
		ok      bool
		why     string // a substring of the refusal
		old     string // the secret before a rotation, still accepted
	}{
		{"header right", AuthTokenHeader, secret, "/v1/hooks/trg_1", map[string]string{HeaderToken: secret}, nil, true, "", ""},
		{"empty mode is header", "", secret, "/v1/hooks/trg_1", map[string]string{HeaderToken: secret}, nil, true, "", ""},
		{"header wrong", AuthTokenHeader, secret, "/v1/hooks/trg_1", map[string]string{HeaderToken: secret + "x"}, nil, false, "wrong", ""},
		{"header prefix of secret", AuthTokenHeader, secret, "/v1/hooks/trg_1", map[string]string{HeaderToken: secret[:8]}, nil, false, "wrong", ""},
		{"header missing", AuthTokenHeader, secret, "/v1/hooks/trg_1", nil, nil, false, "no X-Callbackd-Token header", ""},
		{"header mode ignores query", AuthTokenHeader, secret, "/v1/hooks/trg_1?token=" + secret, nil, nil, false, "no X-Callbackd-Token", ""},
		{"query right", AuthTokenQuery, secret, "/v1/hooks/trg_1?token=" + secret, nil, nil, true, "", ""},
		{"query wrong", AuthTokenQuery, secret, "/v1/hooks/trg_1?token=guess", nil, nil, false, "wrong token", ""},
		{"query missing", AuthTokenQuery, secret, "/v1/hooks/trg_1", map[string]string{HeaderToken: secret}, nil, false, "no token query", ""},
		{"hmac right", AuthHMACSHA256, secret, "/v1/hooks/trg_1", map[string]string{HeaderSignature: goodSig}, nil, true, "", ""},
		{"hmac upper-case hex", AuthHMACSHA256, secret, "/v1/hooks/trg_1",
			map[string]string{HeaderSignature: "sha256=" + strings.ToUpper(goodSig[7:])}, nil, true, "", ""},
		{"hmac other key", AuthHMACSHA256, secret, "/v1/hooks/trg_1", map[string]string{HeaderSignature: otherSig}, nil, false, "does not match", ""},
		{"hmac body changed", AuthHMACSHA256, secret, "/v1/hooks/trg_1", map[string]string{HeaderSignature: goodSig},
			[]byte(`{"phone": "+14155550999"}`), false, "does not match", ""},
		{"hmac no prefix", AuthHMACSHA256, secret, "/v1/hooks/trg_1", map[string]string{HeaderSignature: goodSig[7:]}, nil, false, "sha256=<hex>", ""},
		{"hmac not hex", AuthHMACSHA256, secret, "/v1/hooks/trg_1", map[string]string{HeaderSignature: "sha256=zz"}, nil, false, "64 hex digits", ""},
		{"hmac short", AuthHMACSHA256, secret, "/v1/hooks/trg_1", map[string]string{HeaderSignature: goodSig[:20]}, nil, false, "64 hex digits", ""},
		{"hmac missing", AuthHMACSHA256, secret, "/v1/hooks/trg_1", map[string]string{HeaderToken: secret}, nil, false, "no X-Callbackd-Signature", ""},
		{"no secret", AuthTokenHeader, "", "/v1/hooks/trg_1", map[string]string{HeaderToken: ""}, nil, false, "no secret", ""},
		{"unknown mode", "basic", secret, "/v1/hooks/trg_1", map[string]string{HeaderToken: secret}, nil, false, "unknown auth mode", ""},

		// During a rotation's overlap the secret before it works too; a
		// third does not.
		{"header, the old secret", AuthTokenHeader, secret, "/v1/hooks/trg_1", map[string]string{HeaderToken: "another secret"}, nil, true, "", "another secret"},
		{"header, the new secret", AuthTokenHeader, secret, "/v1/hooks/trg_1", map[string]string{HeaderToken: secret}, nil, true, "", "another secret"},
		{"header, neither", AuthTokenHeader, secret, "/v1/hooks/trg_1", map[string]string{HeaderToken: "a third"}, nil, false, "wrong", "another secret"},
		{"query, the old secret", AuthTokenQuery, secret, "/v1/hooks/trg_1?token=old", nil, nil, true, "", "old"},
		{"hmac, the old key", AuthHMACSHA256, secret, "/v1/hooks/trg_1", map[string]string{HeaderSignature: otherSig}, nil, true, "", "another secret"},
		{"hmac, neither key", AuthHMACSHA256, "tsec_third", "/v1/hooks/trg_1", map[string]string{HeaderSignature: goodSig}, nil, false, "does not match", "another secret"},
		{"an empty old secret", AuthTokenHeader, secret, "/v1/hooks/trg_1", map[string]string{HeaderToken: secret}, nil, false, "no secret", "\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", tt.target, strings.NewReader(string(body)))
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			b := body
			if tt.body != nil {
				b = tt.body
			}
			s := baseSpec()
			s.Auth.Mode = tt.mode
			secrets := []string{tt.secret}
			switch tt.old {
			case "":
			case "\x00":
				secrets = append(secrets, "")
			default:
				secrets = append(secrets, tt.old)
			}
			err := VerifyAuth(s, secrets, r, b)
			if tt.ok {
				if err != nil {
					t.Fatalf("VerifyAuth: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("VerifyAuth = %v, want ErrUnauthorized saying %q", err, tt.why)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("the refusal %q shows the secret", err)
			}
		})
	}
}
