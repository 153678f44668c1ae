package schedule

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPolicyDefaults(t *testing.T) {
	t.Parallel()
	var p Policy
	created := utc("2026-06-01T10:00:00Z")
	at := created
	var got []time.Duration
	for n := 1; ; n++ {
		d := p.Next(Attempt{Number: n, Outcome: "customer_no_answer", FinishedAt: at, Created: created}, Window{})
		if !d.Retry {
			if n != DefaultMaxAttempts || d.Reason != ReasonMaxAttempts {
				t.Fatalf("gave up after attempt %d for %q, want after %d for %q", n, d.Reason, DefaultMaxAttempts, ReasonMaxAttempts)
			}
			break
		}
		got = append(got, d.At.Sub(at))
		at = d.At
	}
	want := []time.Duration{2 * time.Minute, 10 * time.Minute, 30 * time.Minute, 2 * time.Hour, 2 * time.Hour}
	if len(got) != len(want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits %v, want %v", got, want)
		}
	}
	e := p.Effective()
	if e.MaxAttempts != 6 || len(e.Intervals) != 4 {
		t.Fatalf("Effective() = %+v", e)
	}
}

func TestPolicyOutcomes(t *testing.T) {
	t.Parallel()
	fin := utc("2026-06-01T10:00:00Z")
	for _, tc := range []struct {
		outcome       string
		retryRejected bool
		retry         bool
		reason        string
	}{
		{outcome: "connected", reason: ReasonNotRetryable},
		{outcome: "customer_no_answer", retry: true},
		{outcome: "customer_busy", retry: true},
		{outcome: "failed", retry: true},
		{outcome: "rep_no_answer", retry: true},
		{outcome: "rep_busy", retry: true},
		{outcome: "rep_rejected", retry: true},
		{outcome: "interrupted", retry: true},
		{outcome: "customer_rejected", reason: ReasonNotRetryable},
		{outcome: "customer_rejected", retryRejected: true, retry: true},
		{outcome: "connected", retryRejected: true, reason: ReasonNotRetryable},
		{outcome: "something_new", reason: ReasonNotRetryable},
		{outcome: "", reason: ReasonNotRetryable},
	} {
		p := Policy{RetryCustomerRejected: tc.retryRejected}
		d := p.Next(Attempt{Number: 1, Outcome: tc.outcome, FinishedAt: fin, Created: fin}, Window{})
		if d.Retry != tc.retry || d.Reason != tc.reason {
			t.Errorf("%q (retry rejected %v): %+v, want retry %v reason %q", tc.outcome, tc.retryRejected, d, tc.retry, tc.reason)
		}
		if d.Retry && !d.At.Equal(fin.Add(2*time.Minute)) {
			t.Errorf("%q: retry at %v, want 2m after %v", tc.outcome, d.At, fin)
		}
	}
}

func TestPolicyIntervalsLastRepeats(t *testing.T) {
	t.Parallel()
	p := Policy{MaxAttempts: 10, Intervals: []Duration{Duration(time.Minute), Duration(5 * time.Minute)}}
	for n, want := range map[int]time.Duration{0: time.Minute, 1: time.Minute, 2: 5 * time.Minute, 3: 5 * time.Minute, 9: 5 * time.Minute} {
		if got := p.Delay(n); got != want {
			t.Errorf("Delay(%d) = %v, want %v", n, got, want)
		}
	}
	if d := p.Next(Attempt{Number: 10, Outcome: "failed"}, Window{}); d.Retry || d.Reason != ReasonMaxAttempts {
		t.Fatalf("after attempt 10 of 10: %+v", d)
	}
	one := Policy{MaxAttempts: 1}
	if d := one.Next(Attempt{Number: 1, Outcome: "failed"}, Window{}); d.Retry || d.Reason != ReasonMaxAttempts {
		t.Fatalf("max_attempts 1 retried: %+v", d)
	}
}

