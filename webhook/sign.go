// Package webhook sends the store's outbox: every pending delivery is
// POSTed to its endpoint (or a callback's own webhook_url), signed by the
// Standard Webhooks scheme (https://www.standardwebhooks.com), retried on a
// schedule until it is acknowledged or given up, and recorded attempt by
// attempt in the store. Delivery is at least once: a receiver deduplicates
// by the webhook-id header, which stays the same across retries.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// secretPrefix marks a symmetric Standard Webhooks secret.
const secretPrefix = "whsec_"

// DefaultTolerance is how far a webhook-timestamp may be from now when
// Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Errors Verify returns (wrapped), so a receiver can tell them apart.
var (
	// ErrMissingHeaders: webhook-id, webhook-timestamp or
	// webhook-signature is absent or empty.
	ErrMissingHeaders = errors.New("missing webhook headers")
	// ErrTimestamp: webhook-timestamp is not a number of seconds or is
	// further from now than the tolerance.
	ErrTimestamp = errors.New("webhook timestamp invalid or outside the tolerance")
	// ErrSignature: no signature in webhook-signature matches.
	ErrSignature = errors.New("no matching webhook signature")
	// ErrSecret: the secret is empty or not base64 (after "whsec_").
	ErrSecret = errors.New("invalid webhook secret")
)

// decodeSecret returns the HMAC key of a "whsec_" secret. The prefix is
// optional, as the reference libraries accept a bare base64 key too.
func decodeSecret(secret string) ([]byte, error) {
	s := strings.TrimPrefix(secret, secretPrefix)
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrSecret)
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		// Never echo the secret itself.
		return nil, fmt.Errorf("%w: not base64 after %q", ErrSecret, secretPrefix)
	}
	return key, nil
}

func mac(key []byte, msgID string, unix int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msgID))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, unix, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Sign returns the Standard Webhooks signature of body sent as message
// msgID at ts: "v1," and the base64 HMAC-SHA256, keyed with the decoded
// secret, of msgID "." unix seconds "." body.
func Sign(secret, msgID string, ts time.Time, body []byte) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, msgID, ts.Unix(), body)), nil
}

// signAll returns the webhook-signature header value: one signature per
// secret, space-separated.
func signAll(secrets []string, msgID string, ts time.Time, body []byte) (string, error) {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		sig, err := Sign(s, msgID, ts, body)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// Verify checks a received webhook: the webhook-id, webhook-timestamp and
// webhook-signature headers are present, the timestamp is within tolerance
// of now (0 means DefaultTolerance), and one of the space-separated
// signatures is the "v1" signature of body under secret (compared in
// constant time). Its errors wrap ErrMissingHeaders, ErrTimestamp,
// ErrSignature or ErrSecret.
func Verify(secret string, h http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	key, err := decodeSecret(secret)
	if err != nil {
		return err
	}
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	var missing []string
	for _, m := range []struct{ name, v string }{{HeaderID, id}, {HeaderTimestamp, tsText}, {HeaderSignature, sigs}} {
		if strings.TrimSpace(m.v) == "" {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrMissingHeaders, strings.Join(missing, ", "))
	}
	unix, err := strconv.ParseInt(strings.TrimSpace(tsText), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not unix seconds", ErrTimestamp, HeaderTimestamp, tsText)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	ts := time.Unix(unix, 0)
	if d := now.Sub(ts); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s is %s from now, more than %s", ErrTimestamp, HeaderTimestamp, d.Round(time.Second), tolerance)
	}
	want := mac(key, id, unix, body)
	ok := false
	for _, s := range strings.Fields(sigs) {
		version, sig, found := strings.Cut(s, ",")
		if !found || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		// Check every entry rather than stopping at the first match, so the
		// time taken does not depend on which one matched.
		if hmac.Equal(got, want) {
			ok = true
		}
	}
	if !ok {
		return ErrSignature
	}
	return nil
}
