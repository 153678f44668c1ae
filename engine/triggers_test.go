package engine

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/schedule"
	"github.com/callbackd/callbackd/store"
	"github.com/callbackd/callbackd/trigger"
)

// leadSpec is a valid spec: hot leads from a form, called back from a rep
// number, each customer at most once an hour.
func leadSpec() trigger.Spec {
	return trigger.Spec{
		Name:      "hot leads",
		Condition: "payload.score >= 80",
		Mapping: trigger.Mapping{
			CustomerNumber: "payload.phone",
			CustomerName:   "payload.?name.orValue('')",
			RepNumber:      "'" + numRep + "'",
			Metadata:       map[string]string{"source": "'form'"},
		},
		Dedup:   schedule.Duration(time.Hour),
		Enabled: true,
	}
}

func (v *env) trigger(s trigger.Spec) (*Trigger, string) {
	v.t.Helper()
	tr, secret, err := v.e.CreateTrigger(context.Background(), s)
	if err != nil {
		v.t.Fatalf("CreateTrigger: %v", err)
	}
	return tr, secret
}

// fire fires the trigger with payload and fails the test on an error.
func (v *env) fire(id, payload string) *TriggerResult {
	v.t.Helper()
	res, err := v.e.FireTrigger(context.Background(), id, []byte(payload))
	if err != nil {
		v.t.Fatalf("FireTrigger %s: %v", payload, err)
	}
	return res
}

func TestTriggerCompileErrors(t *testing.T) {
	v := newEnv(t, Config{})
	tests := []struct {
		name  string
		edit  func(*trigger.Spec)
		field string
		code  string
		msg   string // a substring
	}{
		{"syntax error", func(s *trigger.Spec) { s.Condition = "payload.score >=" },
			"condition", CodeInvalidExpression, "line 1, column 17: Syntax error"},
		{"syntax error on line 2", func(s *trigger.Spec) { s.Condition = "payload.a &&\n  payload.b ==" },
			"condition", CodeInvalidExpression, "line 2, column 15"},
		{"unquoted constant", func(s *trigger.Spec) { s.Mapping.RepNumber = ""; s.Mapping.Team = "sales" },
			"mapping.team", CodeInvalidExpression, "line 1, column 1: undeclared reference to 'sales'"},
		{"wrong type", func(s *trigger.Spec) { s.Mapping.CustomerNumber = "1 + 2" },
			"mapping.customer_number", CodeInvalidExpression, "want string"},
		{"no customer number", func(s *trigger.Spec) { s.Mapping.CustomerNumber = "" },
			"mapping.customer_number", CodeInvalidField, "required"},
		{"no name", func(s *trigger.Spec) { s.Name = " " },
			"name", CodeInvalidField, "required"},
		{"dedup too long", func(s *trigger.Spec) { s.Dedup = schedule.Duration(trigger.MaxDedup + time.Hour) },
			"dedup", CodeInvalidField, ""},
		{"unknown auth mode", func(s *trigger.Spec) { s.Auth.Mode = "basic" },
			"auth.mode", CodeInvalidField, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := leadSpec()
			tc.edit(&s)
			_, secret, err := v.e.CreateTrigger(context.Background(), s)
			fe := asFieldError(t, err)
			if fe.Field != tc.field || fe.Code != tc.code || !strings.Contains(fe.Msg, tc.msg) || secret != "" {
				t.Errorf("got %+v, want field %s, code %s, message with %q", fe, tc.field, tc.code, tc.msg)
			}
		})
	}
	if ts, _ := v.e.ListTriggers(); len(ts) != 0 {
		t.Errorf("refused specs stored %d triggers", len(ts))
	}
}

