package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/callbackd/callbackd/bridge"
)

// printer writes call events and the result, as text for people or as JSON
// lines for scripts.
type printer struct {
	mu   sync.Mutex // events come from the SIP stack's goroutines
	w    io.Writer
	json bool
}

func newPrinter(w io.Writer, asJSON bool) *printer {
	return &printer{w: w, json: asJSON}
}

// clock is the text output's time of day: events are seconds apart, and the
// date is of no use to someone watching the call.
const clock = "15:04:05.000"

func (p *printer) event(e bridge.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		p.writeJSON(jsonEvent{Kind: "event", Type: e.Type, Leg: string(e.Leg), Number: e.Number,
			CallID: e.CallID, At: e.At.UTC(), Code: e.Code, Reason: e.Reason})
		return
	}
	line := fmt.Sprintf("%s  %-15s %-9s %s", e.At.Format(clock), e.Type, e.Leg, e.Number)
	if s := status(e.Code, e.Reason); s != "" {
		line += "  " + s
	}
	fmt.Fprintln(p.w, line)
}

func (p *printer) result(r bridge.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		p.writeJSON(toJSONResult(r))
		return
	}
	var b strings.Builder
	kv := func(k, format string, a ...any) {
		fmt.Fprintf(&b, "  %-13s %s\n", k, fmt.Sprintf(format, a...))
	}
	b.WriteString("result\n")
	kv("outcome", "%s", r.Outcome)
	if r.Cause != "" {
		kv("cause", "%s", r.Cause)
	}
	if s := status(r.Code, r.Reason); s != "" {
		kv("sip", "%s", s)
	}
	if !r.ConnectedAt.IsZero() {
		kv("connected", "%s", r.ConnectedAt.Format(clock))
		kv("talk time", "%s", r.TalkTime.Round(time.Millisecond))
		kv("hung up by", "%s", r.HungUpBy)
	}
	kv("ended", "%s", stamp(r.EndedAt))
	for i, l := range r.Reps {
		name := "rep"
		if len(r.Reps) > 1 {
			name = fmt.Sprintf("rep %d", i+1)
		}
		writeLeg(kv, name, l)
	}
	if r.Customer.Outcome != "" || !r.Customer.InvitedAt.IsZero() {
		writeLeg(kv, "customer", r.Customer)
	} else {
		kv("customer", "%s  not dialled", r.Customer.Number)
	}
	kv("rtp packets", "rep->customer %d, customer->rep %d", r.Relay.AToB, r.Relay.BToA)
	if r.Relay.RTCPAToB+r.Relay.RTCPBToA > 0 {
		kv("rtcp packets", "rep->customer %d, customer->rep %d", r.Relay.RTCPAToB, r.Relay.RTCPBToA)
	}
	if r.Relay.Dropped > 0 {
		kv("dropped", "%d (stray source %d, malformed %d)", r.Relay.Dropped, r.Relay.Stray, r.Relay.Malformed)
	}
	io.WriteString(p.w, b.String())
}

func writeLeg(kv func(k, format string, a ...any), name string, l bridge.LegResult) {
	line := l.Number + "  " + l.Outcome
	if s := status(l.Code, l.Reason); s != "" {
		line += "  " + s
	}
	kv(name, "%s", line)
	if l.CallID != "" {
		kv("  call-id", "%s", l.CallID)
	}
	kv("  times", "invited %s, ringing %s, answered %s, ended %s",
		stamp(l.InvitedAt), stamp(l.RingingAt), stamp(l.AnsweredAt), stamp(l.EndedAt))
}

// status is "486 Busy Here", "180", or a reason without a code.
func status(code int, reason string) string {
	switch {
	case code != 0 && reason != "":
		return fmt.Sprintf("%d %s", code, reason)
	case code != 0:
		return fmt.Sprint(code)
	default:
		return reason
	}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(clock)
}

