package engine

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/schedule"
	"github.com/callbackd/callbackd/store"
	"github.com/nyaruka/phonenumbers"
)

// The test numbers must be what the tests say they are, or the validation
// tests would pass for the wrong reason.
func TestNumbersAreValid(t *testing.T) {
	for _, n := range []string{numLondon, numLondon2, numLondon3, numRep, numRep2, numRep3, numSF, numPremium, numParis} {
		pn, err := phonenumbers.Parse(n, "ZZ")
		if err != nil || !phonenumbers.IsValidNumber(pn) {
			t.Errorf("%s is not a valid number: %v", n, err)
		}
	}
	pn, _ := phonenumbers.Parse(numPremium, "ZZ")
	if phonenumbers.GetNumberType(pn) != phonenumbers.PREMIUM_RATE {
		t.Errorf("%s is not premium rate", numPremium)
	}
	pn, _ = phonenumbers.Parse(testNumber, "ZZ")
	if phonenumbers.IsValidNumber(pn) {
		t.Errorf("%s is valid; the test-number tests need one that is not", testNumber)
	}
}

func TestCreateValidation(t *testing.T) {
	long := strings.Repeat("x", MetadataMaxValueLen+1)
	big := map[string]string{}
	for i := range 20 {
		big[strings.Repeat("k", 30)+string(rune('a'+i))] = strings.Repeat("v", 450)
	}
	many := map[string]string{}
	for i := range MetadataMaxKeys + 1 {
		many[string(rune('A'+i))] = "x"
	}
	tests := []struct {
		name  string
		edit  func(*CallbackRequest)
		field string
		code  string
	}{
		{"no number", func(r *CallbackRequest) { r.Customer.Number = "" }, "customer.number", CodeInvalidNumber},
		{"not a number", func(r *CallbackRequest) { r.Customer.Number = "+44 call me" }, "customer.number", CodeInvalidNumber},
		{"invalid number", func(r *CallbackRequest) { r.Customer.Number = "+4420794" }, "customer.number", CodeInvalidNumber},
		{"extension", func(r *CallbackRequest) { r.Customer.Number = "+442079460123 ext. 12" }, "customer.number", CodeInvalidNumber},
		{"national without country", func(r *CallbackRequest) { r.Customer.Number = "020 7946 0123" }, "customer.country", CodeInvalidField},
		{"unknown country", func(r *CallbackRequest) { r.Customer.Number, r.Customer.Country = "020 7946 0123", "XX" }, "customer.country", CodeInvalidField},
		{"national in the wrong country", func(r *CallbackRequest) { r.Customer.Number, r.Customer.Country = "020 7946 0123", "US" }, "customer.number", CodeInvalidNumber},
		{"name with a newline", func(r *CallbackRequest) { r.Customer.Name = "Ann\nBob" }, "customer.name", CodeInvalidField},
		{"neither team nor rep", func(r *CallbackRequest) { r.RepNumber = "" }, "team", CodeInvalidField},
		{"team and rep", func(r *CallbackRequest) { r.Team = "sales" }, "rep_number", CodeInvalidField},
		{"unknown team", func(r *CallbackRequest) { r.RepNumber, r.Team = "", "nonesuch" }, "team", CodeUnknownTeam},
		{"bad rep number", func(r *CallbackRequest) { r.RepNumber = "12345" }, "rep_number", CodeInvalidNumber},
		{"premium rep number", func(r *CallbackRequest) { r.RepNumber = numPremium }, "rep_number", CodePremiumRate},
		{"premium rate", func(r *CallbackRequest) { r.Customer.Number = numPremium }, "customer.number", CodePremiumRate},
		{"denied prefix", func(r *CallbackRequest) { r.Customer.Number = "+442079460999" }, "customer.number", CodePremiumRate},
		{"country not allowed", func(r *CallbackRequest) { r.Customer.Number = "+61291234567" }, "customer.number", CodeDestinationNotAllowed},
		{"a year and more ahead", func(r *CallbackRequest) { r.ScheduledAt = t0.Add(MaxScheduleAhead + time.Hour) }, "scheduled_at", CodeInvalidTime},
		{"days in the past", func(r *CallbackRequest) { r.ScheduledAt = t0.Add(-48 * time.Hour) }, "scheduled_at", CodeInvalidTime},
		{"retry interval too short", func(r *CallbackRequest) { r.Retry = json.RawMessage(`{"intervals": ["2m", "1ms"]}`) }, "retry.intervals[1]", CodeInvalidField},
		{"retry too many attempts", func(r *CallbackRequest) { r.Retry = json.RawMessage(`{"max_attempts": 99}`) }, "retry.max_attempts", CodeInvalidField},
		{"retry unknown field", func(r *CallbackRequest) { r.Retry = json.RawMessage(`{"tries": 3}`) }, "retry.tries", CodeInvalidField},
		{"retry wrong type", func(r *CallbackRequest) { r.Retry = json.RawMessage(`{"max_attempts": "3"}`) }, "retry.max_attempts", CodeInvalidField},
		{"retry deadline passed", func(r *CallbackRequest) {
			r.Retry = json.RawMessage(`{"deadline": "` + t0.Add(-time.Hour).Format(time.RFC3339) + `"}`)
		}, "retry.deadline", CodeInvalidTime},
		{"webhook not absolute", func(r *CallbackRequest) { r.WebhookURL = "/hook" }, "webhook_url", CodeInvalidField},
		{"webhook not http", func(r *CallbackRequest) { r.WebhookURL = "ftp://example.com/hook" }, "webhook_url", CodeInvalidField},
		{"webhook with credentials", func(r *CallbackRequest) { r.WebhookURL = "https://u:p@example.com/hook" }, "webhook_url", CodeInvalidField},
		{"metadata value too long", func(r *CallbackRequest) { r.Metadata = map[string]string{"note": long} }, "metadata.note", CodeMetadataTooLarge},
		{"metadata key too long", func(r *CallbackRequest) { r.Metadata = map[string]string{strings.Repeat("k", 41): "v"} }, "metadata." + strings.Repeat("k", 41), CodeMetadataTooLarge},
		{"metadata too many keys", func(r *CallbackRequest) { r.Metadata = many }, "metadata", CodeMetadataTooLarge},
		{"metadata too large", func(r *CallbackRequest) { r.Metadata = big }, "metadata", CodeMetadataTooLarge},
		{"metadata empty key", func(r *CallbackRequest) { r.Metadata = map[string]string{"": "v"} }, "metadata", CodeInvalidField},
	}
	v := newEnv(t, Config{Guard: Guardrails{Allow: []string{"+44", "+1"}, Deny: []string{"+44207946099"}}})
	v.team(&store.Team{ID: "sales", Reps: []store.Party{{Number: numRep}}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := req(numLondon)
			tt.edit(&r)
			cb, err := v.e.Create(context.Background(), r)
			if err == nil {
				t.Fatalf("created %+v", cb)
			}
			fe := asFieldError(t, err)
			if fe.Field != tt.field || fe.Code != tt.code || fe.Msg == "" {
				t.Errorf("error %q %q %q, want field %q code %q", fe.Field, fe.Code, fe.Msg, tt.field, tt.code)
			}
		})
	}
	if items, _, err := v.e.List(store.CallbackFilter{}); err != nil || len(items) != 0 {
		t.Errorf("refused requests stored %d callbacks (%v)", len(items), err)
	}
	if v.d.count() != 0 {
		t.Error("a refused request was dialled")
	}
}

