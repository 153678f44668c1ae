package store

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestUpdateCallback(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	cb := mustCreate(t, db, newCallback(clk, "+14155550100", ""))
	clk.Advance(time.Second)

	got, evs, err := db.UpdateCallback(cb.ID, func(u *Update) error {
		u.Callback.Status = InProgress
		u.Callback.AttemptCount++
		if err := u.PutAttempt(&Attempt{Number: 1, StartedAt: clk.Now(), Trunk: "main"}); err != nil {
			return err
		}
		if _, err := u.Append("callback.attempt_started", map[string]int{"attempt": 1}); err != nil {
			return err
		}
		// An attempt put in this transaction is visible to it.
		a, err := u.Attempt(1)
		if err != nil || a.Trunk != "main" {
			return fmt.Errorf("Attempt(1) = %+v, %v", a, err)
		}
		a.Outcome = "connected"
		if err := u.PutAttempt(a); err != nil { // replace
			return err
		}
		_, err = u.Append("call.initiated", nil)
		return err
	})
	if err != nil {
		t.Fatalf("UpdateCallback: %v", err)
	}
	if got.Status != InProgress || got.AttemptCount != 1 || got.LastSeq != 3 || !got.UpdatedAt.Equal(clk.Now()) {
		t.Errorf("returned callback %+v", got)
	}
	if len(evs) != 2 || evs[0].Seq != 2 || evs[1].Seq != 3 || evs[0].Type != "callback.attempt_started" || string(evs[0].Data) != `{"attempt":1}` {
		t.Errorf("returned events %+v", evs)
	}
	atts, err := db.Attempts(cb.ID)
	if err != nil || len(atts) != 1 || atts[0].Outcome != "connected" || atts[0].CallbackID != cb.ID {
		t.Errorf("Attempts = %+v, %v", atts, err)
	}
	stored, _ := db.GetCallback(cb.ID)
	if stored.LastSeq != 3 || stored.Status != InProgress {
		t.Errorf("stored %+v", stored)
	}
}

// TestUpdateRollback checks that a refused update leaves nothing behind:
// not the callback change, not attempts, not events, not index changes.
func TestUpdateRollback(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	final := mustCreate(t, db, newCallback(clk, "+14155550101", ""))
	setStatus(t, db, final.ID, Completed)
	errBoom := errors.New("boom")

	tests := []struct {
		name    string
		id      func(live string) string
		fn      func(u *Update) error
		wantErr error
	}{
		{"fn error", nil, func(u *Update) error {
			u.Callback.Status = Failed
			u.Callback.Customer.Number = "+14155550999"
			_ = u.PutAttempt(&Attempt{Number: 1})
			_, _ = u.Append("callback.failed", nil)
			return errBoom
		}, errBoom},
		{"fn error wrapped", nil, func(u *Update) error {
			u.Callback.Status = Canceled
			_, _ = u.Append("callback.canceled", nil)
			return fmt.Errorf("cancel: %w", errBoom)
		}, errBoom},
		{"invalid status", nil, func(u *Update) error {
			u.Callback.Status = "lost"
			_, _ = u.Append("x", nil)
			return nil
		}, nil},
		{"id changed", nil, func(u *Update) error {
			u.Callback.ID = "cb_other"
			return nil
		}, nil},
		{"attempt number 0", nil, func(u *Update) error { return u.PutAttempt(&Attempt{}) }, nil},
		{"missing attempt", nil, func(u *Update) error { _, err := u.Attempt(7); return err }, ErrNotFound},
		{"unencodable data", nil, func(u *Update) error { _, err := u.Append("x", make(chan int)); return err }, nil},
		{"unknown callback", func(string) string { return "cb_nope" }, func(*Update) error { return nil }, ErrNotFound},
		{"leaving a final status", func(string) string { return final.ID }, func(u *Update) error {
			u.Callback.Status = Scheduled
			return nil
		}, ErrConflict},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			number := fmt.Sprintf("+1415555020%d", i)
			live := mustCreate(t, db, newCallback(clk, number, ""))
			id := live.ID
			if tt.id != nil {
				id = tt.id(live.ID)
			}
			before, _ := db.GetCallback(id)
			var beforeEvents []Event
			if before != nil {
				beforeEvents, _ = db.Events(id, 0, 0)
			}
			got, evs, err := db.UpdateCallback(id, tt.fn)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || got != nil || evs != nil {
				t.Fatalf("UpdateCallback = %v, %v, %v; want error %v", got, evs, err, tt.wantErr)
			}
			if before == nil {
				return
			}
			after, _ := db.GetCallback(id)
			if after.Status != before.Status || after.LastSeq != before.LastSeq || !after.UpdatedAt.Equal(before.UpdatedAt) ||
				after.Customer != before.Customer {
				t.Errorf("callback changed: %+v -> %+v", before, after)
			}
			if evs, _ := db.Events(id, 0, 0); len(evs) != len(beforeEvents) {
				t.Errorf("events %d -> %d", len(beforeEvents), len(evs))
			}
			if atts, _ := db.Attempts(id); len(atts) != 0 {
				t.Errorf("attempts written: %+v", atts)
			}
			if n, _ := db.CountCustomerSince("+14155550999", time.Time{}); n != 0 {
				t.Errorf("customer index moved")
			}
			if before.Status == Scheduled {
				p, _ := db.Pending()
				if !slices.Contains(ids(p), id) {
					t.Errorf("callback left the pending index")
				}
			}
		})
	}
}