func TestTriggerCRUD(t *testing.T) {
	v := newEnv(t, Config{})
	ctx := context.Background()
	tr, secret := v.trigger(leadSpec())
	if !strings.HasPrefix(tr.ID, "trg_") || !strings.HasPrefix(secret, "tsec_") || tr.Spec.Auth.Mode != trigger.AuthTokenHeader ||
		tr.Spec.Name != "hot leads" || !tr.Spec.Enabled || tr.CreatedAt.IsZero() {
		t.Fatalf("created %+v, secret %q", tr, secret)
	}
	got, err := v.e.GetTrigger(tr.ID)
	if err != nil || got.Spec.Condition != "payload.score >= 80" || got.Spec.Mapping.Metadata["source"] != "'form'" {
		t.Fatalf("GetTrigger: %+v, %v", got, err)
	}
	// Stored as written, not HTML-escaped.
	st, _ := v.db.GetTrigger(tr.ID)
	if !strings.Contains(string(st.Spec), "payload.score >= 80") || st.Secret != secret || st.DedupWindow != time.Hour || st.Name != "hot leads" {
		t.Errorf("stored %s (%+v)", st.Spec, st)
	}

	// A refused update changes nothing.
	_, err = v.e.UpdateTrigger(ctx, tr.ID, func(s *trigger.Spec) error { s.Condition = "payload.score >"; return nil })
	if fe := asFieldError(t, err); fe.Field != "condition" {
		t.Errorf("update refused with %+v", fe)
	}
	up, err := v.e.UpdateTrigger(ctx, tr.ID, func(s *trigger.Spec) error {
		s.Condition, s.Enabled, s.Auth.Mode = "payload.score >= 90", false, trigger.AuthHMACSHA256
		return nil
	})
	if err != nil || up.Spec.Condition != "payload.score >= 90" || up.Spec.Enabled || up.UpdatedAt.Before(tr.UpdatedAt) {
		t.Fatalf("UpdateTrigger: %+v, %v", up, err)
	}
	spec, sec, err := v.e.TriggerAuth(tr.ID)
	if err != nil || !slices.Equal(sec, []string{secret}) || spec.Auth.Mode != trigger.AuthHMACSHA256 {
		t.Errorf("TriggerAuth: %+v %q %v", spec.Auth, sec, err)
	}

	// At once: only the new secret.
	rotated, err := v.e.RotateTriggerSecret(ctx, tr.ID, 0)
	if err != nil || rotated == secret || !strings.HasPrefix(rotated, "tsec_") {
		t.Fatalf("RotateTriggerSecret: %q, %v", rotated, err)
	}
	if _, sec, _ := v.e.TriggerAuth(tr.ID); !slices.Equal(sec, []string{rotated}) {
		t.Errorf("secrets after rotation %q, want %q", sec, rotated)
	}
	// With an overlap: the one replaced works until it ends; a second
	// rotation within it keeps only the one it replaces.
	again, err := v.e.RotateTriggerSecret(ctx, tr.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, sec, _ := v.e.TriggerAuth(tr.ID); !slices.Equal(sec, []string{again, rotated}) {
		t.Errorf("secrets in the overlap %q, want %q", sec, []string{again, rotated})
	}
	v.clk.Advance(30 * time.Minute)
	third, err := v.e.RotateTriggerSecret(ctx, tr.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, sec, _ := v.e.TriggerAuth(tr.ID); !slices.Equal(sec, []string{third, again}) {
		t.Errorf("secrets after a second rotation %q, want %q", sec, []string{third, again})
	}
	v.clk.Advance(time.Hour)
	if _, sec, _ := v.e.TriggerAuth(tr.ID); !slices.Equal(sec, []string{third}) {
		t.Errorf("secrets after the overlap %q, want %q", sec, third)
	}
	for _, bad := range []time.Duration{-time.Second, MaxSecretOverlap + time.Second} {
		if _, err := v.e.RotateTriggerSecret(ctx, tr.ID, bad); asFieldError(t, err).Field != "overlap" {
			t.Errorf("overlap %v: %v", bad, err)
		}
	}
	if _, sec, _ := v.e.TriggerAuth(tr.ID); !slices.Equal(sec, []string{third}) {
		t.Errorf("a refused rotation changed the secrets: %q", sec)
	}
	if got, _ := v.e.GetTrigger(tr.ID); got.Spec.Condition != "payload.score >= 90" {
		t.Errorf("rotation changed the spec: %+v", got.Spec)
	}

	second, _ := v.trigger(leadSpec())
	list, err := v.e.ListTriggers()
	if err != nil || len(list) != 2 || list[0].ID != tr.ID || list[1].ID != second.ID {
		t.Fatalf("ListTriggers: %+v, %v", list, err)
	}
	if err := v.e.DeleteTrigger(ctx, tr.ID); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"get":  func() error { _, err := v.e.GetTrigger(tr.ID); return err }(),
		"fire": func() error { _, err := v.e.FireTrigger(ctx, tr.ID, []byte(`{}`)); return err }(),
		"auth": func() error { _, _, err := v.e.TriggerAuth(tr.ID); return err }(),
		"update": func() error {
			_, err := v.e.UpdateTrigger(ctx, tr.ID, func(*trigger.Spec) error { return nil })
			return err
		}(),
		"rotate": func() error { _, err := v.e.RotateTriggerSecret(ctx, tr.ID, 0); return err }(),
		"delete": v.e.DeleteTrigger(ctx, tr.ID),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s after delete: %v, want ErrNotFound", name, err)
		}
	}
}

