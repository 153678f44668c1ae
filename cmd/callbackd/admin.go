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
	"github.com/callbackd/callbackd/client"
	"github.com/callbackd/callbackd/config"
	"github.com/callbackd/callbackd/store"
)

var keysCommand = command{
	name:    "keys",
	summary: "create, list and revoke API keys: in the store, or through a server",
	usage:   keysUsage,
	run:     runKeys,
}

const keysUsage = `usage: callbackd keys create --name NAME [--scope SCOPE ...] [flags]
       callbackd keys list [flags]
       callbackd keys revoke ID [flags]

create makes an API key and prints its secret, which is shown only this
once. Scopes: callbacks:write, callbacks:read, admin (default admin). list
prints the keys (never their secrets); revoke stops a key at once.

Where: with --server URL, or CALLBACKD_URL set and no --config, through
that server's API (/v1/api-keys), with an admin key from --key,
CALLBACKD_API_KEY or CALLBACKD_ADMIN_KEY. Otherwise (--config FILE, or
neither) in the store file of the configuration, directly: the way to make
the first key, and it works only while "callbackd serve" is stopped.
--config and --server together are refused.

Flags:
  --name NAME    what the key is for, e.g. "web form"
  --scope SCOPE  a scope to grant; repeat for several
  --config FILE  the store of this configuration (default: the built-in default)
  --server URL   the server's API (default: CALLBACKD_URL; neither: the store)
  --key KEY      admin API key (default: CALLBACKD_API_KEY, else CALLBACKD_ADMIN_KEY)
  --json         print JSON for scripts instead of a table
`

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const cmd = "keys"
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, keysUsage)
		return exitOK
	}
	if len(args) == 0 || !slices.Contains([]string{"create", "list", "revoke"}, args[0]) {
		return usageError(stderr, cmd, "want \"keys create\", \"keys list\" or \"keys revoke ID\"")
	}
	sub := args[0]
	fs := newFlagSet(cmd)
	var af apiFlags
	af.register(fs)
	configPath := fs.String("config", "", "")
	name := fs.String("name", "", "")
	var scopes numberList
	fs.Var(&scopes, "scope", "")
	var want []string
	if sub == "revoke" {
		want = []string{"ID"}
	}
	pos, code, done := parseArgs(fs, cmd, keysUsage, args[1:], stdout, stderr, want...)
	if done {
		return code
	}
	if sub == "create" {
		if strings.TrimSpace(*name) == "" {
			return usageError(stderr, cmd, "create needs --name")
		}
		if len(scopes) == 0 {
			scopes = numberList{store.ScopeAdmin}
		}
		for _, s := range scopes {
			if !slices.Contains([]string{store.ScopeAdmin, store.ScopeCallbacksRead, store.ScopeCallbacksWrite}, s) {
				return usageError(stderr, cmd, "unknown scope %q (want callbacks:write, callbacks:read or admin)", s)
			}
		}
	}
	out := output{w: stdout, errw: stderr, json: af.json}
	if *configPath != "" && af.server != "" {
		return usageError(stderr, cmd, "give --config (the store) or --server (the API), not both")
	}
	if af.server != "" || (*configPath == "" && af.serverURL() != "") {
		c, code, done := af.client(cmd, stderr)
		if done {
			return code
		}
		if err := keysAPI(ctx, c, sub, pos, *name, scopes, out); err != nil {
			return apiExit(stderr, cmd, err)
		}
		return exitOK
	}
	if af.key != "" {
		return usageError(stderr, cmd, "--key is for a server's API: give --server too, or set CALLBACKD_URL")
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return fail(stderr, cmd, exitCode(err), err)
	}
	db, err := openStoreOffline(cfg)
	if err != nil {
		return fail(stderr, cmd, exitFail, err)
	}
	defer db.Close()
	switch sub {
	case "list":
		keys, err := db.ListAPIKeys()
		if err != nil {
			return fail(stderr, cmd, exitFail, err)
		}
		list := &client.Page[*client.APIKey]{Data: make([]*client.APIKey, len(keys))}
		for i, k := range keys {
			list.Data[i] = clientKey(k)
		}
		emit(out, list, showKeys)
	case "revoke":
		k, err := db.RevokeAPIKey(pos[0])
		if errors.Is(err, store.ErrNotFound) {
			return fail(stderr, cmd, exitNotFound, fmt.Errorf("no API key %q in %s", pos[0], cfg.Store.Path))
		} else if err != nil {
			return fail(stderr, cmd, exitFail, err)
		}
		emit(out, clientKey(k), showRevoked)
	default:
		secret, hash := api.NewKeySecret()
		k := &store.APIKey{ID: store.NewID("key_", time.Now()), Name: *name, Prefix: secret[:12], Hash: hash,
			Scopes: scopes, CreatedAt: time.Now().UTC()}
		if err := db.CreateAPIKey(k); err != nil {
			return fail(stderr, cmd, exitFail, fmt.Errorf("store key: %w", err))
		}
		printCreatedKey(out, &client.APIKeyCreated{APIKey: *clientKey(k), Secret: secret})
	}
	return exitOK
}

// keysAPI runs a keys verb through a server's API.
func keysAPI(ctx context.Context, c *client.Client, sub string, pos []string, name string, scopes []string, out output) error {
	switch sub {
	case "list":
		list, err := c.APIKeys.List(ctx)
		if err != nil {
			return err
		}
		emit(out, list, showKeys)
	case "revoke":
		k, err := c.APIKeys.Revoke(ctx, pos[0])
		if err != nil {
			return err
		}
		emit(out, k, showRevoked)
	default:
		k, err := c.APIKeys.Create(ctx, &client.APIKeyCreate{Name: name, Scopes: scopes})
		if err != nil {
			return err
		}
		printCreatedKey(out, k)
	}
	return nil
}

func clientKey(k *store.APIKey) *client.APIKey {
	return &client.APIKey{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Scopes: k.Scopes, CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt}
}

func showKeys(w io.Writer, list *client.Page[*client.APIKey]) {
	t := newTable(w, "ID", "PREFIX", "SCOPES", "CREATED", "REVOKED", "NAME")
	for _, k := range list.Data {
		t.row(k.ID, k.Prefix, strings.Join(k.Scopes, ","), when(k.CreatedAt), when(k.RevokedAt), k.Name)
	}
	t.flush()
}

// printCreatedKey prints the secret alone on stdout, for scripts, and what
// it is on stderr; or, with --json, the key with its secret.
func printCreatedKey(out output, k *client.APIKeyCreated) {
	if out.json {
		printJSON(out.w, k)
		return
	}
	fmt.Fprintf(out.w, "%s\n", k.Secret)
	fmt.Fprintf(out.errw, "created API key %s (%s) with scopes %s; the secret above is shown only once\n",
		k.ID, k.Name, strings.Join(k.Scopes, ","))
}

func showRevoked(w io.Writer, k *client.APIKey) {
	fmt.Fprintf(w, "revoked %s (%s) at %s\n", k.ID, k.Name, when(k.RevokedAt))
}

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
