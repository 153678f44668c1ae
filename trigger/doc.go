// Package trigger turns an event an application already emits (a form
// submitted, a lead score crossing a threshold, a cart over a value, a CRM
// stage change) into a callback request, without glue code. It is pure
// logic: no storage and no HTTP server. The API stores a [Spec], compiles
// it with [Compile] when it is saved (so mistakes are reported with their
// position then, not at the first event) and again when it is loaded, and
// calls [Trigger.Evaluate] with the body of each inbound request after
// [VerifyAuth] accepted it. Deduplication is the store's business (it must
// be atomic with the callback's creation); rate limiting is [Limiter]'s.
//
// # Expressions
//
// The condition and every mapping value are CEL expressions
// (https://cel.dev) over one variable, payload: the inbound JSON object.
// JSON numbers are CEL doubles, but comparisons across numeric types work,
// so payload.score >= 80 and payload.cart.total > 500.0 both do what they
// say. Besides the standard library, optional values (payload.?name,
// .orValue) and the strings extension (lowerAscii, trim, split, ...) are
// available. Literal durations, timestamps and regular expressions are
// checked when the trigger is compiled.
//
// Examples of conditions:
//
//	payload.score >= 80 && payload.country == "US"
//	payload.cart.total > 500.0
//	payload.stage == "demo_requested" && payload.previous_stage != "demo_requested"
//
// An empty condition matches every payload.
//
// # One rule for mappings
//
// Every mapping value is an expression, also a constant: a constant is a
// CEL string literal, so a fixed team is "sales" with its quotes; inside a
// JSON document single quotes read better: {"team": "'sales'"}. Writing
// {"team": "sales"} is a compile error (undeclared reference to 'sales'),
// with a hint. The field types:
//
//   - customer_number, customer_name, customer_country, team, rep_number and
//     each metadata value: a string (string(x) converts; a number in the
//     payload is a double, so a numeric phone number needs string(int(x))).
//   - scheduled_at: an RFC 3339 string or a timestamp
//     (timestamp(payload.when) + duration("1h")).
//   - delay: a Go duration string ("10m", "1h30m") or a duration.
//
// customer_number is required, and team or rep_number. When both are
// mapped, a non-empty rep_number wins and team is the fallback, so
// rep_number: payload.?owner_phone.orValue("") with team: 'sales' calls
// the lead's owner when there is one. scheduled_at and delay exclude each
// other. A mapping that evaluates to null or "" leaves its field unset (for
// customer_number, and for team and rep_number together, that is a
// [*MissingFieldError]); a metadata entry that is null is left out.
//
// # Missing keys
//
// A mapped field whose path the payload lacks is a [*MissingFieldError]
// naming the mapping and the path (payload.phone); the API answers 422.
// That catches typos; a field that is really optional is written with an
// optional selection: payload.?name.orValue("").
//
// In the condition a missing key means "not matched": a payload without
// score does not satisfy payload.score >= 80, and the [Result] says why in
// Reason. CEL's logical operators absorb the error where the outcome does
// not depend on it (payload.vip == true || payload.score >= 80 matches a
// VIP without a score); has(payload.score) tests for the key explicitly.
// Other evaluation errors (comparing a string with a number, a result of
// the wrong type) are [*EvalError]s: the payload does not fit the trigger.
//
// # Limits
//
// An expression is at most [MaxExpressionLength] bytes; a payload at most
// [MaxPayloadBytes]. Each evaluation is bounded by [MaxCost] CEL cost units
// (exceeding it is an [*EvalError] wrapping [ErrTooExpensive]) and checks
// its context in comprehensions.
package trigger
