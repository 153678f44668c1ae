// Package store keeps callbackd's durable state in one bbolt file:
// callbacks with their attempts and event logs, teams, API keys and
// idempotency records. Values are JSON; every state change and the events
// it produces are written in one transaction.
package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Bucket names. Keys are chosen so that bbolt's byte order is the order
// callers want: callback IDs sort by creation time (see NewID), attempts
// and events by number within a callback.
var (
	bktCallbacks  = []byte("callbacks")    // cbID -> callbackRecord
	bktAttempts   = []byte("attempts")     // cbID "/" number(8, BE) -> Attempt
	bktEvents     = []byte("events")       // cbID "/" seq(8, BE) -> Event
	bktPending    = []byte("pending")      // cbID -> team ID (status not final)
	bktByCustomer = []byte("by_customer")  // number "|" cbID -> created (unix ns, 8 BE)
	bktTeams      = []byte("teams")        // teamID -> teamRecord
	bktAPIKeys    = []byte("api_keys")     // keyID -> keyRecord
	bktAPIKeyHash = []byte("api_key_hash") // sha256 -> keyID
	bktIdem       = []byte("idempotency")  // scope 0x00 key -> idemRecord
	bktMeta       = []byte("meta")         // "version" -> schema version, callback_webhook_secret

	bktEndpoints            = []byte("webhook_endpoints")      // endpointID -> endpointRecord
	bktDeliveries           = []byte("deliveries")             // dlvID -> Delivery
	bktDeliveriesPending    = []byte("deliveries_pending")     // dlvID -> empty (status pending)
	bktDeliveriesByEndpoint = []byte("deliveries_by_endpoint") // endpointID or cbID (webhook_url) "/" dlvID -> empty
	bktPayloads             = []byte("event_payloads")         // evtID -> Envelope

	bktTriggers     = []byte("triggers")      // trgID -> triggerRecord
	bktTriggerDedup = []byte("trigger_dedup") // trgID "|" number -> dedupRecord

	allBuckets = [][]byte{bktCallbacks, bktAttempts, bktEvents, bktPending, bktByCustomer,
		bktTeams, bktAPIKeys, bktAPIKeyHash, bktIdem, bktMeta,
		bktEndpoints, bktDeliveries, bktDeliveriesPending, bktDeliveriesByEndpoint, bktPayloads,
		bktTriggers, bktTriggerDedup}
)

const schemaVersion = "1"

// Options tune Open.
type Options struct {
	Timeout time.Duration    // waiting for the file lock; 0 = 1s
	Now     func() time.Time // nil = time.Now (tests pass a fake)
}

// DB is an open store. It is safe for concurrent use.
type DB struct {
	bolt   *bolt.DB
	path   string
	now    func() time.Time
	boot   string
	commit *committer
	closed atomic.Bool
	// outboxHook is told of the deliveries each commit made pending.
	outboxHook outboxHook
}

// Open opens the store at path, creating the file (mode 0600) and its
// buckets if needed. A file another process holds gives ErrLocked after
// opts.Timeout; a file that is not a bbolt database gives ErrCorrupt.
func Open(path string, opts Options) (*DB, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	// A large initial mapping (address space, not memory or disk) spares
	// bbolt remapping as the file grows; a remap waits for every read
	// transaction, so a backup streaming out would stall the writers.
	// Not writing the freelist on each commit (it is rebuilt by a scan at
	// open) and keeping it as a map are etcd's settings: fewer pages per
	// commit, which took create from 0.85 to 0.56 ms (BENCHMARKS.md).
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         timeout,
		InitialMmapSize: 1 << 30,
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
	})
	if err != nil {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("store: open %s: no lock after %s, is another callbackd running? %w", path, timeout, ErrLocked)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch),
			errors.Is(err, berrors.ErrChecksum):
			return nil, fmt.Errorf("store: open %s: %w (%v)", path, ErrCorrupt, err)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db := &DB{bolt: bdb, path: path, now: now, boot: newBoot()}
	err = bdb.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bktMeta)
		switch v := meta.Get([]byte("version")); {
		case v == nil:
			if err := meta.Put([]byte("version"), []byte(schemaVersion)); err != nil {
				return err
			}
		case string(v) != schemaVersion:
			return fmt.Errorf("schema version %q, this build reads %q", v, schemaVersion)
		}
		if meta.Get(metaCallbackSecret) == nil {
			if err := meta.Put(metaCallbackSecret, []byte(NewSecret())); err != nil {
				return err
			}
		}
		return indexURLDeliveries(tx)
	})
	if err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.commit = newCommitter(bdb)
	return db, nil
}

