package bridge

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/media/audio"
	"github.com/callbackd/callbackd/sandbox"
)

// Calls through the in-process sandbox trunk: real SIP and RTP over loopback
// with scripted far ends. Real third-party peers are in peers_test.go.

func TestConnected(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		plan          Plan
		wantAToB      uint64 // rep -> customer
		wantBToA      uint64 // customer -> rep
		customerRings bool
	}{
		{
			// The customer's tone reaches the rep, who echoes it back.
			name:          "rep first",
			plan:          Plan{Reps: reps(sandbox.NumberEcho), Customer: Party{Number: sandbox.NumberTone}, MaxDuration: 2 * time.Second},
			wantAToB:      50,
			wantBToA:      50,
			customerRings: true,
		},
		{
			name:     "customer first",
			plan:     Plan{Reps: reps(sandbox.NumberTone), Customer: Party{Number: sandbox.NumberEcho}, MaxDuration: 2 * time.Second, CustomerFirst: true},
			wantAToB: 50,
			wantBToA: 50,
		},
		{
			// 2 s of early media, then the answer: both reach the rep over one relay.
			name:          "early media",
			plan:          Plan{Reps: reps(sandbox.NumberEcho), Customer: Party{Number: sandbox.NumberEarlyMedia}, MaxDuration: time.Second},
			wantAToB:      80,
			wantBToA:      100,
			customerRings: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			res, rec := e.run(t, tt.plan, 20*time.Second)
			if res.Outcome != Connected || res.HungUpBy != HangupMaxDuration || res.Code != 200 {
				t.Fatalf("outcome %s hung up by %s code %d; want connected, max_duration, 200", res.Outcome, res.HungUpBy, res.Code)
			}
			if res.Relay.AToB < tt.wantAToB || res.Relay.BToA < tt.wantBToA {
				t.Errorf("relayed rep->customer %d, customer->rep %d; want >= %d, >= %d", res.Relay.AToB, res.Relay.BToA, tt.wantAToB, tt.wantBToA)
			}
			if res.Relay.Stray != 0 || res.Relay.Malformed != 0 {
				t.Errorf("relay dropped %+v", res.Relay)
			}
			if len(res.Reps) != 1 {
				t.Fatalf("reps tried %d, want 1", len(res.Reps))
			}
			checkLegTimes(t, res.Reps[0], false)
			checkLegTimes(t, res.Customer, tt.customerRings)
			if res.ConnectedAt.IsZero() || res.TalkTime < tt.plan.MaxDuration || res.TalkTime > tt.plan.MaxDuration+2*time.Second {
				t.Errorf("connected at %v, talk time %v; want about %v", res.ConnectedAt, res.TalkTime, tt.plan.MaxDuration)
			}
			first, second := "rep", "customer"
			if tt.plan.CustomerFirst {
				first, second = second, first
			}
			want := []string{first + ":call.initiated", first + ":call.connected", second + ":call.initiated", second + ":call.connected"}
			got := slices.DeleteFunc(rec.types(), func(s string) bool { return strings.HasSuffix(s, "ringing") || strings.HasSuffix(s, "completed") })
			if !slices.Equal(got, want) {
				t.Errorf("events %v, want %v (ringing and completed aside)", got, want)
			}
			if n := count(rec.types(), "call.completed"); n != 2 {
				t.Errorf("%d call.completed events, want 2", n)
			}
			if tt.customerRings && count(rec.types(), "customer:call.ringing") != 1 {
				t.Errorf("want one customer:call.ringing in %v", rec.types())
			}
			// We hung both up.
			for _, lr := range []LegResult{res.Reps[0], res.Customer} {
				if c := e.sandboxCall(t, lr.CallID); c.EndCause != "caller_bye" {
					t.Errorf("%s leg ended by %q, want caller_bye", lr.Role, c.EndCause)
				}
			}
		})
	}
}

func count(s []string, suffix string) int {
	n := 0
	for _, x := range s {
		if strings.HasSuffix(x, suffix) {
			n++
		}
	}
	return n
}

