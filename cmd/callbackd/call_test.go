package main

import (
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/callbackd/callbackd/bridge"
	"github.com/callbackd/callbackd/sandbox"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// number returns the sandbox test number with the given name, so the tests
// say what they dial in the sandbox's own words.
func number(t *testing.T, name string) string {
	t.Helper()
	for _, n := range sandbox.Numbers {
		if n.Name == name {
			return n.Number
		}
	}
	t.Fatalf("no sandbox number named %q", name)
	return ""
}

// TestCall places real bridged calls through the in-process sandbox trunk,
// over SIP and RTP on loopback.
func TestCall(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		rep      string
		customer string
		prompts  bool
		code     int
		outcome  bridge.Outcome
		events   []string // in this order, possibly with others between
	}{
		{name: "connected", rep: "echo", customer: "tone", prompts: true, code: exitOK, outcome: bridge.Connected,
			events: []string{"call.initiated rep", "call.connected rep", "call.initiated customer",
				"call.ringing customer", "call.connected customer", "call.completed"}},
		{name: "customer busy", rep: "echo", customer: "busy", code: exitFail, outcome: bridge.CustomerBusy,
			events: []string{"call.initiated rep", "call.connected rep", "call.initiated customer",
				"call.missed customer", "call.completed rep"}},
		{name: "rep rejects", rep: "reject", customer: "tone", code: exitFail, outcome: bridge.RepRejected,
			events: []string{"call.initiated rep", "call.missed rep"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := writeTestConfig(t, tt.prompts)
			rep, customer := number(t, tt.rep), number(t, tt.customer)
			code, stdout, stderr := runCmd(t, t.Context(), "call", "--config", cfg.Path,
				"--rep", rep, "--customer", customer, "--max-duration", "3s", "--json")
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstderr: %s", code, tt.code, stderr)
			}
			out := parseCallJSON(t, stdout)
			r := out.Result
			if r.Outcome != string(tt.outcome) {
				t.Errorf("outcome %q (cause %q), want %q", r.Outcome, r.Cause, tt.outcome)
			}

			var seen []string
			for _, e := range out.Events {
				seen = append(seen, e.Type+" "+e.Leg)
				if e.At.IsZero() || e.Number == "" {
					t.Errorf("event without time or number: %+v", e)
				}
			}
			i := 0
			for _, s := range seen {
				if i < len(tt.events) && strings.HasPrefix(s, tt.events[i]) {
					i++
				}
			}
			if i < len(tt.events) {
				t.Errorf("events %q do not contain %q in order (missing %q)", seen, tt.events, tt.events[i])
			}

			switch tt.outcome {
			case bridge.Connected:
				if r.RTP.RepToCustomer == 0 || r.RTP.CustomerToRep == 0 {
					t.Errorf("RTP relayed rep->customer %d, customer->rep %d; want both > 0", r.RTP.RepToCustomer, r.RTP.CustomerToRep)
				}
				if r.HungUpBy != string(bridge.HangupMaxDuration) || r.TalkTimeMS < 2900 || r.TalkTimeMS > 4000 {
					t.Errorf("hung up by %q after %d ms, want max_duration after about 3000", r.HungUpBy, r.TalkTimeMS)
				}
				if r.Code != 200 || r.ConnectedAt.IsZero() || r.EndedAt.Before(r.ConnectedAt) {
					t.Errorf("code %d, connected %v, ended %v", r.Code, r.ConnectedAt, r.EndedAt)
				}
				for _, l := range append(slices.Clone(r.Reps), r.Customer) {
					if l.CallID == "" || l.AnsweredAt.IsZero() || l.Outcome != "answered" {
						t.Errorf("%s leg: %+v; want answered with a Call-ID", l.Leg, l)
					}
				}
				if r.Customer.RingingAt.IsZero() {
					t.Errorf("customer leg has no ringing time: %+v", r.Customer)
				}
			case bridge.CustomerBusy:
				if r.Code != 486 || r.Customer.Code != 486 || r.Customer.Outcome != "busy" {
					t.Errorf("code %d, customer leg %+v; want 486 busy", r.Code, r.Customer)
				}
				if r.RTP.RepToCustomer != 0 || !r.ConnectedAt.IsZero() {
					t.Errorf("a busy customer was connected: %+v", r)
				}
			case bridge.RepRejected:
				if r.Code != 603 || len(r.Reps) != 1 || !r.Customer.InvitedAt.IsZero() {
					t.Errorf("code %d, reps %+v, customer %+v; want 603 and the customer never dialled", r.Code, r.Reps, r.Customer)
				}
			}
		})
	}
}

// The text output is for people: one line per event, then the result.
func TestCallText(t *testing.T) {
	t.Parallel()
	cfg := writeTestConfig(t, false)
	code, stdout, stderr := runCmd(t, t.Context(), "call", "--config", cfg.Path,
		"--rep", number(t, "busy"), "--rep", number(t, "echo"), "--customer", number(t, "tone"), "--max-duration", "1s")
	if code != exitOK {
		t.Fatalf("exit code %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"call.initiated  rep       +15550000003",
		"call.missed     rep       +15550000003  486 Busy Here",
		"call.ringing    customer  +15550000001  180 Ringing",
		"outcome       connected",
		"hung up by    max_duration",
		"rep 1         +15550000003  busy  486 Busy Here",
		"rep 2         +15550000002  answered  200 OK",
		"call-id",
		"rtp packets   rep->customer ",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout does not contain %q:\n%s", want, stdout)
		}
	}
	// Without -v only warnings and errors are logged.
	if strings.Contains(stderr, `"level":"INFO"`) {
		t.Errorf("info logged without -v:\n%s", stderr)
	}
}
