package trigger

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"

	"github.com/callbackd/callbackd/schedule"
)

// env is the CEL environment every expression is compiled in: one
// variable, payload, a JSON object.
var env = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("payload", cel.MapType(cel.StringType, cel.DynType)),
		cel.OptionalTypes(),
		ext.Strings(),
		// Static int against double (payload.cart.total > 500 where total
		// is typed); dynamic values compare across types anyway.
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		cel.ParserExpressionSizeLimit(MaxExpressionLength),
		cel.ASTValidators(
			cel.ValidateDurationLiterals(),
			cel.ValidateTimestampLiterals(),
			cel.ValidateRegexLiterals(),
		),
	)
})

// kind is what an expression must evaluate to.
type kind int

const (
	kindBool kind = iota
	kindString
	kindTime     // RFC 3339 string or timestamp
	kindDuration // duration string or duration
)

func (k kind) String() string {
	switch k {
	case kindBool:
		return "bool"
	case kindString:
		return "string"
	case kindTime:
		return "string or timestamp"
	}
	return "string or duration"
}

// accepts reports whether an expression of static type t can give k.
func (k kind) accepts(t *cel.Type) bool {
	switch t.Kind() {
	case types.DynKind:
		return true
	case types.BoolKind:
		return k == kindBool
	case types.StringKind:
		return k != kindBool
	case types.TimestampKind:
		return k == kindTime
	case types.DurationKind:
		return k == kindDuration
	}
	return false
}

// expr is one compiled expression.
type expr struct {
	field string // "mapping.team"
	src   string
	ast   *cel.Ast
	prg   cel.Program
}

// Trigger is a compiled Spec. It is safe for concurrent use.
type Trigger struct {
	spec      Spec
	condition *expr // nil: always
	// The mapping; nil when not mapped (customer_number never is).
	number, name, country, team, rep, scheduledAt, delay *expr
	metadata                                             []metaExpr // by name
}

type metaExpr struct {
	name string
	*expr
}

// Spec returns the spec t was compiled from, its auth mode filled in.
func (t *Trigger) Spec() Spec { return t.spec }

// Compile checks s and compiles its expressions once; the error is a
// *CompileError.
func Compile(s Spec) (*Trigger, error) {
	e, err := env()
	if err != nil {
		return nil, fmt.Errorf("trigger: CEL environment: %w", err)
	}
	if s.Auth.Mode == "" {
		s.Auth.Mode = AuthTokenHeader
	}
	t := &Trigger{spec: s}
	switch {
	case strings.TrimSpace(s.Name) == "":
		return nil, &CompileError{Field: "name", Message: "required"}
	case len(s.Name) > MaxNameLen:
		return nil, &CompileError{Field: "name", Message: fmt.Sprintf("%d bytes; at most %d", len(s.Name), MaxNameLen)}
	case !utf8.ValidString(s.Name):
		return nil, &CompileError{Field: "name", Message: "not valid UTF-8"}
	}
	if strings.TrimSpace(s.Condition) != "" {
		if t.condition, err = compile(e, "condition", s.Condition, kindBool); err != nil {
			return nil, err
		}
	}

	m := s.Mapping
	if strings.TrimSpace(m.CustomerNumber) == "" {
		return nil, &CompileError{Field: "mapping.customer_number", Message: "required"}
	}
	for _, f := range []struct {
		dst   **expr
		field string
		src   string
		kind  kind
	}{
		{&t.number, "mapping.customer_number", m.CustomerNumber, kindString},
		{&t.name, "mapping.customer_name", m.CustomerName, kindString},
		{&t.country, "mapping.customer_country", m.CustomerCountry, kindString},
		{&t.team, "mapping.team", m.Team, kindString},
		{&t.rep, "mapping.rep_number", m.RepNumber, kindString},
		{&t.scheduledAt, "mapping.scheduled_at", m.ScheduledAt, kindTime},
		{&t.delay, "mapping.delay", m.Delay, kindDuration},
	} {
		if strings.TrimSpace(f.src) == "" {
			continue
		}
		if *f.dst, err = compile(e, f.field, f.src, f.kind); err != nil {
			return nil, err
		}
	}
	if t.team == nil && t.rep == nil {
		return nil, &CompileError{Field: "mapping.team", Message: "map team or rep_number (a constant team is a quoted string: 'sales')"}
	}
	if t.scheduledAt != nil && t.delay != nil {
		return nil, &CompileError{Field: "mapping.delay", Message: "map scheduled_at or delay, not both"}
	}
	if len(m.Metadata) > MaxMetadata {
		return nil, &CompileError{Field: "mapping.metadata", Message: fmt.Sprintf("%d entries; at most %d", len(m.Metadata), MaxMetadata)}
	}
	names := make([]string, 0, len(m.Metadata))
	for name := range m.Metadata {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		field := "mapping.metadata." + name
		if name == "" {
			return nil, &CompileError{Field: "mapping.metadata", Message: "names must not be empty"}
		}
		if strings.TrimSpace(m.Metadata[name]) == "" {
			return nil, &CompileError{Field: field, Message: "empty expression (a constant is a quoted string: 'web')"}
		}
		x, err := compile(e, field, m.Metadata[name], kindString)
		if err != nil {
			return nil, err
		}
		t.metadata = append(t.metadata, metaExpr{name, x})
	}

	switch d := time.Duration(s.Dedup); {
	case d < 0:
		return nil, &CompileError{Field: "dedup", Message: "must not be negative"}
	case d > MaxDedup:
		return nil, &CompileError{Field: "dedup", Message: fmt.Sprintf("%s; at most %s", s.Dedup, schedule.Duration(MaxDedup))}
	}
	if s.RateLimit < 0 {
		return nil, &CompileError{Field: "rate_limit", Message: "must not be negative"}
	}
	switch s.Auth.Mode {
	case AuthTokenHeader, AuthTokenQuery, AuthHMACSHA256:
	default:
		return nil, &CompileError{Field: "auth.mode", Message: fmt.Sprintf("%q: want %s, %s or %s", s.Auth.Mode, AuthTokenHeader, AuthTokenQuery, AuthHMACSHA256)}
	}
	return t, nil
}

