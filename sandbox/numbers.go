package sandbox

import (
	"strconv"
	"strings"
	"time"
)

// The sandbox's test numbers. Dial them through the sandbox trunk to see
// each outcome without a real carrier; the same numbers work without the
// leading '+'. Any other number gets 404.
//
//	Number         Name         Behaviour
//	+15550000001   tone         180, answers after 1 s, sends a 440 Hz tone until hung up
//	+15550000002   echo         answers at once, echoes every RTP packet back to its source
//	+15550000003   busy         486 Busy Here
//	+15550000004   no-answer    180 and rings forever; CANCEL gets 200 + 487
//	+15550000005   hangup       answers at once with a tone, sends BYE after 5 s
//	+15550000006   reject       603 Decline
//	+15550000007   early-media  183 with SDP and ringback tone for 2 s, then 200 and a 440 Hz tone
//	+15550000008   not-found    404 Not Found
//	+15550000009   press-1      answers at once with a tone, sends DTMF 1 (RFC 4733) after 1 s
//
// Answered calls last until the caller sends BYE (or, for hangup, the
// sandbox does). The table is generated from Numbers; keep them in step.
const (
	NumberTone       = "+15550000001"
	NumberEcho       = "+15550000002"
	NumberBusy       = "+15550000003"
	NumberNoAnswer   = "+15550000004"
	NumberHangup     = "+15550000005"
	NumberReject     = "+15550000006"
	NumberEarlyMedia = "+15550000007"
	NumberNotFound   = "+15550000008"
	NumberPress1     = "+15550000009"
)

// Number documents one test number. Status is the final response to the
// INVITE (200 when answered, 0 when it never answers by itself). Outcome is
// the result a caller should report, in the words of sip.Outcome
// ("answered" for a call that connects).
type Number struct {
	Number      string
	Name        string
	Description string
	Status      int
	Outcome     string

	script script
}

// script is how the sandbox plays one number.
type script struct {
	ring        time.Duration // 180 Ringing, then wait this long before answering
	ringForever bool          // 180 and never answer
	early       time.Duration // 183 with SDP and ringback for this long before answering
	final       int           // non-2xx final response instead of answering
	reason      string
	echo        bool          // echo RTP instead of sending a tone
	hangup      time.Duration // send BYE this long after the answer
	dtmfAfter   time.Duration // send dtmf this long after the answer
	dtmf        string
}

// Timings of the scripted numbers, exported so tests elsewhere need not
// repeat them.
const (
	ToneAnswerDelay = 1 * time.Second
	HangupAfter     = 5 * time.Second
	EarlyMediaFor   = 2 * time.Second
	Press1After     = 1 * time.Second
	ToneFrequency   = 440.0
)

// Numbers lists every test number, in order. Treat it as read-only.
var Numbers = []Number{
	{NumberTone, "tone", "180, answers after 1 s, sends a 440 Hz tone until hung up", 200, "answered",
		script{ring: ToneAnswerDelay}},
	{NumberEcho, "echo", "answers at once, echoes every RTP packet back to its source", 200, "answered",
		script{echo: true}},
	{NumberBusy, "busy", "486 Busy Here", 486, "busy",
		script{final: 486, reason: "Busy Here"}},
	{NumberNoAnswer, "no-answer", "180 and rings forever; CANCEL gets 200 + 487", 0, "no_answer",
		script{ringForever: true}},
	{NumberHangup, "hangup", "answers at once with a tone, sends BYE after 5 s", 200, "answered",
		script{hangup: HangupAfter}},
	{NumberReject, "reject", "603 Decline", 603, "rejected",
		script{final: 603, reason: "Decline"}},
	{NumberEarlyMedia, "early-media", "183 with SDP and ringback tone for 2 s, then 200 and a 440 Hz tone", 200, "answered",
		script{early: EarlyMediaFor}},
	{NumberNotFound, "not-found", "404 Not Found", 404, "unreachable",
		script{final: 404, reason: "Not Found"}},
	{NumberPress1, "press-1", "answers at once with a tone, sends DTMF 1 (RFC 4733) after 1 s", 200, "answered",
		script{dtmfAfter: Press1After, dtmf: "1"}},
}

// byNumber is built once from Numbers so that a caller changing the
// exported slice cannot change the sandbox's behaviour mid-run.
var byNumber = func() map[string]Number {
	m := make(map[string]Number, len(Numbers))
	for _, n := range Numbers {
		m[strings.TrimPrefix(n.Number, "+")] = n
	}
	return m
}()

// Lookup finds a test number, with or without the leading '+'. URI
// parameters after ';' (e.g. ";phone-context=...") are ignored.
func Lookup(number string) (Number, bool) {
	number, _, _ = strings.Cut(number, ";")
	n, ok := byNumber[strings.TrimPrefix(number, "+")]
	return n, ok
}

// Markdown renders the numbers as a Markdown table for the README.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| Number | Name | Behaviour | Final status | Outcome |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, n := range Numbers {
		st := "—"
		if n.Status != 0 {
			st = strconv.Itoa(n.Status)
		}
		b.WriteString("| `" + n.Number + "` | " + n.Name + " | " + n.Description + " | " + st + " | " + n.Outcome + " |\n")
	}
	return b.String()
}
