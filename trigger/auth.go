package trigger

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// The inbound request's credentials.
const (
	HeaderToken     = "X-Callbackd-Token"
	HeaderSignature = "X-Callbackd-Signature"
	QueryToken      = "token"
)

// ErrUnauthorized is wrapped by every VerifyAuth refusal.
var ErrUnauthorized = errors.New("trigger: unauthorized")

// VerifyAuth checks that r, whose raw body is body, carries one of the
// trigger's secrets (the current one, and during a rotation's overlap the
// one before it) as s.Auth.Mode says: the X-Callbackd-Token header (also
// for an empty mode), the token query parameter, or X-Callbackd-Signature:
// sha256=<hex HMAC-SHA256 of body keyed with the secret>. Comparisons take
// constant time. Any failure, no secret or an empty one and an unknown
// mode too, wraps ErrUnauthorized; the message says what was missing or
// wrong but never a secret.
func VerifyAuth(s Spec, secrets []string, r *http.Request, body []byte) error {
	if len(secrets) == 0 || slices.Contains(secrets, "") {
		return fmt.Errorf("%w: the trigger has no secret", ErrUnauthorized)
	}
	mode := s.Auth.Mode
	if mode == "" {
		mode = AuthTokenHeader
	}
	anyOf := func(ok func(secret string) bool) bool {
		return slices.ContainsFunc(secrets, ok)
	}
	switch mode {
	case AuthTokenHeader:
		got := r.Header.Get(HeaderToken)
		if got == "" {
			return fmt.Errorf("%w: no %s header", ErrUnauthorized, HeaderToken)
		}
		if !anyOf(func(secret string) bool { return equalSecret(got, secret) }) {
			return fmt.Errorf("%w: wrong %s", ErrUnauthorized, HeaderToken)
		}
		return nil
	case AuthTokenQuery:
		got := r.URL.Query().Get(QueryToken)
		if got == "" {
			return fmt.Errorf("%w: no %s query parameter", ErrUnauthorized, QueryToken)
		}
		if !anyOf(func(secret string) bool { return equalSecret(got, secret) }) {
			return fmt.Errorf("%w: wrong %s query parameter", ErrUnauthorized, QueryToken)
		}
		return nil
	case AuthHMACSHA256:
		got := r.Header.Get(HeaderSignature)
		if got == "" {
			return fmt.Errorf("%w: no %s header", ErrUnauthorized, HeaderSignature)
		}
		hexSig, ok := strings.CutPrefix(strings.TrimSpace(got), "sha256=")
		if !ok {
			return fmt.Errorf("%w: %s is not sha256=<hex>", ErrUnauthorized, HeaderSignature)
		}
		sig, err := hex.DecodeString(hexSig)
		if err != nil || len(sig) != sha256.Size {
			return fmt.Errorf("%w: %s is not sha256=<64 hex digits>", ErrUnauthorized, HeaderSignature)
		}
		if !anyOf(func(secret string) bool { return hmac.Equal(sig, mac(secret, body)) }) {
			return fmt.Errorf("%w: %s does not match the body", ErrUnauthorized, HeaderSignature)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown auth mode %q", ErrUnauthorized, mode)
}

// Sign returns the X-Callbackd-Signature value for body: "sha256=" and the
// hex HMAC-SHA256 keyed with secret. Senders compute the same.
func Sign(secret string, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, body))
}

func mac(secret string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write(body)
	return h.Sum(nil)
}

// equalSecret compares in constant time, also across lengths: both sides
// are hashed first.
func equalSecret(got, secret string) bool {
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
