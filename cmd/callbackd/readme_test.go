package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/callbackd/callbackd/internal/testpeer"
	"github.com/callbackd/callbackd/sandbox"
)

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(testpeer.RepoPath(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The README's number table is what the sandbox really does.
func TestReadmeSandboxNumbers(t *testing.T) {
	t.Parallel()
	readme := readRepoFile(t, "README.md")
	const begin, end = "<!-- sandbox-numbers:begin -->", "<!-- sandbox-numbers:end -->"
	_, rest, ok := strings.Cut(readme, begin)
	if !ok {
		t.Fatalf("README.md has no %s marker", begin)
	}
	table, _, ok := strings.Cut(rest, end)
	if !ok {
		t.Fatalf("README.md has no %s marker after %s", end, begin)
	}
	if got, want := strings.TrimSpace(table), strings.TrimSpace(sandbox.Markdown()); got != want {
		t.Errorf("README.md sandbox table differs from sandbox.Markdown(); replace it with:\n%s", want)
	}
}

// Every "make X" the README tells people to run exists.
func TestReadmeMakeTargets(t *testing.T) {
	t.Parallel()
	readme := readRepoFile(t, "README.md")
	makefile := readRepoFile(t, "Makefile")
	// Inline `make X`, or a command line in a code block; not prose ("make sure").
	mentioned := regexp.MustCompile("(?m)(?:^\\s*(?:\\$ )?|`)make ([a-z][a-z0-9-]*)").FindAllStringSubmatch(readme, -1)
	if len(mentioned) == 0 {
		t.Fatal("README.md mentions no make target")
	}
	for _, m := range mentioned {
		target := m[1]
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(target) + `:`).MatchString(makefile) {
			t.Errorf("README.md mentions `make %s`, but the Makefile has no %s target", target, target)
		}
	}
}

// The README covers every command.
func TestReadmeCommands(t *testing.T) {
	t.Parallel()
	readme := readRepoFile(t, "README.md")
	for _, c := range commands {
		if !strings.Contains(readme, "callbackd "+c.name) {
			t.Errorf("README.md does not mention `callbackd %s`", c.name)
		}
	}
}