// metaURLDeliveriesIndexed marks a store whose deliveries to callbacks' own
// webhook_url are in the index by callback; earlier files had only the
// endpoints' there.
var metaURLDeliveriesIndexed = []byte("url_deliveries_indexed")

// indexURLDeliveries adds, once, the deliveries to callbacks' own
// webhook_url to the index by owner.
func indexURLDeliveries(tx *bolt.Tx) error {
	meta := tx.Bucket(bktMeta)
	if meta.Get(metaURLDeliveriesIndexed) != nil {
		return nil
	}
	idx := tx.Bucket(bktDeliveriesByEndpoint)
	err := tx.Bucket(bktDeliveries).ForEach(func(k, v []byte) error {
		var d Delivery
		if err := json.Unmarshal(v, &d); err != nil {
			return fmt.Errorf("decode delivery %s: %w", k, err)
		}
		if d.EndpointID != "" {
			return nil
		}
		return idx.Put(endpointDeliveryKey(d.indexOwner(), d.ID), []byte{})
	})
	if err != nil {
		return fmt.Errorf("index webhook_url deliveries: %w", err)
	}
	return meta.Put(metaURLDeliveriesIndexed, []byte("1"))
}

func newBoot() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Close commits the writes already submitted, waits for running
// transactions and closes the file. Later calls give ErrClosed.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return ErrClosed
	}
	db.commit.close()
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", db.path, err)
	}
	return nil
}

// Boot is the random ID of this Open. An idempotency reservation left
// pending by another boot belongs to a request that died with its process.
func (db *DB) Boot() string { return db.boot }

// Path is the file the store was opened from.
func (db *DB) Path() string { return db.path }

// Ping runs an empty read transaction: the readiness check.
func (db *DB) Ping() error {
	return db.view("ping", func(*bolt.Tx) error { return nil })
}

// Backup writes a consistent copy of the whole database to w while the store
// keeps serving (a read transaction does not block writers).
func (db *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := db.view("backup", func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// BackupFile writes a consistent copy to path through path.tmp, fsynced and
// renamed, so path is either the old file or a complete new copy.
func (db *DB) BackupFile(path string) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if _, err := db.Backup(f); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("store: backup: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("store: backup: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("store: backup: %w", err)
	}
	// The rename is durable only once the directory is synced.
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// view runs fn in a read transaction; op names the operation in errors.
func (db *DB) view(op string, fn func(*bolt.Tx) error) error {
	if db.closed.Load() {
		return fmt.Errorf("store: %s: %w", op, ErrClosed)
	}
	return db.wrap(op, db.bolt.View(fn))
}

// update runs fn in a write transaction, which it may share with other
// writers (see commit.go). fn returns refusals as abort, having written
// nothing; any other error rolls back, and then fn may run again.
func (db *DB) update(op string, fn func(*bolt.Tx) error) error {
	if db.closed.Load() {
		return fmt.Errorf("store: %s: %w", op, ErrClosed)
	}
	err := db.commit.do(fn)
	if errors.Is(err, ErrClosed) && !isStoreErr(err) {
		return fmt.Errorf("store: %s: %w", op, ErrClosed)
	}
	return db.wrap(op, err)
}

// wrap prefixes err with the operation, mapping bbolt's "not open" to
// ErrClosed. Errors the store made already carry the prefix.
func (db *DB) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return fmt.Errorf("store: %s: %w", op, ErrClosed)
	case isStoreErr(err):
		return err
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// storeErr marks errors already prefixed by the store.
type storeErr struct{ err error }

func (e storeErr) Error() string { return e.err.Error() }
func (e storeErr) Unwrap() error { return e.err }

func isStoreErr(err error) bool {
	var se storeErr
	return errors.As(err, &se)
}

// errorf builds an error that wrap leaves alone.
func errorf(format string, args ...any) error {
	return storeErr{fmt.Errorf("store: "+format, args...)}
}

// refuse is errorf for a write function that wrote nothing: the shared
// transaction goes on without it.
func refuse(format string, args ...any) error {
	return abort{errorf(format, args...)}
}
