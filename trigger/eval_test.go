package trigger

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustCompile(t *testing.T, s Spec) *Trigger {
	t.Helper()
	trg, err := Compile(s)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return trg
}

func TestEvaluate(t *testing.T) {
	form := baseSpec()
	form.Mapping.CustomerName = `payload.?name.orValue("")`
	form.Mapping.Metadata = map[string]string{"source": "'web form'", "form": "payload.form_id"}

	lead := baseSpec()
	lead.Condition = `payload.score >= 80 && payload.country == "US"`
	lead.Mapping.CustomerCountry = "payload.country"

	cart := baseSpec()
	cart.Condition = "payload.cart.total > 500.0"
	cart.Mapping.CustomerNumber = "payload.customer.phone"
	cart.Mapping.Delay = `"10m"`

	cartInt := cart
	cartInt.Condition = "payload.cart.total > 500"

	crm := baseSpec()
	crm.Condition = `payload.stage == "demo_requested" && payload.previous_stage != "demo_requested"`
	crm.Mapping.CustomerNumber = `payload["contact"]["phone"]`
	crm.Mapping.RepNumber = `payload.?owner.phone.orValue("")`
	crm.Mapping.Metadata = map[string]string{"deal": "payload.deal_id", "owner": "payload.?owner.name.orValue(null)"}

	vip := baseSpec()
	vip.Condition = "payload.vip == true || payload.score >= 80"

	numeric := baseSpec()
	numeric.Mapping.CustomerNumber = `"+" + string(int(payload.phone))`

	scheduled := baseSpec()
	scheduled.Mapping.ScheduledAt = "payload.call_at"

	stamped := baseSpec()
	stamped.Mapping.ScheduledAt = `timestamp(payload.submitted_at) + duration("2h")`

	delayed := baseSpec()
	delayed.Mapping.Delay = `payload.?wait.orValue(duration("15m"))`

	sorted := baseSpec()
	sorted.Condition = `payload.items.exists(i, i.sku.startsWith("PRO-")) && size(payload.items) <= 10`

	tests := []struct {
		name    string
		spec    Spec
		payload string
		matched bool
		reason  string
		want    Request
	}{
		{"form", form, `{"phone": "+14155550123", "name": "Ada", "form_id": "contact-7"}`, true, "",
			Request{CustomerNumber: "+14155550123", CustomerName: "Ada", Team: "sales",
				Metadata: map[string]string{"source": "web form", "form": "contact-7"}}},
		{"form without name", form, `{"phone": "+14155550123", "form_id": "contact-7"}`, true, "",
			Request{CustomerNumber: "+14155550123", Team: "sales",
				Metadata: map[string]string{"source": "web form", "form": "contact-7"}}},
		{"form with null name", form, `{"phone": "+14155550123", "name": null, "form_id": "f"}`, true, "",
			Request{CustomerNumber: "+14155550123", Team: "sales",
				Metadata: map[string]string{"source": "web form", "form": "f"}}},
		{"lead hot", lead, `{"phone": "4155550123", "score": 85, "country": "US"}`, true, "",
			Request{CustomerNumber: "4155550123", CustomerCountry: "US", Team: "sales"}},
		{"lead at threshold", lead, `{"phone": "4155550123", "score": 80.0, "country": "US"}`, true, "",
			Request{CustomerNumber: "4155550123", CustomerCountry: "US", Team: "sales"}},
		{"lead cold", lead, `{"phone": "4155550123", "score": 79.5, "country": "US"}`, false, "condition is false", Request{}},
		{"lead abroad", lead, `{"phone": "030123456", "score": 95, "country": "DE"}`, false, "condition is false", Request{}},
		{"lead unscored", lead, `{"phone": "4155550123", "country": "US"}`, false, "condition: payload.score is missing", Request{}},
		{"cart big", cart, `{"customer": {"phone": "+442079460123"}, "cart": {"total": 612.5}}`, true, "",
			Request{CustomerNumber: "+442079460123", Team: "sales", Delay: 10 * time.Minute}},
		{"cart small", cart, `{"customer": {"phone": "+442079460123"}, "cart": {"total": 500}}`, false, "condition is false", Request{}},
		{"cart int literal", cartInt, `{"customer": {"phone": "+442079460123"}, "cart": {"total": 501}}`, true, "",
			Request{CustomerNumber: "+442079460123", Team: "sales", Delay: 10 * time.Minute}},
		{"cart without cart", cart, `{"customer": {"phone": "+442079460123"}}`, false, "condition: payload.cart is missing", Request{}},
		{"cart without total", cart, `{"customer": {"phone": "+442079460123"}, "cart": {}}`, false, "condition: payload.cart.total is missing", Request{}},
		{"crm demo requested", crm,
			`{"stage": "demo_requested", "previous_stage": "contacted", "deal_id": "D-9", "contact": {"phone": "+14155550123"}}`, true, "",
			Request{CustomerNumber: "+14155550123", Team: "sales", Metadata: map[string]string{"deal": "D-9"}}},
		{"crm owner wins over team", crm,
			`{"stage": "demo_requested", "previous_stage": "new", "deal_id": "D-9", "contact": {"phone": "+14155550123"},
			  "owner": {"phone": "+14155550199", "name": "Bo"}}`, true, "",
			Request{CustomerNumber: "+14155550123", RepNumber: "+14155550199", Metadata: map[string]string{"deal": "D-9", "owner": "Bo"}}},
		{"crm stage unchanged", crm,
			`{"stage": "demo_requested", "previous_stage": "demo_requested", "contact": {"phone": "+14155550123"}}`, false, "condition is false", Request{}},
		{"crm other stage", crm, `{"stage": "won", "previous_stage": "demo_requested"}`, false, "condition is false", Request{}},
		{"vip without score", vip, `{"phone": "+14155550123", "vip": true}`, true, "",
			Request{CustomerNumber: "+14155550123", Team: "sales"}},
		{"not vip without score", vip, `{"phone": "+14155550123", "vip": false}`, false, "condition: payload.score is missing", Request{}},
		{"numeric phone", numeric, `{"phone": 14155550123}`, true, "",
			Request{CustomerNumber: "+14155550123", Team: "sales"}},
		{"scheduled_at string", scheduled, `{"phone": "+14155550123", "call_at": "2026-03-02T17:30:00+01:00"}`, true, "",
			Request{CustomerNumber: "+14155550123", Team: "sales", ScheduledAt: time.Date(2026, 3, 2, 16, 30, 0, 0, time.UTC)}},
		{"scheduled_at empty", scheduled, `{"phone": "+14155550123", "call_at": ""}`, true, "",
			Request{CustomerNumber: "+14155550123", Team: "sales"}},
		{"scheduled_at timestamp", stamped, `{"phone": "+14155550123", "submitted_at": "2026-03-02T09:00:00Z"}`, true, "",
			Request{CustomerNumber: "+14155550123", Team: "sales", ScheduledAt: time.Date(2026, 3, 2, 11, 0, 0, 0, time.UTC)}},
		{"delay from payload", delayed, `{"phone": "+14155550123", "wait": "1h30m"}`, true, "",
			Request{CustomerNumber: "+14155550123", Team: "sales", Delay: 90 * time.Minute}},
		{"delay default", delayed, `{"phone": "+14155550123"}`, true, "",
			Request{CustomerNumber: "+14155550123", Team: "sales", Delay: 15 * time.Minute}},
		{"comprehension", sorted, `{"phone": "+14155550123", "items": [{"sku": "BAS-1"}, {"sku": "PRO-2"}]}`, true, "",
			Request{CustomerNumber: "+14155550123", Team: "sales"}},
		{"comprehension no match", sorted, `{"phone": "+14155550123", "items": [{"sku": "BAS-1"}]}`, false, "condition is false", Request{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trg := mustCompile(t, tt.spec)
			res, err := trg.Evaluate(context.Background(), []byte(tt.payload))
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if res.Matched != tt.matched || res.Reason != tt.reason {
				t.Fatalf("Matched %v, Reason %q; want %v, %q", res.Matched, res.Reason, tt.matched, tt.reason)
			}
			if !sameRequest(res.Callback, tt.want) {
				t.Errorf("Callback = %+v\nwant       %+v", res.Callback, tt.want)
			}
		})
	}
}

