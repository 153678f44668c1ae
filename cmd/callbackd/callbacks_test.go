package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/callbackd/callbackd/schedule"
)

// End to end through the REST API on the sandbox trunk: the whole server in
// this process, real SIP and RTP over loopback, a fake clock for the waits
// between attempts.

// sb is the sandbox's number called name.
func sb(t *testing.T, name string) string { t.Helper(); return number(t, name) }

func TestSandboxCallbackConnects(t *testing.T) {
	t.Parallel()
	l := startLive(t, configOptions{}, nil)
	cb := createCallback(t, l.base, map[string]any{
		"customer":   map[string]any{"number": sb(t, "hangup"), "name": "Ann"},
		"rep_number": sb(t, "echo"),
		"metadata":   map[string]string{"form": "pricing"},
	})
	if cb.Status != "scheduled" && cb.Status != "in_progress" {
		t.Errorf("created with status %q", cb.Status)
	}
	done := waitStatus(t, l.base, cb.ID, "completed", 20*time.Second)
	if len(done.Attempts) != 1 || done.Attempts[0].Outcome != "connected" || done.Attempts[0].TalkSeconds < 4 {
		t.Errorf("attempts %+v, want one connected of about 5 s", done.Attempts)
	}
	evs := events(t, l.base, cb.ID)
	checkEventLog(t, cb.ID, evs)
	want := []string{"callback.scheduled", "callback.attempt_started", "call.initiated", "call.connected", "call.completed", "callback.completed"}
	for _, w := range want {
		found := false
		for _, e := range evs {
			found = found || e.Type == w
		}
		if !found {
			t.Errorf("no %s event in %v", w, eventTypes(evs))
		}
	}
}

// A busy customer is tried again after the policy's interval (on the fake
// clock) and the callback fails after the last attempt.
func TestSandboxCallbackRetriesThenFails(t *testing.T) {
	t.Parallel()
	start := time.Now().UTC().Truncate(time.Second)
	clk := schedule.NewFakeClock(start)
	l := startLive(t, configOptions{}, clk)
	cb := createCallback(t, l.base, map[string]any{
		"customer":   map[string]any{"number": sb(t, "busy")},
		"rep_number": sb(t, "echo"),
		"retry":      map[string]any{"max_attempts": 2, "intervals": []string{"10m"}},
	})
	first := waitCallback(t, l.base, cb.ID, 15*time.Second, "waiting for a retry", func(c cbView) bool {
		return c.Status == "scheduled" && c.AttemptCount == 1
	})
	if first.Outcome != "customer_busy" {
		t.Errorf("outcome %q, want customer_busy", first.Outcome)
	}
	if len(first.Attempts) != 1 {
		t.Fatalf("attempts %+v", first.Attempts)
	}
	if got := first.NextAttemptAt.Sub(first.Attempts[0].FinishedAt); got < 10*time.Minute-time.Second || got > 10*time.Minute+time.Second {
		t.Errorf("next attempt %v after the first ended, want 10m", got)
	}
	// Nothing happens before the interval has passed.
	clk.Advance(9 * time.Minute)
	time.Sleep(200 * time.Millisecond)
	if c := getCallback(t, l.base, cb.ID); c.AttemptCount != 1 {
		t.Fatalf("attempt %d started early", c.AttemptCount)
	}
	clk.Advance(time.Minute + time.Second)
	last := waitStatus(t, l.base, cb.ID, "failed", 15*time.Second)
	if last.AttemptCount != 2 || last.Reason != schedule.ReasonMaxAttempts || last.Outcome != "customer_busy" {
		t.Errorf("failed after %d attempts, reason %q, outcome %q; want 2, max_attempts, customer_busy", last.AttemptCount, last.Reason, last.Outcome)
	}
	evs := events(t, l.base, cb.ID)
	checkEventLog(t, cb.ID, evs)
	retries := 0
	for _, e := range evs {
		if e.Type == "callback.retry_scheduled" {
			retries++
		}
	}
	if retries != 1 {
		t.Errorf("%d retry_scheduled events, want 1: %v", retries, eventTypes(evs))
	}
}