// Either side's BYE ends both legs.
func TestHangup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		rep      string
		customer string
		want     Side
	}{
		{"customer hangs up", sandbox.NumberEcho, sandbox.NumberHangup, HangupCustomer},
		{"rep hangs up", sandbox.NumberHangup, sandbox.NumberEcho, HangupRep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			res, _ := e.run(t, Plan{Reps: reps(tt.rep), Customer: Party{Number: tt.customer}}, 20*time.Second)
			if res.Outcome != Connected || res.HungUpBy != tt.want {
				t.Fatalf("outcome %s hung up by %s; want connected by %s", res.Outcome, res.HungUpBy, tt.want)
			}
			if res.Relay.AToB == 0 || res.Relay.BToA == 0 {
				t.Errorf("relay %+v: want packets both ways", res.Relay)
			}
			other := res.Customer
			if tt.want == HangupCustomer {
				other = res.Reps[0]
			}
			if c := e.sandboxCall(t, other.CallID); c.EndCause != "caller_bye" {
				t.Errorf("the other leg ended by %q, want our BYE", c.EndCause)
			}
		})
	}
}

// Reps are tried in order; the outcome names the last rep's failure.
func TestRepOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		reps     []string
		want     Outcome
		wantCode int
		wantReps []string // each rep's leg outcome
	}{
		{"busy", []string{sandbox.NumberBusy}, RepBusy, 486, []string{"busy"}},
		{"rejected", []string{sandbox.NumberReject}, RepRejected, 603, []string{"rejected"}},
		{"no answer", []string{sandbox.NumberNoAnswer}, RepNoAnswer, 487, []string{"no_answer"}},
		{"not found", []string{sandbox.NumberNotFound}, Failed, 404, []string{"unreachable"}},
		{"busy then no answer", []string{sandbox.NumberBusy, sandbox.NumberNoAnswer}, RepNoAnswer, 487, []string{"busy", "no_answer"}},
		{"busy then answer", []string{sandbox.NumberBusy, sandbox.NumberReject, sandbox.NumberEcho}, Connected, 200, []string{"busy", "rejected", "answered"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			plan := Plan{Reps: reps(tt.reps...), Customer: Party{Number: sandbox.NumberEcho},
				RepRingTimeout: 500 * time.Millisecond, MaxDuration: 300 * time.Millisecond}
			res, rec := e.run(t, plan, 20*time.Second)
			if res.Outcome != tt.want || res.Code != tt.wantCode {
				t.Fatalf("outcome %s code %d (%s); want %s %d", res.Outcome, res.Code, res.Cause, tt.want, tt.wantCode)
			}
			var got []string
			for _, r := range res.Reps {
				got = append(got, r.Outcome)
				if r.EndedAt.IsZero() || r.InvitedAt.IsZero() {
					t.Errorf("rep %s: invited %v ended %v", r.Number, r.InvitedAt, r.EndedAt)
				}
			}
			if !slices.Equal(got, tt.wantReps) {
				t.Errorf("rep legs %v, want %v", got, tt.wantReps)
			}
			if tt.want != Connected {
				if !res.Customer.InvitedAt.IsZero() {
					t.Errorf("customer was dialled although no rep answered")
				}
				if n := count(rec.types(), "rep:call.missed"); n != len(tt.reps) {
					t.Errorf("%d rep:call.missed events, want %d: %v", n, len(tt.reps), rec.types())
				}
				if res.Cause == "" {
					t.Errorf("no cause")
				}
			}
		})
	}
}

// When the customer cannot be reached the rep hears a prompt, then our BYE.
func TestCustomerOutcomes(t *testing.T) {
	t.Parallel()
	prompt := &audio.Clip{Samples: make([]int16, 8000)} // 1 s: 50 packets
	tests := []struct {
		name     string
		customer string
		prompt   *audio.Clip
		want     Outcome
		wantCode int
	}{
		{"busy", sandbox.NumberBusy, nil, CustomerBusy, 486},
		{"rejected", sandbox.NumberReject, prompt, CustomerRejected, 603},
		{"no answer", sandbox.NumberNoAnswer, prompt, CustomerNoAnswer, 487},
		{"not found", sandbox.NumberNotFound, prompt, Failed, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			plan := Plan{Reps: reps(sandbox.NumberEcho), Customer: Party{Number: tt.customer},
				CustomerRingTimeout: 500 * time.Millisecond, Unreachable: tt.prompt}
			res, rec := e.run(t, plan, 20*time.Second)
			if res.Outcome != tt.want || res.Code != tt.wantCode {
				t.Fatalf("outcome %s code %d (%s); want %s %d", res.Outcome, res.Code, res.Cause, tt.want, tt.wantCode)
			}
			if res.Customer.InvitedAt.IsZero() || res.Customer.EndedAt.IsZero() || res.Customer.AnsweredAt != (time.Time{}) {
				t.Errorf("customer leg %+v", res.Customer)
			}
			if !res.ConnectedAt.IsZero() || res.TalkTime != 0 {
				t.Errorf("connected at %v talk %v for a call that never connected", res.ConnectedAt, res.TalkTime)
			}
			want := []string{"rep:call.initiated", "rep:call.connected", "customer:call.initiated", "customer:call.missed", "rep:call.completed"}
			got := slices.DeleteFunc(rec.types(), func(s string) bool { return strings.HasSuffix(s, "ringing") })
			if !slices.Equal(got, want) {
				t.Errorf("events %v, want %v", got, want)
			}
			// The rep heard the prompt (~50 packets of tone or clip) before our BYE.
			rep := e.sandboxCall(t, res.Reps[0].CallID)
			if rep.EndCause != "caller_bye" || rep.RTPReceived < 45 {
				t.Errorf("rep leg ended by %q after %d packets; want caller_bye after the prompt", rep.EndCause, rep.RTPReceived)
			}
		})
	}
}

