package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// startedCallback is a callback created with its first attempt started,
// and the events and attempt that go with it.
func startedCallback(clk *fakeClock, number, team string) (*Callback, []NewEvent, *Attempt) {
	cb := newCallback(clk, number, team)
	due := cb.NextAttemptAt
	cb.Status, cb.AttemptCount, cb.NextAttemptAt = InProgress, 1, time.Time{}
	evs := []NewEvent{
		{Type: "callback.scheduled", Data: map[string]any{"next_attempt_at": due}},
		{Type: "callback.attempt_started", Data: map[string]any{"attempt": 1}},
	}
	return cb, evs, &Attempt{Number: 1, StartedAt: clk.Now(), Trunk: "trunk1"}
}

func TestCreateCallbackStarted(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	mustTeam(t, db, "sales")
	h := [32]byte{3}
	if rec, err := db.ReserveIdempotency("key_a", "started-1", h); rec != nil || err != nil {
		t.Fatal(rec, err)
	}
	cb, evs, a := startedCallback(clk, "+14155550100", "sales")
	idem := &IdemCommit{Scope: "key_a", Key: "started-1", Status: 201, ContentType: "application/json",
		Render: func(cb *Callback) ([]byte, error) {
			if cb.LastSeq != 2 {
				return nil, errors.New("rendered before LastSeq was set")
			}
			return json.Marshal(cb)
		}}
	got, err := db.CreateCallbackStarted(cb, evs, a, idem)
	if err != nil {
		t.Fatalf("CreateCallbackStarted: %v", err)
	}
	if len(got) != 2 || got[0].Seq != 1 || got[0].Type != "callback.scheduled" || got[1].Seq != 2 ||
		got[1].Type != "callback.attempt_started" || got[0].CallbackID != cb.ID || got[1].CallbackID != cb.ID ||
		got[0].ID == got[1].ID || string(got[1].Data) != `{"attempt":1}` {
		t.Errorf("events = %+v", got)
	}
	if cb.LastSeq != 2 || a.CallbackID != cb.ID {
		t.Errorf("LastSeq %d, attempt's callback %q", cb.LastSeq, a.CallbackID)
	}

	stored, err := db.GetCallback(cb.ID)
	if err != nil || stored.Status != InProgress || stored.AttemptCount != 1 || stored.LastSeq != 2 || !stored.NextAttemptAt.IsZero() {
		t.Fatalf("GetCallback = %+v, %v", stored, err)
	}
	logged, err := db.Events(cb.ID, 0, 0)
	if err != nil || len(logged) != 2 || logged[0].ID != got[0].ID || logged[1].ID != got[1].ID {
		t.Errorf("Events = %+v, %v", logged, err)
	}
	as, err := db.Attempts(cb.ID)
	if err != nil || len(as) != 1 || as[0].Number != 1 || as[0].CallbackID != cb.ID || as[0].Trunk != "trunk1" ||
		!as[0].StartedAt.Equal(clk.Now()) || !as[0].FinishedAt.IsZero() {
		t.Errorf("Attempts = %+v, %v", as, err)
	}
	pending, _ := db.Pending()
	if !slices.Equal(ids(pending), []string{cb.ID}) {
		t.Errorf("Pending = %v", ids(pending))
	}
	if l, _, err := db.ListCallbacks(CallbackFilter{Status: InProgress}); err != nil || !slices.Equal(ids(l), []string{cb.ID}) {
		t.Errorf("in_progress list = %v, %v", ids(l), err)
	}
	if n, err := db.CountCustomerSince(cb.Customer.Number, time.Time{}); n != 1 || err != nil {
		t.Errorf("customer index: %d, %v", n, err)
	}
	rec, err := db.ReserveIdempotency("key_a", "started-1", h)
	if err != nil || rec == nil || !rec.Done || rec.Status != 201 || !strings.Contains(string(rec.Body), `"status":"in_progress"`) {
		t.Errorf("idempotency record = %+v, %v", rec, err)
	}
	// The team is in use while the callback is pending.
	if err := db.DeleteTeam("sales"); !errors.Is(err, ErrTeamInUse) {
		t.Errorf("DeleteTeam = %v, want ErrTeamInUse", err)
	}

	// The log goes on without a gap, and the final state leaves the
	// pending index.
	_, more, err := db.UpdateCallback(cb.ID, func(u *Update) error {
		a, err := u.Attempt(1)
		if err != nil {
			return err
		}
		a.FinishedAt, a.Outcome = clk.Now(), "connected"
		if err := u.PutAttempt(a); err != nil {
			return err
		}
		u.Callback.Status = Completed
		_, err = u.Append("callback.completed", nil)
		return err
	})
	if err != nil || len(more) != 1 || more[0].Seq != 3 {
		t.Fatalf("UpdateCallback = %+v, %v", more, err)
	}
	if pending, _ := db.Pending(); len(pending) != 0 {
		t.Errorf("Pending after completion = %v", ids(pending))
	}
}

