package store

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewID(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	tests := []struct {
		name   string
		prefix string
		t      time.Time
	}{
		{"callback", "cb_", base},
		{"event", "evt_", base.Add(time.Hour)},
		{"key", "key_", time.UnixMilli(0)},
		{"team", "team_", time.UnixMilli(1<<48 - 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := NewID(tt.prefix, tt.t)
			if !strings.HasPrefix(id, tt.prefix) || len(id) != len(tt.prefix)+26 {
				t.Fatalf("NewID = %q: want %q + 26 characters", id, tt.prefix)
			}
			for _, c := range id[len(tt.prefix):] {
				if !strings.ContainsRune(crockford, c) {
					t.Fatalf("NewID = %q: %q is not lower-case Crockford base32", id, c)
				}
			}
			got, ok := idTime(id, len(tt.prefix))
			if !ok || !got.Equal(tt.t.Truncate(time.Millisecond)) {
				t.Fatalf("time in %q = %v, %v; want %v", id, got, ok, tt.t)
			}
		})
	}
}

func TestNewIDOrder(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var got []string
	// Many in one millisecond, then later milliseconds: strictly increasing.
	for i := range 2000 {
		got = append(got, NewID("cb_", base.Add(time.Duration(i/500)*time.Millisecond)))
	}
	if !slices.IsSorted(got) {
		t.Fatal("IDs made in order do not sort in order")
	}
	if len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Fatal("duplicate IDs")
	}
	if a, b := NewID("cb_", base.Add(time.Second)), NewID("cb_", base); a <= b {
		t.Fatalf("ID of a later time %q sorts before an earlier one %q", a, b)
	}
}