// A customer who declines is not called again, and an unanswered one is.
func TestSandboxCallbackOutcomes(t *testing.T) {
	t.Parallel()
	clk := schedule.NewFakeClock(time.Now().UTC())
	l := startLive(t, configOptions{}, clk)
	// A team, so that the customer's ring timeout can be short.
	team := map[string]any{
		"id": "support", "name": "Support", "reps": []map[string]string{{"number": sb(t, "echo"), "name": "Bob"}},
		"customer_ring_timeout": "1s", "rep_ring_timeout": "2s",
	}
	if code := apiCall(t, l.base, "POST", "/v1/teams", team, nil); code != http.StatusCreated {
		t.Fatalf("create team: %d", code)
	}
	tests := []struct {
		customer   string
		status     string // after the first attempt
		outcome    string
		reason     string
		wantEvents []string
	}{
		{"reject", "failed", "customer_rejected", schedule.ReasonNotRetryable, []string{"call.missed", "callback.failed"}},
		{"no-answer", "scheduled", "customer_no_answer", "", []string{"call.ringing", "call.missed", "callback.retry_scheduled"}},
		{"not-found", "scheduled", "failed", "", []string{"call.missed", "callback.retry_scheduled"}},
	}
	for _, tt := range tests {
		t.Run(tt.customer, func(t *testing.T) {
			t.Parallel()
			cb := createCallback(t, l.base, map[string]any{
				"customer": map[string]any{"number": sb(t, tt.customer)},
				"team":     "support",
			})
			got := waitCallback(t, l.base, cb.ID, 15*time.Second, "after one attempt", func(c cbView) bool {
				return c.AttemptCount == 1 && (c.Status == "scheduled" || c.Status == "failed" || c.Status == "completed")
			})
			if got.Status != tt.status || got.Outcome != tt.outcome || got.Reason != tt.reason {
				t.Errorf("status %q outcome %q reason %q, want %q %q %q", got.Status, got.Outcome, got.Reason, tt.status, tt.outcome, tt.reason)
			}
			evs := events(t, l.base, cb.ID)
			for _, w := range tt.wantEvents {
				found := false
				for _, e := range evs {
					found = found || e.Type == w
				}
				if !found {
					t.Errorf("no %s event in %v", w, eventTypes(evs))
				}
			}
			if got.Status == "scheduled" {
				// Cancelling a waiting callback ends it at once.
				var c cbView
				if code := apiCall(t, l.base, "POST", "/v1/callbacks/"+cb.ID+"/cancel", nil, &c); code != http.StatusOK || c.Status != "canceled" {
					t.Errorf("cancel: %d %q", code, c.Status)
				}
				evs = events(t, l.base, cb.ID)
			}
			checkEventLog(t, cb.ID, evs)
		})
	}
}

// A callback asked for outside the team's hours waits for the next opening,
// read in the team's zone.
func TestSandboxCallbackWaitsForWindow(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	sat := time.Date(2026, 12, 5, 12, 0, 0, 0, ny) // a Saturday
	clk := schedule.NewFakeClock(sat)
	l := startLive(t, configOptions{}, clk)
	team := map[string]any{
		"id": "sales", "name": "Sales", "reps": []map[string]string{{"number": sb(t, "echo")}},
		"window": map[string]any{"time_zone": "America/New_York", "hours": map[string][]string{"mon-fri": {"09:00-17:00"}}},
	}
	if code := apiCall(t, l.base, "POST", "/v1/teams", team, nil); code != http.StatusCreated {
		t.Fatalf("create team: %d", code)
	}
	var raw map[string]json.RawMessage
	cb := createCallback(t, l.base, map[string]any{"customer": map[string]any{"number": sb(t, "hangup")}, "team": "sales"})
	monday := time.Date(2026, 12, 7, 9, 0, 0, 0, ny)
	if !cb.NextAttemptAt.Equal(monday) {
		t.Errorf("next_attempt_at %v, want %v", cb.NextAttemptAt, monday.UTC())
	}
	if code := apiCall(t, l.base, "GET", "/v1/callbacks/"+cb.ID, nil, &raw); code != http.StatusOK || len(raw["window"]) < 10 {
		t.Errorf("callback does not show its window: %d %s", code, raw["window"])
	}
	clk.Set(monday.Add(-time.Minute))
	time.Sleep(200 * time.Millisecond)
	if c := getCallback(t, l.base, cb.ID); c.AttemptCount != 0 {
		t.Fatalf("dialled before the window opened")
	}
	clk.Set(monday)
	waitCallback(t, l.base, cb.ID, 10*time.Second, "started", func(c cbView) bool { return c.AttemptCount == 1 })
}