// RFC 4733 digits cross the relay: the customer's "1" reaches the rep.
func TestDTMFRelayed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	res, _ := e.run(t, Plan{Reps: reps(sandbox.NumberTone), Customer: Party{Number: sandbox.NumberPress1}, MaxDuration: 2 * time.Second}, 20*time.Second)
	if res.Outcome != Connected {
		t.Fatalf("outcome %s (%s)", res.Outcome, res.Cause)
	}
	if rep := e.sandboxCall(t, res.Reps[0].CallID); !strings.Contains(rep.Digits, "1") {
		t.Errorf("rep received digits %q, want 1", rep.Digits)
	}
}

func TestWhisperAndAccept(t *testing.T) {
	t.Parallel()
	whisper := &audio.Clip{Samples: make([]int16, 2400)} // 300 ms
	tests := []struct {
		name     string
		reps     []string
		want     Outcome
		wantReps []string
	}{
		{"rep presses 1", []string{sandbox.NumberPress1}, Connected, []string{"answered"}},
		{"silent rep declines, next accepts", []string{sandbox.NumberEcho, sandbox.NumberPress1}, Connected, []string{"declined", "answered"}},
		{"only rep declines", []string{sandbox.NumberEcho}, RepRejected, []string{"declined"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			plan := Plan{Reps: reps(tt.reps...), Customer: Party{Number: sandbox.NumberEcho}, Whisper: whisper,
				RequireAccept: true, AcceptTimeout: 1500 * time.Millisecond, MaxDuration: 300 * time.Millisecond}
			res, _ := e.run(t, plan, 20*time.Second)
			if res.Outcome != tt.want {
				t.Fatalf("outcome %s (%s), want %s", res.Outcome, res.Cause, tt.want)
			}
			var got []string
			for _, r := range res.Reps {
				got = append(got, r.Outcome)
			}
			if !slices.Equal(got, tt.wantReps) {
				t.Errorf("rep legs %v, want %v", got, tt.wantReps)
			}
			// A declining rep is hung up, not left on the line.
			first := e.sandboxCall(t, res.Reps[0].CallID)
			if first.EndCause != "caller_bye" || first.RTPReceived < 15 {
				t.Errorf("first rep ended by %q having received %d packets; want our BYE after the whisper", first.EndCause, first.RTPReceived)
			}
		})
	}
}

// Cancelling the context hangs everything up, in every phase of the call.
func TestCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		customer string
		at       string // cancel this long after this event
		wantOut  Outcome
		wantSide Side
		wantCust string // the sandbox's end cause for the customer leg
	}{
		{"while talking", sandbox.NumberEcho, "customer:call.connected", Connected, HangupSystem, "caller_bye"},
		{"while the customer rings", sandbox.NumberNoAnswer, "customer:call.ringing", Failed, "", "canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			plan := Plan{Reps: reps(sandbox.NumberEcho), Customer: Party{Number: tt.customer}, Trunk: "sandbox"}
			plan.OnEvent = func(ev Event) {
				if string(ev.Leg)+":"+ev.Type == tt.at {
					time.AfterFunc(300*time.Millisecond, cancel)
				}
			}
			start := time.Now()
			res, err := e.b.Run(ctx, plan)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Run took %v after cancel", d)
			}
			if res.Outcome != tt.wantOut || res.HungUpBy != tt.wantSide {
				t.Fatalf("outcome %s hung up by %q (%s); want %s by %q", res.Outcome, res.HungUpBy, res.Cause, tt.wantOut, tt.wantSide)
			}
			if !strings.Contains(res.Cause, "canceled") {
				t.Errorf("cause %q, want it to say canceled", res.Cause)
			}
			if c := e.sandboxCall(t, res.Reps[0].CallID); c.EndCause != "caller_bye" {
				t.Errorf("rep leg ended by %q, want caller_bye", c.EndCause)
			}
			if c := e.sandboxCall(t, res.Customer.CallID); c.EndCause != tt.wantCust {
				t.Errorf("customer leg ended by %q, want %q", c.EndCause, tt.wantCust)
			}
		})
	}
}