func sameRequest(a, b Request) bool {
	am, bm := a.Metadata, b.Metadata
	a.Metadata, b.Metadata = nil, nil
	return a.ScheduledAt.Equal(b.ScheduledAt) && maps.Equal(am, bm) &&
		fmt.Sprint(a.CustomerNumber, a.CustomerName, a.CustomerCountry, a.Team, a.RepNumber, a.Delay) ==
			fmt.Sprint(b.CustomerNumber, b.CustomerName, b.CustomerCountry, b.Team, b.RepNumber, b.Delay)
}

func TestEvaluateMissingField(t *testing.T) {
	nested := baseSpec()
	nested.Mapping.CustomerNumber = "payload.contact.phone"
	indexed := baseSpec()
	indexed.Mapping.CustomerNumber = `payload["contact"]["phone"]`
	listed := baseSpec()
	listed.Mapping.CustomerNumber = "payload.contacts[1].phone"
	meta := baseSpec()
	meta.Mapping.Metadata = map[string]string{"campaign": "payload.utm.campaign"}
	team := baseSpec()
	team.Mapping.Team = "payload.team"
	emptyTeam := baseSpec()
	emptyTeam.Mapping.Team = `payload.?team.orValue("")`
	rep := baseSpec()
	rep.Mapping.Team = ""
	rep.Mapping.RepNumber = "payload.owner_phone"
	computed := baseSpec()
	computed.Mapping.CustomerNumber = `"+1" + payload.local`

	tests := []struct {
		name, payload string
		spec          Spec
		field, path   string
	}{
		{"top-level key", `{"name": "Ada"}`, baseSpec(), "mapping.customer_number", "payload.phone"},
		{"null number", `{"phone": null}`, baseSpec(), "mapping.customer_number", "payload.phone"},
		{"empty number", `{"phone": ""}`, baseSpec(), "mapping.customer_number", "payload.phone"},
		{"nested key", `{"contact": {"email": "a@example.com"}}`, nested, "mapping.customer_number", "payload.contact.phone"},
		{"nested parent", `{"phone": "+14155550123"}`, nested, "mapping.customer_number", "payload.contact"},
		{"index syntax", `{"contact": {}}`, indexed, "mapping.customer_number", "payload.contact.phone"},
		{"list index", `{"contacts": [{"phone": "+1"}]}`, listed, "mapping.customer_number", "payload.contacts[1]"},
		{"list element key", `{"contacts": [{}, {"email": "x"}]}`, listed, "mapping.customer_number", "payload.contacts[1].phone"},
		{"metadata", `{"phone": "+14155550123", "utm": {"source": "ads"}}`, meta, "mapping.metadata.campaign", "payload.utm.campaign"},
		{"team", `{"phone": "+14155550123"}`, team, "mapping.team", "payload.team"},
		{"team empty", `{"phone": "+14155550123"}`, emptyTeam, "mapping.team", `payload.?team.orValue("")`},
		{"rep", `{"phone": "+14155550123"}`, rep, "mapping.rep_number", "payload.owner_phone"},
		{"inside an expression", `{"phone": "x"}`, computed, "mapping.customer_number", "payload.local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := mustCompile(t, tt.spec).Evaluate(context.Background(), []byte(tt.payload))
			mf, ok := errors.AsType[*MissingFieldError](err)
			if !ok {
				t.Fatalf("Evaluate = %+v, %v; want *MissingFieldError", res, err)
			}
			if mf.Field != tt.field || mf.Path != tt.path {
				t.Errorf("MissingFieldError{%q, %q}, want {%q, %q}", mf.Field, mf.Path, tt.field, tt.path)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name the field", err)
			}
		})
	}
}

