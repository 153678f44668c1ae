package sandbox

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The table in the doc comment of numbers.go is what users read in godoc;
// it must say the same as Numbers.
func TestNumbersDocTable(t *testing.T) {
	src, err := os.ReadFile("numbers.go")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^//\t(\+\d+)\s+(\S+)\s+(.+)$`)
	rows := row.FindAllStringSubmatch(string(src), -1)
	if len(rows) != len(Numbers) {
		t.Fatalf("doc table has %d rows, Numbers has %d", len(rows), len(Numbers))
	}
	for i, r := range rows {
		n := Numbers[i]
		if r[1] != n.Number || r[2] != n.Name || strings.TrimSpace(r[3]) != n.Description {
			t.Errorf("row %d: doc %q %q %q, Numbers %q %q %q", i, r[1], r[2], r[3], n.Number, n.Name, n.Description)
		}
	}
}

func TestNumbersConsistent(t *testing.T) {
	seen := map[string]bool{}
	outcomes := map[string]bool{"answered": true, "busy": true, "no_answer": true, "rejected": true, "unreachable": true}
	for _, n := range Numbers {
		if seen[n.Number] || seen[n.Name] {
			t.Errorf("duplicate %s / %s", n.Number, n.Name)
		}
		seen[n.Number], seen[n.Name] = true, true
		if !regexp.MustCompile(`^\+[1-9]\d{7,14}$`).MatchString(n.Number) {
			t.Errorf("%s is not E.164", n.Number)
		}
		if !outcomes[n.Outcome] {
			t.Errorf("%s: outcome %q", n.Number, n.Outcome)
		}
		sc := n.script
		switch {
		case sc.final != 0:
			if n.Status != sc.final {
				t.Errorf("%s: Status %d, script final %d", n.Number, n.Status, sc.final)
			}
		case sc.ringForever:
			if n.Status != 0 || n.Outcome != "no_answer" {
				t.Errorf("%s: never answers but Status %d outcome %s", n.Number, n.Status, n.Outcome)
			}
		default:
			if n.Status != 200 || n.Outcome != "answered" {
				t.Errorf("%s: answers but Status %d outcome %s", n.Number, n.Status, n.Outcome)
			}
		}
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		in   string
		name string
		ok   bool
	}{
		{"+15550000001", "tone", true},
		{"15550000001", "tone", true},
		{"+15550000004;phone-context=+1", "no-answer", true},
		{"+15550000009", "press-1", true},
		{"++15550000001", "", false},
		{"+15550000000", "", false},
		{"", "", false},
		{"5550000001", "", false},
	}
	for _, tt := range tests {
		n, ok := Lookup(tt.in)
		if ok != tt.ok || n.Name != tt.name {
			t.Errorf("Lookup(%q) = %q %v, want %q %v", tt.in, n.Name, ok, tt.name, tt.ok)
		}
	}
}

func TestMarkdown(t *testing.T) {
	md := Markdown()
	lines := strings.Split(strings.TrimSpace(md), "\n")
	if len(lines) != len(Numbers)+2 {
		t.Fatalf("%d lines:\n%s", len(lines), md)
	}
	for i, n := range Numbers {
		l := lines[i+2]
		if !strings.Contains(l, "`"+n.Number+"`") || !strings.Contains(l, n.Description) {
			t.Errorf("line %q misses %s", l, n.Number)
		}
		if n.Status != 0 && !strings.Contains(l, "| "+strconv.Itoa(n.Status)+" |") {
			t.Errorf("line %q misses status %d", l, n.Status)
		}
	}
}