func TestPolicyBackoff(t *testing.T) {
	t.Parallel()
	r := 0.0
	p := Policy{
		MaxAttempts: 20,
		Backoff:     Backoff{Base: Duration(time.Minute), Factor: 3, Max: Duration(time.Hour), Jitter: 0.5},
		Rand:        func() float64 { return r },
	}
	for _, tc := range []struct {
		n    int
		r    float64
		want time.Duration
	}{
		{1, 0, time.Minute},
		{2, 0, 3 * time.Minute},
		{3, 0, 9 * time.Minute},
		{4, 0, 27 * time.Minute},
		{5, 0, time.Hour}, // 81m capped
		{19, 0, time.Hour},
		{1, 0.5, 45 * time.Second}, // shortened by 0.5 * 0.5
		{5, 0.999999, 30*time.Minute + 1800*time.Microsecond},
	} {
		r = tc.r
		got := p.Delay(tc.n)
		if diff := got - tc.want; diff < -time.Millisecond || diff > time.Millisecond {
			t.Errorf("Delay(%d) with r=%v = %v, want %v", tc.n, tc.r, got, tc.want)
		}
	}
	// Defaults: factor 2, max 30 days; huge attempt numbers saturate.
	q := Policy{MaxAttempts: 20, Backoff: Backoff{Base: Duration(time.Minute)}}
	if got := q.Delay(3); got != 4*time.Minute {
		t.Fatalf("default factor: Delay(3) = %v", got)
	}
	if got := q.Delay(1000); got != MaxInterval {
		t.Fatalf("Delay(1000) = %v, want %v", got, MaxInterval)
	}
	// Real randomness stays within [d*(1-jitter), d].
	j := Policy{Backoff: Backoff{Base: Duration(time.Minute), Jitter: 0.2}}
	for range 1000 {
		if d := j.Delay(1); d < 48*time.Second || d > time.Minute {
			t.Fatalf("jittered delay %v outside [48s, 1m]", d)
		}
	}
}

func TestPolicyDeadline(t *testing.T) {
	t.Parallel()
	created := utc("2026-06-01T10:00:00Z")
	abs := utc("2026-06-01T10:30:00Z")
	for _, tc := range []struct {
		name   string
		p      Policy
		fin    time.Time
		retry  bool
		reason string
	}{
		{"relative, inside", Policy{DeadlineAfter: Duration(time.Hour)}, created.Add(50 * time.Minute), true, ""},
		{"relative, retry lands on it", Policy{DeadlineAfter: Duration(time.Hour)}, created.Add(58 * time.Minute), true, ""},
		{"relative, past", Policy{DeadlineAfter: Duration(time.Hour)}, created.Add(59 * time.Minute), false, ReasonDeadline},
		{"absolute, inside", Policy{Deadline: abs}, created, true, ""},
		{"absolute, past", Policy{Deadline: abs}, abs.Add(-time.Minute), false, ReasonDeadline},
		{"both, earlier wins", Policy{Deadline: abs, DeadlineAfter: Duration(24 * time.Hour)}, abs.Add(-time.Minute), false, ReasonDeadline},
		{"both, earlier wins (relative)", Policy{Deadline: abs.Add(24 * time.Hour), DeadlineAfter: Duration(20 * time.Minute)}, created.Add(19 * time.Minute), false, ReasonDeadline},
	} {
		d := tc.p.Next(Attempt{Number: 1, Outcome: "customer_busy", FinishedAt: tc.fin, Created: created}, Window{})
		if d.Retry != tc.retry || d.Reason != tc.reason {
			t.Errorf("%s: %+v, want retry %v reason %q", tc.name, d, tc.retry, tc.reason)
		}
	}
}

