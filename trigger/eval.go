package trigger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
	"cel.dev/cel-go/parser"
)

// Evaluate decides whether payload, the inbound JSON body, matches the
// condition and, when it does, maps it to a callback request. Errors:
// *PayloadError (not a JSON object), *MissingFieldError (a mapped path the
// payload lacks), *EvalError (anything else an expression did wrong), or
// the context's error. A condition that needs a missing key is not an
// error: the result is not matched, with a Reason.
func (t *Trigger) Evaluate(ctx context.Context, payload []byte) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("trigger: %w", err)
	}
	p, err := decodePayload(payload)
	if err != nil {
		return Result{}, err
	}
	act, err := interpreter.NewActivation(map[string]any{"payload": types.DefaultTypeAdapter.NativeToValue(p)})
	if err != nil {
		return Result{}, fmt.Errorf("trigger: %w", err)
	}
	ev := evaluation{ctx: ctx, act: act, payload: p}

	if t.condition != nil {
		v, err := ev.eval(t.condition)
		if err != nil {
			if mf, ok := errors.AsType[*MissingFieldError](err); ok {
				return Result{Reason: "condition: " + mf.Path + " is missing"}, nil
			}
			return Result{}, err
		}
		b, ok := v.(types.Bool)
		if !ok {
			return Result{}, wrongType(t.condition, v, kindBool)
		}
		if !b {
			return Result{Reason: "condition is false"}, nil
		}
	}

	var r Request
	for _, f := range []struct {
		x   *expr
		dst *string
	}{
		{t.number, &r.CustomerNumber},
		{t.name, &r.CustomerName},
		{t.country, &r.CustomerCountry},
		{t.team, &r.Team},
		{t.rep, &r.RepNumber},
	} {
		if f.x == nil {
			continue
		}
		if *f.dst, err = ev.str(f.x); err != nil {
			return Result{}, err
		}
	}
	if r.CustomerNumber == "" {
		return Result{}, &MissingFieldError{Field: t.number.field, Path: plainPath(t.number)}
	}
	switch {
	case r.RepNumber != "":
		r.Team = "" // the rep wins; the team is the fallback
	case r.Team == "":
		x := t.team
		if x == nil {
			x = t.rep
		}
		return Result{}, &MissingFieldError{Field: x.field, Path: plainPath(x)}
	}
	if t.scheduledAt != nil {
		if r.ScheduledAt, err = ev.time(t.scheduledAt); err != nil {
			return Result{}, err
		}
	}
	if t.delay != nil {
		if r.Delay, err = ev.duration(t.delay); err != nil {
			return Result{}, err
		}
	}
	for _, m := range t.metadata {
		v, err := ev.eval(m.expr)
		if err != nil {
			return Result{}, err
		}
		if _, null := v.(types.Null); null {
			continue
		}
		s, ok := v.(types.String)
		if !ok {
			return Result{}, wrongType(m.expr, v, kindString)
		}
		if r.Metadata == nil {
			r.Metadata = make(map[string]string, len(t.metadata))
		}
		r.Metadata[m.name] = string(s)
	}
	return Result{Matched: true, Callback: r}, nil
}

// decodePayload parses the body, which must be one JSON object.
func decodePayload(b []byte) (map[string]any, error) {
	switch {
	case len(b) > MaxPayloadBytes:
		return nil, &PayloadError{Message: fmt.Sprintf("%d bytes; at most %d", len(b), MaxPayloadBytes)}
	case len(bytes.TrimSpace(b)) == 0:
		return nil, &PayloadError{Message: "empty body; want a JSON object"}
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, &PayloadError{Message: fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, err)}
		}
		return nil, &PayloadError{Message: "malformed JSON: " + err.Error()}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &PayloadError{Message: fmt.Sprintf("a JSON %s; want an object", jsonKind(v))}
	}
	return m, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "value"
}

// evaluation is one event's run through a trigger's expressions.
type evaluation struct {
	ctx     context.Context
	act     interpreter.Activation
	payload map[string]any
}

