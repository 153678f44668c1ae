package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/webhook"
)

// End to end: webhooks from real calls on the sandbox trunk to real HTTP
// receivers, every signature and every callback's order checked.

// fastWebhooks is the webhooks section the tests run with: retries in
// tens of milliseconds instead of minutes, local receivers allowed.
const fastWebhooks = "webhooks:\n  retry_schedule: [0s, 50ms, 100ms, 100ms, 100ms, 100ms]\n  timeout: 500ms\n  allow_private_urls: true\n"

// receiver is a webhook receiver that checks what it is sent: each
// request's signature against its secret, and that each callback's events
// first arrive in sequence order with no gap.
type receiver struct {
	t    *testing.T
	srv  *httptest.Server
	addr string

	mu     sync.Mutex
	secret string
	// answer decides the status for the n-th request (from 1); nil: 200.
	answer   func(n int) int
	requests int
	ids      map[string]int      // webhook-id -> requests with it
	order    map[string][]uint64 // callback -> sequences, first arrivals only
	types    map[string][]string // callback -> event types, first arrivals only
	pings    int
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{t: t, ids: map[string]int{}, order: map[string][]uint64{}, types: map[string][]string{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.addr = r.srv.Listener.Addr().String()
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) url() string { return "http://" + r.addr + "/hook" }

func (r *receiver) setSecret(s string) {
	r.mu.Lock()
	r.secret = s
	r.mu.Unlock()
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if err := webhook.Verify(r.secret, req.Header, body, 5*time.Minute, time.Now()); err != nil {
		r.t.Errorf("receiver %s: request %d: %v", r.addr, r.requests, err)
	}
	status := http.StatusNoContent
	if r.answer != nil {
		status = r.answer(r.requests)
	}
	if status >= 200 && status < 300 {
		var env struct {
			ID       string `json:"id"`
			Type     string `json:"type"`
			Sequence uint64 `json:"sequence"`
			Data     struct {
				Callback struct {
					ID string `json:"id"`
				} `json:"callback"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			r.t.Errorf("receiver: body %s: %v", body, err)
		}
		if env.ID != req.Header.Get("webhook-id") {
			r.t.Errorf("receiver: envelope id %s, header %s", env.ID, req.Header.Get("webhook-id"))
		}
		if r.ids[env.ID] == 0 {
			if env.Type == "ping" {
				r.pings++
			} else {
				cb := env.Data.Callback.ID
				r.order[cb] = append(r.order[cb], env.Sequence)
				r.types[cb] = append(r.types[cb], env.Type)
			}
		}
		r.ids[env.ID]++
	}
	w.WriteHeader(status)
}

// waitFinal waits until the receiver has the callback's final event.
func (r *receiver) waitFinal(cb string, d time.Duration) []string {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for {
		r.mu.Lock()
		types := slices.Clone(r.types[cb])
		r.mu.Unlock()
		for _, ty := range types {
			if isFinalEvent(ty) {
				return types
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("receiver %s: no final event of %s after %v; got %v", r.addr, cb, d, types)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isFinalEvent(t string) bool {
	return t == "callback.completed" || t == "callback.failed" || t == "callback.canceled"
}

// check compares what arrived for cb with its event log: every event, in
// sequence order, exactly one final.
func (r *receiver) check(cb string, log []eventView) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.order[cb]
	if len(got) != len(log) {
		r.t.Errorf("receiver %s: %d events of %s arrived (%v), the log has %d (%v)", r.addr, len(got), cb, r.types[cb], len(log), eventTypes(log))
	}
	for i, seq := range got {
		if seq != uint64(i+1) {
			r.t.Errorf("receiver %s: %s arrived in order %v, want 1..%d", r.addr, cb, got, len(log))
			break
		}
	}
	finals := 0
	for _, ty := range r.types[cb] {
		if isFinalEvent(ty) {
			finals++
		}
	}
	if finals != 1 {
		r.t.Errorf("receiver %s: %d final events of %s: %v", r.addr, finals, cb, r.types[cb])
	}
}

type endpointView struct {
	ID             string   `json:"id"`
	URL            string   `json:"url"`
	EventTypes     []string `json:"event_types"`
	Enabled        bool     `json:"enabled"`
	DisabledReason string   `json:"disabled_reason"`
	Secret         string   `json:"secret"`
}

func createEndpoint(t *testing.T, base string, body map[string]any) endpointView {
	t.Helper()
	var e endpointView
	if code := apiCall(t, base, "POST", "/v1/webhooks", body, &e); code != http.StatusCreated {
		t.Fatalf("POST /v1/webhooks: %d %+v", code, e)
	}
	if e.Secret == "" {
		t.Fatalf("POST /v1/webhooks: no secret in %+v", e)
	}
	return e
}

func callbackSecret(t *testing.T, base string) string {
	t.Helper()
	var s struct {
		Secret string `json:"secret"`
	}
	if code := apiCall(t, base, "GET", "/v1/webhook-secret", nil, &s); code != http.StatusOK || s.Secret == "" {
		t.Fatalf("GET /v1/webhook-secret: %d %+v", code, s)
	}
	return s.Secret
}

// A connected call and a rejected one reach an endpoint that fails its
// first requests and the callbacks' own webhook_url: every event, signed,
// in order, exactly one final each; the endpoint's delivery log shows the
// retries.
func TestWebhooksFromRealCalls(t *testing.T) {
	t.Parallel()
	l := startLive(t, configOptions{extra: fastWebhooks}, nil)
	flaky := newReceiver(t)
	flaky.answer = func(n int) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	ep := createEndpoint(t, l.base, map[string]any{"url": flaky.url(), "description": "flaky"})
	flaky.setSecret(ep.Secret)
	own := newReceiver(t)
	own.setSecret(callbackSecret(t, l.base))

	connected := createCallback(t, l.base, map[string]any{
		"customer":    map[string]any{"number": sb(t, "hangup")},
		"rep_number":  sb(t, "echo"),
		"webhook_url": own.url(),
	})
	rejected := createCallback(t, l.base, map[string]any{
		"customer":    map[string]any{"number": sb(t, "reject")},
		"rep_number":  sb(t, "echo"),
		"webhook_url": own.url(),
	})
	for _, id := range []string{connected.ID, rejected.ID} {
		for _, r := range []*receiver{flaky, own} {
			r.waitFinal(id, 30*time.Second)
		}
		log := events(t, l.base, id)
		flaky.check(id, log)
		own.check(id, log)
	}
	types := flaky.types[connected.ID]
	for _, want := range []string{"callback.scheduled", "call.initiated", "call.connected", "call.completed", "callback.completed"} {
		if !slices.Contains(types, want) {
			t.Errorf("connected callback: no %s among %v", want, types)
		}
	}
	if !slices.Contains(flaky.types[rejected.ID], "callback.failed") {
		t.Errorf("rejected callback: events %v, want callback.failed", flaky.types[rejected.ID])
	}

	var page struct {
		Data []struct {
			Status   string `json:"status"`
			Attempts []struct {
				StatusCode int `json:"status_code"`
			} `json:"attempts"`
		} `json:"data"`
	}
	if code := apiCall(t, l.base, "GET", "/v1/webhooks/"+ep.ID+"/deliveries?limit=100", nil, &page); code != http.StatusOK {
		t.Fatalf("deliveries: %d", code)
	}
	retried := 0
	for _, d := range page.Data {
		if d.Status != "succeeded" {
			t.Errorf("delivery status %s", d.Status)
		}
		if len(d.Attempts) > 1 && d.Attempts[0].StatusCode == http.StatusServiceUnavailable {
			retried++
		}
	}
	if retried == 0 {
		t.Errorf("no delivery shows the 503s it was retried after: %+v", page.Data)
	}

	// The connected callback's own webhook_url deliveries: one per event,
	// newest first; one sent again arrives with the same webhook-id.
	type ownDelivery struct {
		ID         string `json:"id"`
		URL        string `json:"url"`
		EventID    string `json:"event_id"`
		EventType  string `json:"event_type"`
		CallbackID string `json:"callback_id"`
		Status     string `json:"status"`
		Attempts   []struct {
			StatusCode int `json:"status_code"`
		} `json:"attempts"`
	}
	var ownPage struct {
		Data    []ownDelivery `json:"data"`
		HasMore bool          `json:"has_more"`
	}
	log := events(t, l.base, connected.ID)
	// The receiver has every event; the last attempt may still be on its
	// way to the store.
	settled := func() bool {
		for _, d := range ownPage.Data {
			if d.Status == "pending" {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if code := apiCall(t, l.base, "GET", "/v1/callbacks/"+connected.ID+"/deliveries?limit=100", nil, &ownPage); code != http.StatusOK {
			t.Fatalf("callback deliveries: %d", code)
		}
		if settled() || time.Now().After(deadline) {
			break
		}
	}
	if len(ownPage.Data) != len(log) || ownPage.HasMore {
		t.Fatalf("%d deliveries to the callback's webhook_url (more: %v), want one per event (%d)", len(ownPage.Data), ownPage.HasMore, len(log))
	}
	for i, d := range ownPage.Data {
		ev := log[len(log)-1-i]
		if d.URL != own.url() || d.CallbackID != connected.ID || d.EventType != ev.Type || d.Status != "succeeded" ||
			len(d.Attempts) != 1 || d.Attempts[0].StatusCode/100 != 2 {
			t.Errorf("delivery %d: %+v, want event %s sent once to %s", i, d, ev.Type, own.url())
		}
	}
	last := ownPage.Data[0]
	if code := apiCall(t, l.base, "POST", "/v1/callbacks/"+connected.ID+"/deliveries/"+last.ID+"/retry", nil, nil); code != http.StatusAccepted {
		t.Fatalf("retry: %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		own.mu.Lock()
		n := own.ids[last.EventID]
		own.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the retried delivery's event %s arrived %d times, want 2", last.EventID, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := apiCall(t, l.base, "POST", "/v1/callbacks/"+rejected.ID+"/deliveries/"+last.ID+"/retry", nil, nil); code != http.StatusNotFound {
		t.Errorf("retry through another callback: %d, want 404", code)
	}
}

// An endpoint answering 410 is disabled and says why; another endpoint
// goes on receiving, and a slow one (past the timeout at first) is retried
// without holding the others up.
func TestWebhooksGoneAndSlow(t *testing.T) {
	t.Parallel()
	l := startLive(t, configOptions{extra: fastWebhooks}, nil)
	gone := newReceiver(t)
	gone.answer = func(int) int { return http.StatusGone }
	epGone := createEndpoint(t, l.base, map[string]any{"url": gone.url()})
	gone.setSecret(epGone.Secret)

	slow := newReceiver(t)
	slowOnce := sync.Once{}
	slow.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		slowOnce.Do(func() { time.Sleep(time.Second) }) // past the 500 ms timeout
		slow.serve(w, req)
	})
	epSlow := createEndpoint(t, l.base, map[string]any{"url": slow.url()})
	slow.setSecret(epSlow.Secret)

	good := newReceiver(t)
	epGood := createEndpoint(t, l.base, map[string]any{"url": good.url(), "event_types": []string{"callback.scheduled", "callback.failed"}})
	good.setSecret(epGood.Secret)

	cb := createCallback(t, l.base, map[string]any{
		"customer":   map[string]any{"number": sb(t, "reject")},
		"rep_number": sb(t, "echo"),
	})
	good.waitFinal(cb.ID, 30*time.Second)
	slow.waitFinal(cb.ID, 30*time.Second)
	log := events(t, l.base, cb.ID)
	slow.check(cb.ID, log)
	good.mu.Lock()
	if got := good.types[cb.ID]; !slices.Equal(got, []string{"callback.scheduled", "callback.failed"}) {
		t.Errorf("filtered endpoint got %v", got)
	}
	good.mu.Unlock()

	var e endpointView
	apiCall(t, l.base, "GET", "/v1/webhooks/"+epGone.ID, nil, &e)
	if e.Enabled || e.DisabledReason == "" {
		t.Errorf("endpoint after a 410: %+v, want disabled with a reason", e)
	}
	gone.mu.Lock()
	if gone.requests != 1 {
		t.Errorf("a 410 endpoint got %d requests, want 1", gone.requests)
	}
	gone.mu.Unlock()
}

// A receiver that is down while callbackd stops and starts again gets every
// event after the restart: none lost, redeliveries only with the same
// webhook-id, each callback's events in order.
func TestWebhooksSurviveRestart(t *testing.T) {
	t.Parallel()
	// Retries a second apart for long enough that nothing is given up
	// before the restart.
	opts := configOptions{extra: "webhooks:\n  retry_schedule: [0s" + strings.Repeat(", 1s", 30) + "]\n  timeout: 500ms\n  allow_private_urls: true\n"}
	l := startLive(t, opts, nil)
	opts.store = l.c.Store.Path

	// Reserve an address, then leave nothing listening there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ep := createEndpoint(t, l.base, map[string]any{"url": "http://" + addr + "/hook"})

	var ids []string
	for range 3 {
		cb := createCallback(t, l.base, map[string]any{
			"customer":   map[string]any{"number": sb(t, "reject")},
			"rep_number": sb(t, "echo"),
			"retry":      map[string]any{"max_attempts": 1},
		})
		ids = append(ids, cb.ID)
	}
	for _, id := range ids {
		waitCallback(t, l.base, id, 30*time.Second, "final", func(c cbView) bool { return c.Status == "failed" || c.Status == "completed" })
	}
	logs := map[string][]eventView{}
	for _, id := range ids {
		logs[id] = events(t, l.base, id)
	}
	l.stop(t)

	r := &receiver{t: t, ids: map[string]int{}, order: map[string][]uint64{}, types: map[string][]string{}, secret: ep.Secret}
	lnAgain, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.srv.Listener.Close()
	r.srv.Listener = lnAgain
	r.srv.Start()
	r.addr = addr
	t.Cleanup(r.srv.Close)

	l2 := startLive(t, opts, nil)
	for _, id := range ids {
		r.waitFinal(id, 30*time.Second)
		r.check(id, logs[id])
	}
	r.mu.Lock()
	for id, n := range r.ids {
		if n > 1 {
			t.Logf("event %s delivered %d times (at least once, same webhook-id)", id, n)
		}
	}
	r.mu.Unlock()
	_ = l2
}

// POST /v1/webhooks/{id}/test sends a signed ping.
func TestWebhookPing(t *testing.T) {
	t.Parallel()
	l := startLive(t, configOptions{extra: fastWebhooks}, nil)
	r := newReceiver(t)
	ep := createEndpoint(t, l.base, map[string]any{"url": r.url()})
	r.setSecret(ep.Secret)
	if code := apiCall(t, l.base, "POST", "/v1/webhooks/"+ep.ID+"/test", nil, nil); code != http.StatusAccepted {
		t.Fatalf("test ping: %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		n := r.pings
		r.mu.Unlock()
		if n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no ping arrived")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A REST Hooks subscriber (Zapier, n8n) with a callbacks:read key
// subscribes to one event type, receives it signed from a real call, finds
// it among the samples, and unsubscribes.
func TestRESTHookSubscription(t *testing.T) {
	t.Parallel()
	l := startLive(t, configOptions{extra: fastWebhooks}, nil)
	var key struct {
		Secret string `json:"secret"`
	}
	if code := apiCall(t, l.base, "POST", "/v1/api-keys", map[string]any{"name": "zapier", "scopes": []string{"callbacks:read"}}, &key); code != http.StatusCreated {
		t.Fatalf("POST /v1/api-keys: %d", code)
	}
	r := newReceiver(t)
	var sub struct {
		ID, Secret string
	}
	if code := apiCallKey(t, l.base, key.Secret, "POST", "/v1/hooks/subscriptions",
		map[string]any{"target_url": r.url(), "event": "callback.completed"}, &sub); code != http.StatusCreated || sub.Secret == "" {
		t.Fatalf("subscribe: %d %+v", code, sub)
	}
	r.setSecret(sub.Secret)

	cb := createCallback(t, l.base, map[string]any{
		"customer":   map[string]any{"number": sb(t, "hangup")},
		"rep_number": sb(t, "echo"),
	})
	if got := r.waitFinal(cb.ID, 30*time.Second); !slices.Equal(got, []string{"callback.completed"}) {
		t.Errorf("subscriber got %v, want callback.completed only", got)
	}

	var samples struct {
		Data []struct {
			ID   string `json:"id"`
			Type string `json:"type"`
			Data struct {
				Callback struct {
					ID string `json:"id"`
				} `json:"callback"`
			} `json:"data"`
		} `json:"data"`
	}
	if code := apiCallKey(t, l.base, key.Secret, "GET", "/v1/hooks/samples?event=callback.completed&limit=3", nil, &samples); code != http.StatusOK {
		t.Fatalf("samples: %d", code)
	}
	if len(samples.Data) != 1 || samples.Data[0].Data.Callback.ID != cb.ID || samples.Data[0].Type != "callback.completed" {
		t.Fatalf("samples %+v, want the completed callback %s", samples.Data, cb.ID)
	}
	r.mu.Lock()
	if r.ids[samples.Data[0].ID] == 0 {
		t.Errorf("sample %s is not the event delivered (%v)", samples.Data[0].ID, r.ids)
	}
	r.mu.Unlock()

	if code := apiCallKey(t, l.base, key.Secret, "DELETE", "/v1/hooks/subscriptions/"+sub.ID, nil, nil); code != http.StatusNoContent {
		t.Fatalf("unsubscribe: %d", code)
	}
	second := createCallback(t, l.base, map[string]any{
		"customer":   map[string]any{"number": sb(t, "hangup")},
		"rep_number": sb(t, "echo"),
	})
	waitStatus(t, l.base, second.ID, "completed", 30*time.Second)
	r.mu.Lock()
	if n := len(r.types[second.ID]); n != 0 {
		t.Errorf("unsubscribed target got %d events of %s", n, second.ID)
	}
	r.mu.Unlock()
}