func TestPolicyWindow(t *testing.T) {
	t.Parallel()
	w := mustWindow(t, "Europe/London", map[string][]string{"mon-fri": {"09:00-17:00"}})
	created := utc("2026-06-05T15:00:00Z") // Fri 16:00 BST
	p := Policy{Intervals: []Duration{Duration(2 * time.Hour)}}
	a := Attempt{Number: 1, Outcome: "customer_no_answer", FinishedAt: created.Add(time.Minute), Created: created}
	// 18:01 BST Friday is outside: Monday 09:00 BST.
	if d := p.Next(a, w); !d.Retry || !d.At.Equal(utc("2026-06-08T08:00:00Z")) {
		t.Fatalf("retry outside the window: %+v", d)
	}
	// A deadline before Monday's opening gives up.
	p.DeadlineAfter = Duration(24 * time.Hour)
	if d := p.Next(a, w); d.Retry || d.Reason != ReasonDeadline {
		t.Fatalf("retry past the deadline after the window: %+v", d)
	}
	// An invalid window gives up rather than looping.
	if d := (Policy{}).Next(a, Window{Zone: time.UTC}); d.Retry || d.Reason != ReasonNoOpening {
		t.Fatalf("window that never opens: %+v", d)
	}
	// First: a request at the weekend waits for Monday.
	if d := (Policy{}).First(utc("2026-06-06T12:00:00Z"), created, w); !d.Retry || !d.At.Equal(utc("2026-06-08T08:00:00Z")) {
		t.Fatalf("First: %+v", d)
	}
}

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	m := Duration(time.Minute)
	for _, tc := range []struct {
		p     Policy
		field string
	}{
		{Policy{}, ""},
		{Policy{MaxAttempts: 1, Intervals: []Duration{m}}, ""},
		{Policy{Backoff: Backoff{Base: m, Factor: 1.5, Max: Duration(time.Hour), Jitter: 0.3}}, ""},
		{Policy{MaxAttempts: -1}, "max_attempts"},
		{Policy{MaxAttempts: MaxAttemptsLimit + 1}, "max_attempts"},
		{Policy{Intervals: []Duration{m, 0}}, "intervals[1]"},
		{Policy{Intervals: []Duration{Duration(time.Millisecond)}}, "intervals[0]"},
		{Policy{Intervals: []Duration{Duration(MaxInterval + 1)}}, "intervals[0]"},
		{Policy{Intervals: make([]Duration, MaxIntervals+1)}, "intervals"},
		{Policy{Intervals: []Duration{m}, Backoff: Backoff{Base: m}}, "backoff"},
		{Policy{Backoff: Backoff{Factor: 2}}, "backoff.base"},
		{Policy{Backoff: Backoff{Base: m, Factor: 0.5}}, "backoff.factor"},
		{Policy{Backoff: Backoff{Base: m, Max: Duration(time.Second)}}, "backoff.max"},
		{Policy{Backoff: Backoff{Base: m, Jitter: 1}}, "backoff.jitter"},
		{Policy{Backoff: Backoff{Base: m, Jitter: -0.1}}, "backoff.jitter"},
		{Policy{DeadlineAfter: Duration(-time.Hour)}, "deadline_after"},
	} {
		err := tc.p.Validate()
		if tc.field == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.p, err)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%+v: error %v, want a FieldError on %q", tc.p, err, tc.field)
		}
	}
}

func TestPolicyJSON(t *testing.T) {
	t.Parallel()
	in := `{"max_attempts":4,"intervals":["2m","1h30m","90s"],"deadline":"2026-07-01T00:00:00Z","deadline_after":"48h","retry_customer_rejected":true}`
	var p Policy
	if err := json.Unmarshal([]byte(in), &p); err != nil {
		t.Fatal(err)
	}
	if p.MaxAttempts != 4 || len(p.Intervals) != 3 || p.Intervals[1] != Duration(90*time.Minute) ||
		!p.Deadline.Equal(utc("2026-07-01T00:00:00Z")) || p.DeadlineAfter != Duration(48*time.Hour) || !p.RetryCustomerRejected {
		t.Fatalf("decoded %+v", p)
	}
	out, _ := json.Marshal(p)
	want := `{"max_attempts":4,"intervals":["2m","1h30m","1m30s"],"deadline":"2026-07-01T00:00:00Z","deadline_after":"48h","retry_customer_rejected":true}`
	if string(out) != want {
		t.Fatalf("Marshal:\n got %s\nwant %s", out, want)
	}
	zero, _ := json.Marshal(Policy{})
	if string(zero) != "{}" {
		t.Fatalf("zero policy marshals as %s", zero)
	}
	bo, _ := json.Marshal(Policy{Backoff: Backoff{Base: Duration(time.Minute), Factor: 2, Max: Duration(time.Hour), Jitter: 0.2}})
	if string(bo) != `{"backoff":{"base":"1m","factor":2,"max":"1h","jitter":0.2}}` {
		t.Fatalf("backoff marshals as %s", bo)
	}
}

