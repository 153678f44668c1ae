package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/callbackd/callbackd/store"
)

// The server's pruner deletes idempotency records past their TTL and keeps
// the others.
func TestPruneIdempotency(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callbackd.db")
	var now time.Time
	db, err := store.Open(path, store.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, tc := range []struct {
		key string
		age time.Duration
	}{{"old", store.IdempotencyTTL + time.Minute}, {"fresh", time.Hour}} {
		now = time.Now().Add(-tc.age)
		if _, err := db.ReserveIdempotency("key_1", tc.key, [32]byte{1}); err != nil {
			t.Fatal(err)
		}
		if err := db.CompleteIdempotency("key_1", tc.key, 201, "application/json", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	now = time.Now()

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // one pass, then return
	pruneIdempotency(ctx, db, slog.New(slog.DiscardHandler))

	// The fresh record still replays; the old one is gone, so a different
	// body under its key is a new request rather than a mismatch.
	if rec, err := db.ReserveIdempotency("key_1", "fresh", [32]byte{1}); err != nil || rec == nil {
		t.Errorf("fresh record: %v, %v; want a replay", rec, err)
	}
	if n, err := db.PruneIdempotency(now.Add(-store.IdempotencyTTL)); err != nil || n != 0 {
		t.Errorf("a second prune deleted %d (%v): the first left an expired record", n, err)
	}
}
