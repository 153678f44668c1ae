package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/schedule"
)

func TestCreateGetRoundTrip(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	mustTeam(t, db, "sales")
	win, err := schedule.ParseWindow(schedule.WindowSpec{
		TimeZone: "Europe/London",
		Hours:    map[string][]string{"mon-fri": {"09:00-12:00", "13:00-17:30"}},
		Closed:   []string{"2026-12-25"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cb := newCallback(clk, "+442071838750", "sales")
	cb.Window = win
	cb.Retry = schedule.Policy{MaxAttempts: 3, Intervals: []schedule.Duration{schedule.Duration(2 * time.Minute)}}
	cb.WebhookURL = "https://example.com/hook"

	ev, err := db.CreateCallback(cb, "callback.scheduled", map[string]any{"next_attempt_at": cb.NextAttemptAt}, nil)
	if err != nil {
		t.Fatalf("CreateCallback: %v", err)
	}
	if ev.Seq != 1 || ev.CallbackID != cb.ID || ev.Type != "callback.scheduled" || !ev.CreatedAt.Equal(clk.Now()) || len(ev.ID) != 30 {
		t.Errorf("event = %+v, want seq 1 of %s", ev, cb.ID)
	}
	if cb.LastSeq != 1 {
		t.Errorf("cb.LastSeq = %d, want 1", cb.LastSeq)
	}
	got, err := db.GetCallback(cb.ID)
	if err != nil {
		t.Fatalf("GetCallback: %v", err)
	}
	// Compare as API JSON plus the hidden LastSeq: time.Location pointers
	// and monotonic clock readings make DeepEqual on the structs fragile.
	want, _ := json.Marshal(cb)
	have, _ := json.Marshal(got)
	if string(want) != string(have) || got.LastSeq != 1 {
		t.Errorf("GetCallback =\n%s (last seq %d)\nwant\n%s", have, got.LastSeq, want)
	}
	evs, err := db.Events(cb.ID, 0, 0)
	if err != nil || len(evs) != 1 || evs[0].ID != ev.ID || string(evs[0].Data) != string(ev.Data) {
		t.Errorf("Events = %+v, %v; want the creation event %+v", evs, err, ev)
	}
	if _, err := db.GetCallback("cb_missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetCallback(missing) = %v, want ErrNotFound", err)
	}
}

func TestCreateDefaults(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	cb := &Callback{Customer: Party{Number: "+14155550123"}}
	if _, err := db.CreateCallback(cb, "callback.scheduled", nil, nil); err != nil {
		t.Fatal(err)
	}
	if len(cb.ID) != 29 || cb.Status != Scheduled || !cb.CreatedAt.Equal(clk.Now()) || !cb.UpdatedAt.Equal(cb.CreatedAt) {
		t.Errorf("defaults not filled in: %+v", cb)
	}
	if ts, ok := idTime(cb.ID, 3); !ok || !ts.Equal(clk.Now()) {
		t.Errorf("ID %s carries %v, want the creation time", cb.ID, ts)
	}
}

// TestCreateErrorsWriteNothing checks every refused create leaves no trace:
// no record, no event, no index entry, no completed idempotency record.
func TestCreateErrorsWriteNothing(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	mustTeam(t, db, "sales")
	existing := mustCreate(t, db, newCallback(clk, "+14155550001", "sales"))
	renderErr := errors.New("render broke")

	tests := []struct {
		name    string
		mutate  func(cb *Callback)
		data    any
		render  func(*Callback) ([]byte, error)
		wantErr error
	}{
		{name: "unknown team", mutate: func(cb *Callback) { cb.Team = "nobody" }, wantErr: ErrUnknownTeam},
		{name: "duplicate id", mutate: func(cb *Callback) { cb.ID = existing.ID }, wantErr: ErrConflict},
		{name: "invalid status", mutate: func(cb *Callback) { cb.Status = "lost" }},
		{name: "unencodable event data", data: func() {}},
		{name: "render fails", render: func(*Callback) ([]byte, error) { return nil, renderErr }, wantErr: renderErr},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cb := newCallback(clk, fmt.Sprintf("+1415555020%d", i), "sales")
			if tt.mutate != nil {
				tt.mutate(cb)
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
			_, err := db.CreateCallback(cb, "callback.scheduled", tt.data, idem)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("CreateCallback = %v, want %v", err, tt.wantErr)
			}
			if cb.ID != existing.ID {
				if _, err := db.GetCallback(cb.ID); !errors.Is(err, ErrNotFound) {
					t.Errorf("refused callback stored: GetCallback = %v", err)
				}
			}
			if n, _ := db.CountCustomerSince(cb.Customer.Number, time.Time{}); cb.ID != existing.ID && n != 0 {
				t.Errorf("customer index has %d entries for a refused create", n)
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
}

// TestCreateConcurrent runs creators that share batches, some of which
// fail: the failures must not disturb the others (or be retried into
// success), and each stored callback has exactly its one event.
func TestCreateConcurrent(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	mustTeam(t, db, "sales")
	const n = 64
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created []string
	)
	for i := range n {
		wg.Go(func() {
			team := "sales"
			if i%4 == 0 {
				team = "ghost"
			}
			cb := newCallback(clk, fmt.Sprintf("+1415555%04d", i), team)
			_, err := db.CreateCallback(cb, "callback.scheduled", nil, nil)
			switch {
			case team == "ghost" && !errors.Is(err, ErrUnknownTeam):
				t.Errorf("create with unknown team = %v", err)
			case team == "sales" && err != nil:
				t.Errorf("create: %v", err)
			case err == nil:
				mu.Lock()
				created = append(created, cb.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(created)
	pending, err := db.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(pending); !slices.Equal(got, created) {
		t.Fatalf("Pending = %d callbacks, want the %d created", len(got), len(created))
	}
	for _, id := range created {
		if evs, err := db.Events(id, 0, 0); err != nil || len(evs) != 1 || evs[0].Seq != 1 {
			t.Fatalf("events of %s = %+v, %v", id, evs, err)
		}
	}
}

func TestListCallbacks(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	mustTeam(t, db, "sales")
	mustTeam(t, db, "support")
	start := clk.Now()
	// 30 callbacks a minute apart: i%3 picks the team and status, i%2 the
	// customer.
	var all []*Callback // oldest first
	for i := range 30 {
		team := []string{"sales", "support", ""}[i%3]
		cb := newCallback(clk, []string{"+14155550100", "+14155550101"}[i%2], team)
		if team == "" {
			cb.RepNumber = "+14155550999"
		}
		mustCreate(t, db, cb)
		switch i % 3 {
		case 1:
			cb = setStatus(t, db, cb.ID, InProgress)
		case 2:
			cb = setStatus(t, db, cb.ID, Completed)
		}
		all = append(all, cb)
		clk.Advance(time.Minute)
	}
	// want applies f to all, newest first.
	want := func(keep func(i int, cb *Callback) bool) []string {
		var out []string
		for i := len(all) - 1; i >= 0; i-- {
			if keep(i, all[i]) {
				out = append(out, all[i].ID)
			}
		}
		return out
	}
	at := func(m int) time.Time { return start.Add(time.Duration(m) * time.Minute) }
	tests := []struct {
		name string
		f    CallbackFilter
		want []string
		more bool
	}{
		{"default limit 20", CallbackFilter{}, want(func(i int, _ *Callback) bool { return i >= 10 }), true},
		{"limit 5", CallbackFilter{Limit: 5}, want(func(i int, _ *Callback) bool { return i >= 25 }), true},
		{"limit over 100 clamps", CallbackFilter{Limit: 1000}, want(func(int, *Callback) bool { return true }), false},
		{"status scheduled", CallbackFilter{Status: Scheduled, Limit: 100}, want(func(i int, _ *Callback) bool { return i%3 == 0 }), false},
		{"status in_progress", CallbackFilter{Status: InProgress, Limit: 100}, want(func(i int, _ *Callback) bool { return i%3 == 1 }), false},
		{"status completed", CallbackFilter{Status: Completed, Limit: 100}, want(func(i int, _ *Callback) bool { return i%3 == 2 }), false},
		{"status failed", CallbackFilter{Status: Failed}, nil, false},
		{"team", CallbackFilter{Team: "support", Limit: 100}, want(func(i int, _ *Callback) bool { return i%3 == 1 }), false},
		{"customer", CallbackFilter{Customer: "+14155550101", Limit: 100}, want(func(i int, _ *Callback) bool { return i%2 == 1 }), false},
		{"customer unknown", CallbackFilter{Customer: "+14155550102"}, nil, false},
		{"created from", CallbackFilter{CreatedFrom: at(25), Limit: 100}, want(func(i int, _ *Callback) bool { return i >= 25 }), false},
		{"created to", CallbackFilter{CreatedTo: at(5), Limit: 100}, want(func(i int, _ *Callback) bool { return i < 5 }), false},
		{"created range", CallbackFilter{CreatedFrom: at(10), CreatedTo: at(12), Limit: 100}, []string{all[11].ID, all[10].ID}, false},
		{"created range limit", CallbackFilter{CreatedFrom: at(10), CreatedTo: at(20), Limit: 3}, []string{all[19].ID, all[18].ID, all[17].ID}, true},
		{"starting after", CallbackFilter{StartingAfter: all[10].ID, Limit: 100}, want(func(i int, _ *Callback) bool { return i < 10 }), false},
		{"starting after, status", CallbackFilter{StartingAfter: all[10].ID, Status: Scheduled, Limit: 2}, []string{all[9].ID, all[6].ID}, true},
		{"starting after, customer", CallbackFilter{StartingAfter: all[10].ID, Customer: "+14155550100", Limit: 100}, want(func(i int, _ *Callback) bool { return i < 10 && i%2 == 0 }), false},
		{"starting after oldest", CallbackFilter{StartingAfter: all[0].ID}, nil, false},
		{"all filters", CallbackFilter{Status: Scheduled, Team: "sales", Customer: "+14155550100", CreatedFrom: at(6), CreatedTo: at(25), Limit: 100},
			want(func(i int, _ *Callback) bool { return i%3 == 0 && i%2 == 0 && i >= 6 && i < 25 }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, more, err := db.ListCallbacks(tt.f)
			if err != nil {
				t.Fatalf("ListCallbacks: %v", err)
			}
			if got := ids(items); !slices.Equal(got, tt.want) || more != tt.more {
				t.Errorf("ListCallbacks(%+v) = %v, more %v;\nwant %v, more %v", tt.f, got, more, tt.want, tt.more)
			}
		})
	}
	t.Run("pages walk everything once, newest first", func(t *testing.T) {
		for _, f := range []CallbackFilter{{Limit: 7}, {Limit: 4, Status: Scheduled}, {Limit: 3, Customer: "+14155550100"}} {
			var got []string
			for page := 0; ; page++ {
				items, more, err := db.ListCallbacks(f)
				if err != nil || page > 30 {
					t.Fatalf("page %d: %v", page, err)
				}
				got = append(got, ids(items)...)
				if !more {
					break
				}
				f.StartingAfter = items[len(items)-1].ID
			}
			f.StartingAfter, f.Limit = "", 100
			all, _, _ := db.ListCallbacks(f)
			if !slices.Equal(got, ids(all)) {
				t.Errorf("paging %+v = %v, want %v", f, got, ids(all))
			}
		}
	})
	if _, _, err := db.ListCallbacks(CallbackFilter{Status: "lost"}); err == nil {
		t.Error("ListCallbacks with an unknown status succeeded")
	}
}

func TestCountCustomerSince(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	start := clk.Now()
	for range 5 {
		mustCreate(t, db, newCallback(clk, "+14155550100", ""))
		mustCreate(t, db, newCallback(clk, "+14155550111", ""))
		clk.Advance(6 * time.Hour)
	}
	tests := []struct {
		number string
		since  time.Time
		want   int
	}{
		{"+14155550100", time.Time{}, 5},
		{"+14155550100", start, 5},
		{"+14155550100", start.Add(time.Nanosecond), 4},
		{"+14155550100", start.Add(18 * time.Hour), 2},
		{"+14155550100", clk.Now(), 0},
		{"+1415555010", time.Time{}, 0}, // a prefix of a number is another number
		{"+14155550199", time.Time{}, 0},
	}
	for _, tt := range tests {
		if got, err := db.CountCustomerSince(tt.number, tt.since); err != nil || got != tt.want {
			t.Errorf("CountCustomerSince(%s, %v) = %d, %v; want %d", tt.number, tt.since, got, err, tt.want)
		}
	}
}

func TestPendingIndexAndCounts(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	cb := mustCreate(t, db, newCallback(clk, "+14155550100", ""))
	steps := []struct {
		to      Status
		pending bool
	}{
		{InProgress, true},
		{Scheduled, true}, // a retry
		{InProgress, true},
		{Failed, false},
	}
	for _, s := range steps {
		setStatus(t, db, cb.ID, s.to)
		p, err := db.Pending()
		if err != nil {
			t.Fatal(err)
		}
		if got := len(p) == 1 && p[0].ID == cb.ID && p[0].Status == s.to; got != s.pending && !(len(p) == 0 && !s.pending) {
			t.Errorf("after -> %s: Pending = %v, want pending %v", s.to, ids(p), s.pending)
		}
		counts, err := db.CountByStatus()
		if err != nil {
			t.Fatal(err)
		}
		want := map[Status]int{Scheduled: 0, InProgress: 0, Completed: 0, Failed: 0, Canceled: 0}
		want[s.to] = 1
		if !reflect.DeepEqual(counts, want) {
			t.Errorf("after -> %s: CountByStatus = %v", s.to, counts)
		}
	}
}