func TestPolicyJSONOverride(t *testing.T) {
	t.Parallel()
	team := Policy{MaxAttempts: 5, Intervals: []Duration{Duration(time.Minute), Duration(time.Hour)}, DeadlineAfter: Duration(24 * time.Hour)}
	p := team
	if err := json.Unmarshal([]byte(`{"max_attempts":3,"intervals":["5m"]}`), &p); err != nil {
		t.Fatal(err)
	}
	if p.MaxAttempts != 3 || len(p.Intervals) != 1 || p.DeadlineAfter != team.DeadlineAfter {
		t.Fatalf("override gave %+v", p)
	}
	if team.Intervals[0] != Duration(time.Minute) || len(team.Intervals) != 2 {
		t.Fatalf("override wrote into the team's policy: %+v", team)
	}
	// Naming backoff drops the team's intervals instead of clashing.
	p = team
	if err := json.Unmarshal([]byte(`{"backoff":{"base":"30s","jitter":0.1}}`), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Intervals) != 0 || p.Backoff.Base != Duration(30*time.Second) {
		t.Fatalf("backoff override gave %+v", p)
	}
	// A failed override leaves the policy as it was.
	p = team
	if err := json.Unmarshal([]byte(`{"max_attempts":3,"intervals":["0s"]}`), &p); err == nil {
		t.Fatal("accepted a 0s interval")
	}
	if p.MaxAttempts != 5 {
		t.Fatalf("failed decode changed the policy: %+v", p)
	}
}

func TestPolicyJSONErrorsCarryThePath(t *testing.T) {
	t.Parallel()
	type request struct {
		Retry *Policy `json:"retry"`
	}
	for _, tc := range []struct {
		body  string
		field string
		msg   string
	}{
		{`{"retry":{"intervals":["2m","soon"]}}`, "retry.intervals", `"soon"`},
		{`{"retry":{"intervals":[120]}}`, "retry.intervals", "non-string"},
		{`{"retry":{"max_attempts":99}}`, "retry.max_attempts", "1 to 20"},
		{`{"retry":{"max_attempts":"six"}}`, "retry.max_attempts", "string"},
		{`{"retry":{"backoff":{"base":"1m","jitter":2}}}`, "retry.backoff.jitter", "less than 1"},
		{`{"retry":{"backoff":{"base":"1m","factr":2}}}`, "retry.backoff.factr", "unknown field"},
		{`{"retry":{"attempts":3}}`, "retry.attempts", "unknown field"},
		{`{"retry":{"intervals":["1m"],"backoff":{"base":"1m"}}}`, "retry.backoff", "not both"},
		{`{"retry":{"deadline":"tomorrow"}}`, "retry.deadline", ""},
	} {
		var v request
		err := json.Unmarshal([]byte(tc.body), &v)
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			// time.Time's own parse error carries no path; accept it.
			if tc.msg == "" && err != nil {
				continue
			}
			t.Errorf("%s: error %v (%T) is not a *json.UnmarshalTypeError", tc.body, err, err)
			continue
		}
		if te.Field != tc.field || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: Field %q, error %q; want Field %q mentioning %q", tc.body, te.Field, err, tc.field, tc.msg)
		}
	}
}

func TestDurationString(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0:                       "0s",
		90 * time.Second:        "1m30s",
		2 * time.Minute:         "2m",
		2 * time.Hour:           "2h",
		90 * time.Minute:        "1h30m",
		time.Hour + time.Second: "1h0m1s",
		1500 * time.Millisecond: "1.5s",
		48 * time.Hour:          "48h",
	} {
		if got := Duration(d).String(); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
		back, err := time.ParseDuration(want)
		if err != nil || back != d {
			t.Errorf("%q does not parse back to %v", want, d)
		}
	}
}