func (p *printer) writeJSON(v any) {
	// Encoding these plain structs cannot fail.
	b, _ := json.Marshal(v)
	p.w.Write(append(b, '\n'))
}

// The JSON shapes are our own rather than bridge's types so that field names
// are stable snake_case for scripts and times are UTC (RFC 3339), as on every
// callbackd wire.
type jsonEvent struct {
	Kind   string    `json:"kind"` // "event"
	Type   string    `json:"type"`
	Leg    string    `json:"leg"`
	Number string    `json:"number"`
	CallID string    `json:"call_id,omitempty"`
	At     time.Time `json:"at"`
	Code   int       `json:"code,omitempty"`
	Reason string    `json:"reason,omitempty"`
}

type jsonLeg struct {
	Leg        string    `json:"leg"`
	Number     string    `json:"number"`
	CallID     string    `json:"call_id,omitempty"`
	Outcome    string    `json:"outcome,omitempty"`
	Code       int       `json:"code,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	InvitedAt  time.Time `json:"invited_at,omitzero"`
	RingingAt  time.Time `json:"ringing_at,omitzero"`
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	EndedAt    time.Time `json:"ended_at,omitzero"`
}

type jsonRTP struct {
	RepToCustomer     uint64 `json:"rep_to_customer"`
	CustomerToRep     uint64 `json:"customer_to_rep"`
	RTCPRepToCustomer uint64 `json:"rtcp_rep_to_customer"`
	RTCPCustomerToRep uint64 `json:"rtcp_customer_to_rep"`
	Dropped           uint64 `json:"dropped"`
	Stray             uint64 `json:"stray"`
	Malformed         uint64 `json:"malformed"`
}

type jsonResult struct {
	Kind        string    `json:"kind"` // "result"
	Outcome     string    `json:"outcome"`
	Cause       string    `json:"cause,omitempty"`
	Code        int       `json:"code,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Reps        []jsonLeg `json:"reps"`
	Customer    jsonLeg   `json:"customer"`
	ConnectedAt time.Time `json:"connected_at,omitzero"`
	EndedAt     time.Time `json:"ended_at,omitzero"`
	TalkTimeMS  int64     `json:"talk_time_ms"`
	HungUpBy    string    `json:"hung_up_by,omitempty"`
	RTP         jsonRTP   `json:"rtp"`
}

func toJSONLeg(l bridge.LegResult) jsonLeg {
	return jsonLeg{Leg: string(l.Role), Number: l.Number, CallID: l.CallID, Outcome: l.Outcome,
		Code: l.Code, Reason: l.Reason, InvitedAt: l.InvitedAt.UTC(), RingingAt: l.RingingAt.UTC(),
		AnsweredAt: l.AnsweredAt.UTC(), EndedAt: l.EndedAt.UTC()}
}

func toJSONResult(r bridge.Result) jsonResult {
	j := jsonResult{Kind: "result", Outcome: string(r.Outcome), Cause: r.Cause, Code: r.Code, Reason: r.Reason,
		Reps: make([]jsonLeg, 0, len(r.Reps)), Customer: toJSONLeg(r.Customer),
		ConnectedAt: r.ConnectedAt.UTC(), EndedAt: r.EndedAt.UTC(), TalkTimeMS: r.TalkTime.Milliseconds(),
		HungUpBy: string(r.HungUpBy),
		// The bridge joins the rep's session as A and the customer's as B.
		RTP: jsonRTP{RepToCustomer: r.Relay.AToB, CustomerToRep: r.Relay.BToA,
			RTCPRepToCustomer: r.Relay.RTCPAToB, RTCPCustomerToRep: r.Relay.RTCPBToA,
			Dropped: r.Relay.Dropped, Stray: r.Relay.Stray, Malformed: r.Relay.Malformed}}
	for _, l := range r.Reps {
		j.Reps = append(j.Reps, toJSONLeg(l))
	}
	return j
}
