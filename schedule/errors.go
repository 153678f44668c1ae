package schedule

import "strconv"

// FieldError is a validation error naming the offending field by its JSON
// path relative to the Window or Policy being checked, such as
// "hours.fri[1]" or "intervals[0]", so the API can point at it.
type FieldError struct {
	Field string
	Value string // the offending input, when there is one
	Msg   string
}

func (e *FieldError) Error() string {
	s := "schedule: " + e.Field + ": "
	if e.Value != "" {
		s += strconv.Quote(e.Value) + ": "
	}
	return s + e.Msg
}