func TestCreateNormalises(t *testing.T) {
	v := newEnv(t, Config{})
	tests := []struct {
		name, number, country, want string
	}{
		{"E.164 with spaces", "+44 20 7946 0123", "", numLondon},
		{"national with country", "020 7946 0124", "gb", numLondon2},
		{"E.164 with a country", "+1 (415) 555-0123", "GB", numSF},
		{"test number", testNumber, "", testNumber},
		{"test number without plus", "1 555 000 0002", "", testNumber2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := req(tt.number)
			r.Customer.Country = tt.country
			r.ScheduledAt = t0.Add(-time.Hour) // in the past: now
			cb, err := v.e.Create(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			// Due now: it may be started already, so its due time is the
			// one its callback.scheduled event recorded.
			next := eventData(t, v.e, cb.ID, evScheduled)["next_attempt_at"]
			if cb.Customer.Number != tt.want || next != t0.Format(time.RFC3339) || !cb.ScheduledAt.Equal(t0.Add(-time.Hour)) {
				t.Errorf("customer %s next %v scheduled %v", cb.Customer.Number, next, cb.ScheduledAt)
			}
		})
	}
}

// Test numbers skip validity and every guardrail: a deployment allowing
// only +33 still reaches the sandbox.
func TestTestNumbersSkipGuardrails(t *testing.T) {
	v := newEnv(t, Config{Guard: Guardrails{Allow: []string{"+33"}, PerNumberPerDay: 1}})
	for range 3 {
		r := req(testNumber)
		r.RepNumber = testNumber2
		v.create(r)
	}
}

