package schedule

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Defaults and limits of a Policy. The limits keep a typo from turning a
// callback into harassment (a hundred attempts, a one-second interval) or
// into a timer that outlives the product (a ten-year interval).
const (
	// DefaultMaxAttempts is the first attempt and five retries, as the
	// product promises.
	DefaultMaxAttempts = 6
	MaxAttemptsLimit   = 20
	MaxIntervals       = 20
	MinInterval        = time.Second
	MaxInterval        = 30 * 24 * time.Hour
	MaxDeadlineAfter   = 366 * 24 * time.Hour
	defaultFactor      = 2
)

// DefaultIntervals returns the waits used when a Policy sets neither
// Intervals nor Backoff: 2m, 10m, 30m, 2h, then 2h again.
func DefaultIntervals() []Duration {
	return []Duration{Duration(2 * time.Minute), Duration(10 * time.Minute), Duration(30 * time.Minute), Duration(2 * time.Hour)}
}

// Reasons a Decision gives for not retrying. They are stable strings for
// the API and webhooks.
const (
	// ReasonNotRetryable: the outcome is not one the policy retries
	// (connected, customer_rejected without RetryCustomerRejected, or an
	// outcome this package does not know).
	ReasonNotRetryable = "not_retryable"
	// ReasonMaxAttempts: the attempt was the last one allowed.
	ReasonMaxAttempts = "max_attempts"
	// ReasonDeadline: the next attempt, after waiting for the window, would
	// start after the deadline.
	ReasonDeadline = "deadline"
	// ReasonNoOpening: the window never opens (only an invalid window).
	ReasonNoOpening = "no_opening"
)

// retryable are the outcomes worth another try. Rep-side failures are the
// team's problem, not the customer's refusal, so they are retried; so is an
// attempt cut short by a crash ("interrupted"). A customer who rejected the
// call is left alone unless the policy says otherwise.
var retryable = map[string]bool{
	"customer_no_answer": true,
	"customer_busy":      true,
	"failed":             true,
	"rep_no_answer":      true,
	"rep_busy":           true,
	"rep_rejected":       true,
	"interrupted":        true,
}

// Policy is a retry policy. The zero Policy is the default one: six
// attempts at DefaultIntervals, no deadline.
type Policy struct {
	// MaxAttempts counts the first attempt too; 0 means DefaultMaxAttempts.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Intervals are the waits after attempt 1, 2, ...; the last one
	// repeats. Mutually exclusive with Backoff.
	Intervals []Duration `json:"intervals,omitempty"`
	// Backoff, when set, replaces Intervals with exponential waits.
	Backoff Backoff `json:"backoff,omitzero"`
	// Deadline, if set, is the latest time an attempt may start.
	Deadline time.Time `json:"deadline,omitzero"`
	// DeadlineAfter, if set, is a deadline relative to the callback's
	// creation. With both set, the earlier applies.
	DeadlineAfter Duration `json:"deadline_after,omitzero"`
	// RetryCustomerRejected retries customers who rejected the call.
	RetryCustomerRejected bool `json:"retry_customer_rejected,omitempty"`
	// Rand returns a number in [0, 1) for jitter; nil means math/rand/v2.
	// Tests set it to make jitter predictable. It is called from whichever
	// goroutine calls Next, so a shared Policy needs a Rand safe for that.
	Rand func() float64 `json:"-"`
}

// Backoff is exponential backoff: the wait after attempt n is
// Base * Factor^(n-1), at most Max, then shortened by a random fraction of
// up to Jitter of itself. Jitter only shortens, so Max is a true maximum;
// it spreads retries of callbacks that failed together (a trunk outage)
// so they do not return together.
type Backoff struct {
	Base Duration `json:"base"`
	// Factor is 2 when zero.
	Factor float64 `json:"factor,omitempty"`
	// Max is MaxInterval when zero.
	Max Duration `json:"max,omitzero"`
	// Jitter is in [0, 1).
	Jitter float64 `json:"jitter,omitempty"`
}

// IsZero reports whether b is unset.
func (b Backoff) IsZero() bool { return b == Backoff{} }