// TestEventSeqConcurrent appends from many goroutines to one callback: the
// sequence must be exactly 1..n, no gaps, no duplicates.
func TestEventSeqConcurrent(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	cb := mustCreate(t, db, newCallback(clk, "+14155550100", ""))
	const workers, each = 16, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				_, evs, err := db.UpdateCallback(cb.ID, func(u *Update) error {
					if i%3 == 2 {
						_, _ = u.Append("doomed", nil)
						return errors.New("refused") // rolled back: must not leave a gap
					}
					_, err := u.Append("tick", map[string]int{"w": w, "i": i})
					return err
				})
				if (i%3 == 2) != (err != nil) || (err == nil && len(evs) != 1) {
					t.Errorf("worker %d #%d: %v, %+v", w, i, err, evs)
				}
			}
		})
	}
	wg.Wait()
	evs, err := db.Events(cb.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := 1 + workers*(each-each/3)
	if len(evs) != want {
		t.Fatalf("%d events, want %d", len(evs), want)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) || ev.CallbackID != cb.ID {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
	got, _ := db.GetCallback(cb.ID)
	if got.LastSeq != uint64(want) {
		t.Errorf("LastSeq = %d, want %d", got.LastSeq, want)
	}
}

func TestEventsAndAttemptsPaging(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	cb := mustCreate(t, db, newCallback(clk, "+14155550100", ""))
	other := mustCreate(t, db, newCallback(clk, "+14155550101", ""))
	// 300 attempts: numbers past 255 check the big-endian key order.
	_, _, err := db.UpdateCallback(cb.ID, func(u *Update) error {
		for n := 300; n >= 1; n-- {
			if err := u.PutAttempt(&Attempt{Number: n}); err != nil {
				return err
			}
			if _, err := u.Append("e", nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	atts, err := db.Attempts(cb.ID)
	if err != nil || len(atts) != 300 {
		t.Fatalf("Attempts: %d, %v", len(atts), err)
	}
	for i, a := range atts {
		if a.Number != i+1 {
			t.Fatalf("attempt %d has number %d", i, a.Number)
		}
	}
	tests := []struct {
		after     uint64
		limit     int
		wantFirst uint64
		wantLen   int
	}{
		{0, 0, 1, 301},
		{0, 10, 1, 10},
		{10, 10, 11, 10},
		{295, 10, 296, 6},
		{301, 10, 0, 0},
		{1 << 40, 0, 0, 0},
	}
	for _, tt := range tests {
		evs, err := db.Events(cb.ID, tt.after, tt.limit)
		if err != nil || len(evs) != tt.wantLen || (len(evs) > 0 && evs[0].Seq != tt.wantFirst) {
			t.Errorf("Events(after %d, limit %d) = %d events, %v; want %d from %d", tt.after, tt.limit, len(evs), err, tt.wantLen, tt.wantFirst)
		}
	}
	if evs, _ := db.Events(other.ID, 0, 0); len(evs) != 1 {
		t.Errorf("other callback sees %d events", len(evs))
	}
	if atts, _ := db.Attempts(other.ID); len(atts) != 0 {
		t.Errorf("other callback sees %d attempts", len(atts))
	}
	if _, err := db.Events("cb_nope", 0, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Events(unknown) = %v", err)
	}
	if _, err := db.Attempts("cb_nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Attempts(unknown) = %v", err)
	}
}
