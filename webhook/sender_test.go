package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/fakeclock"
	"github.com/callbackd/callbackd/store"
)

func TestDeliverRetries(t *testing.T) {
	slowFirst := func(n int, _ http.ResponseWriter, r *http.Request) (int, string) {
		if n == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}
		return http.StatusOK, ""
	}
	tests := []struct {
		name       string
		answer     func(int, http.ResponseWriter, *http.Request) (int, string)
		wantReqs   int
		wantStatus store.DeliveryStatus
		wantErrs   []string // each failed attempt's error contains
	}{
		{name: "at once", answer: failFirst(0), wantReqs: 1, wantStatus: store.DeliverySucceeded},
		{name: "fails twice then succeeds", answer: failFirst(2), wantReqs: 3, wantStatus: store.DeliverySucceeded,
			wantErrs: []string{"500 Internal Server Error: boom", "500 Internal Server Error: boom"}},
		{name: "succeeds on the last retry", answer: failFirst(3), wantReqs: 4, wantStatus: store.DeliverySucceeded,
			wantErrs: []string{"500", "500", "500"}},
		{name: "gives up after the schedule", answer: failFirst(100), wantReqs: 4, wantStatus: store.DeliveryFailed,
			wantErrs: []string{"500", "500", "500", "500"}},
		{name: "slow past the timeout, then fast", answer: slowFirst, wantReqs: 2, wantStatus: store.DeliverySucceeded,
			wantErrs: []string{"timed out after 150ms"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openStore(t)
			r := newReceiver(t)
			r.setAnswer(tc.answer)
			ep := newEndpoint(t, db, r.srv.URL)
			r.setSecrets(ep.Secrets[0].Value)
			cfg := fastConfig(t)
			cfg.Timeout = 150 * time.Millisecond
			var attempts atomic.Int32
			cfg.OnAttempt = func(*store.Delivery, store.DeliveryAttempt) { attempts.Add(1) }
			s := startSender(t, db, cfg)
			newCallback(t, db, "", 0)

			var d *store.Delivery
			waitFor(t, 5*time.Second, "the delivery to finish", func() bool {
				ds := deliveries(t, db, ep.ID)
				d = ds[0]
				return len(ds) == 1 && d.Status != store.DeliveryPending
			})
			if d.Status != tc.wantStatus {
				t.Fatalf("status %s (%s), want %s", d.Status, d.Error, tc.wantStatus)
			}
			if len(d.Attempts) != tc.wantReqs {
				t.Fatalf("%d attempts recorded, want %d: %+v", len(d.Attempts), tc.wantReqs, d.Attempts)
			}
			if got := int(attempts.Load()); got != tc.wantReqs {
				t.Errorf("OnAttempt told of %d attempts, want %d", got, tc.wantReqs)
			}
			reqs := r.requests()
			if len(reqs) != tc.wantReqs {
				t.Fatalf("receiver got %d requests, want %d", len(reqs), tc.wantReqs)
			}
			for _, q := range reqs {
				if q.id != d.EventID {
					t.Errorf("request %d webhook-id %s, want the event ID %s on every retry", q.n, q.id, d.EventID)
				}
			}
			for i, want := range tc.wantErrs {
				if a := d.Attempts[i]; !strings.Contains(a.Error, want) {
					t.Errorf("attempt %d error %q, want it to contain %q", i+1, a.Error, want)
				}
			}
			if last := d.Attempts[len(d.Attempts)-1]; d.Status == store.DeliverySucceeded && (last.StatusCode != 200 || last.Error != "") {
				t.Errorf("last attempt %+v, want a clean 200", last)
			}
			if d.Status == store.DeliveryFailed && !strings.Contains(d.Error, "gave up after 4 attempts") {
				t.Errorf("failed delivery's error %q", d.Error)
			}
			// The sender forgets a delivery once it has done with it,
			// endpoint bookkeeping included.
			waitFor(t, time.Second, "the sender to forget the delivery", func() bool { return s.inMemory() == 0 })
			e, err := db.GetEndpoint(ep.ID)
			if err != nil {
				t.Fatal(err)
			}
			if gotFailing := !e.FailingSince.IsZero(); gotFailing != (d.Status == store.DeliveryFailed) {
				t.Errorf("endpoint FailingSince %v after a %s delivery", e.FailingSince, d.Status)
			}
		})
	}
}

