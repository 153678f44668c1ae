// Package testlog gives tests a slog.Logger that writes through t.Log, so a
// test's log lines show only when it fails (or with -v).
package testlog

import (
	"log/slog"
	"strings"
	"testing"
)

// New returns a text logger at level writing to tb.Log.
func New(tb testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(writer{tb}, &slog.HandlerOptions{Level: level}))
}

type writer struct{ tb testing.TB }

func (w writer) Write(b []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}
