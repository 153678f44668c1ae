package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/callbackd/callbackd/api"
	"github.com/callbackd/callbackd/config"
	"github.com/callbackd/callbackd/store"
)

var keysCommand = command{
	name:    "keys",
	summary: "create the first API keys while the server is stopped",
	usage:   keysUsage,
	run:     runKeys,
}

const keysUsage = `usage: callbackd keys create --name NAME [--scope SCOPE ...] [--config FILE]
       callbackd keys list [--config FILE]

create stores a new API key and prints its secret, which is shown only this
once. Scopes: callbacks:write, callbacks:read, admin (default admin).
list prints the keys (never their secrets).

Both open the store file directly, so they work only while "callbackd serve"
is stopped. While it runs, use POST /v1/api-keys with an admin key (for
example the one in CALLBACKD_ADMIN_KEY).

Flags:
  --name NAME    what the key is for, e.g. "web form"
  --scope SCOPE  a scope to grant; repeat for several
  --config FILE  configuration file (default: the built-in default)
`

var backupCommand = command{
	name:    "backup",
	summary: "write a consistent copy of the store, also while the server runs",
	usage:   backupUsage,
	run:     runBackup,
}

const backupUsage = `usage: callbackd backup [--config FILE] [--key KEY] FILE

Writes a consistent copy of the store to FILE (through FILE.tmp, then a
rename, so FILE is never half written). While "callbackd serve" runs, the
copy is taken by the server (GET /v1/backup on api.listen, with an admin key
from --key, CALLBACKD_API_KEY or CALLBACKD_ADMIN_KEY), since the store file is
locked by it; otherwise the file is read directly. Restore by stopping the
server and putting the copy at store.path.

Flags:
  --config FILE  configuration file (default: the built-in default)
  --key KEY      admin API key for a running server
`

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "create" && args[0] != "list") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprint(stdout, keysUsage)
			return exitOK
		}
		return usageError(stderr, "keys", "want \"keys create\" or \"keys list\"")
	}
	sub := args[0]
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configPath := fs.String("config", "", "")
	name := fs.String("name", "", "")
	var scopes numberList
	fs.Var(&scopes, "scope", "")
	if code, done := parseFlags(fs, "keys", keysUsage, args[1:], stdout, stderr); done {
		return code
	}
	if sub == "create" {
		if strings.TrimSpace(*name) == "" {
			return usageError(stderr, "keys", "create needs --name")
		}
		if len(scopes) == 0 {
			scopes = numberList{store.ScopeAdmin}
		}
		for _, s := range scopes {
			if !slices.Contains([]string{store.ScopeAdmin, store.ScopeCallbacksRead, store.ScopeCallbacksWrite}, s) {
				return usageError(stderr, "keys", "unknown scope %q (want callbacks:write, callbacks:read or admin)", s)
			}
		}
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return fail(stderr, "keys", exitCode(err), err)
	}
	db, err := openStoreOffline(cfg)
	if err != nil {
		return fail(stderr, "keys", exitFail, err)
	}
	defer db.Close()

	if sub == "list" {
		keys, err := db.ListAPIKeys()
		if err != nil {
			return fail(stderr, "keys", exitFail, err)
		}
		fmt.Fprintf(stdout, "%-30s %-14s %-32s %-20s %s\n", "ID", "PREFIX", "SCOPES", "CREATED", "NAME")
		for _, k := range keys {
			name := k.Name
			if !k.RevokedAt.IsZero() {
				name += " (revoked)"
			}
			fmt.Fprintf(stdout, "%-30s %-14s %-32s %-20s %s\n", k.ID, k.Prefix, strings.Join(k.Scopes, ","),
				k.CreatedAt.UTC().Format(time.DateTime), name)
		}
		return exitOK
	}
	secret, hash := api.NewKeySecret()
	k := &store.APIKey{ID: store.NewID("key_", time.Now()), Name: *name, Prefix: secret[:12], Hash: hash,
		Scopes: scopes, CreatedAt: time.Now().UTC()}
	if err := db.CreateAPIKey(k); err != nil {
		return fail(stderr, "keys", exitFail, fmt.Errorf("store key: %w", err))
	}
	fmt.Fprintf(stdout, "%s\n", secret)
	fmt.Fprintf(stderr, "created API key %s (%s) with scopes %s; the secret above is shown only once\n",
		k.ID, k.Name, strings.Join(k.Scopes, ","))
	return exitOK
}

// openStoreOffline opens the store of a stopped server; a running one holds
// the file's lock.
func openStoreOffline(cfg *config.Config) (*store.DB, error) {
	if _, err := os.Stat(filepath.Dir(cfg.Store.Path)); err != nil {
		if err := os.MkdirAll(filepath.Dir(cfg.Store.Path), 0o700); err != nil {
			return nil, fmt.Errorf("store folder: %w", err)
		}
	}
	db, err := store.Open(cfg.Store.Path, store.Options{Timeout: 300 * time.Millisecond})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("store %s is in use, probably by a running callbackd serve: %w", cfg.Store.Path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", cfg.Store.Path, err)
	}
	return db, nil
}

func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configPath := fs.String("config", "", "")
	key := fs.String("key", "", "")
	// FILE comes last; parse the flags before it by hand.
	if len(args) == 0 {
		return usageError(stderr, "backup", "missing FILE")
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fmt.Fprint(stdout, backupUsage)
		return exitOK
	}
	file := args[len(args)-1]
	if strings.HasPrefix(file, "-") {
		return usageError(stderr, "backup", "missing FILE")
	}
	if code, done := parseFlags(fs, "backup", backupUsage, args[:len(args)-1], stdout, stderr); done {
		return code
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return fail(stderr, "backup", exitCode(err), err)
	}
	if _, err := os.Stat(cfg.Store.Path); err != nil {
		return fail(stderr, "backup", exitFail, fmt.Errorf("store %s: %w", cfg.Store.Path, err))
	}
	db, err := store.Open(cfg.Store.Path, store.Options{Timeout: 300 * time.Millisecond})
	switch {
	case err == nil:
		defer db.Close()
		if err := db.BackupFile(file); err != nil {
			return fail(stderr, "backup", exitFail, err)
		}
		fmt.Fprintf(stderr, "backup of %s written to %s\n", cfg.Store.Path, file)
		return exitOK
	case !errors.Is(err, store.ErrLocked):
		return fail(stderr, "backup", exitFail, fmt.Errorf("open store %s: %w", cfg.Store.Path, err))
	}
	secret := cmp.Or(*key, os.Getenv("CALLBACKD_API_KEY"), cfg.API.AdminKey)
	if secret == "" {
		return fail(stderr, "backup", exitUsage, errors.New("the server is running: give an admin key with --key or CALLBACKD_API_KEY"))
	}
	n, err := backupFromServer(ctx, "http://"+cfg.API.Listen, secret, file)
	if err != nil {
		return fail(stderr, "backup", exitFail, err)
	}
	fmt.Fprintf(stderr, "backup (%d bytes) written to %s by the running server\n", n, file)
	return exitOK
}

// backupFromServer streams GET /v1/backup into file.
func backupFromServer(ctx context.Context, base, key, file string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/backup", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("ask the server for a backup: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("ask the server for a backup: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	tmp := file + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, fmt.Errorf("backup file: %w", err)
	}
	n, err := io.Copy(f, resp.Body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, file)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("write backup %s: %w", file, err)
	}
	return n, nil
}
