package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/callbackd/callbackd/store"
)

const (
	// errBodyMax is how much of a failed response's body an attempt keeps.
	errBodyMax = 256
	// drainMax is how much more of a body is read so that the connection
	// can be reused; a larger body closes it.
	drainMax = 64 << 10
	// errTextMax bounds an attempt's error text.
	errTextMax = 512
)

// errSkip and errDisabled tell UpdateEndpoint to write nothing: the
// endpoint changed meanwhile and the update no longer applies.
var (
	errSkip     = errors.New("endpoint update no longer applies")
	errDisabled = errors.New("endpoint disabled meanwhile")
)

// deliver makes one attempt at the item's delivery and records it.
func (s *Sender) deliver(it *item) outcome {
	d := it.d
	now := s.cfg.Now()
	var (
		ep      *store.Endpoint
		target  string
		secrets []string
	)
	if d.EndpointID != "" {
		mark := s.mark()
		e, err := s.o.GetEndpoint(d.EndpointID)
		switch {
		case errors.Is(err, store.ErrNotFound), err == nil && !e.Enabled:
			// The store gave up this endpoint's pending deliveries when it
			// was deleted or disabled, this one included.
			s.log.Debug("webhook endpoint gone or disabled; dropping its queued deliveries",
				"endpoint", d.EndpointID, "delivery", d.ID)
			return outcome{kind: outDone, dropTarget: true, mark: mark}
		case err != nil:
			return s.storeTrouble(it, "load endpoint", err)
		}
		ep, target, secrets = e, e.URL, e.ActiveSecrets(now)
	} else {
		sec, err := s.callbackSecret()
		if err != nil {
			return s.storeTrouble(it, "load callback secret", err)
		}
		target, secrets = d.URL, []string{sec}
	}
	// The payload is read for each attempt rather than kept: a delivery
	// may wait hours between attempts.
	body, err := s.o.Payload(d.EventID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		a := store.DeliveryAttempt{At: now, Error: "event payload missing from the store"}
		return s.giveUp(it, nil, target, a, a.Error)
	case err != nil:
		return s.storeTrouble(it, "load payload", err)
	}

	a, retryAfter := s.send(target, secrets, d.EventID, body, now)
	ok := a.StatusCode >= 200 && a.StatusCode < 300
	if !ok && s.ctx.Err() != nil {
		// Cancelled by Close: not the receiver's fault, and not recorded.
		return outcome{kind: outHold}
	}
	if s.cfg.OnAttempt != nil {
		s.cfg.OnAttempt(d, a)
	}
	if ok {
		return s.succeeded(it, ep, a)
	}
	if a.StatusCode == http.StatusGone {
		if ep != nil {
			return s.gone(it, ep, a)
		}
		// A callback's own URL has no endpoint to disable: this delivery
		// is given up; the callback's later events still try it.
		return s.giveUp(it, nil, target, a, a.Error)
	}
	return s.failed(it, ep, target, a, retryAfter)
}

func (s *Sender) callbackSecret() (string, error) {
	if p := s.secret.Load(); p != nil && *p != "" {
		return *p, nil
	}
	sec, err := s.o.CallbackSecret()
	if err != nil {
		return "", err
	}
	if sec == "" {
		return "", errors.New("the store has no callback webhook secret")
	}
	s.secret.Store(&sec)
	return sec, nil
}

// send POSTs body to target and returns the attempt and the delay a
// Retry-After header asked for (0 if none).
func (s *Sender) send(target string, secrets []string, msgID string, body []byte, ts time.Time) (store.DeliveryAttempt, time.Duration) {
	a := store.DeliveryAttempt{At: ts}
	if len(secrets) == 0 {
		a.Error = "the endpoint has no active signing secret"
		return a, 0
	}
	sig, err := signAll(secrets, msgID, ts, body)
	if err != nil {
		a.Error = "sign: " + err.Error()
		return a, 0
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		a.Error = "invalid URL: " + unwrapURLError(err).Error()
		return a, 0
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.cfg.UserAgent)
	req.Header.Set(HeaderID, msgID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)

	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		a.LatencyMS = ms(time.Since(start))
		a.Error = s.describe(ctx, err)
		return a, 0
	}
	snippet, rerr := io.ReadAll(io.LimitReader(resp.Body, errBodyMax))
	a.LatencyMS = ms(time.Since(start))
	if rerr == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainMax))
	}
	_ = resp.Body.Close()
	a.StatusCode = resp.StatusCode
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return a, 0
	}
	text := resp.Status
	if text == "" {
		text = strconv.Itoa(resp.StatusCode)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		text = "redirect not followed: " + text
		if loc := resp.Header.Get("Location"); loc != "" {
			text += " to " + loc
		}
	}
	if b := cleanText(snippet); b != "" {
		text += ": " + b
	}
	a.Error = truncate(text, errTextMax)
	return a, parseRetryAfter(resp.Header.Get("Retry-After"), s.cfg.Now())
}

