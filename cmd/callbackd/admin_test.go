package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callbackd/callbackd/store"
)

// SIGTERM lets a call in progress go on for shutdown.drain, then hangs up
// and exits 0 with the outcome stored; the restarted server shows it.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	t.Parallel()
	cfg := writeTestConfigOpts(t, configOptions{extra: "shutdown:\n  drain: 2s\n"})
	bin := buildBinary(t)
	srv := startProc(t, bin, "serve", "--config", cfg.Path)
	srv.waitFor(t, true, `"msg":"callbackd serving"`, 15*time.Second)

	// The tone number never hangs up by itself.
	cb := createCallback(t, cfg.API, map[string]any{"customer": map[string]any{"number": sb(t, "tone")}, "rep_number": sb(t, "echo")})
	deadline := time.Now().Add(15 * time.Second)
	for !hasLegEvent(events(t, cfg.API, cb.ID), "call.connected", "customer") {
		if time.Now().After(deadline) {
			t.Fatal("never connected")
		}
		time.Sleep(50 * time.Millisecond)
	}
	sent := time.Now()
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	// No new requests once the shutdown has begun.
	if _, err := http.Get(cfg.API + "/healthz"); err == nil {
		t.Error("the API still answers after SIGTERM")
	}
	if code := srv.exit(t, 20*time.Second); code != exitOK {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
	if took := time.Since(sent); took < 2*time.Second {
		t.Errorf("exited %v after SIGTERM, before the 2 s drain was over", took)
	}

	srv2 := startProc(t, bin, "serve", "--config", cfg.Path)
	srv2.waitFor(t, true, `"msg":"callbackd serving"`, 15*time.Second)
	got := getCallback(t, cfg.API, cb.ID)
	if got.Status != "completed" || len(got.Attempts) != 1 || got.Attempts[0].Outcome != "connected" || got.Attempts[0].TalkSeconds < 1.5 {
		t.Errorf("after the drain: %+v, want completed with one connected attempt of about 2 s", got)
	}
	checkEventLog(t, cb.ID, events(t, cfg.API, cb.ID))
	srv2.cmd.Process.Signal(syscall.SIGTERM)
	srv2.exit(t, 15*time.Second)
}

// hasLegEvent reports whether evs has an event of type typ for the leg.
func hasLegEvent(evs []eventView, typ, leg string) bool {
	for _, e := range evs {
		var d struct {
			Leg string `json:"leg"`
		}
		if e.Type == typ && json.Unmarshal(e.Data, &d) == nil && d.Leg == leg {
			return true
		}
	}
	return false
}

// "keys create" works on a stopped server's store; its key then works on the
// API. While the server runs, it refuses with a pointer to the API.
func TestKeysCreate(t *testing.T) {
	t.Parallel()
	cfg := writeTestConfigOpts(t, configOptions{})
	code, stdout, stderr := runCmd(t, t.Context(), "keys", "create", "--config", cfg.Path, "--name", "web form", "--scope", "callbacks:write")
	if code != exitOK {
		t.Fatalf("keys create: %d\n%s", code, stderr)
	}
	secret := strings.TrimSpace(stdout)
	if !strings.HasPrefix(secret, "cbk_") || !strings.Contains(stderr, "shown only once") {
		t.Fatalf("stdout %q stderr %q", stdout, stderr)
	}
	if code, _, stderr := runCmd(t, t.Context(), "keys", "create", "--config", cfg.Path, "--name", "x", "--scope", "root"); code != exitUsage || !strings.Contains(stderr, "unknown scope") {
		t.Errorf("bad scope: %d %s", code, stderr)
	}

	bin := buildBinary(t)
	srv := startProc(t, bin, "serve", "--config", cfg.Path)
	srv.waitFor(t, true, `"msg":"callbackd serving"`, 15*time.Second)
	body := map[string]any{"customer": map[string]any{"number": sb(t, "busy")}, "rep_number": sb(t, "echo"),
		"retry": map[string]any{"intervals": []string{"1h"}}}
	if code := apiCallKey(t, cfg.API, secret, "POST", "/v1/callbacks", body, nil); code != http.StatusCreated {
		t.Errorf("POST with the new key: %d", code)
	}
	// callbacks:write does not read.
	if code := apiCallKey(t, cfg.API, secret, "GET", "/v1/callbacks", nil, nil); code != http.StatusForbidden {
		t.Errorf("GET with a write-only key: %d, want 403", code)
	}
	code, _, stderr = runCmd(t, t.Context(), "keys", "list", "--config", cfg.Path)
	if code != exitFail || !strings.Contains(stderr, "in use") {
		t.Errorf("keys list beside a running server: %d %s", code, stderr)
	}

	// A consistent copy of the store while the server runs.
	file := filepath.Join(t.TempDir(), "backup.db")
	code, _, stderr = runCmd(t, t.Context(), "backup", "--config", cfg.Path, file)
	if code != exitOK || !strings.Contains(stderr, "running server") {
		t.Fatalf("backup: %d %s", code, stderr)
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	srv.exit(t, 15*time.Second)

	db, err := store.Open(file, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	list, _, err := db.ListCallbacks(store.CallbackFilter{})
	if err != nil || len(list) != 1 {
		t.Errorf("backup holds %d callbacks (%v), want 1", len(list), err)
	}
	keys, err := db.ListAPIKeys()
	if err != nil || len(keys) < 2 {
		t.Errorf("backup holds %d keys (%v), want the created one and the configured admin key", len(keys), err)
	}
}
