package docs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/config"
	"github.com/callbackd/callbackd/schedule"
)

// ---- the OpenAPI document ----

// orderedObject decodes a JSON object keeping its keys' order.
func orderedObject(raw json.RawMessage) ([]string, map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, fmt.Errorf("not an object")
	}
	var keys []string
	vals := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		keys = append(keys, k)
		vals[k] = v
	}
	return keys, vals, nil
}

type apiOperation struct {
	Method, Path string
	OperationID  string                     `json:"operationId"`
	Summary      string                     `json:"summary"`
	Tags         []string                   `json:"tags"`
	Scope        string                     `json:"x-required-scope"`
	Security     *[]map[string][]string     `json:"security"`
	Parameters   []map[string]any           `json:"parameters"`
	Responses    map[string]json.RawMessage `json:"responses"`
}

type apiDoc struct {
	Info struct {
		Description string `json:"description"`
	} `json:"info"`
	Tags []struct {
		Name string `json:"name"`
	} `json:"tags"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
	ops []apiOperation // in the document's order
}

func loadAPI(t *testing.T) *apiDoc {
	t.Helper()
	raw := readRepoFile(t, "api/openapi.json")
	var d apiDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	paths, pathVals, err := orderedObject(top["paths"])
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		methods, ops, err := orderedObject(pathVals[p])
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range methods {
			switch m {
			case "get", "post", "put", "patch", "delete":
			default:
				continue
			}
			var op apiOperation
			if err := json.Unmarshal(ops[m], &op); err != nil {
				t.Fatalf("%s %s: %v", m, p, err)
			}
			op.Method, op.Path = strings.ToUpper(m), p
			d.ops = append(d.ops, op)
		}
	}
	return &d
}

// scopeOf is what an operation needs: an API key's scope, the trigger's
// secret, or nothing.
func scopeOf(op apiOperation) string {
	switch {
	case op.Scope != "":
		return "`" + op.Scope + "`"
	case slices.ContainsFunc(op.Parameters, func(p map[string]any) bool { return p["name"] == "X-Callbackd-Token" }):
		return "the trigger's secret"
	case op.Security != nil && len(*op.Security) == 0:
		return "none"
	}
	return "?"
}

func operationsTable(d *apiDoc) string {
	var b strings.Builder
	byTag := map[string][]apiOperation{}
	for _, op := range d.ops {
		tag := "Other"
		if len(op.Tags) > 0 {
			tag = op.Tags[0]
		}
		byTag[tag] = append(byTag[tag], op)
	}
	tags := make([]string, 0, len(d.Tags))
	for _, tg := range d.Tags {
		tags = append(tags, tg.Name)
	}
	for _, k := range slices.Sorted(maps.Keys(byTag)) {
		if !slices.Contains(tags, k) {
			tags = append(tags, k)
		}
	}
	for _, tag := range tags {
		ops := byTag[tag]
		if len(ops) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n### %s\n\n| method | path | scope | summary |\n|---|---|---|---|\n", tag)
		for _, op := range ops {
			fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", op.Method, op.Path, scopeOf(op), cell(op.Summary))
		}
	}
	b.WriteString("\n")
	return b.String()
}

// TestAPIOperations keeps docs/api.md's table of operations in step with
// api/openapi.json.
func TestAPIOperations(t *testing.T) {
	d := loadAPI(t)
	if len(d.ops) < 30 {
		t.Fatalf("only %d operations in the document", len(d.ops))
	}
	for _, op := range d.ops {
		if scopeOf(op) == "?" {
			t.Errorf("%s %s: neither x-required-scope nor security: []", op.Method, op.Path)
		}
	}
	checkRegion(t, "api.md", "operations", operationsTable(d))
}

const problemPrefix = "urn:callbackd:problem:"

// problemStatuses maps each problem type of the document to the statuses
// it comes with, and to the first description of it.
func problemStatuses(t *testing.T, d *apiDoc) (kinds []string, status map[string][]int, desc map[string]string) {
	t.Helper()
	var problem struct {
		Properties struct {
			Type struct {
				Enum []string `json:"enum"`
			} `json:"type"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(d.Components.Schemas["Problem"], &problem); err != nil {
		t.Fatal(err)
	}
	status, desc = map[string][]int{}, map[string]string{}
	for _, typ := range problem.Properties.Type.Enum {
		kinds = append(kinds, strings.TrimPrefix(typ, problemPrefix))
	}
	for _, op := range d.ops {
		for _, code := range slices.Sorted(maps.Keys(op.Responses)) {
			raw := op.Responses[code]
			var r struct {
				Description string   `json:"description"`
				Types       []string `json:"x-problem-types"`
			}
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatal(err)
			}
			n, _ := strconv.Atoi(code)
			for _, typ := range r.Types {
				k := strings.TrimPrefix(typ, problemPrefix)
				if !slices.Contains(status[k], n) {
					status[k] = append(status[k], n)
				}
				if m := regexp.MustCompile("`" + regexp.QuoteMeta(typ) + "`: ([^\n]*)").FindStringSubmatch(r.Description); m != nil && desc[k] == "" {
					desc[k] = m[1]
				}
			}
		}
	}
	// A type no operation lists is described in the document's info.
	for _, k := range kinds {
		if len(status[k]) > 0 {
			continue
		}
		m := regexp.MustCompile("(\\d{3}) `" + regexp.QuoteMeta(k) + "`").FindStringSubmatch(d.Info.Description)
		if m == nil {
			t.Errorf("problem type %s: no status in the document", k)
			continue
		}
		n, _ := strconv.Atoi(m[1])
		status[k] = []int{n}
	}
	for _, k := range kinds {
		slices.Sort(status[k])
	}
	return kinds, status, desc
}

