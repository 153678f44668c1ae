package store

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/fakeclock"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock = fakeclock.Clock

func newClock() *fakeClock {
	return fakeclock.New(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
}

func openTest(t testing.TB, clk *fakeClock) *DB {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "callbackd.db"), clk)
}

func openAt(t testing.TB, path string, clk *fakeClock) *DB {
	t.Helper()
	opts := Options{}
	if clk != nil {
		opts.Now = clk.Now
	}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// newCallback is a valid scheduled callback for number created at the
// clock's time.
func newCallback(clk *fakeClock, number, team string) *Callback {
	now := clk.Now()
	return &Callback{
		ID:            NewID("cb_", now),
		Status:        Scheduled,
		Team:          team,
		Customer:      Party{Number: number, Name: "Ada"},
		NextAttemptAt: now,
		CreatedAt:     now,
		UpdatedAt:     now,
		Metadata:      map[string]string{"order": "42"},
	}
}

// mustCreate stores cb with a callback.scheduled event.
func mustCreate(t testing.TB, db *DB, cb *Callback) *Callback {
	t.Helper()
	if _, err := db.CreateCallback(cb, "callback.scheduled", map[string]any{"next_attempt_at": cb.NextAttemptAt}, nil); err != nil {
		t.Fatalf("CreateCallback %s: %v", cb.ID, err)
	}
	return cb
}

func mustTeam(t testing.TB, db *DB, id string) *Team {
	t.Helper()
	team := &Team{ID: id, Name: id, Reps: []Party{{Number: "+14155550100"}}, Strategy: "sequential"}
	if err := db.CreateTeam(team); err != nil {
		t.Fatalf("CreateTeam %s: %v", id, err)
	}
	return team
}

// setStatus moves a callback to status through UpdateCallback.
func setStatus(t testing.TB, db *DB, id string, s Status) *Callback {
	t.Helper()
	cb, _, err := db.UpdateCallback(id, func(u *Update) error {
		u.Callback.Status = s
		_, err := u.Append("status."+string(s), nil)
		return err
	})
	if err != nil {
		t.Fatalf("UpdateCallback %s -> %s: %v", id, s, err)
	}
	return cb
}

func ids(cbs []*Callback) []string {
	out := make([]string, len(cbs))
	for i, cb := range cbs {
		out[i] = cb.ID
	}
	return out
}