// eval runs x. A missing key or index is a *MissingFieldError.
func (ev *evaluation) eval(x *expr) (ref.Val, error) {
	if err := ev.ctx.Err(); err != nil {
		return nil, fmt.Errorf("trigger: %s: %w", x.field, err)
	}
	out, _, err := x.prg.ContextEval(ev.ctx, ev.act)
	if err == nil {
		return out, nil
	}
	if cerr := ev.ctx.Err(); cerr != nil || errors.Is(err, interpreter.InterruptError{}) {
		if cerr == nil {
			cerr = context.Canceled
		}
		return nil, fmt.Errorf("trigger: %s: %w", x.field, cerr)
	}
	if ec, ok := errors.AsType[interpreter.EvalCancelledError](err); ok {
		if ec.Cause == interpreter.CostLimitExceeded {
			return nil, &EvalError{Field: x.field, Message: fmt.Sprintf("%s: over %d cost units for this payload", ErrTooExpensive, MaxCost), Err: ErrTooExpensive}
		}
		return nil, &EvalError{Field: x.field, Message: ec.Error()}
	}
	msg := err.Error()
	var id int64
	if te, ok := errors.AsType[*types.Err](err); ok {
		id = te.NodeID()
	}
	for _, prefix := range []string{"no such key: ", "index out of bounds: "} {
		if strings.HasPrefix(msg, prefix) {
			return nil, &MissingFieldError{Field: x.field, Path: x.missingPath(id, ev.payload)}
		}
	}
	e := &EvalError{Field: x.field, Message: msg}
	if node := x.node(id); node != nil {
		if s, err := parser.Unparse(node, x.ast.NativeRep().SourceInfo()); err == nil && s != strings.TrimSpace(x.src) {
			e.Message += " in " + s
		}
		if loc := x.ast.NativeRep().SourceInfo().GetStartLocation(id); loc.Line() > 0 {
			e.Message += fmt.Sprintf(" (at %d:%d)", loc.Line(), loc.Column()+1)
		}
	}
	return nil, e
}

// node returns x's subexpression with that ID, or nil.
func (x *expr) node(id int64) ast.Expr {
	if id == 0 {
		return nil
	}
	found := ast.MatchDescendants(ast.NavigateAST(x.ast.NativeRep()), func(e ast.NavigableExpr) bool { return e.ID() == id })
	if len(found) == 0 {
		return nil
	}
	return found[0]
}

// str runs a string mapping; null is "".
func (ev *evaluation) str(x *expr) (string, error) {
	v, err := ev.eval(x)
	if err != nil {
		return "", err
	}
	switch v := v.(type) {
	case types.String:
		return string(v), nil
	case types.Null:
		return "", nil
	}
	return "", wrongType(x, v, kindString)
}

// time runs scheduled_at: an RFC 3339 string or a timestamp; null or ""
// is zero.
func (ev *evaluation) time(x *expr) (time.Time, error) {
	v, err := ev.eval(x)
	if err != nil {
		return time.Time{}, err
	}
	switch v := v.(type) {
	case types.Timestamp:
		return v.Time.UTC(), nil
	case types.Null:
		return time.Time{}, nil
	case types.String:
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339, string(v))
		if err != nil {
			return time.Time{}, &EvalError{Field: x.field, Message: fmt.Sprintf("%q is not an RFC 3339 time such as 2026-03-02T15:04:05Z", string(v))}
		}
		return t.UTC(), nil
	}
	return time.Time{}, wrongType(x, v, kindTime)
}

// duration runs delay: a duration string or a duration; null or "" is 0.
func (ev *evaluation) duration(x *expr) (time.Duration, error) {
	v, err := ev.eval(x)
	if err != nil {
		return 0, err
	}
	var d time.Duration
	switch v := v.(type) {
	case types.Duration:
		d = v.Duration
	case types.Null:
		return 0, nil
	case types.String:
		if v == "" {
			return 0, nil
		}
		if d, err = time.ParseDuration(string(v)); err != nil {
			return 0, &EvalError{Field: x.field, Message: fmt.Sprintf("%q is not a duration such as 90s, 10m or 1h30m", string(v))}
		}
	default:
		return 0, wrongType(x, v, kindDuration)
	}
	if d < 0 {
		return 0, &EvalError{Field: x.field, Message: fmt.Sprintf("%s: must not be negative", d)}
	}
	return d, nil
}