// Attempt describes the attempt that just ended, for Policy.Next.
type Attempt struct {
	// Number is 1 for the first attempt.
	Number int
	// Outcome is how it ended: connected, customer_no_answer,
	// customer_busy, customer_rejected, failed, rep_no_answer, rep_busy,
	// rep_rejected or interrupted.
	Outcome    string
	FinishedAt time.Time
	// Created is when the callback was created; DeadlineAfter counts
	// from it.
	Created time.Time
}

// Decision is what to do next: retry at At, or give up for Reason.
type Decision struct {
	Retry  bool
	At     time.Time
	Reason string
}

// Effective returns p with its defaults filled in, as the API shows it.
func (p Policy) Effective() Policy {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if len(p.Intervals) == 0 && p.Backoff.IsZero() {
		p.Intervals = DefaultIntervals()
	}
	if !p.Backoff.IsZero() {
		if p.Backoff.Factor == 0 {
			p.Backoff.Factor = defaultFactor
		}
		if p.Backoff.Max == 0 {
			p.Backoff.Max = Duration(MaxInterval)
		}
	}
	return p
}

// Retries reports whether p retries an attempt that ended with outcome.
func (p Policy) Retries(outcome string) bool {
	return retryable[outcome] || outcome == "customer_rejected" && p.RetryCustomerRejected
}

// DeadlineFor returns the deadline of a callback created at created, or
// the zero time if there is none.
func (p Policy) DeadlineFor(created time.Time) time.Time {
	d := p.Deadline
	if p.DeadlineAfter > 0 {
		rel := created.Add(time.Duration(p.DeadlineAfter))
		if d.IsZero() || rel.Before(d) {
			d = rel
		}
	}
	return d
}

// Delay returns the wait after attempt n (1 for the first), with jitter.
func (p Policy) Delay(n int) time.Duration {
	p = p.Effective()
	n = max(n, 1)
	if p.Backoff.IsZero() {
		return time.Duration(p.Intervals[min(n, len(p.Intervals))-1])
	}
	b := p.Backoff
	// In float64 so that Factor^n saturates at Max instead of overflowing.
	d := float64(b.Base) * math.Pow(b.Factor, float64(n-1))
	d = math.Min(d, float64(b.Max))
	if b.Jitter > 0 {
		r := rand.Float64
		if p.Rand != nil {
			r = p.Rand
		}
		d -= d * b.Jitter * r()
	}
	return time.Duration(d)
}

// First decides when the first attempt of a callback requested for at may
// start: at itself or the window's next opening, unless that is past the
// deadline.
func (p Policy) First(at, created time.Time, w Window) Decision {
	return p.place(at, created, w)
}

// Next decides what follows attempt a: a retry at a.FinishedAt plus the
// policy's wait, moved to the window's next opening if it falls outside
// the window; or giving up because the outcome is not retried, the attempt
// was the last, or the retry would start after the deadline.
func (p Policy) Next(a Attempt, w Window) Decision {
	p = p.Effective()
	switch {
	case !p.Retries(a.Outcome):
		return Decision{Reason: ReasonNotRetryable}
	case a.Number >= p.MaxAttempts:
		return Decision{Reason: ReasonMaxAttempts}
	}
	return p.place(a.FinishedAt.Add(p.Delay(a.Number)), a.Created, w)
}

func (p Policy) place(at, created time.Time, w Window) Decision {
	at, err := w.Next(at)
	if err != nil {
		return Decision{Reason: ReasonNoOpening}
	}
	if dl := p.DeadlineFor(created); !dl.IsZero() && at.After(dl) {
		return Decision{Reason: ReasonDeadline}
	}
	return Decision{Retry: true, At: at}
}