// TestProblemTypes keeps docs/api.md's list of problem types complete, each
// with the statuses the document gives it; the meanings are hand-written.
func TestProblemTypes(t *testing.T) {
	d := loadAPI(t)
	kinds, status, desc := problemStatuses(t, d)
	text := readPage(t, "api.md")
	cur, _ := region(text, "problems")
	meaning := map[string]string{}
	for _, row := range tableRows(cur) {
		if len(row) == 3 && strings.HasPrefix(row[0], "`") {
			meaning[strings.Trim(row[0], "`")] = row[2]
		}
	}
	var b strings.Builder
	b.WriteString("| type (`" + problemPrefix + "…`) | status | when |\n|---|---|---|\n")
	for _, k := range kinds {
		codes := make([]string, len(status[k]))
		for i, c := range status[k] {
			codes[i] = strconv.Itoa(c)
		}
		m := meaning[k]
		if m == "" {
			m = cell(desc[k])
			if !*update {
				t.Errorf("problem type %s is not in docs/api.md", k)
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", k, strings.Join(codes, ", "), m)
	}
	checkRegion(t, "api.md", "problems", b.String())
}

// ---- metrics ----

type metricDef struct {
	name, kind, help string
	labels           []string
}

// metricDefs reads the collectors metrics/metrics.go defines.
func metricDefs(t *testing.T) []metricDef {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, repoPath(t, "metrics/metrics.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{
		"NewGauge": "gauge", "NewGaugeVec": "gauge", "NewCounter": "counter", "NewCounterVec": "counter",
		"NewHistogram": "histogram", "NewHistogramVec": "histogram", "NewSummary": "summary", "NewSummaryVec": "summary",
	}
	var defs []metricDef
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || kinds[sel.Sel.Name] == "" || len(call.Args) == 0 {
			return true
		}
		opts, ok := call.Args[0].(*ast.CompositeLit)
		if !ok {
			return true
		}
		d := metricDef{kind: kinds[sel.Sel.Name]}
		for _, e := range opts.Elts {
			kv, ok := e.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			lit, ok := kv.Value.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				continue
			}
			s, _ := strconv.Unquote(lit.Value)
			switch kv.Key.(*ast.Ident).Name {
			case "Name":
				d.name = s
			case "Help":
				d.help = s
			}
		}
		if len(call.Args) > 1 {
			if labels, ok := call.Args[1].(*ast.CompositeLit); ok {
				for _, e := range labels.Elts {
					if lit, ok := e.(*ast.BasicLit); ok {
						s, _ := strconv.Unquote(lit.Value)
						d.labels = append(d.labels, s)
					}
				}
			}
		}
		if d.name != "" {
			defs = append(defs, d)
		}
		return true
	})
	return defs
}

