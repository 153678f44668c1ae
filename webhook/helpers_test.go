package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/store"
)

// openStore opens a fresh store, closed when the test ends.
func openStore(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Errorf("store Close: %v", err)
		}
	})
	return db
}

// fastConfig is a sender configuration for tests: local receivers, retries
// in milliseconds.
func fastConfig(t testing.TB) Config {
	t.Helper()
	return Config{
		Schedule:     []time.Duration{0, 20 * time.Millisecond, 40 * time.Millisecond},
		Timeout:      2 * time.Second,
		AllowPrivate: true,
		Log:          slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// startSender starts a sender on o, closed when the test ends.
func startSender(t testing.TB, o Outbox, cfg Config) *Sender {
	t.Helper()
	s := newSender(t, o, cfg)
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return s
}

// newSender makes a sender on o, closed when the test ends, not started.
func newSender(t testing.TB, o Outbox, cfg Config) *Sender {
	t.Helper()
	s := New(o, cfg)
	s.storeBackoff = 10 * time.Millisecond
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("sender Close: %v", err)
		}
	})
	return s
}

// inMemory is how many deliveries the sender holds.
func (s *Sender) inMemory() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.known)
}

// newEndpoint creates an enabled endpoint for url with one fresh secret.
func newEndpoint(t testing.TB, db *store.DB, url string) *store.Endpoint {
	t.Helper()
	e := &store.Endpoint{URL: url, Enabled: true, Secrets: []store.Secret{{Value: store.NewSecret()}}}
	if err := db.CreateEndpoint(e); err != nil {
		t.Fatalf("CreateEndpoint: %v", err)
	}
	return e
}

// newCallback creates a callback (its event 1, callback.scheduled) and
// appends more events (call.initiated, sequence 2, 3, ...); it returns
// the callback's ID.
func newCallback(t testing.TB, db *store.DB, webhookURL string, more int) string {
	t.Helper()
	cb := &store.Callback{Customer: store.Party{Number: "+15550000005"}, WebhookURL: webhookURL}
	if _, err := db.CreateCallback(cb, "callback.scheduled", map[string]any{"x": 1}, nil); err != nil {
		t.Fatalf("CreateCallback: %v", err)
	}
	appendEvents(t, db, cb.ID, more)
	return cb.ID
}

func appendEvents(t testing.TB, db *store.DB, id string, n int) {
	t.Helper()
	for i := range n {
		_, _, err := db.UpdateCallback(id, func(u *store.Update) error {
			_, err := u.Append("call.initiated", map[string]any{"attempt": i + 1})
			return err
		})
		if err != nil {
			t.Fatalf("UpdateCallback: %v", err)
		}
	}
}

// deliveries returns the endpoint's deliveries, oldest first.
func deliveries(t testing.TB, db *store.DB, endpointID string) []*store.Delivery {
	t.Helper()
	ds, _, err := db.ListDeliveries(endpointID, "", 100)
	if err != nil {
		t.Fatalf("ListDeliveries: %v", err)
	}
	slices.Reverse(ds)
	return ds
}

// waitFor polls cond until it holds or d has passed.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// request is one request a receiver got.
type request struct {
	n        int // 1 for the first
	id       string
	typ      string
	seq      uint64
	callback string
	path     string
	sigs     int
	status   int // what the receiver answered
	at       time.Time
	header   http.Header
	body     []byte
}

// receiver is a webhook receiver: it verifies every request's signature
// under each of its secrets with Verify, decodes the envelope and answers
// as told.
type receiver struct {
	t   testing.TB
	srv *httptest.Server

	mu      sync.Mutex
	secrets []string
	now     func() time.Time // Verify's clock; nil = time.Now
	// answer decides the response to the n-th request (from 1): status
	// and body; it may set headers on w. nil: 200.
	answer      func(n int, w http.ResponseWriter, r *http.Request) (int, string)
	reqs        []request
	inflight    int
	maxInflight int
}

func newReceiver(t testing.TB, secrets ...string) *receiver {
	t.Helper()
	r := &receiver{t: t, secrets: secrets}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setAnswer(fn func(n int, w http.ResponseWriter, r *http.Request) (int, string)) {
	r.mu.Lock()
	r.answer = fn
	r.mu.Unlock()
}

func (r *receiver) setSecrets(s ...string) {
	r.mu.Lock()
	r.secrets = s
	r.mu.Unlock()
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	n := len(r.reqs) + 1
	rec := request{n: n, id: req.Header.Get(HeaderID), path: req.URL.Path, at: time.Now(),
		sigs: len(strings.Fields(req.Header.Get(HeaderSignature))), header: req.Header.Clone(), body: body}
	r.reqs = append(r.reqs, rec)
	r.inflight++
	r.maxInflight = max(r.maxInflight, r.inflight)
	secrets, answer, now := r.secrets, r.answer, time.Now
	if r.now != nil {
		now = r.now
	}
	r.mu.Unlock()

	if req.Method != http.MethodPost {
		r.t.Errorf("receiver: method %s", req.Method)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		r.t.Errorf("receiver: Content-Type %q", ct)
	}
	if len(secrets) == 0 {
		r.t.Errorf("receiver: no secret to verify with")
	}
	for _, s := range secrets {
		if err := Verify(s, req.Header, body, 5*time.Minute, now()); err != nil {
			r.t.Errorf("receiver: request %d: Verify: %v", n, err)
		}
	}
	var env store.Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		r.t.Errorf("receiver: body %q: %v", body, err)
	}
	if env.ID != rec.id {
		r.t.Errorf("receiver: envelope id %q, webhook-id %q", env.ID, rec.id)
	}
	status, text := http.StatusOK, ""
	if answer != nil {
		status, text = answer(n, w, req)
	}

	r.mu.Lock()
	r.inflight--
	i := n - 1
	r.reqs[i].typ, r.reqs[i].seq, r.reqs[i].status = env.Type, env.Sequence, status
	if env.Data.Callback != nil {
		r.reqs[i].callback = env.Data.Callback.ID
	}
	r.mu.Unlock()
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text)
}

// requests returns what the receiver got so far (answered or not).
func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

// peak is the most requests the receiver had in flight at once.
func (r *receiver) peak() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxInflight
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

// succeeded returns the requests answered with a 2xx.
func (r *receiver) succeeded() []request {
	var out []request
	for _, q := range r.requests() {
		if q.status >= 200 && q.status < 300 {
			out = append(out, q)
		}
	}
	return out
}

// failFirst answers the first n requests with 500 "boom", then 200.
func failFirst(n int) func(int, http.ResponseWriter, *http.Request) (int, string) {
	return func(i int, _ http.ResponseWriter, _ *http.Request) (int, string) {
		if i <= n {
			return http.StatusInternalServerError, "boom"
		}
		return http.StatusOK, ""
	}
}