func wrongType(x *expr, v ref.Val, k kind) error {
	msg := fmt.Sprintf("evaluated to %s, want %s", v.Type().TypeName(), k)
	switch v.(type) {
	case types.Double, types.Int, types.Uint, types.Bool:
		msg += fmt.Sprintf(" (the value is %v", v.Value())
		if k != kindBool {
			msg += "; string(...) converts, string(int(...)) for a whole number"
		}
		msg += ")"
	}
	return &EvalError{Field: x.field, Message: msg}
}

// A path segment: a key, or an index into a list.
type segment struct {
	key     string
	index   int64
	isIndex bool
}

// chain reads e as a path, root.a["b"][2].?c, with constant keys.
func chain(e ast.Expr) (root string, segs []segment, ok bool) {
	switch e.Kind() {
	case ast.IdentKind:
		return e.AsIdent(), nil, true
	case ast.SelectKind:
		s := e.AsSelect()
		if s.IsTestOnly() {
			return "", nil, false
		}
		root, segs, ok = chain(s.Operand())
		return root, append(segs, segment{key: s.FieldName()}), ok
	case ast.CallKind:
		c := e.AsCall()
		switch c.FunctionName() {
		case operators.Index, operators.OptIndex, operators.OptSelect:
		default:
			return "", nil, false
		}
		args := c.Args()
		if len(args) != 2 || args[1].Kind() != ast.LiteralKind {
			return "", nil, false
		}
		if root, segs, ok = chain(args[0]); !ok {
			return "", nil, false
		}
		switch v := args[1].AsLiteral().(type) {
		case types.String:
			return root, append(segs, segment{key: string(v)}), true
		case types.Int:
			return root, append(segs, segment{index: int64(v), isIndex: true}), true
		case types.Uint:
			return root, append(segs, segment{index: int64(v), isIndex: true}), true
		}
	}
	return "", nil, false
}

func (s segment) String() string {
	if s.isIndex {
		return "[" + strconv.FormatInt(s.index, 10) + "]"
	}
	if isIdent(s.key) {
		return "." + s.key
	}
	return "[" + strconv.Quote(s.key) + "]"
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// missingPath names what is missing for the error of node id: the path up
// to the first key the payload lacks, when the node is a path into
// payload; else the node (or the whole expression) as written.
func (x *expr) missingPath(id int64, payload map[string]any) string {
	native := x.ast.NativeRep()
	node := x.node(id)
	if node == nil {
		return strings.TrimSpace(x.src)
	}
	root, segs, ok := chain(node)
	if ok && root == "payload" {
		path := root
		var cur any = payload
		for _, s := range segs {
			path += s.String()
			switch c := cur.(type) {
			case map[string]any:
				v, found := c[s.key]
				if s.isIndex || !found {
					return path
				}
				cur = v
			case []any:
				if !s.isIndex || s.index < 0 || s.index >= int64(len(c)) {
					return path
				}
				cur = c[s.index]
			default:
				return path
			}
		}
		return path
	}
	if s, err := parser.Unparse(node, native.SourceInfo()); err == nil {
		return s
	}
	return strings.TrimSpace(x.src)
}

// plainPath is x's expression as a path into payload ("payload.phone"),
// or its source when it is not one.
func plainPath(x *expr) string {
	root, segs, ok := chain(x.ast.NativeRep().Expr())
	if !ok || root != "payload" {
		return strings.TrimSpace(x.src)
	}
	var b strings.Builder
	b.WriteString(root)
	for _, s := range segs {
		b.WriteString(s.String())
	}
	return b.String()
}
