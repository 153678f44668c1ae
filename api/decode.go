package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/callbackd/callbackd/schedule"
)

// readJSON checks that the request carries JSON and reads its body, at
// most Options.MaxBody bytes. mergePatch also accepts
// application/merge-patch+json (RFC 7396), which is what PATCH sends.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, mergePatch bool) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	switch {
	case ct == "":
		return nil, newProblem(CodeUnsupportedMediaType, "", "Content-Type is missing; send application/json")
	case err != nil:
		return nil, newProblem(CodeUnsupportedMediaType, "", "Content-Type %q cannot be parsed; send application/json", ct)
	case mt != "application/json" && !(mergePatch && mt == "application/merge-patch+json"):
		return nil, newProblem(CodeUnsupportedMediaType, "", "Content-Type %s is not accepted; send application/json", mt)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, newProblem(CodeUnsupportedMediaType, "", "charset %s is not accepted; JSON is UTF-8", cs)
	}
	return s.readBody(w, r)
}

// readBody reads the whole body, at most Options.MaxBody bytes or the
// route's own limit (withBodyLimit).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	limit := s.maxBody
	if l, ok := r.Context().Value(bodyLimitKey).(int64); ok {
		limit = l
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, newProblem(CodeBodyTooLarge, "", "the body is larger than %d bytes", mbe.Limit)
	case err != nil:
		return nil, internal(err)
	}
	return b, nil
}

// withBodyLimit sets the request's body limit, for a route whose bodies
// are not the API's own.
func withBodyLimit(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, bodyLimitKey, n)
}

// decodeJSON decodes b into v strictly: unknown fields are refused at any
// depth, b holds exactly one JSON value, and each failure is a problem that
// names the field.
func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		p := decodeProblem(err)
		if p.code == CodeUnknownField && !strings.Contains(p.Field, ".") {
			if path := unknownPath(b, reflect.TypeOf(v), p.Field); path != "" {
				p.Field = path
			}
		}
		return p
	}
	if jsonKind(b) == "null" { // decodes into anything as "no change"
		return newProblem(CodeWrongType, "", "the body must be a JSON object, not null")
	}
	// One value only: a second one, or garbage, is an error rather than
	// being ignored as json.Decoder would.
	var extra json.RawMessage
	switch err := d.Decode(&extra); {
	case err == io.EOF:
		return nil
	case err != nil:
		return newProblem(CodeInvalidJSON, "", "data after the JSON value at byte %d: %v", d.InputOffset(), err)
	default:
		return newProblem(CodeInvalidJSON, "", "data after the JSON value at byte %d: send exactly one object", d.InputOffset()-int64(len(extra)))
	}
}

// decodePatch decodes a PATCH body into v as decodeJSON does and returns
// the fields it names, which are the ones the PATCH replaces.
func decodePatch(b []byte, v any) (map[string]json.RawMessage, error) {
	if err := decodeJSON(b, v); err != nil {
		return nil, err
	}
	// decodeJSON accepted it, so it is an object.
	var present map[string]json.RawMessage
	if err := json.Unmarshal(b, &present); err != nil {
		return nil, newProblem(CodeInvalidJSON, "", "%v", err)
	}
	return present, nil
}

const unknownFieldPrefix = "json: unknown field "

// decodeProblem maps encoding/json's errors onto problems.
func decodeProblem(err error) *Problem {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var pe *time.ParseError
	switch {
	case errors.Is(err, io.EOF):
		return newProblem(CodeInvalidJSON, "", "the body is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return newProblem(CodeInvalidJSON, "", "the JSON ends too early")
	case errors.As(err, &se):
		return newProblem(CodeInvalidJSON, "", "%s at byte %d", se.Error(), se.Offset)
	case errors.As(err, &te):
		return typeProblem(te)
	case strings.HasPrefix(err.Error(), unknownFieldPrefix):
		// encoding/json has no type for this error and names the key
		// only, not its path.
		name, uerr := strconv.Unquote(strings.TrimPrefix(err.Error(), unknownFieldPrefix))
		if uerr != nil {
			name = strings.TrimPrefix(err.Error(), unknownFieldPrefix)
		}
		return newProblem(CodeUnknownField, name, "unknown field %q", name)
	case errors.As(err, &pe):
		// A time.Time deep inside (a retry deadline) whose text is not
		// RFC 3339; encoding/json does not say which field.
		return newProblem(CodeValidation, "", "a time is not RFC 3339 (such as 2026-06-10T14:00:00Z): %q", pe.Value)
	}
	return newProblem(CodeInvalidJSON, "", "%v", err)
}

// unknownPath finds where the unknown key name sits in the JSON b decoded
// into t, as a path ("customer.nickname", "reps[0].phone"), because
// encoding/json names only the key. It returns "" when it cannot tell.
func unknownPath(b []byte, t reflect.Type, name string) string {
	var doc any
	if json.Unmarshal(b, &doc) != nil {
		return ""
	}
	path, _ := findUnknown(doc, t, name, "")
	return path
}

func findUnknown(doc any, t reflect.Type, name, prefix string) (string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return "", false // its own decoder reports its own fields
	}
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch v := doc.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Struct:
			for k, sub := range v {
				f, ok := jsonField(t, k)
				if !ok {
					if k == name {
						return join(k), true
					}
					continue
				}
				if path, ok := findUnknown(sub, f.Type, name, join(k)); ok {
					return path, true
				}
			}
		case reflect.Map:
			for k, sub := range v {
				if path, ok := findUnknown(sub, t.Elem(), name, join(k)); ok {
					return path, true
				}
			}
		}
	case []any:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for i, sub := range v {
				if path, ok := findUnknown(sub, t.Elem(), name, prefix+"["+strconv.Itoa(i)+"]"); ok {
					return path, true
				}
			}
		}
	}
	return "", false
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// jsonField finds the field of struct t that the JSON key k decodes into,
// matching names as encoding/json does (exact, then without case).
func jsonField(t reflect.Type, k string) (reflect.StructField, bool) {
	var fold reflect.StructField
	found := false
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous && f.Type.Kind() == reflect.Struct {
			continue
		}
		n, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if n == "-" {
			continue
		}
		if n == "" {
			n = f.Name
		}
		if n == k {
			return f, true
		}
		if !found && strings.EqualFold(n, k) {
			fold, found = f, true
		}
	}
	return fold, found
}