func TestAttemptErrors(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + closed.Addr().String() + "/hook"
	closed.Close()

	tests := []struct {
		name     string
		answer   func(int, http.ResponseWriter, *http.Request) (int, string)
		url      string // instead of the receiver's
		private  bool   // AllowPrivate false
		wantCode int
		wantErr  string
		check    func(t *testing.T, a store.DeliveryAttempt)
	}{
		{name: "500 with a long body", wantCode: 500, wantErr: "500 Internal Server Error: xxxx",
			answer: func(int, http.ResponseWriter, *http.Request) (int, string) { return 500, strings.Repeat("x", 2000) },
			check: func(t *testing.T, a store.DeliveryAttempt) {
				if body := strings.TrimPrefix(a.Error, "500 Internal Server Error: "); len(body) != errBodyMax {
					t.Errorf("kept %d bytes of the body, want %d", len(body), errBodyMax)
				}
			}},
		{name: "redirect not followed", wantCode: 302, wantErr: "redirect not followed: 302 Found to /elsewhere",
			answer: func(_ int, w http.ResponseWriter, _ *http.Request) (int, string) {
				w.Header().Set("Location", "/elsewhere")
				return http.StatusFound, ""
			}},
		{name: "429", wantCode: 429, wantErr: "429 Too Many Requests",
			answer: func(int, http.ResponseWriter, *http.Request) (int, string) { return 429, "" }},
		{name: "404 with body", wantCode: 404, wantErr: "404 Not Found: no such hook",
			answer: func(int, http.ResponseWriter, *http.Request) (int, string) { return 404, "no such hook\n" }},
		{name: "connection refused", url: refusedURL, wantErr: "refused"},
		{name: "private address refused at connect time", private: true, wantErr: "loopback address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openStore(t)
			r := newReceiver(t)
			r.setAnswer(tc.answer)
			url := r.srv.URL
			if tc.url != "" {
				url = tc.url
			}
			ep := newEndpoint(t, db, url)
			r.setSecrets(ep.Secrets[0].Value)
			cfg := fastConfig(t)
			cfg.Schedule = []time.Duration{} // no retry
			cfg.AllowPrivate = !tc.private
			startSender(t, db, cfg)
			newCallback(t, db, "", 0)

			var d *store.Delivery
			waitFor(t, 5*time.Second, "the delivery to fail", func() bool {
				d = deliveries(t, db, ep.ID)[0]
				return d.Status != store.DeliveryPending
			})
			if d.Status != store.DeliveryFailed || len(d.Attempts) != 1 {
				t.Fatalf("delivery %s with %d attempts, want failed after 1", d.Status, len(d.Attempts))
			}
			a := d.Attempts[0]
			if a.StatusCode != tc.wantCode || !strings.Contains(a.Error, tc.wantErr) {
				t.Errorf("attempt %d %q, want %d %q", a.StatusCode, a.Error, tc.wantCode, tc.wantErr)
			}
			if a.At.IsZero() || a.LatencyMS < 0 {
				t.Errorf("attempt at %v latency %v", a.At, a.LatencyMS)
			}
			if tc.check != nil {
				tc.check(t, a)
			}
			for _, q := range r.requests() {
				if q.path != "/" {
					t.Errorf("receiver got %s: a redirect was followed", q.path)
				}
			}
		})
	}
}