func TestTriggerFire(t *testing.T) {
	v := newEnv(t, Config{})
	spec := leadSpec()
	spec.Dedup = 0
	tr, _ := v.trigger(spec)
	delayed := leadSpec()
	delayed.Dedup, delayed.Condition, delayed.Mapping.Delay = 0, "", "payload.wait"
	trDelayed, _ := v.trigger(delayed)

	tests := []struct {
		name    string
		trigger string
		payload string
		check   func(t *testing.T, res *TriggerResult, err error)
	}{
		{"matched", tr.ID, `{"score": 91, "phone": "` + numLondon + `", "name": "Ada"}`, func(t *testing.T, res *TriggerResult, err error) {
			if err != nil || !res.Matched || res.Callback == nil {
				t.Fatalf("%+v, %v", res, err)
			}
			cb := v.get(res.Callback.ID)
			if cb.Customer.Number != numLondon || cb.Customer.Name != "Ada" || cb.RepNumber != numRep || cb.Metadata["source"] != "form" {
				t.Errorf("callback %+v", cb)
			}
			if d := eventData(t, v.e, cb.ID, evScheduled); d["trigger_id"] != tr.ID {
				t.Errorf("callback.scheduled data %v, want trigger_id %s", d, tr.ID)
			}
		}},
		{"national number", tr.ID, `{"score": 80, "phone": "+44 20 7946 0124"}`, func(t *testing.T, res *TriggerResult, err error) {
			if err != nil || !res.Matched || res.Callback.Customer.Number != numLondon2 {
				t.Fatalf("%+v, %v", res, err)
			}
		}},
		{"condition false", tr.ID, `{"score": 50, "phone": "` + numLondon + `"}`, func(t *testing.T, res *TriggerResult, err error) {
			if err != nil || res.Matched || res.Callback != nil || res.Reason != "condition is false" {
				t.Fatalf("%+v, %v", res, err)
			}
		}},
		{"condition key missing", tr.ID, `{"phone": "` + numLondon + `"}`, func(t *testing.T, res *TriggerResult, err error) {
			if err != nil || res.Matched || !strings.Contains(res.Reason, "payload.score") {
				t.Fatalf("%+v, %v", res, err)
			}
		}},
		{"mapped key missing", tr.ID, `{"score": 99, "tel": "` + numLondon + `"}`, func(t *testing.T, res *TriggerResult, err error) {
			var mf *trigger.MissingFieldError
			if !errors.As(err, &mf) || mf.Field != "mapping.customer_number" || mf.Path != "payload.phone" {
				t.Fatalf("%+v, %v", res, err)
			}
		}},
		{"not an object", tr.ID, `[1, 2]`, func(t *testing.T, res *TriggerResult, err error) {
			var pe *trigger.PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("%+v, %v", res, err)
			}
		}},
		{"not JSON", tr.ID, `score=91`, func(t *testing.T, res *TriggerResult, err error) {
			var pe *trigger.PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("%+v, %v", res, err)
			}
		}},
		{"type mismatch", tr.ID, `{"score": "high", "phone": "` + numLondon + `"}`, func(t *testing.T, res *TriggerResult, err error) {
			var ee *trigger.EvalError
			if !errors.As(err, &ee) || ee.Field != "condition" {
				t.Fatalf("%+v, %v", res, err)
			}
		}},
		{"invalid number", tr.ID, `{"score": 99, "phone": "+4412"}`, func(t *testing.T, res *TriggerResult, err error) {
			if fe := asFieldError(t, err); fe.Field != "mapping.customer_number" || fe.Code != CodeInvalidNumber {
				t.Errorf("%+v", fe)
			}
		}},
		{"premium number", tr.ID, `{"score": 99, "phone": "` + numPremium + `"}`, func(t *testing.T, res *TriggerResult, err error) {
			if fe := asFieldError(t, err); fe.Field != "mapping.customer_number" || fe.Code != CodePremiumRate {
				t.Errorf("%+v", fe)
			}
		}},
		{"delay", trDelayed.ID, `{"wait": "30m", "phone": "` + numLondon3 + `"}`, func(t *testing.T, res *TriggerResult, err error) {
			if err != nil || !res.Matched {
				t.Fatalf("%+v, %v", res, err)
			}
			cb := v.get(res.Callback.ID)
			if want := t0.Add(30 * time.Minute); !cb.ScheduledAt.Equal(want) || !cb.NextAttemptAt.Equal(want) || cb.Status != store.Scheduled {
				t.Errorf("scheduled_at %v, next %v, status %s; want %v", cb.ScheduledAt, cb.NextAttemptAt, cb.Status, want)
			}
		}},
		{"delay too long", trDelayed.ID, `{"wait": "9000h", "phone": "` + numLondon3 + `"}`, func(t *testing.T, res *TriggerResult, err error) {
			if fe := asFieldError(t, err); fe.Field != "mapping.delay" || fe.Code != CodeInvalidTime {
				t.Errorf("%+v", fe)
			}
		}},
		{"unknown trigger", "trg_none", `{}`, func(t *testing.T, res *TriggerResult, err error) {
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("%+v, %v", res, err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.e.FireTrigger(context.Background(), tc.trigger, []byte(tc.payload))
			tc.check(t, res, err)
		})
	}
}

