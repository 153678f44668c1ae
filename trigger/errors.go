package trigger

import (
	"errors"
	"fmt"
)

// ErrTooExpensive is wrapped by the *EvalError of an evaluation that ran
// past MaxCost.
var ErrTooExpensive = errors.New("expression too expensive to evaluate")

// CompileError is a Spec that cannot be compiled: a CEL syntax or type
// error, a result of the wrong type, a missing required mapping, a value
// out of range. Compile reports the first one, fields in the order name,
// condition, mapping (customer_number, customer_name, customer_country,
// team, rep_number, scheduled_at, delay, metadata by name), dedup,
// rate_limit, auth.mode.
type CompileError struct {
	// Field is the JSON path of the field: "condition",
	// "mapping.customer_number", "mapping.metadata.source", "dedup".
	Field string
	// Line and Column (1-based, in code points) locate the error in the
	// expression; 0 when it concerns the whole field.
	Line, Column int
	Message      string
	// Snippet is the expression's line with a caret under Column, as CEL
	// formats it (" | payload.foo(\n | ............^"); empty without a
	// position.
	Snippet string
}

func (e *CompileError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("trigger: %s: %s", e.Field, e.Message)
	}
	s := fmt.Sprintf("trigger: %s:%d:%d: %s", e.Field, e.Line, e.Column, e.Message)
	if e.Snippet != "" {
		s += "\n" + e.Snippet
	}
	return s
}

// PayloadError is an inbound body that is not a JSON object.
type PayloadError struct {
	Message string
}

func (e *PayloadError) Error() string { return "trigger: payload: " + e.Message }

// MissingFieldError is a mapping that found nothing in the payload: a key
// or index it names is missing, or a required field came out null or
// empty.
type MissingFieldError struct {
	Field string // "mapping.customer_number"
	// Path is the part of the payload that is missing ("payload.phone",
	// "payload.contact.phone"), as precise as the expression allows; the
	// expression itself when it is not a plain path.
	Path string
}

func (e *MissingFieldError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("trigger: %s: no value in the payload", e.Field)
	}
	return fmt.Sprintf("trigger: %s: %s is missing from the payload", e.Field, e.Path)
}

// EvalError is an expression that failed on a payload for another reason
// than a missing key: a type mismatch (comparing a string with a number), a
// result of the wrong type, a malformed time, the cost limit.
type EvalError struct {
	Field   string // "condition", "mapping.delay", ...
	Message string
	Err     error // ErrTooExpensive, or nil
}

func (e *EvalError) Error() string { return fmt.Sprintf("trigger: %s: %s", e.Field, e.Message) }

func (e *EvalError) Unwrap() error { return e.Err }