// TestMetrics keeps docs/operating.md's table of metrics in step with
// metrics/metrics.go.
func TestMetrics(t *testing.T) {
	defs := metricDefs(t)
	if len(defs) < 5 {
		t.Fatalf("only %d metrics found in metrics/metrics.go", len(defs))
	}
	var b strings.Builder
	b.WriteString("| metric | type | labels | meaning |\n|---|---|---|---|\n")
	for _, d := range defs {
		labels := "—"
		if len(d.labels) > 0 {
			labels = "`" + strings.Join(d.labels, "`, `") + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", d.name, d.kind, labels, cell(d.help))
	}
	checkRegion(t, "operating.md", "metrics", b.String())
}

// ---- configuration ----

type configKey struct {
	key, typ string
	section  string
}

// configKeys walks config.Config by its yaml tags.
func configKeys() []configKey {
	var out []configKey
	var walk func(t reflect.Type, prefix, section string)
	walk = func(t reflect.Type, prefix, section string) {
		for f := range t.Fields() {
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" || name == "" {
				continue
			}
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			sec := section
			if sec == "" {
				sec = name
			}
			ft := f.Type
			switch {
			case ft.Kind() == reflect.Struct:
				walk(ft, key, sec)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), key+"[]", sec)
			default:
				out = append(out, configKey{key: key, typ: typeName(ft), section: sec})
			}
		}
	}
	walk(reflect.TypeFor[config.Config](), "", "")
	return out
}

func typeName(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "duration"
	case t.Kind() == reflect.Slice:
		return "list of " + typeName(t.Elem()) + "s"
	case t.Kind() == reflect.Bool:
		return "bool"
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "integer"
	case t.Kind() == reflect.Float64 || t.Kind() == reflect.Float32:
		return "number"
	}
	return t.String()
}

// minimalConfig is the smallest file the loader accepts; what Parse fills
// in beyond it are the loader's defaults.
const minimalConfig = `sip:
  listen: 192.0.2.1:5060
trunks:
  - name: first
    host: 192.0.2.2
`

// derivedDefaults are filled in from other keys, not constants: the doc
// says how in words.
var derivedDefaults = map[string]bool{"bridge.trunk": true, "media.ip": true}

