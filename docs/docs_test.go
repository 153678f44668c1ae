// Package docs holds callbackd's documentation pages (*.md) and the tests
// that keep them true: every fenced block of every page is either run or
// checked, or says why not; the reference tables are generated from the
// code and the OpenAPI document and compared.
//
// Conventions, on the line just before a fenced block:
//
//	<!-- test -->              run or check it: sh runs against a real server,
//	                           and so does a python or js program (with the
//	                           clients importable, as in the quickstarts),
//	                           json must parse, yaml must load as configuration
//	<!-- test: KIND [ARG] -->  run it with a named check (checkTestMarker):
//	                           config (a whole configuration file), excerpt FILE
//	                           (verbatim in FILE), verify (a python or js webhook
//	                           verifier), receiver (a go, python or js webhook
//	                           receiver program, run and sent deliveries),
//	                           webhook-body (the shape of a real delivery), log
//	                           (lines of the server's log), window and retry
//	                           (schedule JSON), backup FILE (sh writing a store copy)
//	<!-- file: NAME -->        write it to NAME (a relative path) in the page's
//	                           folder, for a later sh block to read or run (json
//	                           must parse, go must be gofmt'ed)
//	<!-- output -->            the previous test block's output; "…" matches anything
//	<!-- not run: REASON -->   not run, for the reason given
//
// A page's sh blocks run in order in a folder of its own that holds the
// repository's configs, testdata and clients (as from the repository's
// root) and the repository itself as callbackd (a checkout beside one's own
// module), with callbackd on the PATH. Pages run one after another; those
// that say <!-- samples: concurrent --> on a line of their own run last, at
// the same time as each other: their samples make and watch callbacks of
// their own and read no other state of the server.
//
// Besides docs/*.md, the pages of rootPages (the repository's README and
// the clients' READMEs) are checked the same way. Their samples talk to
// the server of "make run": before a sample runs, http://127.0.0.1:8080,
// 127.0.0.1:8080 and localhost:8080 become the test server's address, and
// the demo admin key (demoKey) its admin key; a python program runs with
// PYTHONPATH=clients/python, a js one as an ES module beside a
// node_modules/@callbackd/client that is clients/js.
//
// Generated regions sit between <!-- NAME:begin --> and <!-- NAME:end -->.
// go test ./docs -update rewrites them (keeping hand-written cells where a
// generator has none).
package docs

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated regions of the pages")

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	stopShared()
	os.Exit(code)
}

// block is one fenced code block of a page.
type block struct {
	page   string
	line   int    // of the opening fence, 1-based
	lang   string // the info string's first word
	text   string // the content, with a final newline
	marker marker
}

func (b block) String() string { return fmt.Sprintf("%s:%d", b.page, b.line) }

// marker is the HTML comment on the line before a block.
type marker struct {
	kind string // test, output, file, not run; "" when there is none
	arg  string // after the colon
}

var markerRe = regexp.MustCompile(`^<!--\s*(test|output|file|not run)\s*(?::\s*(.*?))?\s*-->$`)

var fenceRe = regexp.MustCompile("^( {0,3})(```+|~~~+)\\s*([^`\\s]*)[^`]*$")

// parseBlocks returns the fenced blocks of a page's text.
func parseBlocks(page, text string) ([]block, error) {
	var out []block
	lines := strings.Split(text, "\n")
	prev := ""
	for i := 0; i < len(lines); i++ {
		m := fenceRe.FindStringSubmatch(lines[i])
		if m == nil {
			if strings.TrimSpace(lines[i]) != "" {
				prev = strings.TrimSpace(lines[i])
			} else {
				prev = ""
			}
			continue
		}
		indent, fence, lang := len(m[1]), m[2], m[3]
		b := block{page: page, line: i + 1, lang: lang}
		if mm := markerRe.FindStringSubmatch(prev); mm != nil {
			b.marker = marker{kind: mm[1], arg: mm[2]}
		}
		var body strings.Builder
		closed := false
		for i++; i < len(lines); i++ {
			l := lines[i]
			t := strings.TrimLeft(l, " ")
			if len(l)-len(t) <= 3 && strings.HasPrefix(t, fence[:1]) && strings.Trim(strings.TrimSpace(t), fence[:1]) == "" && len(strings.TrimSpace(t)) >= len(fence) {
				closed = true
				break
			}
			for k := 0; k < indent && strings.HasPrefix(l, " "); k++ {
				l = l[1:]
			}
			body.WriteString(l)
			body.WriteByte('\n')
		}
		if !closed {
			return nil, fmt.Errorf("%s:%d: fence not closed", page, b.line)
		}
		b.text = body.String()
		out = append(out, b)
		prev = ""
	}
	return out, nil
}