func TestGoneDisablesEndpoint(t *testing.T) {
	db := openStore(t)
	r := newReceiver(t)
	r.setAnswer(func(int, http.ResponseWriter, *http.Request) (int, string) { return http.StatusGone, "" })
	ep := newEndpoint(t, db, r.srv.URL)
	r.setSecrets(ep.Secrets[0].Value)
	// Two callbacks, two events each, queued before the sender starts; one
	// send at a time to the endpoint, so the others wait behind the 410.
	newCallback(t, db, "", 1)
	newCallback(t, db, "", 1)
	cfg := fastConfig(t)
	cfg.PerTarget = 1
	s := startSender(t, db, cfg)

	waitFor(t, 5*time.Second, "the endpoint to be disabled", func() bool {
		e, err := db.GetEndpoint(ep.ID)
		return err == nil && !e.Enabled
	})
	e, _ := db.GetEndpoint(ep.ID)
	if !strings.HasPrefix(e.DisabledReason, "410 Gone from "+r.srv.URL+" at ") {
		t.Errorf("DisabledReason %q", e.DisabledReason)
	}
	waitFor(t, time.Second, "the sender to drop the endpoint's work", func() bool { return s.inMemory() == 0 })
	for _, d := range deliveries(t, db, ep.ID) {
		if d.Status != store.DeliveryFailed {
			t.Errorf("delivery %s (event %d) is %s, want failed", d.ID, d.Seq, d.Status)
		}
	}
	newCallback(t, db, "", 0) // makes no delivery: the endpoint is disabled
	time.Sleep(50 * time.Millisecond)
	if n := r.count(); n != 1 {
		t.Errorf("receiver got %d requests, want only the one answered 410", n)
	}
}

func TestRetryAfter(t *testing.T) {
	db := openStore(t)
	r := newReceiver(t)
	r.setAnswer(func(n int, w http.ResponseWriter, _ *http.Request) (int, string) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			return http.StatusServiceUnavailable, ""
		}
		return http.StatusOK, ""
	})
	ep := newEndpoint(t, db, r.srv.URL)
	r.setSecrets(ep.Secrets[0].Value)
	startSender(t, db, fastConfig(t)) // would retry at once but for Retry-After
	newCallback(t, db, "", 0)
	waitFor(t, 5*time.Second, "two requests", func() bool { return r.count() == 2 })
	reqs := r.requests()
	if gap := reqs[1].at.Sub(reqs[0].at); gap < 900*time.Millisecond {
		t.Errorf("retried after %s, Retry-After asked for 1s", gap)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"120", 2 * time.Minute},
		{" 3 ", 3 * time.Second},
		{"999999999999", maxRetryAfter},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(72 * time.Hour).Format(http.TimeFormat), maxRetryAfter},
		{"soon", 0},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := parseRetryAfter(tc.in, now); got != tc.want {
				t.Errorf("parseRetryAfter(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestJitter(t *testing.T) {
	tests := []struct {
		jitter   float64
		lo, hi   time.Duration
		constant bool
	}{
		{jitter: 0, lo: 900 * time.Millisecond, hi: 1100 * time.Millisecond},
		{jitter: 0.5, lo: 500 * time.Millisecond, hi: 1500 * time.Millisecond},
		{jitter: -1, lo: time.Second, hi: time.Second, constant: true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.jitter), func(t *testing.T) {
			s := New(nil, Config{Jitter: tc.jitter})
			seen := map[time.Duration]bool{}
			for range 200 {
				d := s.jitter(time.Second)
				if d < tc.lo || d > tc.hi {
					t.Fatalf("jitter(1s) = %s, outside [%s, %s]", d, tc.lo, tc.hi)
				}
				seen[d] = true
			}
			if tc.constant != (len(seen) == 1) {
				t.Errorf("%d distinct delays", len(seen))
			}
			if s.jitter(0) != 0 {
				t.Errorf("jitter(0) != 0")
			}
		})
	}
}

