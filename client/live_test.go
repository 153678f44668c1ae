package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/client"
	"github.com/callbackd/callbackd/webhook"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// A callback to the sandbox: the echo number plays the rep and the hangup
// number the customer, who hangs up after 5 s. Follow prints the log as
// it happens, up to the final event.
func TestCallbackConnects(t *testing.T) {
	t.Parallel()
	c := admin(t)
	ctx := ctxFor(t, time.Minute)
	cb, err := c.Callbacks.Create(ctx, &client.CallbackCreate{
		Customer:  client.Customer{Number: number(t, "hangup"), Name: "Ann"},
		RepNumber: number(t, "echo"),
		Metadata:  map[string]string{"form": "pricing"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if cb.Status != client.StatusScheduled && cb.Status != client.StatusInProgress {
		t.Errorf("created with status %q", cb.Status)
	}
	if cb.Customer.Name != "Ann" || cb.Metadata["form"] != "pricing" || cb.Retry.MaxAttempts == 0 || cb.CreatedAt.IsZero() {
		t.Errorf("created %+v", cb)
	}

	var types []string
	var last *client.Event
	for e, err := range c.Callbacks.Follow(ctx, cb.ID, 0, 100*time.Millisecond) {
		if err != nil {
			t.Fatalf("follow after %v: %v", types, err)
		}
		if last != nil && e.Sequence != last.Sequence+1 {
			t.Errorf("sequence %d after %d", e.Sequence, last.Sequence)
		}
		types = append(types, e.Type)
		last = e
	}
	if last == nil || last.Type != client.EventCallbackCompleted || !last.Final() {
		t.Fatalf("events %v, want callback.completed last", types)
	}
	for _, want := range []string{client.EventCallbackScheduled, client.EventCallConnected, client.EventCallCompleted} {
		if !slices.Contains(types, want) {
			t.Errorf("no %s in %v", want, types)
		}
	}
	var connected client.EventData
	for e, err := range c.Callbacks.AllEvents(ctx, cb.ID, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Type == client.EventCallConnected {
			if connected, err = e.EventData(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if connected.Leg == "" || connected.SIPCode != 200 || connected.At.IsZero() {
		t.Errorf("call.connected data %+v", connected)
	}

	got, err := c.Callbacks.Get(ctx, cb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != client.StatusCompleted || len(got.Attempts) != 1 || got.Attempts[0].Outcome != "connected" ||
		got.Attempts[0].TalkSeconds < 4 || got.Attempts[0].Customer == nil || got.Attempts[0].Customer.SIPCode != 200 {
		t.Errorf("got %+v, attempts %+v", got, got.Attempts)
	}
	// Events after the last one: none.
	page, err := c.Callbacks.Events(ctx, cb.ID, &client.EventsParams{After: last.Sequence})
	if err != nil || len(page.Data) != 0 || page.HasMore {
		t.Errorf("events after the last: %+v, %v", page, err)
	}
}

// later creates a callback for an hour from now to customer, so that
// nothing is dialled.
func later(t *testing.T, c *client.Client, customer string, opts ...client.RequestOption) *client.Callback {
	t.Helper()
	cb, err := c.Callbacks.Create(ctxFor(t, 30*time.Second), &client.CallbackCreate{
		Customer:    client.Customer{Number: customer},
		RepNumber:   number(t, "echo"),
		ScheduledAt: time.Now().Add(time.Hour),
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return cb
}

func TestListPagesAndCancel(t *testing.T) {
	t.Parallel()
	c := admin(t)
	ctx := ctxFor(t, time.Minute)
	const customer = "+12025550101" // this test's alone
	var ids []string
	for range 5 {
		ids = append(ids, later(t, c, customer).ID)
	}
	slices.Reverse(ids) // newest first

	page, err := c.Callbacks.List(ctx, &client.ListParams{Customer: customer, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || !page.HasMore || page.Data[0].ID != ids[0] {
		t.Fatalf("first page %+v, want %v first of 2 with more", page, ids[0])
	}
	var walked []string
	for cb, err := range c.Callbacks.All(ctx, &client.ListParams{Customer: customer, Limit: 2, Status: client.StatusScheduled}) {
		if err != nil {
			t.Fatal(err)
		}
		walked = append(walked, cb.ID)
	}
	if !slices.Equal(walked, ids) {
		t.Errorf("walked %v, want %v", walked, ids)
	}
	// Stopping early stops the walk.
	n := 0
	for range c.Callbacks.All(ctx, &client.ListParams{Customer: customer, Limit: 1}) {
		if n++; n == 3 {
			break
		}
	}
	// From a cursor, and with a time filter.
	page, err = c.Callbacks.List(ctx, &client.ListParams{Customer: customer, StartingAfter: ids[2], CreatedLT: time.Now().Add(time.Minute)})
	if err != nil || len(page.Data) != 2 || page.Data[0].ID != ids[3] {
		t.Errorf("after %s: %+v, %v", ids[2], page, err)
	}

	canceled, err := c.Callbacks.Cancel(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if canceled.Status != client.StatusCanceled || !canceled.Status.Final() {
		t.Errorf("canceled: status %q", canceled.Status)
	}
	_, err = c.Callbacks.Cancel(ctx, ids[0])
	if !client.IsConflict(err) {
		t.Errorf("cancel twice: %v, want a conflict", err)
	}
	page, err = c.Callbacks.List(ctx, &client.ListParams{Customer: customer, Status: client.StatusCanceled})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != ids[0] {
		t.Errorf("canceled ones: %+v, %v", page, err)
	}
	for e, err := range c.Callbacks.Follow(ctx, ids[0], 0, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Final() && e.Type != client.EventCallbackCanceled {
			t.Errorf("final event %s", e.Type)
		}
	}
	for _, id := range ids[1:] {
		if _, err := c.Callbacks.Cancel(ctx, id); err != nil {
			t.Error(err)
		}
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	c := admin(t)
	ctx := ctxFor(t, 30*time.Second)

	_, err := c.Callbacks.Create(ctx, &client.CallbackCreate{Customer: client.Customer{Number: "+1 555"}, RepNumber: number(t, "echo")})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("bad number: %v, want an *Error", err)
	}
	if apiErr.Status != 422 || apiErr.Field != "customer.number" || apiErr.Code() != client.CodeValidation ||
		apiErr.Reason != "invalid_number" || apiErr.Type != client.ProblemPrefix+"validation" || !client.IsInvalid(err) {
		t.Errorf("bad number: %#v", apiErr)
	}
	if want := `callbackd: POST /v1/callbacks: 422 Invalid value (customer.number): not a valid phone number`; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}

	_, err = c.Callbacks.Create(ctx, &client.CallbackCreate{Customer: client.Customer{Number: number(t, "echo")}, Team: "nobody"})
	if e := client.AsError(err); e == nil || e.Code() != client.CodeUnknownTeam || e.Field != "team" {
		t.Errorf("unknown team: %v", err)
	}
	_, err = c.Callbacks.Create(ctx, &client.CallbackCreate{Customer: client.Customer{Number: "+19005550123"}, RepNumber: number(t, "echo")})
	if e := client.AsError(err); !client.IsForbidden(err) || e.Code() != client.CodePremiumRate {
		t.Errorf("premium rate: %v", err)
	}

	for name, call := range map[string]func() error{
		"callback": func() error { _, err := c.Callbacks.Get(ctx, "cb_nope"); return err },
		"events":   func() error { _, err := c.Callbacks.Events(ctx, "cb_nope", nil); return err },
		"cancel":   func() error { _, err := c.Callbacks.Cancel(ctx, "cb_nope"); return err },
		"team":     func() error { _, err := c.Teams.Get(ctx, "nope"); return err },
		"webhook":  func() error { _, err := c.Webhooks.Get(ctx, "we_nope"); return err },
		"revoke":   func() error { _, err := c.APIKeys.Revoke(ctx, "key_nope"); return err },
		"odd id":   func() error { _, err := c.Callbacks.Get(ctx, "a/b?c"); return err },
	} {
		if err := call(); !client.IsNotFound(err) || client.AsError(err).Code() != client.CodeNotFound {
			t.Errorf("%s: %v, want not found", name, err)
		}
	}

	bad := newClient(t, "cbk_wrong")
	_, err = bad.Callbacks.List(ctx, nil)
	if !client.IsUnauthorized(err) || client.AsError(err).Code() != client.CodeUnauthenticated {
		t.Errorf("wrong key: %v", err)
	}

	// Nothing listens: a connection error naming what failed.
	down, err := client.New("http://127.0.0.1:1", "k", client.WithBackoff(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, err = down.Callbacks.Get(ctx, "cb_x")
	var ce *client.ConnError
	if !errors.As(err, &ce) || !client.IsConnection(err) || client.StatusCode(err) != 0 || ce.Attempts != 4 || ce.Op != "GET /v1/callbacks/cb_x" {
		t.Errorf("server down: %#v", err)
	}
	t.Logf("server down: %v", err)

	for _, u := range []string{"", "127.0.0.1:8080", "ftp://x", "http://x/?a=b"} {
		if _, err := client.New(u, "k"); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

// The same Idempotency-Key and body answers the first answer again and
// creates nothing; another body with it is refused.
func TestIdempotencyReplay(t *testing.T) {
	t.Parallel()
	c := admin(t)
	ctx := ctxFor(t, 30*time.Second)
	const customer = "+12025550102"
	key := client.NewIdempotencyKey()
	var replayed bool
	first := later(t, c, customer, client.IdempotencyKey(key), client.Replayed(&replayed))
	if replayed {
		t.Error("first answer marked replayed")
	}
	in := &client.CallbackCreate{Customer: client.Customer{Number: customer}, RepNumber: number(t, "echo"),
		ScheduledAt: first.ScheduledAt}
	again, err := c.Callbacks.Create(ctx, in, client.IdempotencyKey(key), client.Replayed(&replayed))
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || !replayed {
		t.Errorf("replay: %s (replayed %v), want %s replayed", again.ID, replayed, first.ID)
	}
	page, err := c.Callbacks.List(ctx, &client.ListParams{Customer: customer})
	if err != nil || len(page.Data) != 1 {
		t.Errorf("%d callbacks (%v), want 1", len(page.Data), err)
	}
	in.Metadata = map[string]string{"other": "body"}
	_, err = c.Callbacks.Create(ctx, in, client.IdempotencyKey(key))
	if e := client.AsError(err); e == nil || e.Code() != client.CodeIdempotencyMismatch {
		t.Errorf("another body with the key: %v", err)
	}
	if _, err := c.Callbacks.Cancel(ctx, first.ID); err != nil {
		t.Error(err)
	}
}

func TestTeams(t *testing.T) {
	t.Parallel()
	c := admin(t)
	ctx := ctxFor(t, 30*time.Second)
	team, err := c.Teams.Create(ctx, &client.TeamCreate{
		ID:   "client-test",
		Name: "Sales",
		Reps: []client.Party{{Number: number(t, "echo"), Name: "Bo"}, {Number: number(t, "tone")}},
		Window: &client.Window{TimeZone: "Europe/London",
			Hours: map[string][]string{"mon-fri": {"09:00-12:00", "13:00-17:30"}}, Closed: []string{"2026-12-25"}},
		Retry:          &client.RetryPolicy{MaxAttempts: 3, Intervals: []client.Duration{client.Duration(5 * time.Minute)}},
		RepRingTimeout: client.Duration(20 * time.Second),
		CallerID:       &client.CallerID{Number: "+12025550100", Name: "Shop"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if team.ID != "client-test" || len(team.Reps) != 2 || team.Window == nil || len(team.Window.Hours["wed"]) != 2 ||
		team.Retry.MaxAttempts != 3 || team.Retry.Intervals[0] != client.Duration(5*time.Minute) ||
		team.RepRingTimeout != client.Duration(20*time.Second) || team.CallerID == nil || team.Strategy != "sequential" {
		t.Errorf("created %+v", team)
	}
	got, err := c.Teams.Get(ctx, team.ID)
	if err != nil || got.Name != "Sales" {
		t.Errorf("get: %+v, %v", got, err)
	}
	list, err := c.Teams.List(ctx)
	if err != nil || !slices.ContainsFunc(list.Data, func(x *client.Team) bool { return x.ID == team.ID }) {
		t.Errorf("list: %+v, %v", list, err)
	}
	updated, err := c.Teams.Update(ctx, team.ID, &client.TeamUpdate{Name: new("Sales EU"), Strategy: new("round_robin"),
		Reset: []string{"window", "caller_id"}})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Name != "Sales EU" || updated.Strategy != "round_robin" || updated.Window != nil || updated.CallerID != nil || len(updated.Reps) != 2 {
		t.Errorf("updated %+v", updated)
	}
	if err := c.Teams.Delete(ctx, team.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Teams.Get(ctx, team.ID); !client.IsNotFound(err) {
		t.Errorf("after delete: %v", err)
	}
	_, err = c.Teams.Create(ctx, &client.TeamCreate{Reps: []client.Party{{Number: "12"}}})
	if e := client.AsError(err); e == nil || e.Field != "reps[0].number" {
		t.Errorf("bad rep: %v", err)
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	c := admin(t)
	ctx := ctxFor(t, 30*time.Second)
	k, err := c.APIKeys.Create(ctx, &client.APIKeyCreate{Name: "reader", Scopes: []string{client.ScopeCallbacksRead}})
	if err != nil {
		t.Fatal(err)
	}
	if k.Secret == "" || k.ID == "" || !slices.Equal(k.Scopes, []string{client.ScopeCallbacksRead}) || k.Prefix == "" {
		t.Fatalf("created %+v", k)
	}
	list, err := c.APIKeys.List(ctx)
	if err != nil || !slices.ContainsFunc(list.Data, func(x *client.APIKey) bool { return x.ID == k.ID && x.RevokedAt.IsZero() }) {
		t.Errorf("list: %+v, %v", list, err)
	}
	reader := newClient(t, k.Secret)
	if _, err := reader.Callbacks.List(ctx, nil); err != nil {
		t.Errorf("read with the reader key: %v", err)
	}
	_, err = reader.Callbacks.Create(ctx, &client.CallbackCreate{Customer: client.Customer{Number: number(t, "echo")}, RepNumber: number(t, "echo")})
	if !client.IsForbidden(err) || client.AsError(err).Code() != client.CodeForbidden {
		t.Errorf("create with a read key: %v", err)
	}
	revoked, err := c.APIKeys.Revoke(ctx, k.ID)
	if err != nil || revoked.RevokedAt.IsZero() {
		t.Fatalf("revoke: %+v, %v", revoked, err)
	}
	if _, err := reader.Callbacks.List(ctx, nil); !client.IsUnauthorized(err) {
		t.Errorf("revoked key: %v", err)
	}
}

// receiver is a webhook endpoint that checks each delivery's signature
// with webhook.Verify.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	secrets []string // any of them may sign
	got     []client.WebhookEvent
	ids     []string
	bad     []string
	arrived chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{arrived: make(chan struct{}, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		ok := false
		for _, s := range r.secrets {
			ok = ok || webhook.Verify(s, req.Header, body, 0, time.Now()) == nil
		}
		var e client.WebhookEvent
		if !ok || json.Unmarshal(body, &e) != nil {
			r.bad = append(r.bad, string(body))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.got = append(r.got, e)
		r.ids = append(r.ids, req.Header.Get(webhook.HeaderID))
		select {
		case r.arrived <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) setSecrets(s ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = s
}

// wait waits for a verified delivery of type typ and returns its event.
func (r *receiver) wait(t *testing.T, typ string, after int) (client.WebhookEvent, int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		for i := after; i < len(r.got); i++ {
			if r.got[i].Type == typ {
				e := r.got[i]
				r.mu.Unlock()
				return e, i + 1
			}
		}
		bad := r.bad
		r.mu.Unlock()
		select {
		case <-r.arrived:
		case <-deadline:
			t.Fatalf("no verified %s delivery; refused: %q", typ, bad)
		}
	}
}

func TestWebhooks(t *testing.T) {
	t.Parallel()
	c := admin(t)
	ctx := ctxFor(t, time.Minute)
	rcv := newReceiver(t)
	we, err := c.Webhooks.Create(ctx, &client.WebhookCreate{URL: rcv.URL, Description: "client test",
		EventTypes: []string{client.EventCallbackCanceled}})
	if err != nil {
		t.Fatal(err)
	}
	if we.Secret == "" || !we.Enabled || we.ID == "" || we.Description != "client test" {
		t.Fatalf("created %+v", we)
	}
	rcv.setSecrets(we.Secret)
	secret, err := c.Webhooks.Secret(ctx, we.ID)
	if err != nil || secret != we.Secret {
		t.Errorf("secret %q, %v", secret, err)
	}

	ping, err := c.Webhooks.Test(ctx, we.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ping.EventType != client.EventPing || ping.Status != "pending" {
		t.Errorf("test delivery %+v", ping)
	}
	first, n := rcv.wait(t, client.EventPing, 0)
	firstAt := n - 1 // other tests' canceled callbacks may have come before it

	// A canceled callback's event arrives, signed.
	cb := later(t, c, "+12025550103")
	if _, err := c.Callbacks.Cancel(ctx, cb.ID); err != nil {
		t.Fatal(err)
	}
	var e client.WebhookEvent
	for {
		e, n = rcv.wait(t, client.EventCallbackCanceled, n)
		if e.Data.Callback != nil && e.Data.Callback.ID == cb.ID {
			break
		}
	}
	if e.Data.Callback.Status != client.StatusCanceled || e.Sequence == 0 {
		t.Errorf("callback.canceled event %+v", e)
	}

	// The deliveries, newest first, walked a page of one at a time; one
	// sent again keeps its event ID. Other tests share the server and
	// cancel callbacks too, so only this test's two are looked at.
	var mine []*client.Delivery // the cancel's, then the ping's
	deadline := time.Now().Add(10 * time.Second)
	for {
		mine = mine[:0]
		for d, err := range c.Webhooks.AllDeliveries(ctx, we.ID, &client.DeliveriesParams{Limit: 1}) {
			if err != nil {
				t.Fatal(err)
			}
			if d.ID == ping.ID || d.CallbackID == cb.ID {
				mine = append(mine, d)
			}
		}
		if len(mine) == 2 && mine[0].Status == "succeeded" && mine[1].Status == "succeeded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries %+v", mine)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if mine[1].ID != ping.ID || mine[0].EventType != client.EventCallbackCanceled || len(mine[0].Attempts) == 0 || mine[0].Attempts[0].StatusCode != 200 {
		t.Errorf("deliveries %+v %+v", mine[0], mine[1])
	}
	again, err := c.Webhooks.RetryDelivery(ctx, we.ID, ping.ID)
	if err != nil || again.EventID != ping.EventID {
		t.Fatalf("retry: %+v, %v", again, err)
	}
	retried, n := rcv.wait(t, client.EventPing, n)
	rcv.mu.Lock()
	if ids := rcv.ids; ids[firstAt] != ids[n-1] || retried.ID != first.ID {
		t.Errorf("the retried ping came as %s (webhook-id %s), first as %s (webhook-id %s)", retried.ID, ids[n-1], first.ID, ids[firstAt])
	}
	rcv.mu.Unlock()

	// A new secret, at once: only it signs.
	rotated, err := c.Webhooks.RotateSecret(ctx, we.ID, new(client.Duration(0)))
	if err != nil || rotated == we.Secret || rotated == "" {
		t.Fatalf("rotate: %q, %v", rotated, err)
	}
	rcv.setSecrets(rotated)
	if _, err := c.Webhooks.Test(ctx, we.ID); err != nil {
		t.Fatal(err)
	}
	rcv.wait(t, client.EventPing, n)

	updated, err := c.Webhooks.Update(ctx, we.ID, &client.WebhookUpdate{Enabled: new(false), Reset: []string{"event_types"}})
	if err != nil || updated.Enabled || len(updated.EventTypes) != 0 {
		t.Errorf("update: %+v, %v", updated, err)
	}
	if _, err := c.Webhooks.Test(ctx, we.ID); !client.IsConflict(err) {
		t.Errorf("test a disabled endpoint: %v", err)
	}
	list, err := c.Webhooks.List(ctx)
	if err != nil || !slices.ContainsFunc(list.Data, func(w *client.Webhook) bool { return w.ID == we.ID }) {
		t.Errorf("list: %v", err)
	}
	if err := c.Webhooks.Delete(ctx, we.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Webhooks.Get(ctx, we.ID); !client.IsNotFound(err) {
		t.Errorf("after delete: %v", err)
	}
	if s, err := c.Webhooks.CallbackSecret(ctx); err != nil || s == "" {
		t.Errorf("callback secret %q, %v", s, err)
	}
}

// What went to a callback's own webhook_url: listed newest first a page of
// one at a time, and one sent again with its event ID.
func TestCallbackDeliveries(t *testing.T) {
	t.Parallel()
	c := admin(t)
	ctx := ctxFor(t, time.Minute)
	secret, err := c.Webhooks.CallbackSecret(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rcv := newReceiver(t)
	rcv.setSecrets(secret)
	cb, err := c.Callbacks.Create(ctx, &client.CallbackCreate{
		Customer: client.Customer{Number: "+12025550104"}, RepNumber: number(t, "echo"),
		ScheduledAt: time.Now().Add(time.Hour), WebhookURL: rcv.URL + "/own",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Callbacks.Cancel(ctx, cb.ID); err != nil {
		t.Fatal(err)
	}
	scheduled, n := rcv.wait(t, client.EventCallbackScheduled, 0)
	rcv.wait(t, client.EventCallbackCanceled, 0)

	var got []*client.Delivery
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got = got[:0]
		for d, err := range c.Callbacks.AllDeliveries(ctx, cb.ID, &client.DeliveriesParams{Limit: 1}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, d)
		}
		if len(got) == 2 && got[0].Status == "succeeded" && got[1].Status == "succeeded" || time.Now().After(deadline) {
			break
		}
	}
	if len(got) != 2 || got[0].EventType != client.EventCallbackCanceled || got[1].EventType != client.EventCallbackScheduled ||
		got[1].URL != rcv.URL+"/own" || got[1].CallbackID != cb.ID || got[1].EventID != scheduled.ID {
		t.Fatalf("deliveries %+v", got)
	}
	again, err := c.Callbacks.RetryDelivery(ctx, cb.ID, got[1].ID)
	if err != nil || again.EventID != scheduled.ID {
		t.Fatalf("retry: %+v, %v", again, err)
	}
	if e, _ := rcv.wait(t, client.EventCallbackScheduled, n); e.ID != scheduled.ID {
		t.Errorf("the retried delivery came as %s, first as %s", e.ID, scheduled.ID)
	}
	if _, err := c.Callbacks.Deliveries(ctx, "cb_none", nil); !client.IsNotFound(err) {
		t.Errorf("deliveries of an unknown callback: %v", err)
	}
	if _, err := c.Callbacks.RetryDelivery(ctx, "cb_none", got[1].ID); !client.IsNotFound(err) {
		t.Errorf("retry through an unknown callback: %v", err)
	}
}

func TestRESTHooks(t *testing.T) {
	t.Parallel()
	c := admin(t)
	ctx := ctxFor(t, time.Minute)
	rcv := newReceiver(t)
	sub, err := c.Hooks.Subscribe(ctx, rcv.URL, client.EventCallbackCanceled)
	if err != nil {
		t.Fatal(err)
	}
	if sub.Secret == "" || sub.Event != client.EventCallbackCanceled || sub.TargetURL != rcv.URL {
		t.Fatalf("subscribed %+v", sub)
	}
	rcv.setSecrets(sub.Secret)
	cb := later(t, c, "+12025550104")
	if _, err := c.Callbacks.Cancel(ctx, cb.ID); err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		var e client.WebhookEvent
		e, n = rcv.wait(t, client.EventCallbackCanceled, n)
		if e.Data.Callback != nil && e.Data.Callback.ID == cb.ID {
			break
		}
	}
	samples, err := c.Hooks.Samples(ctx, client.EventCallbackCanceled, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(samples.Data, func(e *client.WebhookEvent) bool {
		return e.Data.Callback != nil && e.Data.Callback.ID == cb.ID
	}) {
		t.Errorf("no sample of %s in %d", cb.ID, len(samples.Data))
	}
	w, err := c.Webhooks.Get(ctx, sub.ID)
	if err != nil || w.Source != "rest_hook" {
		t.Errorf("the subscription's endpoint: %+v, %v", w, err)
	}
	if err := c.Hooks.Unsubscribe(ctx, sub.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.Hooks.Unsubscribe(ctx, sub.ID); !client.IsNotFound(err) {
		t.Errorf("unsubscribe twice: %v", err)
	}
}

func TestHealthAndBackup(t *testing.T) {
	t.Parallel()
	c := admin(t)
	ctx := ctxFor(t, 30*time.Second)
	if err := c.Health(ctx); err != nil {
		t.Error(err)
	}
	r, err := c.Ready(ctx)
	if err != nil || r.Status != "ok" || len(r.Checks) == 0 {
		t.Errorf("ready: %+v, %v", r, err)
	}
	var buf countWriter
	n, err := c.Backup(ctx, &buf)
	if err != nil || n == 0 || int64(buf) != n {
		t.Errorf("backup: %d bytes (%d written), %v", n, buf, err)
	}
	if _, err := newClient(t, "cbk_wrong").Backup(ctx, &buf); !client.IsUnauthorized(err) {
		t.Errorf("backup with a wrong key: %v", err)
	}
}

type countWriter int64

func (w *countWriter) Write(p []byte) (int, error) { *w += countWriter(len(p)); return len(p), nil }
