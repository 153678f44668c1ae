package store

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/callbackd/callbackd/schedule"
)

func TestTeams(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	sales := &Team{ID: "sales", Name: "Sales", Reps: []Party{{Number: "+14155550100", Name: "Bo"}, {Number: "+14155550101"}},
		Strategy: "round_robin", RepRingTimeout: schedule.Duration(20 * time.Second), Whisper: "sales.wav",
		CallerID: Party{Number: "+14155550000", Name: "ACME"}, NextRep: 1}
	if err := db.CreateTeam(sales); err != nil {
		t.Fatalf("CreateTeam: %v", err)
	}
	if !sales.CreatedAt.Equal(clk.Now()) || !sales.UpdatedAt.Equal(clk.Now()) {
		t.Errorf("CreateTeam did not set the times: %+v", sales)
	}
	mustTeam(t, db, "ops")
	mustTeam(t, db, "billing")

	got, err := db.GetTeam("sales")
	if err != nil || got.Name != "Sales" || len(got.Reps) != 2 || got.NextRep != 1 || got.CallerID != sales.CallerID ||
		got.RepRingTimeout != sales.RepRingTimeout || !got.CreatedAt.Equal(sales.CreatedAt) {
		t.Errorf("GetTeam = %+v, %v", got, err)
	}
	list, err := db.ListTeams()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tm := range list {
		names = append(names, tm.ID)
	}
	if !slices.Equal(names, []string{"billing", "ops", "sales"}) {
		t.Errorf("ListTeams = %v, want by ID", names)
	}

	clk.Advance(time.Minute)
	up, err := db.UpdateTeam("sales", func(tm *Team) error {
		tm.Name = "Inside sales"
		tm.NextRep = (tm.NextRep + 1) % len(tm.Reps)
		tm.CreatedAt = time.Time{} // ignored
		return nil
	})
	if err != nil || up.Name != "Inside sales" || up.NextRep != 0 || !up.UpdatedAt.Equal(clk.Now()) || !up.CreatedAt.Equal(sales.CreatedAt) {
		t.Errorf("UpdateTeam = %+v, %v", up, err)
	}

	errBoom := errors.New("invalid")
	tests := []struct {
		name    string
		do      func() error
		wantErr error
	}{
		{"create duplicate", func() error { return db.CreateTeam(&Team{ID: "sales"}) }, ErrConflict},
		{"create empty id", func() error { return db.CreateTeam(&Team{}) }, nil},
		{"get missing", func() error { _, err := db.GetTeam("nope"); return err }, ErrNotFound},
		{"update missing", func() error { _, err := db.UpdateTeam("nope", func(*Team) error { return nil }); return err }, ErrNotFound},
		{"update fn error", func() error {
			_, err := db.UpdateTeam("sales", func(tm *Team) error { tm.Name = "lost"; return errBoom })
			return err
		}, errBoom},
		{"update id change", func() error {
			_, err := db.UpdateTeam("sales", func(tm *Team) error { tm.ID = "other"; return nil })
			return err
		}, nil},
		{"delete missing", func() error { return db.DeleteTeam("nope") }, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
		})
	}
	if got, _ := db.GetTeam("sales"); got.Name != "Inside sales" {
		t.Errorf("failed updates changed the team: %+v", got)
	}
}

func TestDeleteTeamInUse(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	mustTeam(t, db, "sales")
	mustTeam(t, db, "sales-eu") // shares a prefix: must not count
	cb := mustCreate(t, db, newCallback(clk, "+14155550100", "sales"))
	mustCreate(t, db, newCallback(clk, "+14155550101", "sales-eu"))

	for _, s := range []Status{Scheduled, InProgress} {
		if s != Scheduled {
			setStatus(t, db, cb.ID, s)
		}
		if err := db.DeleteTeam("sales"); !errors.Is(err, ErrTeamInUse) {
			t.Fatalf("DeleteTeam with a %s callback = %v, want ErrTeamInUse", s, err)
		}
	}
	setStatus(t, db, cb.ID, Canceled)
	if err := db.DeleteTeam("sales"); err != nil {
		t.Fatalf("DeleteTeam once its callbacks are final: %v", err)
	}
	if _, err := db.GetTeam("sales"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetTeam after delete = %v", err)
	}
	if _, err := db.CreateCallback(newCallback(clk, "+14155550102", "sales"), "callback.scheduled", nil, nil); !errors.Is(err, ErrUnknownTeam) {
		t.Errorf("create for a deleted team = %v, want ErrUnknownTeam", err)
	}
	// The final callback keeps its team ID as history.
	if got, _ := db.GetCallback(cb.ID); got.Team != "sales" {
		t.Errorf("final callback lost its team: %+v", got)
	}
}
