package store

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// hookLog records what OnDeliveries reports.
type hookLog struct {
	mu sync.Mutex
	ds []*Delivery
}

func (h *hookLog) add(ds []*Delivery) {
	h.mu.Lock()
	h.ds = append(h.ds, ds...)
	h.mu.Unlock()
}

func (h *hookLog) ids() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, d := range h.ds {
		out = append(out, d.ID)
	}
	return out
}

func newEndpoint(t *testing.T, db *DB, url string, types ...string) *Endpoint {
	t.Helper()
	e := &Endpoint{URL: url, EventTypes: types, Enabled: true, Secrets: []Secret{{Value: NewSecret()}}}
	if err := db.CreateEndpoint(e); err != nil {
		t.Fatalf("CreateEndpoint: %v", err)
	}
	return e
}

// Each event goes to every enabled endpoint that wants it and to the
// callback's own URL, in the event's transaction, with its payload, and
// the hook hears of exactly those deliveries.
func TestOutboxWrittenWithEvents(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	var hook hookLog
	db.OnDeliveries(hook.add)
	all := newEndpoint(t, db, "https://a.example/hook")
	final := newEndpoint(t, db, "https://b.example/hook", "callback.completed")
	off := newEndpoint(t, db, "https://c.example/hook")
	if _, err := db.UpdateEndpoint(off.ID, func(e *Endpoint) error { e.Enabled = false; return nil }); err != nil {
		t.Fatal(err)
	}

	cb := newCallback(clk, "+442079460123", "")
	cb.WebhookURL = "https://own.example/cb"
	if _, err := db.CreateCallback(cb, "callback.scheduled", map[string]any{"next_attempt_at": clk.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	_, evs, err := db.UpdateCallback(cb.ID, func(u *Update) error {
		if err := u.PutAttempt(&Attempt{Number: 1, StartedAt: clk.Now(), Trunk: "t"}); err != nil {
			return err
		}
		if _, err := u.Append("call.initiated", map[string]any{"attempt": 1, "leg": "rep"}); err != nil {
			return err
		}
		u.Callback.Status = Completed
		_, err := u.Append("callback.completed", map[string]any{"attempt": 1, "outcome": "connected"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	pending, err := db.PendingDeliveries()
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		target string
		seq    uint64
	}
	got := map[key]*Delivery{}
	for _, d := range pending {
		target := d.EndpointID
		if target == "" {
			target = d.URL
		}
		got[key{target, d.Seq}] = d
	}
	want := []key{
		{all.ID, 1}, {all.ID, 2}, {all.ID, 3},
		{final.ID, 3},
		{"https://own.example/cb", 1}, {"https://own.example/cb", 2}, {"https://own.example/cb", 3},
	}
	if len(got) != len(want) || len(pending) != len(want) {
		t.Fatalf("%d pending deliveries %v, want %v", len(pending), got, want)
	}
	for _, k := range want {
		if got[k] == nil {
			t.Errorf("no delivery %v", k)
		}
	}
	if h := hook.ids(); len(h) != len(want) {
		t.Errorf("hook told of %d deliveries, want %d", len(h), len(want))
	}

	d := got[key{all.ID, 2}]
	if d.EventID != evs[0].ID || d.EventType != "call.initiated" || d.CallbackID != cb.ID || d.Status != DeliveryPending {
		t.Errorf("delivery %+v does not match event %+v", d, evs[0])
	}
	body, err := db.Payload(d.EventID)
	if err != nil {
		t.Fatal(err)
	}
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	if env.ID != evs[0].ID || env.Sequence != 2 || env.Type != "call.initiated" ||
		env.Data.Callback == nil || env.Data.Callback.Status != Completed ||
		env.Data.Attempt == nil || env.Data.Attempt.Trunk != "t" || len(env.Data.Call) == 0 || len(env.Data.Details) != 0 {
		t.Errorf("envelope %s", body)
	}
	body, _ = db.Payload(got[key{final.ID, 3}].EventID)
	env = Envelope{}
	if err := json.Unmarshal(body, &env); err != nil || len(env.Data.Details) == 0 || len(env.Data.Call) != 0 {
		t.Errorf("callback.completed envelope %s (%v)", body, err)
	}
	if _, err := db.Payload("evt_none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Payload of nothing = %v", err)
	}
}

// Nothing subscribed: no payloads, no deliveries.
func TestOutboxEmptyWithoutSubscribers(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	cb := newCallback(clk, "+442079460123", "")
	if _, err := db.CreateCallback(cb, "callback.scheduled", nil, nil); err != nil {
		t.Fatal(err)
	}
	if ds, _ := db.PendingDeliveries(); len(ds) != 0 {
		t.Errorf("pending %v", ds)
	}
}

func TestRecordAttemptAndRetry(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	var hook hookLog
	db.OnDeliveries(hook.add)
	e := newEndpoint(t, db, "https://a.example/hook")
	cb := newCallback(clk, "+442079460123", "")
	if _, err := db.CreateCallback(cb, "callback.scheduled", nil, nil); err != nil {
		t.Fatal(err)
	}
	ds, _ := db.PendingDeliveries()
	if len(ds) != 1 {
		t.Fatalf("pending %v", ds)
	}
	id := ds[0].ID
	next := clk.Now().Add(5 * time.Second)
	d, err := db.RecordAttempt(id, DeliveryAttempt{At: clk.Now(), StatusCode: 503, Error: "503"}, DeliveryPending, next, "")
	if err != nil || d.Status != DeliveryPending || !d.NextAttemptAt.Equal(next) || len(d.Attempts) != 1 {
		t.Fatalf("RecordAttempt = %+v, %v", d, err)
	}
	d, err = db.RecordAttempt(id, DeliveryAttempt{At: clk.Now(), StatusCode: 200}, DeliverySucceeded, time.Time{}, "")
	if err != nil || d.Status != DeliverySucceeded || !d.NextAttemptAt.IsZero() || len(d.Attempts) != 2 {
		t.Fatalf("RecordAttempt = %+v, %v", d, err)
	}
	if ds, _ := db.PendingDeliveries(); len(ds) != 0 {
		t.Errorf("still pending %v", ds)
	}
	if _, err := db.RecordAttempt(id, DeliveryAttempt{}, DeliveryFailed, time.Time{}, "x"); !errors.Is(err, ErrConflict) {
		t.Errorf("RecordAttempt on a finished delivery = %v, want ErrConflict", err)
	}
	before := len(hook.ids())
	d, err = db.RetryDelivery(id)
	if err != nil || d.Status != DeliveryPending {
		t.Fatalf("RetryDelivery = %+v, %v", d, err)
	}
	if ds, _ := db.PendingDeliveries(); len(ds) != 1 || ds[0].ID != id {
		t.Errorf("pending after retry %v", ds)
	}
	if h := hook.ids(); len(h) != before+1 || h[len(h)-1] != id {
		t.Errorf("hook %v after retry", h)
	}
	list, more, err := db.ListDeliveries(e.ID, "", 0)
	if err != nil || more || len(list) != 1 || len(list[0].Attempts) != 2 {
		t.Errorf("ListDeliveries = %+v, %v, %v", list, more, err)
	}
	if _, err := db.RetryDelivery("dlv_none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RetryDelivery of nothing = %v", err)
	}
}

// Disabling or deleting an endpoint gives up its pending deliveries in the
// same transaction, and no new ones are made for it; others are untouched.
func TestDisableAndDeleteGiveUpPending(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	a := newEndpoint(t, db, "https://a.example/hook")
	b := newEndpoint(t, db, "https://b.example/hook")
	cb := newCallback(clk, "+442079460123", "")
	if _, err := db.CreateCallback(cb, "callback.scheduled", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateEndpoint(a.ID, func(e *Endpoint) error {
		e.Enabled, e.DisabledReason = false, "410 Gone"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ds, _ := db.PendingDeliveries()
	if len(ds) != 1 || ds[0].EndpointID != b.ID {
		t.Fatalf("pending after disabling a: %+v", ds)
	}
	list, _, _ := db.ListDeliveries(a.ID, "", 0)
	if len(list) != 1 || list[0].Status != DeliveryFailed || list[0].Error != "endpoint disabled: 410 Gone" {
		t.Errorf("a's delivery %+v", list)
	}
	if _, err := db.RetryDelivery(list[0].ID); !errors.Is(err, ErrConflict) {
		t.Errorf("retry to a disabled endpoint = %v, want ErrConflict", err)
	}
	if _, _, err := db.UpdateCallback(cb.ID, func(u *Update) error { _, err := u.Append("call.initiated", nil); return err }); err != nil {
		t.Fatal(err)
	}
	if list, _, _ := db.ListDeliveries(a.ID, "", 0); len(list) != 1 {
		t.Errorf("disabled endpoint got a new delivery: %+v", list)
	}
	if err := db.DeleteEndpoint(b.ID); err != nil {
		t.Fatal(err)
	}
	if ds, _ := db.PendingDeliveries(); len(ds) != 0 {
		t.Errorf("pending after deleting b: %+v", ds)
	}
	if _, err := db.GetEndpoint(b.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetEndpoint after delete = %v", err)
	}
	if err := db.DeleteEndpoint(b.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete = %v", err)
	}
}

func TestListDeliveriesPages(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	e := newEndpoint(t, db, "https://a.example/hook")
	other := newEndpoint(t, db, "https://b.example/hook")
	var ids []string
	for range 5 {
		d, err := db.CreatePing(e.ID, map[string]string{"m": "x"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
		clk.Advance(time.Millisecond)
	}
	if _, err := db.CreatePing(other.ID, nil); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(ids) // newest first
	var got []string
	after := ""
	for {
		page, more, err := db.ListDeliveries(e.ID, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page {
			got = append(got, d.ID)
		}
		if !more {
			break
		}
		after = page[len(page)-1].ID
	}
	if !slices.Equal(got, ids) {
		t.Errorf("pages %v, want %v", got, ids)
	}
	if _, err := db.CreatePing("we_none", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("ping of nothing = %v", err)
	}
}

// The callback secret is made once and kept across opens.
func TestCallbackSecretKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s1, err := db.CallbackSecret()
	if err != nil || len(s1) < 40 || s1[:6] != "whsec_" {
		t.Fatalf("CallbackSecret = %q, %v", s1, err)
	}
	db.Close()
	db = openAt(t, path, nil)
	if s2, _ := db.CallbackSecret(); s2 != s1 {
		t.Errorf("secret changed across opens: %q, %q", s1, s2)
	}
}

func TestActiveSecrets(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	e := &Endpoint{Secrets: []Secret{
		{Value: "new"},
		{Value: "old", ExpiresAt: now.Add(time.Hour)},
		{Value: "older", ExpiresAt: now},
	}}
	if got := e.ActiveSecrets(now); !slices.Equal(got, []string{"new", "old"}) {
		t.Errorf("ActiveSecrets = %v", got)
	}
	if !e.Wants("call.ringing") {
		t.Error("an endpoint with no types must want every type")
	}
	e.EventTypes = []string{"callback.failed"}
	if e.Wants("call.ringing") || !e.Wants("callback.failed") {
		t.Error("Wants does not follow EventTypes")
	}
}

// A callback's deliveries to its own webhook_url are listed under its ID,
// newest first, apart from the endpoints' deliveries of the same events;
// a file from before that index gets it when opened.
func TestListCallbackURLDeliveries(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "callbackd.db")
	db := openAt(t, path, clk)
	e := newEndpoint(t, db, "https://a.example/hook")
	cb := newCallback(clk, "+442079460123", "")
	cb.WebhookURL = "https://own.example/cb"
	if _, err := db.CreateCallback(cb, "callback.scheduled", nil, nil); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Millisecond)
	if _, _, err := db.UpdateCallback(cb.ID, func(u *Update) error {
		u.Callback.Status = Canceled
		_, err := u.Append("callback.canceled", nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	other := newCallback(clk, "+442079460124", "")
	other.WebhookURL = "https://own.example/other"
	if _, err := db.CreateCallback(other, "callback.scheduled", nil, nil); err != nil {
		t.Fatal(err)
	}

	list := func(t *testing.T, db *DB) []string {
		t.Helper()
		ds, more, err := db.ListDeliveries(cb.ID, "", 10)
		if err != nil || more {
			t.Fatalf("ListDeliveries = %v, more %v", err, more)
		}
		var got []string
		for _, d := range ds {
			if d.URL != cb.WebhookURL || d.EndpointID != "" || d.CallbackID != cb.ID {
				t.Errorf("delivery %+v is not to the callback's own URL", d)
			}
			got = append(got, d.EventType)
		}
		return got
	}
	want := []string{"callback.canceled", "callback.scheduled"}
	if got := list(t, db); !slices.Equal(got, want) {
		t.Errorf("deliveries %v, want %v", got, want)
	}
	if ds, _, err := db.ListDeliveries(e.ID, "", 10); err != nil || len(ds) != 3 {
		t.Errorf("endpoint deliveries %d, %v; want 3", len(ds), err)
	}

	// As a file written before the index: no entries under callbacks, no mark.
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktDeliveriesByEndpoint).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if strings.HasPrefix(string(k), "cb_") {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		return tx.Bucket(bktMeta).Delete(metaURLDeliveriesIndexed)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := list(t, db); len(got) != 0 {
		t.Fatalf("after removing the index: %v", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openAt(t, path, clk)
	if got := list(t, db); !slices.Equal(got, want) {
		t.Errorf("after reopening: %v, want %v", got, want)
	}
}