// TestCreateCallbackStartedDefaults: an empty status is in_progress.
func TestCreateCallbackStartedDefaults(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	cb, evs, a := startedCallback(clk, "+14155550100", "")
	cb.ID, cb.Status, cb.CreatedAt, cb.UpdatedAt = "", "", time.Time{}, time.Time{}
	if _, err := db.CreateCallbackStarted(cb, evs, a, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cb.ID, "cb_") || cb.Status != InProgress || !cb.CreatedAt.Equal(clk.Now()) || a.CallbackID != cb.ID {
		t.Errorf("defaults: %+v, attempt %+v", cb, a)
	}
	if as, err := db.Attempts(cb.ID); err != nil || len(as) != 1 {
		t.Errorf("Attempts = %+v, %v", as, err)
	}
}

// TestCreateCallbackStartedErrorsWriteNothing: every refusal leaves no
// record, event, attempt, index entry or completed idempotency record.
func TestCreateCallbackStartedErrorsWriteNothing(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	mustTeam(t, db, "sales")
	existing := mustCreate(t, db, newCallback(clk, "+14155550001", "sales"))
	renderErr := errors.New("render broke")

	tests := []struct {
		name    string
		mutate  func(cb *Callback, evs *[]NewEvent, a **Attempt)
		render  func(*Callback) ([]byte, error)
		wantErr error
	}{
		{name: "unknown team", mutate: func(cb *Callback, _ *[]NewEvent, _ **Attempt) { cb.Team = "nobody" }, wantErr: ErrUnknownTeam},
		{name: "duplicate id", mutate: func(cb *Callback, _ *[]NewEvent, _ **Attempt) { cb.ID = existing.ID }, wantErr: ErrConflict},
		{name: "scheduled status", mutate: func(cb *Callback, _ *[]NewEvent, _ **Attempt) { cb.Status = Scheduled }},
		{name: "no attempt", mutate: func(_ *Callback, _ *[]NewEvent, a **Attempt) { *a = nil }},
		{name: "attempt number not the count", mutate: func(_ *Callback, _ *[]NewEvent, a **Attempt) { (*a).Number = 2 }},
		{name: "no events", mutate: func(_ *Callback, evs *[]NewEvent, _ **Attempt) { *evs = nil }},
		{name: "unencodable event data", mutate: func(_ *Callback, evs *[]NewEvent, _ **Attempt) { (*evs)[1].Data = func() {} }},
		{name: "render fails", render: func(*Callback) ([]byte, error) { return nil, renderErr }, wantErr: renderErr},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cb, evs, a := startedCallback(clk, fmt.Sprintf("+1415555020%d", i), "sales")
			if tt.mutate != nil {
				tt.mutate(cb, &evs, &a)
			}
			key := "k-" + tt.name
			if _, err := db.ReserveIdempotency("key_a", key, [32]byte{1}); err != nil {
				t.Fatal(err)
			}
			idem := &IdemCommit{Scope: "key_a", Key: key, Status: 201, ContentType: "application/json",
				Render: func(cb *Callback) ([]byte, error) { return json.Marshal(cb) }}
			if tt.render != nil {
				idem.Render = tt.render
			}
			_, err := db.CreateCallbackStarted(cb, evs, a, idem)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("CreateCallbackStarted = %v, want %v", err, tt.wantErr)
			}
			if cb.ID != existing.ID {
				if _, err := db.GetCallback(cb.ID); !errors.Is(err, ErrNotFound) {
					t.Errorf("refused callback stored: GetCallback = %v", err)
				}
				if n, _ := db.CountCustomerSince(cb.Customer.Number, time.Time{}); n != 0 {
					t.Errorf("customer index has %d entries for a refused create", n)
				}
			}
			if rec, err := db.ReserveIdempotency("key_a", key, [32]byte{1}); !errors.Is(err, ErrIdempotencyInFlight) {
				t.Errorf("idempotency record after refused create: %+v, %v; want still pending", rec, err)
			}
		})
	}
	pending, _ := db.Pending()
	if !slices.Equal(ids(pending), []string{existing.ID}) {
		t.Errorf("Pending = %v, want only %s", ids(pending), existing.ID)
	}
	if evs, _ := db.Events(existing.ID, 0, 0); len(evs) != 1 {
		t.Errorf("existing callback has %d events, want 1", len(evs))
	}
	if as, _ := db.Attempts(existing.ID); len(as) != 0 {
		t.Errorf("existing callback has attempts %+v", as)
	}
	// Nothing at all in the attempts bucket: no orphan from a refusal.
	if n := countAttempts(t, db); n != 0 {
		t.Errorf("%d attempts stored", n)
	}
}

func countAttempts(t *testing.T, db *DB) int {
	t.Helper()
	n := 0
	if err := db.view("count attempts", func(tx *bolt.Tx) error {
		n = tx.Bucket(bktAttempts).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}