// describe turns a client error into a short text without the URL (which
// the delivery names already).
func (s *Sender) describe(ctx context.Context, err error) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && s.ctx.Err() == nil {
		return fmt.Sprintf("timed out after %s", s.cfg.Timeout)
	}
	return truncate(unwrapURLError(err).Error(), errTextMax)
}

func (s *Sender) succeeded(it *item, ep *store.Endpoint, a store.DeliveryAttempt) outcome {
	d, err := s.o.RecordAttempt(it.id, a, store.DeliverySucceeded, time.Time{}, "")
	switch {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		return outcome{kind: outDone}
	case err != nil:
		// Delivered but not recorded: it stays pending and goes again,
		// with the same webhook-id, which receivers deduplicate on.
		s.log.Warn("webhook delivered but not recorded; it will be sent again",
			"delivery", it.id, "err", err)
		return s.retryLater(it)
	}
	it.d, it.storeErrs = d, 0
	if ep != nil && !ep.FailingSince.IsZero() {
		_, err := s.o.UpdateEndpoint(ep.ID, func(e *store.Endpoint) error {
			if e.FailingSince.IsZero() {
				return errSkip
			}
			e.FailingSince = time.Time{}
			return nil
		})
		if err != nil && !errors.Is(err, errSkip) && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("webhook endpoint: clearing failing_since", "endpoint", ep.ID, "err", err)
		}
	}
	s.log.Debug("webhook delivered", "delivery", it.id, "event", d.EventType, "target", targetName(d), "status", a.StatusCode,
		"latency_ms", a.LatencyMS, "attempts", len(d.Attempts))
	return outcome{kind: outDone}
}

// gone handles a 410 from an endpoint: the receiver asks for no more.
func (s *Sender) gone(it *item, ep *store.Endpoint, a store.DeliveryAttempt) outcome {
	now := s.cfg.Now()
	why := fmt.Sprintf("410 Gone from %s at %s", ep.URL, now.UTC().Format(time.RFC3339))
	mark := s.mark()
	if _, err := s.o.RecordAttempt(it.id, a, store.DeliveryFailed, time.Time{}, why); err != nil &&
		!errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("webhook: recording a 410", "delivery", it.id, "err", err)
	}
	if s.disable(ep, why, func(*store.Endpoint) bool { return true }) {
		return outcome{kind: outDone, dropTarget: true, mark: mark}
	}
	return outcome{kind: outDone}
}

// disable disables the endpoint with reason why when cond still holds on
// the stored endpoint; the store gives up its pending deliveries in the
// same transaction. It reports whether the endpoint is now disabled or
// gone, so that the sender drops its queued work.
func (s *Sender) disable(ep *store.Endpoint, why string, cond func(*store.Endpoint) bool) bool {
	_, err := s.o.UpdateEndpoint(ep.ID, func(e *store.Endpoint) error {
		if !e.Enabled {
			return errDisabled
		}
		if !cond(e) {
			return errSkip
		}
		e.Enabled, e.DisabledReason = false, why
		return nil
	})
	switch {
	case err == nil:
		s.log.Warn("webhook endpoint disabled; its pending deliveries are given up",
			"endpoint", ep.ID, "url", redactURL(ep.URL), "reason", redactReason(why, ep.URL))
		return true
	case errors.Is(err, errDisabled), errors.Is(err, store.ErrNotFound):
		// Disabled or deleted meanwhile: the store gave up its deliveries.
		return true
	case errors.Is(err, errSkip):
		return false
	default:
		s.log.Error("webhook endpoint: disabling", "endpoint", ep.ID, "err", err)
		return false
	}
}

// failed handles a failed attempt: retry on the schedule or give up, and
// keep the endpoint's failing streak.
func (s *Sender) failed(it *item, ep *store.Endpoint, target string, a store.DeliveryAttempt, retryAfter time.Duration) outcome {
	d := it.d
	n := len(d.Attempts) + 1 // this attempt's number
	if n > len(s.cfg.Schedule) {
		why := fmt.Sprintf("gave up after %d attempts; last: %s", n, a.Error)
		return s.giveUp(it, ep, target, a, why)
	}
	delay := s.jitter(s.cfg.Schedule[n-1])
	if retryAfter > delay {
		delay = retryAfter
	}
	delay = min(delay, maxRetryAfter)
	now := s.cfg.Now()
	next := now.Add(delay)
	nd, err := s.o.RecordAttempt(it.id, a, store.DeliveryPending, next, "")
	switch {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		return outcome{kind: outDone}
	case err != nil:
		return s.storeTrouble(it, "record attempt", err)
	}
	it.d, it.storeErrs = nd, 0
	s.log.Debug("webhook attempt failed; will retry", "delivery", it.id, "target", targetName(nd), "attempt", n,
		"error", a.Error, "retry_in", delay)
	if o, disabled := s.endpointFailed(ep, a.At, now); disabled {
		return o
	}
	return outcome{kind: outRetry, at: next}
}

