package trigger

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/schedule"
)

// baseSpec is a valid spec: a form's phone field, called back by sales.
func baseSpec() Spec {
	return Spec{
		Name: "contact form",
		Mapping: Mapping{
			CustomerNumber: "payload.phone",
			Team:           "'sales'",
		},
		Enabled: true,
	}
}

func TestCompileErrors(t *testing.T) {
	long := "payload.a == '" + strings.Repeat("x", MaxExpressionLength) + "'"
	manyMeta := map[string]string{}
	for i := range MaxMetadata + 1 {
		manyMeta[strings.Repeat("k", i+1)] = "'v'"
	}
	tests := []struct {
		name         string
		edit         func(*Spec)
		field        string
		line, column int
		message      string // a substring
	}{
		{"syntax error", func(s *Spec) { s.Condition = "payload.score >=" },
			"condition", 1, 17, "Syntax error"},
		{"syntax error on line 2", func(s *Spec) { s.Condition = "payload.a &&\n  payload.b ==" },
			"condition", 2, 15, "Syntax error"},
		{"unknown function", func(s *Spec) { s.Condition = "payload.score >= 80 && shout(payload.name)" },
			"condition", 1, 29, "undeclared reference to 'shout'"},
		{"unknown method", func(s *Spec) { s.Condition = `payload.name.shout() == "A"` },
			"condition", 1, 19, "undeclared reference to 'shout'"},
		{"condition not bool", func(s *Spec) { s.Condition = "payload.score + 1" },
			"condition", 1, 1, "expression has type int, want bool"},
		{"condition a string", func(s *Spec) { s.Condition = `"yes"` },
			"condition", 1, 1, "want bool"},
		{"number not a string", func(s *Spec) { s.Mapping.CustomerNumber = "1 + 2" },
			"mapping.customer_number", 1, 1, "expression has type int, want string"},
		{"number optional", func(s *Spec) { s.Mapping.CustomerNumber = "payload.?phone" },
			"mapping.customer_number", 1, 1, "want string"},
		{"bare word constant", func(s *Spec) { s.Mapping.Team = "sales" },
			"mapping.team", 1, 1, "a constant is a quoted string: 'sales'"},
		{"delay a bool", func(s *Spec) { s.Mapping.Delay = "payload.n > 1.0" },
			"mapping.delay", 1, 1, "want string or duration"},
		{"scheduled_at a duration", func(s *Spec) { s.Mapping.ScheduledAt = `duration("1h")` },
			"mapping.scheduled_at", 1, 1, "want string or timestamp"},
		{"bad duration literal", func(s *Spec) { s.Mapping.Delay = `duration("10 minutes")` },
			"mapping.delay", 1, 10, "duration"},
		{"bad regex literal", func(s *Spec) { s.Condition = `payload.email.matches("[a-")` },
			"condition", 1, 23, "invalid matches argument"},
		{"metadata syntax", func(s *Spec) { s.Mapping.Metadata = map[string]string{"a": "'x'", "source": "payload.utm."} },
			"mapping.metadata.source", 1, 13, "Syntax error"},
		{"metadata empty", func(s *Spec) { s.Mapping.Metadata = map[string]string{"source": " "} },
			"mapping.metadata.source", 0, 0, "empty expression"},
		{"metadata empty name", func(s *Spec) { s.Mapping.Metadata = map[string]string{"": "'x'"} },
			"mapping.metadata", 0, 0, "names must not be empty"},
		{"metadata too many", func(s *Spec) { s.Mapping.Metadata = manyMeta },
			"mapping.metadata", 0, 0, "at most 50"},
		{"expression too long", func(s *Spec) { s.Condition = long },
			"condition", 0, 0, "at most 2048"},
		{"no customer number", func(s *Spec) { s.Mapping.CustomerNumber = "" },
			"mapping.customer_number", 0, 0, "required"},
		{"no team or rep", func(s *Spec) { s.Mapping.Team = "" },
			"mapping.team", 0, 0, "team or rep_number"},
		{"scheduled_at and delay", func(s *Spec) { s.Mapping.ScheduledAt = "payload.at"; s.Mapping.Delay = "'10m'" },
			"mapping.delay", 0, 0, "not both"},
		{"no name", func(s *Spec) { s.Name = "" }, "name", 0, 0, "required"},
		{"long name", func(s *Spec) { s.Name = strings.Repeat("n", MaxNameLen+1) }, "name", 0, 0, "at most"},
		{"negative dedup", func(s *Spec) { s.Dedup = schedule.Duration(-time.Hour) }, "dedup", 0, 0, "negative"},
		{"dedup too long", func(s *Spec) { s.Dedup = schedule.Duration(MaxDedup + time.Hour) }, "dedup", 0, 0, "at most 720h"},
		{"negative rate limit", func(s *Spec) { s.RateLimit = -1 }, "rate_limit", 0, 0, "negative"},
		{"unknown auth mode", func(s *Spec) { s.Auth.Mode = "basic" }, "auth.mode", 0, 0, `"basic"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSpec()
			tt.edit(&s)
			trg, err := Compile(s)
			if err == nil {
				t.Fatalf("Compile = %v, want an error", trg)
			}
			ce, ok := errors.AsType[*CompileError](err)
			if !ok {
				t.Fatalf("error %T %v, want *CompileError", err, err)
			}
			if ce.Field != tt.field || ce.Line != tt.line || ce.Column != tt.column || !strings.Contains(ce.Message, tt.message) {
				t.Errorf("got %s %d:%d %q, want %s %d:%d containing %q", ce.Field, ce.Line, ce.Column, ce.Message,
					tt.field, tt.line, tt.column, tt.message)
			}
		})
	}
}

// A positioned error prints the expression with a caret under the column,
// as CEL does.
func TestCompileErrorText(t *testing.T) {
	s := baseSpec()
	s.Condition = "payload.score >= 80 && shout(payload.name)"
	_, err := Compile(s)
	want := "trigger: condition:1:29: undeclared reference to 'shout'\n" +
		" | payload.score >= 80 && shout(payload.name)\n" +
		" | ............................^"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
	ce := &CompileError{Field: "dedup", Message: "must not be negative"}
	if got := ce.Error(); got != "trigger: dedup: must not be negative" {
		t.Errorf("Error() = %q", got)
	}
}

func TestCompileValid(t *testing.T) {
	s := baseSpec()
	s.Condition = `has(payload.score) && payload.score >= 80 && payload.email.lowerAscii().endsWith("@example.com")`
	s.Mapping.RepNumber = `payload.?owner.phone.orValue("")`
	s.Mapping.CustomerName = `payload.?name.orValue("")`
	s.Mapping.CustomerCountry = `"US"`
	s.Mapping.ScheduledAt = `timestamp(payload.submitted_at) + duration("1h")`
	s.Mapping.Metadata = map[string]string{"source": "'web'", "form": "string(int(payload.form_id))"}
	s.Dedup = schedule.Duration(24 * time.Hour)
	s.RateLimit = 10
	trg, err := Compile(s)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if got := trg.Spec(); got.Auth.Mode != AuthTokenHeader || got.Name != s.Name || got.RateLimit != 10 {
		t.Errorf("Spec() = %+v, want the spec with auth mode %s", got, AuthTokenHeader)
	}
	if len(trg.metadata) != 2 || trg.metadata[0].name != "form" || trg.metadata[1].name != "source" {
		t.Errorf("metadata not compiled by name: %+v", trg.metadata)
	}
}

// The JSON the API takes decodes into a Spec that compiles; constants are
// quoted CEL strings inside the JSON strings.
func TestSpecJSON(t *testing.T) {
	doc := `{
		"name": "hot leads",
		"condition": "payload.score >= 80 && payload.country == 'US'",
		"mapping": {
			"customer_number": "payload.phone",
			"customer_name": "payload.?name.orValue('')",
			"team": "'sales'",
			"delay": "'10m'",
			"metadata": {"source": "'crm'", "lead": "payload.id"}
		},
		"dedup": "24h",
		"rate_limit": 30,
		"auth": {"mode": "hmac_sha256"},
		"enabled": true
	}`
	var s Spec
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if time.Duration(s.Dedup) != 24*time.Hour || s.RateLimit != 30 || s.Auth.Mode != AuthHMACSHA256 || !s.Enabled {
		t.Errorf("decoded %+v", s)
	}
	trg := mustCompile(t, s)
	res, err := trg.Evaluate(t.Context(), []byte(`{"phone": "+14155550123", "score": 91, "country": "US", "id": "L-1"}`))
	if err != nil || !res.Matched || res.Callback.Team != "sales" || res.Callback.Delay != 10*time.Minute ||
		res.Callback.Metadata["source"] != "crm" || res.Callback.Metadata["lead"] != "L-1" {
		t.Errorf("Evaluate = %+v, %v", res, err)
	}
	out, err := json.Marshal(trg.Spec())
	if err != nil || !strings.Contains(string(out), `"dedup":"24h"`) || !strings.Contains(string(out), `"team":"'sales'"`) {
		t.Errorf("Marshal = %s, %v", out, err)
	}
}
