package client

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults of the retry policy; see WithRetries and WithBackoff.
const (
	DefaultMaxRetries = 3
	DefaultBackoff    = 250 * time.Millisecond
	DefaultMaxBackoff = 8 * time.Second
	// MaxRetryAfter is the longest Retry-After the client waits for; a
	// longer one ends the call with the *Error instead.
	MaxRetryAfter = time.Minute
)

// maxResponse bounds a JSON answer read into memory.
const maxResponse = 32 << 20

// Client is a callbackd REST API client. It is safe for concurrent use.
// Each field is the part of the API it is named after.
type Client struct {
	Callbacks *CallbacksService
	Teams     *TeamsService
	Webhooks  *WebhooksService
	APIKeys   *APIKeysService
	Hooks     *HooksService
	Triggers  *TriggersService

	base       string // without a trailing slash
	key        string
	http       *http.Client
	userAgent  string
	maxRetries int
	backoff    time.Duration
	maxBackoff time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends the requests through hc (timeouts, proxies, TLS).
// The default is a client with a 60 s timeout per request.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithRetries sets how many times a failed request is sent again (0: never).
// See the package documentation for which failures are retried.
func WithRetries(n int) Option { return func(c *Client) { c.maxRetries = max(n, 0) } }

// WithBackoff sets the wait before the first retry and its ceiling; each
// retry waits about twice as long as the one before, with jitter.
func WithBackoff(first, ceiling time.Duration) Option {
	return func(c *Client) { c.backoff, c.maxBackoff = first, max(ceiling, first) }
}

// New returns a client of the server at baseURL (such as
// "http://127.0.0.1:8080"; a path prefix is kept) that authenticates with
// apiKey.
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: server URL %q: %w", baseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: server URL %q: want http:// or https:// and a host", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: server URL %q: must not have a query or fragment", baseURL)
	}
	c := &Client{
		base:       strings.TrimRight(u.String(), "/"),
		key:        apiKey,
		http:       &http.Client{Timeout: 60 * time.Second},
		userAgent:  "callbackd-client-go",
		maxRetries: DefaultMaxRetries,
		backoff:    DefaultBackoff,
		maxBackoff: DefaultMaxBackoff,
	}
	for _, o := range opts {
		o(c)
	}
	c.Callbacks = &CallbacksService{c}
	c.Teams = &TeamsService{c}
	c.Webhooks = &WebhooksService{c}
	c.APIKeys = &APIKeysService{c}
	c.Hooks = &HooksService{c}
	c.Triggers = &TriggersService{c}
	return c, nil
}

// BaseURL is the server's URL as given to New, without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// RequestOption changes one call.
type RequestOption func(*callOptions)

type callOptions struct {
	idemKey    string
	replayed   *bool
	maxRetries *int
	hook       *hookAuth // TriggersService.Fire
}

// IdempotencyKey sends key as the POST's Idempotency-Key instead of a new
// random one. Sending the same request with the same key again (within the
// server's 24 hours) returns the first answer and does nothing, also from
// another process: use a key derived from the application's own request
// (an order or form ID) to make a create safe across restarts.
func IdempotencyKey(key string) RequestOption {
	return func(o *callOptions) { o.idemKey = key }
}

// Replayed sets *replayed to whether the server answered a POST with the
// stored response of an earlier request with the same Idempotency-Key.
func Replayed(replayed *bool) RequestOption {
	return func(o *callOptions) { o.replayed = replayed }
}

// Retries overrides the client's retry count for one call.
func Retries(n int) RequestOption {
	return func(o *callOptions) { n = max(n, 0); o.maxRetries = &n }
}

// NewIdempotencyKey returns a random key, as the client makes for each POST
// given none.
func NewIdempotencyKey() string { return "cbc_" + strings.ToLower(crand.Text()) }

// endpoint is one request's method, path (escaped) and query.
type endpoint struct {
	method string
	path   string
	query  url.Values
}

func ep(method, path string, segments ...string) endpoint {
	esc := make([]any, len(segments))
	for i, s := range segments {
		esc[i] = url.PathEscape(s)
	}
	return endpoint{method: method, path: fmt.Sprintf(path, esc...)}
}

func (e endpoint) with(q url.Values) endpoint { e.query = q; return e }

func (e endpoint) String() string { return e.method + " " + e.path }