// pages returns the names of the pages, sorted.
func pages(t *testing.T) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != "." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			names = append(names, filepath.ToSlash(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	if len(names) == 0 {
		t.Fatal("no pages")
	}
	// The pages outside docs/ come after docs/'s own, so that their samples
	// may rely on what those sent (a webhook body the receiver got).
	for _, p := range rootPages {
		names = append(names, "../"+p)
	}
	return names
}

// rootPages are the pages outside docs/ whose samples are tested too, as
// paths relative to the repository's root. pages() names them from docs/
// ("../README.md"); pageName names them from the root.
var rootPages = []string{"README.md", "clients/python/README.md", "clients/js/README.md"}

// pageName is a page's name for subtests and receiver paths: its path
// from docs/ for docs/'s pages, from the repository's root for the others.
func pageName(page string) string {
	return strings.TrimPrefix(page, "../")
}

func readPage(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Every block is marked, and every marker is one the samples test knows.
func TestBlocksMarked(t *testing.T) {
	for _, p := range pages(t) {
		blocks, err := parseBlocks(p, readPage(t, p))
		if err != nil {
			t.Error(err)
			continue
		}
		var prev *block
		for i, b := range blocks {
			switch b.marker.kind {
			case "":
				t.Errorf("%s: %s block without a marker: put <!-- test -->, <!-- output -->, <!-- file: NAME --> or <!-- not run: REASON --> on the line before it", b, b.lang)
			case "not run":
				if len(strings.Fields(b.marker.arg)) < 2 {
					t.Errorf("%s: <!-- not run --> needs a reason of a few words", b)
				}
			case "output":
				if prev == nil || prev.marker.kind != "test" {
					t.Errorf("%s: <!-- output --> must follow a <!-- test --> block", b)
				}
			case "file":
				if !validFileName(b.marker.arg) {
					t.Errorf("%s: <!-- file: NAME --> needs a file name, or a relative path such as hello/main.go", b)
				}
			case "test":
				if err := checkTestMarker(b); err != nil {
					t.Errorf("%s: %v", b, err)
				}
			}
			prev = &blocks[i]
		}
	}
}

// validFileName says whether a <!-- file: NAME --> names a file inside the
// page's folder: a name, or a relative slash-separated path without "..".
func validFileName(name string) bool {
	if name == "" || strings.ContainsAny(name, "\\ ") {
		return false
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	return true
}

// Relative links point at files that exist, and #anchors at headings.
func TestLinks(t *testing.T) {
	linkRe := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, p := range pages(t) {
		text := stripFences(readPage(t, p))
		for _, m := range linkRe.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			path := p
			if file != "" {
				path = filepath.ToSlash(filepath.Join(filepath.Dir(p), file))
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s: link %s: %v", p, target, err)
					continue
				}
			}
			if anchor == "" {
				continue
			}
			if !strings.HasSuffix(path, ".md") {
				t.Errorf("%s: link %s: an anchor into a file that is not markdown", p, target)
				continue
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%s: link %s: %v", p, target, err)
				continue
			}
			if !slices.Contains(anchors(string(b)), anchor) {
				t.Errorf("%s: link %s: no heading with that anchor in %s", p, target, path)
			}
		}
	}
}

// stripFences blanks the fenced blocks of a page, so that their content is
// not read as markdown.
func stripFences(text string) string {
	var b strings.Builder
	in := ""
	for _, l := range strings.Split(text, "\n") {
		if m := fenceRe.FindStringSubmatch(l); m != nil && (in == "" || strings.HasPrefix(strings.TrimSpace(l), in)) {
			if in == "" {
				in = m[2]
			} else {
				in = ""
			}
			b.WriteString("\n")
			continue
		}
		if in == "" {
			b.WriteString(l)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// anchors returns the GitHub anchors of a page's headings.
func anchors(text string) []string {
	var out []string
	seen := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(stripFences(text)))
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(l, "#"))
		var a strings.Builder
		for _, r := range strings.ToLower(h) {
			switch {
			case r == ' ':
				a.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
				a.WriteRune(r)
			}
		}
		s := a.String()
		if n := seen[s]; n > 0 {
			out = append(out, fmt.Sprintf("%s-%d", s, n))
		} else {
			out = append(out, s)
		}
		seen[s]++
	}
	return out
}

// region returns the text between <!-- name:begin --> and <!-- name:end -->.
func region(text, name string) (string, bool) {
	begin, end := "<!-- "+name+":begin -->\n", "<!-- "+name+":end -->"
	i := strings.Index(text, begin)
	j := strings.Index(text, end)
	if i < 0 || j < i {
		return "", false
	}
	return text[i+len(begin) : j], true
}

// checkRegion compares a page's region with want; with -update it rewrites
// the region instead.
func checkRegion(t *testing.T, page, name, want string) {
	t.Helper()
	text := readPage(t, page)
	got, ok := region(text, name)
	if !ok {
		t.Fatalf("%s: no region %s (<!-- %s:begin --> ... <!-- %s:end -->)", page, name, name, name)
	}
	if got == want {
		return
	}
	if *update {
		begin := "<!-- " + name + ":begin -->\n"
		i := strings.Index(text, begin) + len(begin)
		j := strings.Index(text, "<!-- "+name+":end -->")
		if err := os.WriteFile(page, []byte(text[:i]+want+text[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: region %s rewritten", page, name)
		return
	}
	t.Errorf("%s: region %s is stale; run go test ./docs -update, or paste:\n%s", page, name, want)
}

// tableRows returns the cells of a markdown table's body rows.
func tableRows(text string) [][]string {
	var rows [][]string
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "|") || strings.HasPrefix(l, "|---") || strings.HasPrefix(l, "| ---") {
			continue
		}
		cells := splitRow(l)
		rows = append(rows, cells)
	}
	return rows
}

// splitRow splits "| a | b |" into its cells, honouring \| and `code`.
func splitRow(l string) []string {
	l = strings.TrimSuffix(strings.TrimPrefix(l, "|"), "|")
	var cells []string
	var cur strings.Builder
	code := false
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c == '\\' && i+1 < len(l) && l[i+1] == '|':
			cur.WriteByte('|')
			i++
		case c == '`':
			code = !code
			cur.WriteByte(c)
		case c == '|' && !code:
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

// cell escapes a table cell's text.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}
