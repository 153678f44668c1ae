package store

import (
	"slices"
	"testing"
	"time"
)

// RecentEvents gives the newest events of one type first, as webhooks
// carry them (the attempt and the event's own data included), whether or
// not any endpoint wanted them.
func TestRecentEvents(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	var ids []string
	for i, number := range []string{"+442079460101", "+442079460102", "+442079460103"} {
		cb := mustCreate(t, db, newCallback(clk, number, ""))
		clk.Advance(time.Second)
		_, _, err := db.UpdateCallback(cb.ID, func(u *Update) error {
			if err := u.PutAttempt(&Attempt{Number: 1, StartedAt: clk.Now(), Trunk: "t"}); err != nil {
				return err
			}
			if _, err := u.Append("call.initiated", map[string]any{"attempt": 1, "leg": "rep"}); err != nil {
				return err
			}
			if i == 1 {
				return nil // still in progress: no callback.completed
			}
			u.Callback.Status = Completed
			_, err := u.Append("callback.completed", map[string]any{"attempt": 1, "outcome": "connected"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, cb.ID)
		clk.Advance(time.Second)
	}

	tests := []struct {
		event string
		limit int
		want  []string // callback IDs, newest first
	}{
		{"callback.completed", 10, []string{ids[2], ids[0]}},
		{"callback.completed", 1, []string{ids[2]}},
		{"call.initiated", 10, []string{ids[2], ids[1], ids[0]}},
		{"callback.scheduled", 2, []string{ids[2], ids[1]}},
		{"callback.canceled", 10, nil},
		{"callback.completed", 0, nil},
	}
	for _, tc := range tests {
		envs, err := db.RecentEvents(tc.event, tc.limit)
		if err != nil {
			t.Fatalf("RecentEvents(%s, %d): %v", tc.event, tc.limit, err)
		}
		var got []string
		for _, env := range envs {
			got = append(got, env.Data.Callback.ID)
			if env.Type != tc.event || env.ID == "" || env.Sequence == 0 {
				t.Errorf("%s: envelope %+v", tc.event, env)
			}
			if tc.event != "callback.scheduled" && (env.Data.Attempt == nil || env.Data.Attempt.Number != 1) {
				t.Errorf("%s of %s: attempt %+v, want attempt 1", tc.event, env.Data.Callback.ID, env.Data.Attempt)
			}
			if tc.event == "call.initiated" && len(env.Data.Call) == 0 || tc.event != "call.initiated" && len(env.Data.Details) == 0 {
				t.Errorf("%s: data %+v", tc.event, env.Data)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("RecentEvents(%s, %d) = %v, want %v", tc.event, tc.limit, got, tc.want)
		}
	}
}
