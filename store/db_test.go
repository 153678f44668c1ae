package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBackupWhileWriting copies the store while writers keep creating and
// updating, then opens each copy and finds everything made before it began.
func TestBackupWhileWriting(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	mustTeam(t, db, "sales")
	var before []string
	for range 50 {
		before = append(before, mustCreate(t, db, newCallback(clk, "+14155550100", "sales")).ID)
	}

	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		written atomic.Int64
	)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				cb := newCallback(clk, "+14155550101", "sales")
				if _, err := db.CreateCallback(cb, "callback.scheduled", nil, nil); err != nil {
					t.Errorf("create during backup: %v", err)
					return
				}
				if _, _, err := db.UpdateCallback(cb.ID, func(u *Update) error {
					u.Callback.Status = InProgress
					_, err := u.Append("callback.attempt_started", nil)
					return err
				}); err != nil {
					t.Errorf("update during backup: %v", err)
					return
				}
				written.Add(1)
			}
		})
	}
	for written.Load() < 20 { // the writers are going
		time.Sleep(time.Millisecond)
	}
	dir := t.TempDir()
	var buf bytes.Buffer
	n, err := db.Backup(&buf)
	if err != nil || n != int64(buf.Len()) || n == 0 {
		t.Fatalf("Backup = %d, %v (buffer %d)", n, err, buf.Len())
	}
	streamed := filepath.Join(dir, "stream.db")
	if err := os.WriteFile(streamed, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(dir, "copy.db")
	if err := db.BackupFile(copied); err != nil {
		t.Fatalf("BackupFile: %v", err)
	}
	stop.Store(true)
	wg.Wait()

	if _, err := os.Stat(copied + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("BackupFile left its temporary file: %v", err)
	}
	if fi, err := os.Stat(copied); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode: %v, %v", fi.Mode(), err)
	}
	for _, path := range []string{streamed, copied} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cp := openAt(t, path, clk)
			for _, id := range before {
				if _, err := cp.GetCallback(id); err != nil {
					t.Fatalf("copy lacks %s: %v", id, err)
				}
			}
			if _, err := cp.GetTeam("sales"); err != nil {
				t.Fatalf("copy lacks the team: %v", err)
			}
			// The copy is consistent: every callback it holds has its
			// events up to LastSeq and a pending index entry.
			pending, err := cp.Pending()
			if err != nil {
				t.Fatal(err)
			}
			counts, _ := cp.CountByStatus()
			if len(pending) != counts[Scheduled]+counts[InProgress] || len(pending) < len(before) {
				t.Fatalf("pending %d, counts %v", len(pending), counts)
			}
			for _, cb := range pending {
				evs, err := cp.Events(cb.ID, 0, 0)
				if err != nil || uint64(len(evs)) != cb.LastSeq {
					t.Fatalf("%s: %d events, LastSeq %d, %v", cb.ID, len(evs), cb.LastSeq, err)
				}
			}
		})
	}
}

// TestReopen closes the store and opens the file again: everything is there,
// hidden fields (LastSeq, NextRep, key hashes) included.
func TestReopen(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "callbackd.db")
	db := openAt(t, path, clk)
	team := mustTeam(t, db, "sales")
	if _, err := db.UpdateTeam(team.ID, func(tm *Team) error { tm.NextRep = 3; return nil }); err != nil {
		t.Fatal(err)
	}
	cb := mustCreate(t, db, newCallback(clk, "+14155550100", "sales"))
	setStatus(t, db, cb.ID, InProgress)
	key := &APIKey{ID: "key_1", Name: "ci", Hash: sha256.Sum256([]byte("cbk_s")), Scopes: []string{ScopeAdmin}}
	if err := db.CreateAPIKey(key); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ReserveIdempotency("key_1", "k", [32]byte{9}); err != nil {
		t.Fatal(err)
	}
	if err := db.CompleteIdempotency("key_1", "k", 200, "application/json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openAt(t, path, clk)
	if got, err := db.GetCallback(cb.ID); err != nil || got.Status != InProgress || got.LastSeq != 2 {
		t.Errorf("callback after reopen: %+v, %v", got, err)
	}
	if p, _ := db.Pending(); len(p) != 1 {
		t.Errorf("pending after reopen: %d", len(p))
	}
	if evs, _ := db.Events(cb.ID, 0, 0); len(evs) != 2 {
		t.Errorf("events after reopen: %d", len(evs))
	}
	if got, err := db.GetTeam("sales"); err != nil || got.NextRep != 3 {
		t.Errorf("team after reopen: %+v, %v", got, err)
	}
	if got, err := db.APIKeyByHash(key.Hash); err != nil || got.ID != "key_1" {
		t.Errorf("key after reopen: %+v, %v", got, err)
	}
	if rec, err := db.ReserveIdempotency("key_1", "k", [32]byte{9}); err != nil || rec == nil || string(rec.Body) != "{}" {
		t.Errorf("idempotency after reopen: %+v, %v", rec, err)
	}
	// The next event continues the sequence.
	_, evs, err := db.UpdateCallback(cb.ID, func(u *Update) error { _, err := u.Append("x", nil); return err })
	if err != nil || evs[0].Seq != 3 {
		t.Errorf("append after reopen: %+v, %v", evs, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("store file mode %v, %v; want 0600", fi.Mode(), err)
	}
}

func TestClosed(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	cb := mustCreate(t, db, newCallback(clk, "+14155550100", ""))
	if err := db.Ping(); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Close":          db.Close,
		"Ping":           db.Ping,
		"GetCallback":    func() error { _, err := db.GetCallback(cb.ID); return err },
		"CreateCallback": func() error { _, err := db.CreateCallback(newCallback(clk, "+1", ""), "x", nil, nil); return err },
		"UpdateCallback": func() error {
			_, _, err := db.UpdateCallback(cb.ID, func(*Update) error { return nil })
			return err
		},
		"Backup":  func() error { _, err := db.Backup(&bytes.Buffer{}); return err },
		"Reserve": func() error { _, err := db.ReserveIdempotency("a", "b", [32]byte{}); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callbackd.db")
	openAt(t, path, nil)
	start := time.Now()
	db, err := Open(path, Options{Timeout: 150 * time.Millisecond})
	if err == nil {
		_ = db.Close()
		t.Fatal("second Open of a held file succeeded")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "another") {
		t.Errorf("Open of a held file = %q, want ErrLocked naming the file", err)
	}
	// bbolt retries the lock every 50 ms and gives up one retry early.
	if waited := time.Since(start); waited < 100*time.Millisecond || waited > 5*time.Second {
		t.Errorf("waited %v for a 150ms timeout", waited)
	}
}

func TestOpenCorrupt(t *testing.T) {
	random := make([]byte, 64<<10)
	for i := range random {
		random[i] = byte(i*7 + i/13)
	}
	tests := []struct {
		name    string
		content []byte
	}{
		{"text file", []byte("this is not a database\n")},
		{"random bytes", random},
		{"page of zeros", make([]byte, 16<<10)},
		{"truncated store", nil}, // filled below from a real store
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	db := openAt(t, good, nil)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	tests[3].content = full[:100]
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := Open(path, Options{Timeout: 100 * time.Millisecond})
			if err == nil {
				_ = db.Close()
				t.Fatal("Open of a broken file succeeded")
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Errorf("Open = %q, want ErrCorrupt naming the file", err)
			}
		})
	}
}
