package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test vectors below are the ones published with the Standard Webhooks
// specification's reference libraries (github.com/standard-webhooks/
// standard-webhooks, libraries/go/webhook_symmetric_test.go and
// libraries/javascript/src/webhook.test.ts, "sign function works" and the
// verification cases): the key, message ID, timestamp, payload and
// expected signature, and the wrong, partial and multiple signatures.
const (
	vecSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecBareKey   = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // the same key without its prefix
	vecMsgID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecUnix      = 1614265330
	vecPayload   = `{"test": 2432232314}`
	vecSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	vecWrongSig  = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
	vecWrongV2   = "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
	vecGarbage   = "v1,dawfeoifkpqwoekfpqoekf"
)

func TestSignVectors(t *testing.T) {
	tests := []struct {
		name, secret, msgID string
		unix                int64
		body                string
		want                string
		wantErr             error
	}{
		{name: "published vector", secret: vecSecret, msgID: vecMsgID, unix: vecUnix, body: vecPayload, want: vecSignature},
		{name: "key without whsec_ prefix", secret: vecBareKey, msgID: vecMsgID, unix: vecUnix, body: vecPayload, want: vecSignature},
		{name: "other timestamp differs", secret: vecSecret, msgID: vecMsgID, unix: vecUnix + 1, body: vecPayload},
		{name: "other id differs", secret: vecSecret, msgID: "msg_other", unix: vecUnix, body: vecPayload},
		{name: "empty secret", secret: "whsec_", msgID: vecMsgID, unix: vecUnix, body: vecPayload, wantErr: ErrSecret},
		{name: "secret not base64", secret: "whsec_not*base64", msgID: vecMsgID, unix: vecUnix, body: vecPayload, wantErr: ErrSecret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Sign(tc.secret, tc.msgID, time.Unix(tc.unix, 0), []byte(tc.body))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Sign error %v, want %v", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), strings.TrimPrefix(tc.secret, "whsec_")) && len(tc.secret) > 6 {
					t.Errorf("error %q shows the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			switch {
			case tc.want != "" && got != tc.want:
				t.Errorf("Sign = %s, want %s", got, tc.want)
			case tc.want == "" && got == vecSignature:
				t.Errorf("Sign = the vector's signature for other input")
			case !strings.HasPrefix(got, "v1,"):
				t.Errorf("Sign = %s, want a v1 signature", got)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(vecUnix, 0)
	headers := func(id, ts, sig string) http.Header {
		h := http.Header{}
		for k, v := range map[string]string{HeaderID: id, HeaderTimestamp: ts, HeaderSignature: sig} {
			if v != "" {
				h.Set(k, v)
			}
		}
		return h
	}
	ts := strconv.Itoa(vecUnix)
	tests := []struct {
		name      string
		secret    string
		h         http.Header
		body      string
		tolerance time.Duration
		now       time.Time
		wantErr   error // nil: valid
	}{
		{name: "published vector", h: headers(vecMsgID, ts, vecSignature)},
		{name: "bare key", secret: vecBareKey, h: headers(vecMsgID, ts, vecSignature)},
		{name: "published multiple signatures, one valid", h: headers(vecMsgID, ts,
			strings.Join([]string{vecWrongSig, vecWrongV2, vecSignature, vecWrongSig}, " "))},
		{name: "published wrong signature", h: headers(vecMsgID, ts, vecWrongSig), wantErr: ErrSignature},
		{name: "right value under another version", h: headers(vecMsgID, ts, "v2,"+strings.TrimPrefix(vecSignature, "v1,")), wantErr: ErrSignature},
		{name: "partial signature", h: headers(vecMsgID, ts, "v1,"), wantErr: ErrSignature},
		{name: "truncated signature", h: headers(vecMsgID, ts, vecSignature[:8]), wantErr: ErrSignature},
		{name: "garbage signature", h: headers(vecMsgID, ts, vecGarbage), wantErr: ErrSignature},
		{name: "body changed", h: headers(vecMsgID, ts, vecSignature), body: `{"test": 2432232315}`, wantErr: ErrSignature},
		{name: "id changed", h: headers("msg_other", ts, vecSignature), wantErr: ErrSignature},
		{name: "other secret", secret: "whsec_" + strings.Repeat("A", 32), h: headers(vecMsgID, ts, vecSignature), wantErr: ErrSignature},
		{name: "missing id", h: headers("", ts, vecSignature), wantErr: ErrMissingHeaders},
		{name: "missing timestamp", h: headers(vecMsgID, "", vecSignature), wantErr: ErrMissingHeaders},
		{name: "missing signature", h: headers(vecMsgID, ts, ""), wantErr: ErrMissingHeaders},
		{name: "timestamp not a number", h: headers(vecMsgID, "hello", vecSignature), wantErr: ErrTimestamp},
		{name: "timestamp too old", h: headers(vecMsgID, ts, vecSignature), now: now.Add(5*time.Minute + time.Second), wantErr: ErrTimestamp},
		{name: "timestamp too new", h: headers(vecMsgID, ts, vecSignature), now: now.Add(-5*time.Minute - time.Second), wantErr: ErrTimestamp},
		{name: "timestamp at the edge of the tolerance", h: headers(vecMsgID, ts, vecSignature), now: now.Add(5 * time.Minute)},
		{name: "timestamp within a custom tolerance", h: headers(vecMsgID, ts, vecSignature), tolerance: time.Hour, now: now.Add(59 * time.Minute)},
		{name: "timestamp outside a custom tolerance", h: headers(vecMsgID, ts, vecSignature), tolerance: time.Second, now: now.Add(2 * time.Second), wantErr: ErrTimestamp},
		{name: "bad secret", secret: "whsec_***", h: headers(vecMsgID, ts, vecSignature), wantErr: ErrSecret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			secret, body, at := tc.secret, tc.body, tc.now
			if secret == "" {
				secret = vecSecret
			}
			if body == "" {
				body = vecPayload
			}
			if at.IsZero() {
				at = now
			}
			err := Verify(secret, tc.h, []byte(body), tc.tolerance, at)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Verify error %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	secrets := []string{"whsec_" + strings.Repeat("QUJD", 8), vecSecret}
	ts := time.Now()
	body := []byte(`{"id":"evt_1","type":"callback.scheduled"}`)
	sig, err := signAll(secrets, "evt_1", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(sig)); n != 2 {
		t.Fatalf("%d signatures in %q, want 2", n, sig)
	}
	h := http.Header{}
	h.Set(HeaderID, "evt_1")
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	for _, s := range secrets {
		if err := Verify(s, h, body, 0, ts); err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
}