func TestRetryOverridesTeamPolicy(t *testing.T) {
	v := newEnv(t, Config{})
	v.team(&store.Team{ID: "sales", Reps: []store.Party{{Number: numRep}},
		Retry: schedule.Policy{MaxAttempts: 4, Intervals: []schedule.Duration{schedule.Duration(time.Hour)}, RetryCustomerRejected: true}})
	r := req(numLondon)
	r.RepNumber, r.Team = "", "sales"
	r.Retry = json.RawMessage(`{"max_attempts": 2}`)
	cb := v.create(r)
	p := cb.Retry
	if p.MaxAttempts != 2 || len(p.Intervals) != 1 || p.Intervals[0] != schedule.Duration(time.Hour) || !p.RetryCustomerRejected {
		t.Errorf("effective policy %+v", p)
	}
	team, _ := v.e.GetTeam("sales")
	if team.Retry.MaxAttempts != 4 {
		t.Errorf("the override changed the team: %+v", team.Retry)
	}
}

func TestDailyLimit(t *testing.T) {
	v := newEnv(t, Config{Guard: Guardrails{PerNumberPerDay: 2}})
	v.create(req(numLondon))
	v.create(req(numLondon))
	_, err := v.e.Create(context.Background(), req(numLondon))
	if fe := asFieldError(t, err); fe.Code != CodeDailyLimit || fe.Field != "customer.number" {
		t.Errorf("third: %v", fe)
	}
	v.create(req(numLondon2)) // another number is not limited
	v.clk.Advance(24*time.Hour + time.Second)
	v.create(req(numLondon)) // a day later
}

