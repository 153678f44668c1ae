package store

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestIdempotency(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "idem.db")
	db := openAt(t, path, clk)
	h1, h2 := [32]byte{1}, [32]byte{2}

	type step struct {
		name    string
		do      func() (*Idempotency, error)
		replay  bool
		wantErr error
	}
	reserve := func(key string, h [32]byte) func() (*Idempotency, error) {
		return func() (*Idempotency, error) { return db.ReserveIdempotency("key_a", key, h) }
	}
	steps := []step{
		{name: "first use reserves", do: reserve("k1", h1)},
		{name: "repeat while running", do: reserve("k1", h1), wantErr: ErrIdempotencyInFlight},
		{name: "other body while running", do: reserve("k1", h2), wantErr: ErrIdempotencyMismatch},
		{name: "other scope is another key", do: func() (*Idempotency, error) { return db.ReserveIdempotency("key_b", "k1", h2) }},
		{name: "complete", do: func() (*Idempotency, error) {
			return nil, db.CompleteIdempotency("key_a", "k1", 201, "application/json", []byte(`{"id":"x"}`))
		}},
		{name: "complete again is a no-op", do: func() (*Idempotency, error) {
			return nil, db.CompleteIdempotency("key_a", "k1", 500, "text/plain", []byte("other"))
		}},
		{name: "replay", do: reserve("k1", h1), replay: true},
		{name: "mismatch after done", do: reserve("k1", h2), wantErr: ErrIdempotencyMismatch},
		{name: "release a done record keeps it", do: func() (*Idempotency, error) { return nil, db.ReleaseIdempotency("key_a", "k1") }},
		{name: "still replays", do: reserve("k1", h1), replay: true},
		{name: "complete unknown", do: func() (*Idempotency, error) {
			return nil, db.CompleteIdempotency("key_a", "nope", 200, "", nil)
		}, wantErr: ErrNotFound},
		{name: "reserve k2", do: reserve("k2", h1)},
		{name: "release k2", do: func() (*Idempotency, error) { return nil, db.ReleaseIdempotency("key_a", "k2") }},
		{name: "k2 free again, even with another body", do: reserve("k2", h2)},
		{name: "release missing is fine", do: func() (*Idempotency, error) { return nil, db.ReleaseIdempotency("key_a", "never") }},
	}
	for _, s := range steps {
		rec, err := s.do()
		if (s.wantErr == nil) != (err == nil) || (s.wantErr != nil && !errors.Is(err, s.wantErr)) {
			t.Fatalf("%s: err = %v, want %v", s.name, err, s.wantErr)
		}
		if s.replay != (rec != nil) {
			t.Fatalf("%s: record = %+v, want replay %v", s.name, rec, s.replay)
		}
		if rec != nil && (!rec.Done || rec.Status != 201 || string(rec.Body) != `{"id":"x"}` || rec.ContentType != "application/json") {
			t.Fatalf("%s: replay %+v", s.name, rec)
		}
	}

	// Stale boot: k2 is pending from this process. After a restart its
	// request is dead, so the key is reserved afresh (any body).
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2 := openAt(t, path, clk)
	if db2.Boot() == db.Boot() {
		t.Fatal("two opens share a boot ID")
	}
	if rec, err := db2.ReserveIdempotency("key_a", "k2", h1); rec != nil || err != nil {
		t.Fatalf("reserve over a stale boot = %+v, %v", rec, err)
	}
	if _, err := db2.ReserveIdempotency("key_a", "k2", h1); !errors.Is(err, ErrIdempotencyInFlight) {
		t.Fatalf("the new reservation is not in flight: %v", err)
	}
	// The done record survives the restart.
	if rec, err := db2.ReserveIdempotency("key_a", "k1", h1); err != nil || rec == nil {
		t.Fatalf("replay after restart = %+v, %v", rec, err)
	}

	// Expiry: after 24 h the key is free, even with another body.
	clk.Advance(IdempotencyTTL - time.Second)
	if _, err := db2.ReserveIdempotency("key_a", "k1", h2); !errors.Is(err, ErrIdempotencyMismatch) {
		t.Fatalf("just before expiry: %v, want mismatch", err)
	}
	clk.Advance(time.Second)
	if rec, err := db2.ReserveIdempotency("key_a", "k1", h2); rec != nil || err != nil {
		t.Fatalf("after expiry = %+v, %v; want a fresh reservation", rec, err)
	}

	// Prune: k1 was just re-reserved (now); key_b/k1 and k2 are older.
	n, err := db2.PruneIdempotency(clk.Now().Add(-time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("PruneIdempotency = %d, %v; want 2", n, err)
	}
	if _, err := db2.ReserveIdempotency("key_a", "k1", h2); !errors.Is(err, ErrIdempotencyInFlight) {
		t.Errorf("prune removed a fresh record: %v", err)
	}
	if rec, err := db2.ReserveIdempotency("key_b", "k1", h1); rec != nil || err != nil {
		t.Errorf("pruned key not free: %+v, %v", rec, err)
	}
	if n, err := db2.PruneIdempotency(clk.Now().Add(time.Hour)); err != nil || n != 2 {
		t.Errorf("prune everything = %d, %v; want 2", n, err)
	}
}

func TestCreateCallbackIdemCommit(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	h := [32]byte{7}
	if rec, err := db.ReserveIdempotency("key_a", "create-1", h); rec != nil || err != nil {
		t.Fatal(rec, err)
	}
	cb := newCallback(clk, "+14155550100", "")
	render := func(cb *Callback) ([]byte, error) {
		// The rendered callback is the stored one, LastSeq included.
		if cb.LastSeq != 1 {
			return nil, errors.New("rendered before LastSeq was set")
		}
		return json.Marshal(cb)
	}
	idem := &IdemCommit{Scope: "key_a", Key: "create-1", Status: 201, ContentType: "application/json", Render: render}
	if _, err := db.CreateCallback(cb, "callback.scheduled", nil, idem); err != nil {
		t.Fatalf("CreateCallback: %v", err)
	}
	rec, err := db.ReserveIdempotency("key_a", "create-1", h)
	if err != nil || rec == nil || !rec.Done || rec.Status != 201 || !strings.Contains(string(rec.Body), cb.ID) || rec.BodyHash != h {
		t.Fatalf("record after create = %+v, %v", rec, err)
	}
	// The API completes every 2xx; for a create that is a no-op.
	if err := db.CompleteIdempotency("key_a", "create-1", 200, "text/plain", nil); err != nil {
		t.Fatal(err)
	}
	if rec, _ := db.ReserveIdempotency("key_a", "create-1", h); rec.Status != 201 {
		t.Errorf("complete overwrote the create's record: %+v", rec)
	}

	// Without a reservation the record is still written.
	cb2 := newCallback(clk, "+14155550101", "")
	idem2 := &IdemCommit{Scope: "key_a", Key: "create-2", Status: 201, Render: render}
	if _, err := db.CreateCallback(cb2, "callback.scheduled", nil, idem2); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ReserveIdempotency("key_a", "create-2", h); !errors.Is(err, ErrIdempotencyMismatch) {
		t.Errorf("unreserved create's key: %v, want a mismatch for any body", err)
	}
}