// Validate reports the first problem with p as a *FieldError naming the
// field as it appears in JSON. The zero Policy is valid.
func (p Policy) Validate() error {
	if p.MaxAttempts < 0 || p.MaxAttempts > MaxAttemptsLimit {
		return &FieldError{Field: "max_attempts", Value: fmt.Sprint(p.MaxAttempts), Msg: fmt.Sprintf("must be 1 to %d", MaxAttemptsLimit)}
	}
	if len(p.Intervals) > MaxIntervals {
		return &FieldError{Field: "intervals", Msg: fmt.Sprintf("at most %d intervals; the last one repeats", MaxIntervals)}
	}
	for i, d := range p.Intervals {
		if err := checkInterval(fmt.Sprintf("intervals[%d]", i), d); err != nil {
			return err
		}
	}
	if b := p.Backoff; !b.IsZero() {
		if len(p.Intervals) > 0 {
			return &FieldError{Field: "backoff", Msg: "set intervals or backoff, not both"}
		}
		if err := checkInterval("backoff.base", b.Base); err != nil {
			return err
		}
		if b.Factor != 0 && !(b.Factor >= 1 && b.Factor <= 10) {
			return &FieldError{Field: "backoff.factor", Value: fmt.Sprint(b.Factor), Msg: "must be 1 to 10"}
		}
		if b.Max != 0 {
			if err := checkInterval("backoff.max", b.Max); err != nil {
				return err
			}
			if b.Max < b.Base {
				return &FieldError{Field: "backoff.max", Value: b.Max.String(), Msg: "must not be less than base"}
			}
		}
		if !(b.Jitter >= 0 && b.Jitter < 1) {
			return &FieldError{Field: "backoff.jitter", Value: fmt.Sprint(b.Jitter), Msg: "must be at least 0 and less than 1"}
		}
	}
	if d := p.DeadlineAfter; d != 0 && (d < Duration(MinInterval) || d > Duration(MaxDeadlineAfter)) {
		return &FieldError{Field: "deadline_after", Value: d.String(), Msg: fmt.Sprintf("must be %v to %v", Duration(MinInterval), Duration(MaxDeadlineAfter))}
	}
	return nil
}

func checkInterval(field string, d Duration) error {
	if d < Duration(MinInterval) || d > Duration(MaxInterval) {
		return &FieldError{Field: field, Value: d.String(), Msg: fmt.Sprintf("must be %v to %v", Duration(MinInterval), Duration(MaxInterval))}
	}
	return nil
}

// policyFields has Policy's fields without its methods, for decoding.
type policyFields Policy

// UnmarshalJSON decodes strictly and validates. Decoding onto a Policy
// that already holds values overlays the fields present in the JSON, which
// is how a callback's "retry" overrides its team's policy: decode the
// override onto a copy of the team's. Intervals and backoff replace each
// other, so an override naming one drops the other. null changes nothing.
// Do not embed Policy in another struct (its UnmarshalJSON would be
// promoted to the outer type).
func (p *Policy) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return typeError(policyType, err)
	}
	// The decoder's own unknown-field error names the key but not the
	// object it is in; find it first so backoff's keys get their path.
	if err := unknownKey(keys, policyType, ""); err != nil {
		return err
	}
	if raw, ok := keys["backoff"]; ok {
		var bk map[string]json.RawMessage
		if json.Unmarshal(raw, &bk) == nil {
			if err := unknownKey(bk, policyType, "backoff."); err != nil {
				return err
			}
		}
	}
	// A copy, so that a failed decode leaves p as it was and decoding
	// into the copied slice cannot write into the team policy's array.
	v := *p
	v.Intervals = slices.Clone(v.Intervals)
	if err := decodeStrict(b, (*policyFields)(&v)); err != nil {
		return typeError(policyType, err)
	}
	_, hasIntervals := keys["intervals"]
	_, hasBackoff := keys["backoff"]
	switch {
	case hasIntervals && !hasBackoff:
		v.Backoff = Backoff{}
	case hasBackoff && !hasIntervals:
		v.Intervals = nil
	}
	if err := v.Validate(); err != nil {
		return typeError(policyType, err)
	}
	*p = v
	return nil
}

var (
	policyKeys  = jsonNames(reflect.TypeFor[policyFields]())
	backoffKeys = jsonNames(reflect.TypeFor[Backoff]())
)

func unknownKey(m map[string]json.RawMessage, typ reflect.Type, prefix string) error {
	known := policyKeys
	if prefix != "" {
		known = backoffKeys
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		// encoding/json matches names without regard to case.
		if !known[strings.ToLower(k)] {
			return &json.UnmarshalTypeError{Value: "unknown field", Type: typ, Struct: typ.Name(), Field: prefix + k}
		}
	}
	return nil
}

func jsonNames(t reflect.Type) map[string]bool {
	m := map[string]bool{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "-" && name != "" {
			m[strings.ToLower(name)] = true
		}
	}
	return m
}