// jsonKinds are the Values encoding/json puts in an UnmarshalTypeError for
// a value of the wrong JSON type.
var jsonKinds = map[string]bool{"string": true, "number": true, "object": true, "array": true, "bool": true, "null": true}

// typeProblem tells three things apart that all arrive as
// *json.UnmarshalTypeError: a value of the wrong JSON type (from
// encoding/json), an unknown field inside a type with its own decoder
// (Value "unknown field", from schedule), and a value of the right type
// that the field's decoder refused (schedule's windows and durations,
// timeAt): their Value is a sentence.
func typeProblem(te *json.UnmarshalTypeError) *Problem {
	field := te.Field
	switch v := te.Value; {
	case v == "unknown field":
		return newProblem(CodeUnknownField, field, "unknown field %q", field)
	case jsonKinds[v] || strings.HasPrefix(v, "number ") || strings.HasPrefix(v, "non-"):
		if field == "" {
			return newProblem(CodeWrongType, "", "the body must be a JSON object, not %s", article(v))
		}
		if rest, ok := strings.CutPrefix(v, "non-string "); ok { // schedule.Duration's words
			return newProblem(CodeWrongType, field, "must be a string %s", rest)
		}
		if te.Type == policyType || te.Type == windowType {
			// schedule reports its own type, not the field's.
			return newProblem(CodeWrongType, field, "%s is not accepted here", article(v))
		}
		return newProblem(CodeWrongType, field, "must be %s, not %s", expected(te.Type), article(v))
	default:
		return newProblem(CodeValidation, field, "%s", v)
	}
}

var (
	policyType = reflect.TypeFor[schedule.Policy]()
	windowType = reflect.TypeFor[schedule.Window]()
)

// expected names the JSON a Go type decodes from.
func expected(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t {
	case reflect.TypeFor[timeAt](), reflect.TypeFor[time.Time]():
		return "an RFC 3339 time string"
	}
	if t.Implements(reflect.TypeFor[json.Unmarshaler]()) || reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		if t.Kind() == reflect.Struct {
			return "an object"
		}
		return "a string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another type"
}

func article(kind string) string {
	switch {
	case kind == "object" || kind == "array":
		return "an " + kind
	case kind == "null":
		return "null"
	case strings.HasPrefix(kind, "non-"):
		return kind
	}
	return "a " + kind
}

// timeAt is an RFC 3339 time in a request body. Unlike time.Time, its
// decoding errors are *json.UnmarshalTypeError, which encoding/json extends
// with the field's path, so an unparsable time names its field.
type timeAt time.Time

func (t *timeAt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[timeAt]()}
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: strconv.Quote(s) + " is not an RFC 3339 time such as 2026-06-10T14:00:00Z", Type: reflect.TypeFor[timeAt]()}
	}
	*t = timeAt(v)
	return nil
}

// jsonKind names the JSON type of a raw value as encoding/json does.
func jsonKind(b []byte) string {
	switch b = bytes.TrimSpace(b); {
	case len(b) == 0:
		return "null"
	case b[0] == '"':
		return "string"
	case b[0] == '{':
		return "object"
	case b[0] == '[':
		return "array"
	case b[0] == 't' || b[0] == 'f':
		return "bool"
	case b[0] == 'n':
		return "null"
	}
	return "number"
}