// loaderDefaults returns, by key, the value Parse fills in for a minimal
// file, formatted as the page writes it; keys it leaves zero are absent.
func loaderDefaults(t *testing.T) map[string]string {
	t.Helper()
	c, err := config.Parse("minimal.yaml", []byte(minimalConfig), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			fv := v.Field(i)
			switch {
			case fv.Kind() == reflect.Struct:
				walk(fv, key)
			case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
				if fv.Len() > 0 {
					walk(fv.Index(0), key+"[]")
				}
			case !fv.IsZero():
				out[key] = formatValue(fv)
			}
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")
	for _, k := range []string{"sip.listen", "trunks[].name", "trunks[].host"} {
		delete(out, k) // given, not defaulted
	}
	return out
}

func formatValue(v reflect.Value) string {
	if v.Type() == reflect.TypeFor[time.Duration]() {
		return schedule.Duration(v.Int()).String()
	}
	if v.Kind() == reflect.Slice {
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = formatValue(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v.Interface())
}

// TestConfigReference keeps docs/operating.md's configuration reference
// complete: every key the loader knows, with its type, and the default the
// loader fills in; defaults set deeper (the SIP and media packages) and the
// meanings are hand-written and kept.
func TestConfigReference(t *testing.T) {
	keys := configKeys()
	defaults := loaderDefaults(t)
	text := readPage(t, "operating.md")
	cur, _ := region(text, "config")
	type hand struct{ def, meaning string }
	written := map[string]hand{}
	for _, row := range tableRows(cur) {
		if len(row) == 4 && strings.HasPrefix(row[0], "`") {
			written[strings.Trim(row[0], "`")] = hand{row[2], row[3]}
		}
	}
	var b strings.Builder
	section := ""
	for _, k := range keys {
		if k.section != section {
			section = k.section
			fmt.Fprintf(&b, "\n#### %s\n\n| key | type | default | meaning |\n|---|---|---|---|\n", section)
		}
		h, ok := written[k.key]
		if !ok || h.meaning == "" {
			t.Errorf("config key %s is not described in docs/operating.md", k.key)
			h.meaning = "TODO"
		}
		def := h.def
		if d, ok := defaults[k.key]; ok && !derivedDefaults[k.key] {
			def = "`" + d + "`"
		}
		if def == "" {
			def = "—"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", k.key, k.typ, def, h.meaning)
	}
	b.WriteString("\n")
	checkRegion(t, "operating.md", "config", b.String())
	for k := range written {
		if !slices.ContainsFunc(keys, func(c configKey) bool { return c.key == k }) {
			t.Errorf("docs/operating.md describes config key %s, which the loader does not know", k)
		}
	}
	for env, key := range config.OverrideVars() {
		if !strings.Contains(text, "`"+env+"`") {
			t.Errorf("docs/operating.md does not name the override %s (%s)", env, key)
		}
	}
}

// ---- scheduling ----

// dstCase is one row of docs/scheduling.md's table of windows on the days
// the clock changes.
type dstCase struct {
	zone, day, hours string
	closed           []string
	from             string // local time the search starts, "2006-01-02 15:04"
	note             string
}

var dstCases = []dstCase{
	{"America/New_York", "sun", "02:30-03:30", nil, "2026-03-08 00:00", "spring forward: 02:30 does not exist, the range opens at the end of the gap"},
	{"America/New_York", "sun", "02:05-02:55", nil, "2026-03-08 00:00", "spring forward: the whole range is in the gap, closed that day"},
	{"America/New_York", "sun", "01:00-01:30", nil, "2026-11-01 00:00", "fall back: 01:00 happens twice, the first one counts"},
	{"America/New_York", "sat", "22:00-06:00", nil, "2026-10-31 12:00", "fall back inside a night shift: open nine real hours"},
	{"Europe/London", "fri", "22:00-02:00", nil, "2026-06-05 12:00", "a range past midnight ends on the next day"},
	{"Europe/London", "mon-fri", "09:00-17:00", []string{"2026-12-25"}, "2026-12-24 18:00", "closed on 2026-12-25: the next opening skips the holiday"},
}

func (c dstCase) window(t *testing.T) schedule.Window {
	t.Helper()
	spec := schedule.WindowSpec{TimeZone: c.zone, Hours: map[string][]string{c.day: {c.hours}}, Closed: c.closed}
	w, err := schedule.ParseWindow(spec)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func dstTable(t *testing.T) string {
	var b strings.Builder
	b.WriteString("| zone | hours | searched from | opens | closes | open for | why |\n|---|---|---|---|---|---|---|\n")
	for _, c := range dstCases {
		w := c.window(t)
		loc := w.Zone
		from, err := time.ParseInLocation("2006-01-02 15:04", c.from, loc)
		if err != nil {
			t.Fatal(err)
		}
		open, err := w.Next(from)
		if err != nil {
			t.Fatal(err)
		}
		// The first instant, by the minute, at which it is closed again.
		end := open
		for w.Open(end) {
			end = end.Add(time.Minute)
		}
		f := func(x time.Time) string {
			x = x.In(loc)
			return x.Format("Mon 2 Jan 2006 15:04 MST")
		}
		fmt.Fprintf(&b, "| `%s` | `%s: %s` | %s | %s | %s | %s | %s |\n", c.zone, c.day, c.hours, f(from), f(open), f(end),
			schedule.Duration(end.Sub(open)), c.note)
	}
	return b.String()
}

// retryTables renders the default policy's waits, an example backoff's,
// and which outcomes are retried.
func defaultRetryTable() string {
	p := schedule.Policy{}.Effective()
	var b strings.Builder
	b.WriteString("| attempt | ends without a connection at T; the next attempt is due |\n|---|---|\n")
	for n := 1; n <= p.MaxAttempts; n++ {
		if n == p.MaxAttempts {
			fmt.Fprintf(&b, "| %d | none: the callback is `failed` (reason `max_attempts`) |\n", n)
			continue
		}
		fmt.Fprintf(&b, "| %d | T + %s |\n", n, schedule.Duration(p.Delay(n)))
	}
	return b.String()
}

const backoffExample = `{"backoff": {"base": "1m", "factor": 2, "max": "1h", "jitter": 0.2}, "max_attempts": 8}`

func backoffTable(t *testing.T) string {
	var p schedule.Policy
	if err := json.Unmarshal([]byte(backoffExample), &p); err != nil {
		t.Fatal(err)
	}
	p = p.Effective()
	var b strings.Builder
	b.WriteString("| after attempt | wait without jitter | wait with jitter |\n|---|---|---|\n")
	for n := 1; n < p.MaxAttempts; n++ {
		q := p
		q.Rand = func() float64 { return 0 }
		full := q.Delay(n)
		q.Rand = func() float64 { return 1 }
		short := q.Delay(n)
		fmt.Fprintf(&b, "| %d | %s | %s to %s |\n", n, schedule.Duration(full), schedule.Duration(short.Round(time.Second)), schedule.Duration(full))
	}
	return b.String()
}

func outcomesTable(t *testing.T, d *apiDoc) string {
	var attempt struct {
		Properties struct {
			Outcome struct {
				Enum []string `json:"enum"`
			} `json:"outcome"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(d.Components.Schemas["Attempt"], &attempt); err != nil {
		t.Fatal(err)
	}
	if len(attempt.Properties.Outcome.Enum) == 0 {
		t.Fatal("no outcomes in the Attempt schema")
	}
	var b strings.Builder
	b.WriteString("| outcome | retried | with `retry_customer_rejected` |\n|---|---|---|\n")
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "no"
	}
	for _, o := range attempt.Properties.Outcome.Enum {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", o, yes(schedule.Policy{}.Retries(o)),
			yes(schedule.Policy{RetryCustomerRejected: true}.Retries(o)))
	}
	return b.String()
}

// TestScheduleTables keeps docs/scheduling.md's tables computed by the
// schedule package itself.
func TestScheduleTables(t *testing.T) {
	checkRegion(t, "scheduling.md", "dst", dstTable(t))
	checkRegion(t, "scheduling.md", "retry-default", defaultRetryTable())
	checkRegion(t, "scheduling.md", "backoff", backoffTable(t))
	checkRegion(t, "scheduling.md", "outcomes", outcomesTable(t, loadAPI(t)))
	if !strings.Contains(readPage(t, "scheduling.md"), backoffExample) {
		t.Errorf("docs/scheduling.md does not show the backoff example %s", backoffExample)
	}
}

// TestWebhookEvents keeps docs/webhooks.md's table of event types in step
// with the webhooks section of api/openapi.json.
func TestWebhookEvents(t *testing.T) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(readRepoFile(t, "api/openapi.json"), &top); err != nil {
		t.Fatal(err)
	}
	types, defs, err := orderedObject(top["webhooks"])
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("| type | when |\n|---|---|\n")
	for _, typ := range types {
		var w struct {
			Post struct {
				Summary string `json:"summary"`
			} `json:"post"`
		}
		if err := json.Unmarshal(defs[typ], &w); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", typ, cell(w.Post.Summary))
	}
	checkRegion(t, "webhooks.md", "events", b.String())
}