func TestStreamOrder(t *testing.T) {
	db := openStore(t)
	r := newReceiver(t)
	r.setAnswer(failFirst(2))
	ep := newEndpoint(t, db, r.srv.URL)
	r.setSecrets(ep.Secrets[0].Value)
	startSender(t, db, fastConfig(t))
	cb := newCallback(t, db, "", 4) // events 1..5, made while the first is retried

	waitFor(t, 5*time.Second, "five deliveries", func() bool { return len(r.succeeded()) == 5 })
	var all, ok []uint64
	for _, q := range r.requests() {
		if q.callback != cb {
			t.Errorf("request for callback %s", q.callback)
		}
		all = append(all, q.seq)
	}
	for _, q := range r.succeeded() {
		ok = append(ok, q.seq)
	}
	if want := []uint64{1, 2, 3, 4, 5}; !slices.Equal(ok, want) {
		t.Errorf("delivered in order %v, want %v", ok, want)
	}
	if !slices.IsSorted(all) || all[0] != 1 || all[1] != 1 || all[2] != 1 {
		t.Errorf("requests in order %v: event 1 three times, then the rest in order", all)
	}
	if n := r.peak(); n != 1 {
		t.Errorf("%d requests of one stream in flight at once", n)
	}
}

func TestSlowTargetDoesNotDelayOthers(t *testing.T) {
	db := openStore(t)
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	t.Cleanup(open)
	slow := newReceiver(t)
	slow.setAnswer(func(_ int, _ http.ResponseWriter, r *http.Request) (int, string) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusOK, ""
	})
	fast := newReceiver(t)
	slowEP := newEndpoint(t, db, slow.srv.URL)
	fastEP := newEndpoint(t, db, fast.srv.URL)
	slow.setSecrets(slowEP.Secrets[0].Value)
	fast.setSecrets(fastEP.Secrets[0].Value)
	cfg := fastConfig(t)
	cfg.Workers, cfg.PerTarget, cfg.Timeout = 4, 2, 5*time.Second
	s := startSender(t, db, cfg)

	const n = 8
	for range n {
		newCallback(t, db, "", 0)
	}
	waitFor(t, 3*time.Second, "the fast endpoint to get every event", func() bool { return len(fast.succeeded()) == n })
	waitFor(t, time.Second, "PerTarget requests at the slow endpoint", func() bool { return slow.count() == cfg.PerTarget })
	time.Sleep(30 * time.Millisecond)
	if got := slow.count(); got != cfg.PerTarget || len(slow.succeeded()) != 0 {
		t.Errorf("slow endpoint has %d requests, want PerTarget = %d, all still in flight", got, cfg.PerTarget)
	}
	open()
	waitFor(t, 3*time.Second, "the slow endpoint to get every event", func() bool { return len(slow.succeeded()) == n })
	if p := slow.peak(); p > cfg.PerTarget {
		t.Errorf("%d requests in flight to one endpoint, PerTarget %d", p, cfg.PerTarget)
	}
	waitFor(t, time.Second, "the sender to forget its deliveries", func() bool { return s.inMemory() == 0 })
}