// An empty port pool fails the call with a clear cause and leaks nothing.
func TestPoolExhausted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{ports: 2}) // one RTP/RTCP pair: the rep's
	free := e.pool.Free()
	res, _ := e.run(t, Plan{Reps: reps(sandbox.NumberEcho), Customer: Party{Number: sandbox.NumberTone}}, 20*time.Second)
	if res.Outcome != Failed || !strings.Contains(res.Cause, "port pool exhausted") {
		t.Fatalf("outcome %s cause %q; want failed, port pool exhausted", res.Outcome, res.Cause)
	}
	if c := e.sandboxCall(t, res.Reps[0].CallID); c.EndCause != "caller_bye" {
		t.Errorf("rep leg ended by %q, want caller_bye", c.EndCause)
	}
	waitFree(t, e, free)
}

func waitFree(t *testing.T, e *env, want int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for e.pool.Free() != want {
		if time.Now().After(deadline) {
			t.Fatalf("free ports %d, want %d", e.pool.Free(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestInvalidPlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ok := Plan{Trunk: "sandbox", Reps: reps(sandbox.NumberEcho), Customer: Party{Number: sandbox.NumberTone}}
	tests := []struct {
		name string
		edit func(p *Plan)
	}{
		{"no trunk", func(p *Plan) { p.Trunk = "" }},
		{"no rep", func(p *Plan) { p.Reps = nil }},
		{"rep number with letters", func(p *Plan) { p.Reps = reps("+1555abc") }},
		{"customer number with CRLF", func(p *Plan) { p.Customer.Number = "+15550000001\r\nX-Evil: 1" }},
		{"empty customer", func(p *Plan) { p.Customer.Number = "" }},
		{"caller name with LF", func(p *Plan) { p.CustomerCallerID.Name = "ACME\nInc" }},
		{"caller id number", func(p *Plan) { p.RepCallerID.Number = "sip:evil@example.com" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			tt.edit(&p)
			res, err := e.b.Run(context.Background(), p)
			if !errors.Is(err, ErrInvalidPlan) || res.Outcome != Failed {
				t.Fatalf("Run: %v, %s; want ErrInvalidPlan, failed", err, res.Outcome)
			}
		})
	}
	if n := len(e.sb.Stats()); n != 0 {
		t.Errorf("the sandbox got %d calls from invalid plans", n)
	}
}

// After many calls, goroutines and free ports are back where they started.
// Not parallel: other tests' goroutines would blur the count.
func TestNoLeak(t *testing.T) {
	e := newEnv(t, envOptions{})
	plan := Plan{Reps: reps(sandbox.NumberEcho), Customer: Party{Number: sandbox.NumberEcho}, MaxDuration: 100 * time.Millisecond}
	e.run(t, plan, 10*time.Second) // warm up: sipgo starts its transport goroutines once
	waitFree(t, e, e.pool.Free())
	time.Sleep(200 * time.Millisecond)
	free, goroutines := e.pool.Free(), runtime.NumGoroutine()
	for range 15 {
		if res, _ := e.run(t, plan, 10*time.Second); res.Outcome != Connected {
			t.Fatalf("outcome %s (%s)", res.Outcome, res.Cause)
		}
	}
	busy := Plan{Reps: reps(sandbox.NumberEcho), Customer: Party{Number: sandbox.NumberBusy}, Unreachable: &audio.Clip{Samples: make([]int16, 800)}}
	for range 5 {
		e.run(t, busy, 10*time.Second)
	}
	waitFree(t, e, free)
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutines {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines %d, started with %d:\n%s", runtime.NumGoroutine(), goroutines, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}
