package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/client"
)

// flaky answers each request with the next of answers (the last repeats)
// and records the requests' Idempotency-Keys.
type flaky struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []string
	answers []func(w http.ResponseWriter)
}

func newFlaky(t *testing.T, answers ...func(w http.ResponseWriter)) *flaky {
	f := &flaky{answers: answers}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		n := len(f.keys)
		f.keys = append(f.keys, r.Header.Get("Idempotency-Key"))
		f.mu.Unlock()
		f.answers[min(n, len(f.answers)-1)](w)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *flaky) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.keys...)
}

func problem(status int, code string, header ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		w.Write([]byte(`{"type":"urn:callbackd:problem:` + code + `","title":"T","status":` + strconv.Itoa(status) + `,"detail":"d"}`))
	}
}

func created(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	w.Write([]byte(`{"id":"cb_1","status":"scheduled","customer":{"number":"+15550000005"},"window":null,"retry":{},"attempt_count":0,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`))
}

// hangUp closes the connection without an answer.
func hangUp(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func fast(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(url, "k", append([]client.Option{client.WithBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var createBody = &client.CallbackCreate{Customer: client.Customer{Number: "+15550000005"}, RepNumber: "+15550000002"}

// A POST is sent again after 503, 429, a broken connection and a 409 in
// flight, with the same Idempotency-Key each time.
func TestRetriesKeepTheKey(t *testing.T) {
	t.Parallel()
	f := newFlaky(t, problem(503, "draining"), problem(429, "rate-limited", "Retry-After", "0"), hangUp,
		problem(409, "idempotency-in-flight"), created)
	c := fast(t, f.URL, client.WithRetries(4))
	cb, err := c.Callbacks.Create(t.Context(), createBody)
	if err != nil {
		t.Fatal(err)
	}
	if cb.ID != "cb_1" {
		t.Errorf("got %+v", cb)
	}
	keys := f.requests()
	if len(keys) != 5 || keys[0] == "" {
		t.Fatalf("requests' keys %q, want 5 with one key", keys)
	}
	for _, k := range keys {
		if k != keys[0] {
			t.Errorf("keys %q differ", keys)
		}
	}
	// The next create has a new key; one the caller gives is sent.
	if _, err := c.Callbacks.Create(t.Context(), createBody); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Callbacks.Create(t.Context(), createBody, client.IdempotencyKey("order-42")); err != nil {
		t.Fatal(err)
	}
	keys = f.requests()
	if keys[5] == keys[0] || keys[6] != "order-42" {
		t.Errorf("keys %q", keys)
	}
}

func TestRetriesGiveUp(t *testing.T) {
	t.Parallel()
	f := newFlaky(t, problem(500, "internal"))
	_, err := fast(t, f.URL, client.WithRetries(2)).Callbacks.Get(t.Context(), "cb_1")
	if e := client.AsError(err); e == nil || e.Status != 500 || e.Code() != client.CodeInternal || len(f.requests()) != 3 {
		t.Errorf("%v after %d requests, want a 500 after 3", err, len(f.requests()))
	}
	// Retries(0) for one call.
	f = newFlaky(t, problem(503, "draining"))
	_, err = fast(t, f.URL).Callbacks.Get(t.Context(), "cb_1", client.Retries(0))
	if client.StatusCode(err) != 503 || len(f.requests()) != 1 {
		t.Errorf("Retries(0): %v after %d requests", err, len(f.requests()))
	}
}

// Client errors, a daily limit, a Retry-After beyond MaxRetryAfter and a
// 409 that is not about the key are answered at once.
func TestNoRetry(t *testing.T) {
	t.Parallel()
	for name, answer := range map[string]func(http.ResponseWriter){
		"422":             problem(422, "validation"),
		"404":             problem(404, "not-found"),
		"daily limit":     problem(429, "daily-limit"),
		"long retry":      problem(503, "draining", "Retry-After", "3600"),
		"conflict":        problem(409, "conflict"),
		"401":             problem(401, "unauthenticated"),
		"not found plain": func(w http.ResponseWriter) { http.Error(w, "nope", 404) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFlaky(t, answer)
			_, err := fast(t, f.URL).Callbacks.Create(t.Context(), createBody)
			if client.AsError(err) == nil || len(f.requests()) != 1 {
				t.Errorf("%v after %d requests, want the error after 1", err, len(f.requests()))
			}
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	f := newFlaky(t, problem(429, "rate-limited", "Retry-After", "1"), created)
	start := time.Now()
	if _, err := fast(t, f.URL).Callbacks.Create(t.Context(), createBody); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("retried after %v, before the Retry-After of 1s", took)
	}
}

// A wait between retries ends with the context.
func TestRetryWaitEndsWithContext(t *testing.T) {
	t.Parallel()
	f := newFlaky(t, problem(503, "draining"))
	c, err := client.New(f.URL, "k", client.WithBackoff(time.Hour, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Callbacks.Get(ctx, "cb_1")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("%v after %v", err, time.Since(start))
	}
	if !strings.Contains(err.Error(), "503") {
		t.Errorf("%q does not say what was retried", err)
	}
}

// Something in between (a proxy) answers without a problem.
func TestNonProblemAnswer(t *testing.T) {
	t.Parallel()
	f := newFlaky(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html>bad gateway</html>"))
	})
	_, err := fast(t, f.URL, client.WithRetries(0)).Teams.List(t.Context())
	e := client.AsError(err)
	if e == nil || e.Status != 502 || e.Title != "Bad Gateway" || e.Detail != "<html>bad gateway</html>" || e.Code() != "" || e.Op != "GET /v1/teams" {
		t.Errorf("%#v", err)
	}
}

// A broken connection after a GET is retried; the request's query and
// path are as given.
func TestBrokenConnectionRetried(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var urls []string
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		first := n == 1
		urls = append(urls, r.URL.RequestURI())
		mu.Unlock()
		if first {
			hangUp(w)
			return
		}
		w.Write([]byte(`{"data":[{"id":"cb_2"}],"has_more":false}`))
	}))
	t.Cleanup(srv.Close)
	page, err := fast(t, srv.URL+"/prefix/").Callbacks.List(t.Context(), &client.ListParams{Customer: "+15550000005", Limit: 5,
		CreatedGTE: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != "cb_2" {
		t.Fatalf("%+v, %v", page, err)
	}
	want := "/prefix/v1/callbacks?created_gte=2026-01-02T03%3A04%3A05Z&customer=%2B15550000005&limit=5"
	if len(urls) != 2 || urls[1] != want {
		t.Errorf("requests %q, want twice %q", urls, want)
	}
}