// giveUp records a last attempt with status failed.
func (s *Sender) giveUp(it *item, ep *store.Endpoint, target string, a store.DeliveryAttempt, why string) outcome {
	now := s.cfg.Now()
	d, err := s.o.RecordAttempt(it.id, a, store.DeliveryFailed, time.Time{}, why)
	switch {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		return outcome{kind: outDone}
	case err != nil:
		return s.storeTrouble(it, "record attempt", err)
	}
	s.log.Warn("webhook delivery given up", "delivery", it.id, "event", d.EventID, "type", d.EventType,
		"target", targetName(d), "url", redactURL(target), "attempts", len(d.Attempts), "error", a.Error)
	if o, disabled := s.endpointFailed(ep, a.At, now); disabled {
		return o
	}
	return outcome{kind: outDone}
}

// endpointFailed keeps the endpoint's failing streak after an attempt made
// at at failed: it starts one, or disables the endpoint once the streak is
// DisableAfter long at now.
func (s *Sender) endpointFailed(ep *store.Endpoint, at, now time.Time) (outcome, bool) {
	if ep == nil {
		return outcome{}, false
	}
	if ep.FailingSince.IsZero() {
		_, err := s.o.UpdateEndpoint(ep.ID, func(e *store.Endpoint) error {
			if !e.FailingSince.IsZero() {
				return errSkip
			}
			e.FailingSince = at
			return nil
		})
		if err != nil && !errors.Is(err, errSkip) && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("webhook endpoint: setting failing_since", "endpoint", ep.ID, "err", err)
		}
		return outcome{}, false
	}
	if s.cfg.DisableAfter < 0 || now.Sub(ep.FailingSince) < s.cfg.DisableAfter {
		return outcome{}, false
	}
	mark := s.mark()
	why := "failing since " + ep.FailingSince.UTC().Format(time.RFC3339)
	if s.disable(ep, why, func(e *store.Endpoint) bool {
		return !e.FailingSince.IsZero() && now.Sub(e.FailingSince) >= s.cfg.DisableAfter
	}) {
		return outcome{kind: outDone, dropTarget: true, mark: mark}, true
	}
	return outcome{}, false
}

// storeTrouble retries an item the store failed on (not the receiver),
// backing off from 1 s (storeBackoff) doubling to 1 min; the attempt does
// not count.
func (s *Sender) storeTrouble(it *item, what string, err error) outcome {
	s.log.Warn("webhook sender: store error; will retry", "op", what, "delivery", it.id, "err", err)
	return s.retryLater(it)
}

func (s *Sender) retryLater(it *item) outcome {
	it.storeErrs++
	backoff := time.Minute
	if it.storeErrs <= 6 {
		backoff = min(s.storeBackoff<<(it.storeErrs-1), time.Minute)
	}
	return outcome{kind: outRetry, at: s.cfg.Now().Add(backoff)}
}

// jitter spreads d by ± Jitter.
func (s *Sender) jitter(d time.Duration) time.Duration {
	if s.cfg.Jitter <= 0 || d <= 0 {
		return d
	}
	f := 1 + s.cfg.Jitter*(2*rand.Float64()-1)
	return time.Duration(float64(d) * f)
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date. It returns 0 when absent, unreadable or not in the future, and at
// most maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// cleanText makes a response body snippet fit for an error text: valid
// UTF-8, one line, trimmed.
func cleanText(b []byte) string {
	s := strings.ToValidUTF8(string(b), "")
	// A cut in the middle of a rune at the end was removed above.
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

func targetName(d *store.Delivery) string {
	if d.EndpointID != "" {
		return d.EndpointID
	}
	return "callback_url"
}

// redactURL drops what may carry a secret (user information, query,
// fragment) from a URL before it is logged.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if u.RawQuery != "" {
		r.RawQuery = "…"
	}
	return r.String()
}

func redactReason(why, raw string) string {
	return strings.ReplaceAll(why, raw, redactURL(raw))
}