// Without an allow list, the countries of the teams' reps are allowed.
func TestDefaultAllowFromTeams(t *testing.T) {
	v := newEnv(t, Config{Guard: Guardrails{Allow: []string{}}})
	_, err := v.e.Create(context.Background(), req(numLondon))
	if fe := asFieldError(t, err); fe.Code != CodeDestinationNotAllowed {
		t.Fatalf("with no teams: %v", fe)
	}
	v.team(&store.Team{ID: "uk", Reps: []store.Party{{Number: numRep}}})
	v.create(req(numLondon))
	_, err = v.e.Create(context.Background(), req(numSF))
	if fe := asFieldError(t, err); fe.Code != CodeDestinationNotAllowed || fe.Field != "customer.number" {
		t.Fatalf("US customer with a UK team: %v", fe)
	}
	if _, err := v.e.UpdateTeam(context.Background(), "uk", func(t *store.Team) error {
		t.Reps = append(t.Reps, store.Party{Number: "+14155550100"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	v.create(req(numSF))
}

func TestNewChecksConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no trunk", Config{}},
		{"bad allow prefix", Config{Trunk: "t", Guard: Guardrails{Allow: []string{"44"}}}},
		{"bad deny prefix", Config{Trunk: "t", Guard: Guardrails{Deny: []string{"+44x"}}}},
		{"bad daily limit", Config{Trunk: "t", Guard: Guardrails{PerNumberPerDay: -2}}},
		{"negative limit", Config{Trunk: "t", Limits: map[string]Limit{"t": {MaxCalls: -1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg, nilStore{}, newFakeDialer(), nil, nil, nil); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// nilStore satisfies Store for tests that never reach it.
type nilStore struct{ Store }

func TestTeams(t *testing.T) {
	v := newEnv(t, Config{})
	ctx := context.Background()
	w, _ := schedule.ParseWindow(schedule.WindowSpec{TimeZone: "Europe/London", Hours: map[string][]string{"mon-fri": {"09:00-17:00"}}})
	good := func() *store.Team {
		return &store.Team{ID: "sales", Name: "Sales", Reps: []store.Party{{Number: "+44 20 7946 0001", Name: "Ann"}}, Window: w}
	}
	tests := []struct {
		name  string
		edit  func(*store.Team)
		field string
	}{
		{"bad id", func(t *store.Team) { t.ID = "Sales Team" }, "id"},
		{"no reps", func(t *store.Team) { t.Reps = nil }, "reps"},
		{"bad rep number", func(t *store.Team) { t.Reps[0].Number = "020 7946 0001" }, "reps[0].number"},
		{"duplicate rep", func(t *store.Team) { t.Reps = append(t.Reps, store.Party{Number: numRep}) }, "reps[1].number"},
		{"premium rep", func(t *store.Team) { t.Reps[0].Number = numPremium }, "reps[0].number"},
		{"bad strategy", func(t *store.Team) { t.Strategy = "random" }, "strategy"},
		{"bad window", func(t *store.Team) { t.Window = schedule.Window{Zone: time.UTC} }, "window.hours"},
		{"bad retry", func(t *store.Team) { t.Retry.MaxAttempts = 50 }, "retry.max_attempts"},
		{"ring timeout too long", func(t *store.Team) { t.RepRingTimeout = schedule.Duration(time.Hour) }, "rep_ring_timeout"},
		{"ring timeout too short", func(t *store.Team) { t.CustomerRingTimeout = schedule.Duration(time.Millisecond) }, "customer_ring_timeout"},
		{"whisper path", func(t *store.Team) { t.Whisper = "../etc/passwd" }, "whisper"},
		{"bad caller id", func(t *store.Team) { t.CallerID.Number = "0800" }, "caller_id.number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			team := good()
			tt.edit(team)
			_, err := v.e.CreateTeam(ctx, team)
			if fe := asFieldError(t, err); fe.Field != tt.field || fe.Code == "" {
				t.Errorf("error %+v, want field %s", fe, tt.field)
			}
		})
	}
	if ts, _ := v.e.ListTeams(); len(ts) != 0 {
		t.Fatalf("refused teams stored: %v", ts)
	}

	got, err := v.e.CreateTeam(ctx, good())
	if err != nil {
		t.Fatal(err)
	}
	if got.Reps[0].Number != numRep || got.Strategy != StrategySequential || got.CreatedAt.IsZero() {
		t.Errorf("created %+v", got)
	}
	if _, err := v.e.CreateTeam(ctx, good()); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate ID: %v, want ErrConflict", err)
	}
	gen, err := v.e.CreateTeam(ctx, &store.Team{Reps: []store.Party{{Number: numRep}}})
	if err != nil || !strings.HasPrefix(gen.ID, "team_") {
		t.Errorf("generated ID: %+v %v", gen, err)
	}

	_, err = v.e.UpdateTeam(ctx, "sales", func(t *store.Team) error { t.Strategy = "random"; return nil })
	if fe := asFieldError(t, err); fe.Field != "strategy" {
		t.Errorf("invalid update: %v", fe)
	}
	_, err = v.e.UpdateTeam(ctx, "sales", func(t *store.Team) error { t.ID = "other"; return nil })
	if fe := asFieldError(t, err); fe.Field != "id" {
		t.Errorf("ID change: %v", fe)
	}
	up, err := v.e.UpdateTeam(ctx, "sales", func(t *store.Team) error { t.Strategy = StrategyRoundRobin; return nil })
	if err != nil || up.Strategy != StrategyRoundRobin {
		t.Errorf("update: %+v %v", up, err)
	}
	if _, err := v.e.UpdateTeam(ctx, "nonesuch", func(*store.Team) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of an unknown team: %v", err)
	}

	// A team with a pending callback cannot go.
	r := req(numLondon)
	r.RepNumber, r.Team, r.ScheduledAt = "", "sales", t0.Add(time.Hour)
	cb := v.create(r)
	if err := v.e.DeleteTeam(ctx, "sales"); !errors.Is(err, ErrTeamInUse) {
		t.Errorf("delete in use: %v", err)
	}
	if _, err := v.e.Cancel(ctx, cb.ID); err != nil {
		t.Fatal(err)
	}
	if err := v.e.DeleteTeam(ctx, "sales"); err != nil {
		t.Errorf("delete: %v", err)
	}
	if _, err := v.e.GetTeam("sales"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get deleted: %v", err)
	}
}

func TestReads(t *testing.T) {
	v := newEnv(t, Config{})
	cb := v.create(req(numLondon))
	v.waitStatus(cb.ID, store.Completed)
	if _, _, err := v.e.Get("cb_nonesuch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get unknown: %v", err)
	}
	if _, err := v.e.Events("cb_nonesuch", 0, 10); !errors.Is(err, ErrNotFound) {
		t.Errorf("Events unknown: %v", err)
	}
	evs, err := v.e.Events(cb.ID, 2, 3)
	if err != nil || len(evs) != 3 || evs[0].Seq != 3 {
		t.Errorf("Events after 2, 3: %d %v", len(evs), err)
	}
	if evs, err := v.e.Events(cb.ID, 1000, 10); err != nil || len(evs) != 0 {
		t.Errorf("Events past the end: %v %v", evs, err)
	}
	items, _, err := v.e.List(store.CallbackFilter{Status: store.Completed})
	if err != nil || len(items) != 1 || items[0].ID != cb.ID {
		t.Errorf("List: %v %v", items, err)
	}
	if err := v.e.Ready(); err != nil {
		t.Errorf("Ready: %v", err)
	}
}