func TestRestartRedelivers(t *testing.T) {
	db := openStore(t)
	r := newReceiver(t)
	var up atomic.Bool
	r.setAnswer(func(int, http.ResponseWriter, *http.Request) (int, string) {
		if up.Load() {
			return http.StatusNoContent, ""
		}
		return http.StatusServiceUnavailable, "down"
	})
	ep := newEndpoint(t, db, r.srv.URL)
	r.setSecrets(ep.Secrets[0].Value)
	cfg := fastConfig(t)
	cfg.Schedule = slices.Repeat([]time.Duration{200 * time.Millisecond}, 20)
	s1 := New(db, cfg)
	if err := s1.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	newCallback(t, db, "", 1) // events 1 and 2: 2 waits behind 1
	newCallback(t, db, "", 0)
	waitFor(t, 5*time.Second, "failed attempts of both streams' heads", func() bool {
		n := 0
		for _, d := range deliveries(t, db, ep.ID) {
			if len(d.Attempts) >= 2 {
				n++
			}
		}
		return n == 2
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := s1.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	seenDown := map[string]bool{}
	for _, q := range r.requests() {
		seenDown[q.id] = true
	}
	for _, d := range deliveries(t, db, ep.ID) {
		if d.Status != store.DeliveryPending {
			t.Fatalf("delivery %s is %s after Close, want pending", d.ID, d.Status)
		}
	}

	up.Store(true)
	startSender(t, db, cfg)
	waitFor(t, 5*time.Second, "the new sender to deliver everything", func() bool {
		for _, d := range deliveries(t, db, ep.ID) {
			if d.Status != store.DeliverySucceeded {
				return false
			}
		}
		return true
	})
	ok := r.succeeded()
	if len(ok) != 3 {
		t.Fatalf("%d deliveries succeeded, want 3", len(ok))
	}
	if len(seenDown) != 2 {
		t.Fatalf("%d webhook-ids sent while down, want 2", len(seenDown))
	}
	redelivered := 0
	for _, q := range ok {
		if seenDown[q.id] {
			redelivered++
		}
	}
	if redelivered != 2 {
		t.Errorf("%d of the webhook-ids sent while down came again after the restart, want 2", redelivered)
	}
	for _, d := range deliveries(t, db, ep.ID) {
		if !slices.ContainsFunc(ok, func(q request) bool { return q.id == d.EventID }) {
			t.Errorf("delivery %s (event %s) not received with its event ID as webhook-id", d.ID, d.EventID)
		}
	}
}

func TestSignatureRotation(t *testing.T) {
	db := openStore(t)
	r := newReceiver(t)
	now := time.Now()
	current, previous, expired := store.NewSecret(), store.NewSecret(), store.NewSecret()
	ep := &store.Endpoint{URL: r.srv.URL, Enabled: true, Secrets: []store.Secret{
		{Value: current, CreatedAt: now},
		{Value: previous, CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour)},
		{Value: expired, CreatedAt: now.Add(-48 * time.Hour), ExpiresAt: now.Add(-time.Hour)},
	}}
	if err := db.CreateEndpoint(ep); err != nil {
		t.Fatal(err)
	}
	r.setSecrets(current, previous) // the receiver verifies under both
	startSender(t, db, fastConfig(t))
	newCallback(t, db, "", 0)
	waitFor(t, 5*time.Second, "the delivery", func() bool { return len(r.succeeded()) == 1 })
	q := r.succeeded()[0]
	if q.sigs != 2 {
		t.Errorf("%d signatures, want 2 (current and previous, not the expired one)", q.sigs)
	}
	for _, s := range []string{current, previous} {
		if err := Verify(s, q.header, q.body, 0, time.Now()); err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
	if err := Verify(expired, q.header, q.body, 0, time.Now()); !errors.Is(err, ErrSignature) {
		t.Errorf("Verify with the expired secret = %v, want ErrSignature", err)
	}
}

func TestCallbackWebhookURL(t *testing.T) {
	db := openStore(t)
	secret, err := db.CallbackSecret()
	if err != nil {
		t.Fatal(err)
	}
	r := newReceiver(t, secret)
	s := startSender(t, db, fastConfig(t))
	cb := newCallback(t, db, r.srv.URL+"/cb?token=abc", 2)
	waitFor(t, 5*time.Second, "three events", func() bool { return len(r.succeeded()) == 3 })
	for i, q := range r.succeeded() {
		if q.path != "/cb" || q.callback != cb || q.seq != uint64(i+1) || q.sigs != 1 {
			t.Errorf("request %+v", q)
		}
	}
	waitFor(t, time.Second, "the sender to forget its deliveries", func() bool { return s.inMemory() == 0 })
	pending, err := db.PendingDeliveries()
	if err != nil || len(pending) != 0 {
		t.Errorf("%d deliveries still pending (%v)", len(pending), err)
	}
}

func TestDisableAfter(t *testing.T) {
	tests := []struct {
		name         string
		disableAfter time.Duration
		step         time.Duration // the clock moves this much per request
		wantDisabled bool
		wantReqs     int
	}{
		{name: "disabled once failing long enough", disableAfter: time.Hour, step: 25 * time.Minute, wantDisabled: true, wantReqs: 3},
		{name: "not yet", disableAfter: 5 * time.Hour, step: 40 * time.Minute, wantReqs: 4},
		{name: "never when negative", disableAfter: -1, step: 1000 * time.Hour, wantReqs: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openStore(t)
			clk := fakeclock.New(time.Now().UTC())
			start := clk.Now()
			r := newReceiver(t)
			r.now = clk.Now
			r.setAnswer(func(int, http.ResponseWriter, *http.Request) (int, string) {
				clk.Advance(tc.step)
				return http.StatusBadGateway, ""
			})
			ep := newEndpoint(t, db, r.srv.URL)
			r.setSecrets(ep.Secrets[0].Value)
			cfg := fastConfig(t)
			cfg.Now, cfg.DisableAfter = clk.Now, tc.disableAfter
			s := startSender(t, db, cfg)
			newCallback(t, db, "", 0)
			waitFor(t, 5*time.Second, "the delivery to end", func() bool {
				return deliveries(t, db, ep.ID)[0].Status != store.DeliveryPending
			})
			time.Sleep(50 * time.Millisecond)
			e, _ := db.GetEndpoint(ep.ID)
			if e.Enabled == tc.wantDisabled {
				t.Fatalf("endpoint enabled %v, want %v", e.Enabled, !tc.wantDisabled)
			}
			if tc.wantDisabled {
				if want := "failing since " + start.Truncate(time.Second).Format(time.RFC3339); e.DisabledReason != want {
					t.Errorf("DisabledReason %q, want %q", e.DisabledReason, want)
				}
			} else if !e.FailingSince.Equal(start) {
				t.Errorf("FailingSince %v, want %v", e.FailingSince, start)
			}
			if n := r.count(); n != tc.wantReqs {
				t.Errorf("%d requests, want %d", n, tc.wantReqs)
			}
			if s.inMemory() != 0 {
				t.Errorf("sender still holds %d deliveries", s.inMemory())
			}
		})
	}
}

func TestDisabledOrDeletedEndpointDropped(t *testing.T) {
	tests := []struct {
		name   string
		remove func(db *store.DB, id string) error
	}{
		{"disabled by the user", func(db *store.DB, id string) error {
			_, err := db.UpdateEndpoint(id, func(e *store.Endpoint) error { e.Enabled = false; return nil })
			return err
		}},
		{"deleted", func(db *store.DB, id string) error { return db.DeleteEndpoint(id) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openStore(t)
			r := newReceiver(t)
			r.setAnswer(failFirst(1000))
			ep := newEndpoint(t, db, r.srv.URL)
			r.setSecrets(ep.Secrets[0].Value)
			cfg := fastConfig(t)
			cfg.Schedule = []time.Duration{0, 200 * time.Millisecond}
			s := startSender(t, db, cfg)
			newCallback(t, db, "", 2)
			waitFor(t, 5*time.Second, "two attempts", func() bool { return r.count() == 2 })
			if err := tc.remove(db, ep.ID); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 2*time.Second, "the sender to drop the deliveries", func() bool { return s.inMemory() == 0 })
			if n := r.count(); n != 2 {
				t.Errorf("%d requests, want no more after the endpoint went", n)
			}
		})
	}
}