func TestEvaluatePayloadErrors(t *testing.T) {
	trg := mustCompile(t, baseSpec())
	tests := []struct{ name, payload, message string }{
		{"empty", "", "empty body"},
		{"blank", " \n", "empty body"},
		{"array", `[{"phone": "+14155550123"}]`, "a JSON array; want an object"},
		{"string", `"+14155550123"`, "a JSON string"},
		{"number", `42`, "a JSON number"},
		{"null", `null`, "a JSON null"},
		{"malformed", `{"phone": "+1415`, "malformed JSON"},
		{"trailing garbage", `{"phone": "+14155550123"} x`, "malformed JSON"},
		{"too big", `{"x": "` + strings.Repeat("a", MaxPayloadBytes) + `"}`, "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := trg.Evaluate(context.Background(), []byte(tt.payload))
			pe, ok := errors.AsType[*PayloadError](err)
			if !ok {
				t.Fatalf("error %T %v, want *PayloadError", err, err)
			}
			if !strings.Contains(pe.Message, tt.message) {
				t.Errorf("message %q, want %q in it", pe.Message, tt.message)
			}
		})
	}
}

func TestEvaluateEvalErrors(t *testing.T) {
	lead := baseSpec()
	lead.Condition = "payload.score >= 80"
	flag := baseSpec()
	flag.Condition = "payload.qualified"
	scheduled := baseSpec()
	scheduled.Mapping.ScheduledAt = "payload.call_at"
	delayed := baseSpec()
	delayed.Mapping.Delay = "payload.wait"
	meta := baseSpec()
	meta.Mapping.Metadata = map[string]string{"order": "payload.order"}

	tests := []struct {
		name    string
		spec    Spec
		payload string
		field   string
		message string
	}{
		{"string against number", lead, `{"phone": "+1", "score": "85"}`, "condition", "no such overload (at 1:15)"},
		{"condition not a bool", flag, `{"phone": "+1", "qualified": "yes"}`, "condition", "evaluated to string, want bool"},
		{"number not a string", baseSpec(), `{"phone": 14155550123}`, "mapping.customer_number",
			"evaluated to double, want string (the value is 1.4155550123e+10; string(...) converts"},
		{"bad time", scheduled, `{"phone": "+1", "call_at": "tomorrow"}`, "mapping.scheduled_at", "not an RFC 3339 time"},
		{"time a number", scheduled, `{"phone": "+1", "call_at": 1772438400}`, "mapping.scheduled_at", "want string or timestamp"},
		{"bad delay", delayed, `{"phone": "+1", "wait": "ten minutes"}`, "mapping.delay", "not a duration"},
		{"negative delay", delayed, `{"phone": "+1", "wait": "-5m"}`, "mapping.delay", "must not be negative"},
		{"metadata a number", meta, `{"phone": "+1", "order": 42}`, "mapping.metadata.order", "evaluated to double"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := mustCompile(t, tt.spec).Evaluate(context.Background(), []byte(tt.payload))
			ee, ok := errors.AsType[*EvalError](err)
			if !ok {
				t.Fatalf("Evaluate = %+v, %T %v; want *EvalError", res, err, err)
			}
			if ee.Field != tt.field || !strings.Contains(ee.Message, tt.message) {
				t.Errorf("EvalError{%q, %q}, want field %q, message containing %q", ee.Field, ee.Message, tt.field, tt.message)
			}
		})
	}
}