// do sends the request (in as JSON when not nil) and decodes a 2xx answer
// into out (when not nil).
func (c *Client) do(ctx context.Context, e endpoint, in, out any, opts []RequestOption) error {
	resp, err := c.send(ctx, e, in, opts)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("callbackd: %s: read the answer: %w", e, err)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("callbackd: %s: decode the %d answer: %w", e, resp.StatusCode, err)
	}
	return nil
}

// send sends the request, retrying by the policy, and returns a 2xx
// response whose body the caller closes. Any other answer is an *Error.
func (c *Client) send(ctx context.Context, e endpoint, in any, opts []RequestOption) (*http.Response, error) {
	var o callOptions
	for _, opt := range opts {
		opt(&o)
	}
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, fmt.Errorf("callbackd: %s: encode the request: %w", e, err)
		}
	}
	if o.hook != nil {
		body = o.hook.body
	}
	if e.method == http.MethodPost && o.idemKey == "" {
		o.idemKey = NewIdempotencyKey()
	}
	// Every request is safe to send again: a POST with its Idempotency-Key,
	// which the server answers at most once; GET, DELETE, and PATCH, whose
	// bodies set fields to values.
	maxRetries := c.maxRetries
	if o.maxRetries != nil {
		maxRetries = *o.maxRetries
	}
	target := c.base + e.path
	if len(e.query) > 0 {
		target += "?" + e.query.Encode()
	}
	for attempt := 0; ; attempt++ {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, e.method, target, rd)
		if err != nil {
			return nil, fmt.Errorf("callbackd: %s: %w", e, err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "application/json, application/problem+json")
		req.Header.Set("User-Agent", c.userAgent)
		if o.hook != nil {
			for k, v := range o.hook.header {
				req.Header[k] = v
			}
		} else if c.key != "" {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		if o.idemKey != "" {
			req.Header.Set("Idempotency-Key", o.idemKey)
		}
		resp, err := c.http.Do(req)
		last := attempt >= maxRetries
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("callbackd: %s: %w", e, ctx.Err())
			}
			if last {
				return nil, connError(e, c.base, attempt, err)
			}
			if err := sleep(ctx, c.delay(attempt)); err != nil {
				return nil, fmt.Errorf("callbackd: %s: %w", e, err)
			}
			continue
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			if o.replayed != nil {
				*o.replayed = resp.Header.Get("Idempotent-Replayed") == "true"
			}
			return resp, nil
		}
		apiErr := readError(e, resp)
		wait, retry := c.retryable(apiErr, o.idemKey != "", attempt)
		if last || !retry {
			return nil, apiErr
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("callbackd: %s: %w (after %v)", e, err, apiErr)
		}
	}
}

// retryable says whether an error answer is worth sending again, and after
// how long.
func (c *Client) retryable(e *Error, keyed bool, attempt int) (time.Duration, bool) {
	switch {
	case e.Status == http.StatusTooManyRequests:
		if e.Code() == CodeDailyLimit { // lifts tomorrow, not in a moment
			return 0, false
		}
	case e.Status >= 500:
	case e.Status == http.StatusConflict && keyed && e.Code() == CodeIdempotencyInFlight:
	default:
		return 0, false
	}
	if e.RetryAfter > 0 {
		return e.RetryAfter, e.RetryAfter <= MaxRetryAfter
	}
	return c.delay(attempt), true
}

// delay is the backoff before retry number attempt+1: exponential, capped,
// with "equal jitter" (between half and all of it) so that clients that
// failed together do not come back together.
func (c *Client) delay(attempt int) time.Duration {
	d := c.backoff
	for range attempt {
		if d >= c.maxBackoff {
			break
		}
		d *= 2
	}
	d = min(d, c.maxBackoff)
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// connError says what failed when no answer came: the request, the server
// and the network's error.
func connError(e endpoint, base string, attempt int, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	tries := ""
	if attempt > 0 {
		tries = fmt.Sprintf(" (%d attempts)", attempt+1)
	}
	return &ConnError{Op: e.String(), Server: base, Attempts: attempt + 1,
		Err: fmt.Errorf("%w%s", err, tries)}
}

// ConnError is a request that got no answer from the server: it could not
// connect, the connection broke, or the HTTP client's timeout passed.
type ConnError struct {
	Op       string // "POST /v1/callbacks"
	Server   string // the base URL
	Attempts int
	Err      error
}

func (e *ConnError) Error() string {
	return fmt.Sprintf("callbackd: %s on %s: %v", e.Op, e.Server, e.Err)
}

func (e *ConnError) Unwrap() error { return e.Err }

// parseRetryAfter reads Retry-After: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(s, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