func TestTriggerDedup(t *testing.T) {
	var ps *pruneStore
	v := newEnvOn(t, Config{}, func(db *store.DB) Store {
		ps = &pruneStore{Store: db}
		return ps
	})
	spec := leadSpec()
	spec.Dedup = schedule.Duration(90 * time.Minute)
	tr, _ := v.trigger(spec)
	other, _ := v.trigger(spec)
	event := `{"score": 99, "phone": "` + numLondon + `"}`
	duplicate := func(payload, of string) {
		t.Helper()
		_, err := v.e.FireTrigger(context.Background(), tr.ID, []byte(payload))
		var dup *DuplicateError
		if !errors.As(err, &dup) || !errors.Is(err, ErrDuplicate) || dup.CallbackID != of {
			t.Fatalf("event within the window: %v, want a duplicate of %s", err, of)
		}
	}

	first := v.fire(tr.ID, event)
	duplicate(event, first.Callback.ID)
	// Another trigger, another number: not duplicates.
	v.fire(other.ID, event)
	v.fire(tr.ID, `{"score": 99, "phone": "`+numLondon2+`"}`)

	// An hour on, the pruner runs and the window still holds; the same
	// number written otherwise is the same customer.
	v.clk.Advance(time.Hour)
	waitFor(t, "the pruner's first run", func() bool { return ps.runs() == 1 })
	if n := ps.pruned(); n != 0 {
		t.Errorf("pruned %d records within their window", n)
	}
	duplicate(`{"score": 85, "phone": "+44 (20) 7946-0123"}`, first.Callback.ID)

	v.clk.Advance(30 * time.Minute)
	again := v.fire(tr.ID, event)
	if !again.Matched || again.Callback.ID == first.Callback.ID {
		t.Fatalf("after the window: %+v", again)
	}
	items, _, err := v.e.List(store.CallbackFilter{Customer: numLondon, Limit: 100})
	if err != nil || len(items) != 3 {
		t.Errorf("%d callbacks for %s (%v), want 3: two from tr, one from other", len(items), numLondon, err)
	}

	// The next run deletes the two records whose window ended, not the
	// one just made, which goes on refusing.
	v.clk.Advance(30 * time.Minute)
	waitFor(t, "the pruner's second run", func() bool { return ps.runs() == 2 })
	if n := ps.pruned(); n != 2 {
		t.Errorf("pruned %d records, want 2", n)
	}
	duplicate(event, again.Callback.ID)
}