// flakyOutbox fails chosen store calls.
type flakyOutbox struct {
	*store.DB
	mu     sync.Mutex
	record func(id string, status store.DeliveryStatus) error // nil: no failure
}

func (f *flakyOutbox) RecordAttempt(id string, a store.DeliveryAttempt, status store.DeliveryStatus, next time.Time, why string) (*store.Delivery, error) {
	f.mu.Lock()
	fn := f.record
	f.mu.Unlock()
	if fn != nil {
		if err := fn(id, status); err != nil {
			return nil, err
		}
	}
	return f.DB.RecordAttempt(id, a, status, next, why)
}

func TestRecordFailureAfterSuccessResends(t *testing.T) {
	db := openStore(t)
	r := newReceiver(t)
	ep := newEndpoint(t, db, r.srv.URL)
	r.setSecrets(ep.Secrets[0].Value)
	var failures atomic.Int32
	o := &flakyOutbox{DB: db, record: func(string, store.DeliveryStatus) error {
		if failures.Add(1) == 1 {
			return errors.New("disk full")
		}
		return nil
	}}
	startSender(t, o, fastConfig(t))
	newCallback(t, db, "", 0)
	waitFor(t, 5*time.Second, "the delivery to be recorded", func() bool {
		return deliveries(t, db, ep.ID)[0].Status == store.DeliverySucceeded
	})
	reqs := r.succeeded()
	if len(reqs) != 2 || reqs[0].id != reqs[1].id {
		t.Fatalf("requests %+v, want the same webhook-id sent twice", reqs)
	}
	if d := deliveries(t, db, ep.ID)[0]; len(d.Attempts) != 1 {
		t.Errorf("%d attempts recorded, want 1", len(d.Attempts))
	}
}