// compile parses, checks and plans one expression that must give k.
func compile(e *cel.Env, field, src string, k kind) (*expr, error) {
	if len(src) > MaxExpressionLength {
		return nil, &CompileError{Field: field, Message: fmt.Sprintf("expression is %d bytes; at most %d", len(src), MaxExpressionLength)}
	}
	source := common.NewStringSource(src, field)
	ast, iss := e.CompileSource(source)
	if iss.Err() != nil {
		return nil, issueError(field, src, source, iss.Errors())
	}
	if t := ast.OutputType(); !k.accepts(t) {
		return nil, &CompileError{Field: field, Line: 1, Column: 1,
			Message: fmt.Sprintf("expression has type %s, want %s", t, k)}
	}
	prg, err := e.Program(ast,
		cel.CostLimit(MaxCost),
		cel.InterruptCheckFrequency(100),
		cel.EvalOptions(cel.OptOptimize),
	)
	if err != nil {
		return nil, &CompileError{Field: field, Message: err.Error()}
	}
	return &expr{field: field, src: src, ast: ast, prg: prg}, nil
}

// issueError turns the first of CEL's errors into a *CompileError.
func issueError(field, src string, source common.Source, errs []*cel.Error) error {
	if len(errs) == 0 {
		return &CompileError{Field: field, Message: "invalid expression"}
	}
	first := errs[0]
	ce := &CompileError{Field: field, Message: first.Message}
	if loc := first.Location; loc != nil && loc.Line() > 0 {
		ce.Line, ce.Column = loc.Line(), loc.Column()+1
		// CEL's own rendering, "ERROR: desc:l:c: msg\n | line\n | ...^":
		// keep the snippet lines.
		if _, snippet, ok := strings.Cut(first.ToDisplayString(source), "\n"); ok {
			ce.Snippet = snippet
		}
	}
	// A bare word where a constant was meant: {"team": "sales"}.
	if name := strings.TrimSpace(src); strings.HasPrefix(field, "mapping.") && first.Message == "undeclared reference to '"+name+"'" {
		ce.Message += fmt.Sprintf(" (a constant is a quoted string: '%s'; a payload field is payload.%s)", name, name)
	}
	if len(errs) > 1 {
		ce.Message += fmt.Sprintf(" (and %d more)", len(errs)-1)
	}
	return ce
}