// pruneStore counts the PruneDedup runs and what they deleted.
type pruneStore struct {
	Store
	mu      sync.Mutex
	calls   int
	deleted int
}

func (s *pruneStore) PruneDedup(now time.Time) (int, error) {
	n, err := s.Store.PruneDedup(now)
	s.mu.Lock()
	s.calls++
	s.deleted += n
	s.mu.Unlock()
	return n, err
}

func (s *pruneStore) runs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *pruneStore) pruned() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleted
}

func TestTriggerRateLimit(t *testing.T) {
	v := newEnv(t, Config{})
	spec := leadSpec()
	spec.Dedup, spec.RateLimit = 0, 2
	tr, _ := v.trigger(spec)
	event := func(n string) string { return `{"score": 99, "phone": "` + n + `"}` }
	v.fire(tr.ID, event(numLondon))
	v.fire(tr.ID, event(numLondon2))
	_, err := v.e.FireTrigger(context.Background(), tr.ID, []byte(event(numLondon3)))
	var rl *RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, ErrRateLimited) || rl.RetryAfter <= 0 || rl.RetryAfter > 30*time.Second {
		t.Fatalf("third event in a minute at 2/min: %v, want a rate limit with a wait up to 30s", err)
	}
	// A non-matching event takes nothing.
	if res := v.fire(tr.ID, `{"score": 1}`); res.Matched {
		t.Fatal("matched")
	}
	v.clk.Advance(rl.RetryAfter)
	if res := v.fire(tr.ID, event(numLondon3)); !res.Matched {
		t.Errorf("after the wait: %+v", res)
	}
}

func TestTriggerDisabled(t *testing.T) {
	v := newEnv(t, Config{})
	spec := leadSpec()
	spec.Enabled = false
	tr, _ := v.trigger(spec)
	event := []byte(`{"score": 99, "phone": "` + numLondon + `"}`)
	if _, err := v.e.FireTrigger(context.Background(), tr.ID, event); !errors.Is(err, ErrTriggerDisabled) {
		t.Fatalf("disabled trigger: %v", err)
	}
	if _, err := v.e.UpdateTrigger(context.Background(), tr.ID, func(s *trigger.Spec) error { s.Enabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if res := v.fire(tr.ID, string(event)); !res.Matched {
		t.Errorf("enabled trigger: %+v", res)
	}
}

// An event compiles nothing: the compiled trigger is reused until the
// stored spec changes, also when another writer changes it.
func TestTriggerCompiledOnce(t *testing.T) {
	v := newEnv(t, Config{})
	tr, _ := v.trigger(leadSpec())
	_, a, err := v.e.loadTrigger(tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	v.fire(tr.ID, `{"score": 1}`)
	if _, b, _ := v.e.loadTrigger(tr.ID); b != a {
		t.Error("recompiled for an event")
	}
	// Another node (here: the store directly) changes the condition.
	_, err = v.db.UpdateTrigger(tr.ID, func(st *store.Trigger) error {
		var s trigger.Spec
		if err := json.Unmarshal(st.Spec, &s); err != nil {
			return err
		}
		s.Condition = "payload.score >= 1"
		st.Spec, err = json.Marshal(s)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if res := v.fire(tr.ID, `{"score": 1, "phone": "`+numLondon+`"}`); !res.Matched {
		t.Errorf("the changed spec was not used: %+v", res)
	}
}
