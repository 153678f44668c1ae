package store

import (
	"crypto/sha256"
	"errors"
	"slices"
	"testing"
	"time"
)

func newKey(clk *fakeClock, secret string, scopes ...string) *APIKey {
	return &APIKey{ID: NewID("key_", clk.Now()), Name: secret, Prefix: secret[:4], Hash: sha256.Sum256([]byte(secret)), Scopes: scopes}
}

func TestAPIKeys(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	a := newKey(clk, "cbk_alpha", ScopeAdmin)
	clk.Advance(time.Millisecond)
	b := newKey(clk, "cbk_bravo", ScopeCallbacksRead, ScopeCallbacksWrite)
	for _, k := range []*APIKey{a, b} {
		if err := db.CreateAPIKey(k); err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
	}
	if !a.CreatedAt.Equal(clk.Now()) {
		t.Errorf("CreatedAt not set: %+v", a)
	}

	got, err := db.APIKeyByHash(sha256.Sum256([]byte("cbk_bravo")))
	if err != nil || got.ID != b.ID || got.Hash != b.Hash || !slices.Equal(got.Scopes, b.Scopes) || got.Prefix != "cbk_" {
		t.Errorf("APIKeyByHash = %+v, %v", got, err)
	}
	if got, err := db.GetAPIKey(a.ID); err != nil || got.Hash != a.Hash {
		t.Errorf("GetAPIKey = %+v, %v", got, err)
	}
	list, err := db.ListAPIKeys()
	if err != nil || len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Errorf("ListAPIKeys = %+v, %v", list, err)
	}

	tests := []struct {
		name    string
		do      func() error
		wantErr error
	}{
		{"create same id", func() error { k := newKey(clk, "cbk_other"); k.ID = a.ID; return db.CreateAPIKey(k) }, ErrConflict},
		{"create same hash", func() error { return db.CreateAPIKey(newKey(clk, "cbk_alpha")) }, ErrConflict},
		{"put hash of another key", func() error { k := newKey(clk, "cbk_alpha"); return db.PutAPIKey(k) }, ErrConflict},
		{"unknown hash", func() error { _, err := db.APIKeyByHash(sha256.Sum256([]byte("cbk_x"))); return err }, ErrNotFound},
		{"get missing", func() error { _, err := db.GetAPIKey("key_nope"); return err }, ErrNotFound},
		{"revoke missing", func() error { _, err := db.RevokeAPIKey("key_nope"); return err }, ErrNotFound},
		{"create empty id", func() error { return db.CreateAPIKey(&APIKey{}) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
		})
	}

	// Revoke is idempotent: the first time sticks.
	clk.Advance(time.Hour)
	r1, err := db.RevokeAPIKey(b.ID)
	if err != nil || !r1.RevokedAt.Equal(clk.Now()) {
		t.Fatalf("RevokeAPIKey = %+v, %v", r1, err)
	}
	clk.Advance(time.Hour)
	r2, err := db.RevokeAPIKey(b.ID)
	if err != nil || !r2.RevokedAt.Equal(r1.RevokedAt) {
		t.Errorf("second RevokeAPIKey = %+v, %v; want the first time kept", r2, err)
	}
	// A revoked key is still found by hash; the caller refuses it.
	if got, err := db.APIKeyByHash(b.Hash); err != nil || got.RevokedAt.IsZero() {
		t.Errorf("APIKeyByHash(revoked) = %+v, %v", got, err)
	}
}

func TestPutAPIKey(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	admin := newKey(clk, "cbk_first", ScopeAdmin)
	admin.ID = "key_admin"
	if err := db.PutAPIKey(admin); err != nil {
		t.Fatalf("PutAPIKey (insert): %v", err)
	}
	created := admin.CreatedAt
	if _, err := db.RevokeAPIKey("key_admin"); err != nil {
		t.Fatal(err)
	}
	// Again at the next start, same secret: no conflict, and the revocation
	// sticks (a restart must not bring a revoked secret back).
	clk.Advance(time.Hour)
	again := newKey(clk, "cbk_first", ScopeAdmin)
	again.ID, again.CreatedAt = "key_admin", clk.Now()
	if err := db.PutAPIKey(again); err != nil {
		t.Fatalf("PutAPIKey (same): %v", err)
	}
	if got, err := db.APIKeyByHash(admin.Hash); err != nil || got.RevokedAt.IsZero() || !got.CreatedAt.Equal(created) || again.RevokedAt.IsZero() {
		t.Errorf("same secret put again: %+v, %v; want revoked, created %v", got, err, created)
	}
	// The configured secret changed: the old one stops working.
	rotated := newKey(clk, "cbk_second", ScopeAdmin)
	rotated.ID = "key_admin"
	if err := db.PutAPIKey(rotated); err != nil {
		t.Fatalf("PutAPIKey (rotate): %v", err)
	}
	if _, err := db.APIKeyByHash(admin.Hash); !errors.Is(err, ErrNotFound) {
		t.Errorf("old secret still found: %v", err)
	}
	if got, err := db.APIKeyByHash(rotated.Hash); err != nil || got.ID != "key_admin" || !got.RevokedAt.IsZero() {
		t.Errorf("new secret: %+v, %v", got, err)
	}
	if list, _ := db.ListAPIKeys(); len(list) != 1 {
		t.Errorf("%d keys, want 1", len(list))
	}
}
