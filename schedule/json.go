package schedule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// The JSON methods report bad input as *json.UnmarshalTypeError with Field
// set, because that is the one error type encoding/json extends with the
// path of the enclosing fields: decoding a team body yields a Field such
// as "window.hours.fri[1]", which the API can name in its problem report
// without knowing this package's error types. Non-JSON callers get
// *FieldError from ParseWindow and Validate.

func typeError(typ reflect.Type, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		v := fe.Msg
		if fe.Value != "" {
			v = strconv.Quote(fe.Value) + " (" + fe.Msg + ")"
		}
		return &json.UnmarshalTypeError{Value: v, Type: typ, Struct: typ.Name(), Field: fe.Field}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		// From our inner decoder: keep its path, relative to us.
		te.Struct, te.Type = typ.Name(), typ
		return te
	}
	const unknown = "json: unknown field "
	if s := err.Error(); strings.HasPrefix(s, unknown) {
		f, _ := strconv.Unquote(strings.TrimPrefix(s, unknown))
		return &json.UnmarshalTypeError{Value: "unknown field", Type: typ, Struct: typ.Name(), Field: f}
	}
	return err
}

// decodeStrict decodes b into v rejecting unknown fields: a custom
// UnmarshalJSON does not inherit the caller's DisallowUnknownFields, and
// the API promises that an unknown field is an error.
func decodeStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("json: data after the value")
	}
	return nil
}

func isNull(b []byte) bool { return string(bytes.TrimSpace(b)) == "null" }

// windowJSON fixes the order of the days in output; a map would sort them
// alphabetically.
type windowJSON struct {
	TimeZone string   `json:"time_zone"`
	Hours    weekJSON `json:"hours"`
	Closed   []Date   `json:"closed,omitempty"`
}

type weekJSON struct {
	Mon []Range `json:"mon,omitempty"`
	Tue []Range `json:"tue,omitempty"`
	Wed []Range `json:"wed,omitempty"`
	Thu []Range `json:"thu,omitempty"`
	Fri []Range `json:"fri,omitempty"`
	Sat []Range `json:"sat,omitempty"`
	Sun []Range `json:"sun,omitempty"`
}

// MarshalJSON writes w as {"time_zone", "hours", "closed"}; the zero
// Window, which is always open, is null.
func (w Window) MarshalJSON() ([]byte, error) {
	if w.IsZero() {
		return []byte("null"), nil
	}
	k := w.Week
	return json.Marshal(windowJSON{
		TimeZone: w.loc().String(),
		Hours: weekJSON{
			Mon: k[time.Monday], Tue: k[time.Tuesday], Wed: k[time.Wednesday], Thu: k[time.Thursday],
			Fri: k[time.Friday], Sat: k[time.Saturday], Sun: k[time.Sunday],
		},
		Closed: w.Closed,
	})
}

// UnmarshalJSON reads a WindowSpec object and validates it (see
// ParseWindow). null leaves w unchanged, as encoding/json does for other
// types. Do not embed Window in another struct: its UnmarshalJSON would be
// promoted and decode the whole outer object.
func (w *Window) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	var s WindowSpec
	if err := decodeStrict(b, &s); err != nil {
		return typeError(windowType, err)
	}
	v, err := ParseWindow(s)
	if err != nil {
		return typeError(windowType, err)
	}
	*w = v
	return nil
}

var (
	windowType = reflect.TypeFor[Window]()
	policyType = reflect.TypeFor[Policy]()
)

// Duration is a time.Duration that is written in JSON as a Go duration
// string ("2m", "1h30m"), because nanosecond integers are unreadable in an
// API and ambiguous to people used to seconds.
type Duration time.Duration

// String formats d like time.Duration without trailing zero units: "2m"
// rather than "2m0s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with time.ParseDuration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 90s, 2m or 1h30m", b)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalJSON accepts only a string, and reports a bad one as a
// *json.UnmarshalTypeError so that encoding/json adds the field's path.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{Value: "non-string (want a duration such as \"2m\")", Type: reflect.TypeFor[Duration]()}
	}
	if err := d.UnmarshalText([]byte(s)); err != nil {
		return &json.UnmarshalTypeError{Value: strconv.Quote(s) + " (not a duration such as 90s, 2m or 1h30m)", Type: reflect.TypeFor[Duration]()}
	}
	return nil
}