// An expression whose cost grows with the payload is cut at MaxCost.
func TestEvaluateCostLimit(t *testing.T) {
	items := make([]string, 1000)
	for i := range items {
		items[i] = fmt.Sprint(i)
	}
	payload := []byte(`{"phone": "+14155550123", "items": [` + strings.Join(items, ",") + `]}`)

	quadratic := baseSpec()
	quadratic.Condition = "payload.items.all(x, payload.items.all(y, x + y >= 0.0))"
	literal := baseSpec()
	ten := "[0,1,2,3,4,5,6,7,8,9]"
	literal.Condition = ten + ".all(a, " + ten + ".all(b, " + ten + ".all(c, " + ten + ".all(d, " + ten + ".all(e, a+b+c+d+e >= 0)))))"

	for name, s := range map[string]Spec{"quadratic over payload": quadratic, "nested literals": literal} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, err := mustCompile(t, s).Evaluate(context.Background(), payload)
			if !errors.Is(err, ErrTooExpensive) {
				t.Fatalf("Evaluate: %v, want ErrTooExpensive", err)
			}
			if ee, ok := errors.AsType[*EvalError](err); !ok || ee.Field != "condition" {
				t.Errorf("error %#v, want an *EvalError for the condition", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s before the limit stopped it", d)
			}
		})
	}
	// A linear expression over the same payload is well within the limit.
	linear := baseSpec()
	linear.Condition = "payload.items.exists(x, x == 999.0)"
	res, err := mustCompile(t, linear).Evaluate(context.Background(), payload)
	if err != nil || !res.Matched {
		t.Errorf("linear: %+v, %v", res, err)
	}
}

func TestEvaluateContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := mustCompile(t, baseSpec()).Evaluate(ctx, []byte(`{"phone": "+14155550123"}`))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Evaluate with a canceled context: %v", err)
	}
}

// One compiled trigger serves concurrent requests.
func TestEvaluateConcurrent(t *testing.T) {
	s := baseSpec()
	s.Condition = `payload.score >= 80`
	s.Mapping.Metadata = map[string]string{"n": "string(int(payload.score))"}
	trg := mustCompile(t, s)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				score := 70 + (g*50+i)%30
				res, err := trg.Evaluate(context.Background(), fmt.Appendf(nil, `{"phone": "+14155550123", "score": %d}`, score))
				if err != nil || res.Matched != (score >= 80) || (res.Matched && res.Callback.Metadata["n"] != fmt.Sprint(score)) {
					t.Errorf("score %d: %+v, %v", score, res, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