func TestRecordConflictDrops(t *testing.T) {
	db := openStore(t)
	r := newReceiver(t)
	ep := newEndpoint(t, db, r.srv.URL)
	r.setSecrets(ep.Secrets[0].Value)
	// Someone else finishes the delivery while it is being sent.
	r.setAnswer(func(int, http.ResponseWriter, *http.Request) (int, string) {
		d := deliveries(t, db, ep.ID)[0]
		if _, err := db.RecordAttempt(d.ID, store.DeliveryAttempt{At: time.Now(), Error: "elsewhere"}, store.DeliveryFailed, time.Time{}, "given up elsewhere"); err != nil {
			t.Errorf("RecordAttempt: %v", err)
		}
		return http.StatusInternalServerError, ""
	})
	s := startSender(t, db, fastConfig(t))
	newCallback(t, db, "", 0)
	waitFor(t, 5*time.Second, "the sender to drop the delivery", func() bool { return s.inMemory() == 0 && r.count() == 1 })
	time.Sleep(50 * time.Millisecond)
	d := deliveries(t, db, ep.ID)[0]
	if r.count() != 1 || d.Error != "given up elsewhere" || len(d.Attempts) != 1 {
		t.Errorf("%d requests, delivery %s %q with %d attempts", r.count(), d.Status, d.Error, len(d.Attempts))
	}
}

func TestClose(t *testing.T) {
	db := openStore(t)
	r := newReceiver(t)
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	r.setAnswer(func(_ int, _ http.ResponseWriter, req *http.Request) (int, string) {
		select {
		case <-block:
		case <-req.Context().Done():
		}
		return http.StatusOK, ""
	})
	ep := newEndpoint(t, db, r.srv.URL)
	r.setSecrets(ep.Secrets[0].Value)
	cfg := fastConfig(t)
	cfg.Timeout = 10 * time.Second
	s := New(db, cfg)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	newCallback(t, db, "", 0)
	waitFor(t, 5*time.Second, "the request", func() bool { return r.count() == 1 })

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want the deadline", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %s", took)
	}
	d := deliveries(t, db, ep.ID)[0]
	if d.Status != store.DeliveryPending || len(d.Attempts) != 0 {
		t.Errorf("delivery %s with %d attempts after Close, want pending, unrecorded", d.Status, len(d.Attempts))
	}
	if err := s.Close(t.Context()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Start(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close = %v", err)
	}
	s.Enqueue(d) // ignored
	if s.inMemory() != 1 {
		t.Errorf("Enqueue after Close changed the sender")
	}
}

func TestEnqueueDeduplicates(t *testing.T) {
	db := openStore(t)
	r := newReceiver(t)
	ep := newEndpoint(t, db, r.srv.URL)
	r.setSecrets(ep.Secrets[0].Value)
	newCallback(t, db, "", 1)
	ds, err := db.PendingDeliveries()
	if err != nil || len(ds) != 2 {
		t.Fatalf("%d pending (%v)", len(ds), err)
	}
	s := newSender(t, db, fastConfig(t))
	s.Enqueue(ds...) // before Start: held, then merged with what Start loads
	s.Enqueue(ds[1], ds[0], nil)
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "both deliveries", func() bool { return len(r.succeeded()) == 2 })
	time.Sleep(50 * time.Millisecond)
	if n := r.count(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}
