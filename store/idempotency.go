package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// IdempotencyTTL is how long a key is remembered: the same key within it
// replays the first response; after it, the key is free again.
const IdempotencyTTL = 24 * time.Hour

func idemRecordKey(scope, key string) []byte {
	k := make([]byte, 0, len(scope)+1+len(key))
	k = append(k, scope...)
	k = append(k, 0) // neither part contains NUL: header values cannot
	return append(k, key...)
}

func loadIdem(tx *bolt.Tx, k []byte) (*Idempotency, error) {
	v := tx.Bucket(bktIdem).Get(k)
	if v == nil {
		return nil, nil
	}
	rec := new(Idempotency)
	if err := json.Unmarshal(v, rec); err != nil {
		return nil, fmt.Errorf("decode idempotency record: %w", err)
	}
	return rec, nil
}

func putIdem(tx *bolt.Tx, k []byte, rec *Idempotency) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode idempotency record: %w", err)
	}
	return tx.Bucket(bktIdem).Put(k, v)
}

// ReserveIdempotency claims (scope, key) for a request whose method, path
// and body hash to hash. It returns (nil, nil) when the caller should run
// the request: no record, an expired one (older than IdempotencyTTL) or a
// pending one left by another boot (its process died). A completed record
// with the same hash is returned for replay; another hash is
// ErrIdempotencyMismatch; a pending record of this boot is
// ErrIdempotencyInFlight.
func (db *DB) ReserveIdempotency(scope, key string, hash [32]byte) (*Idempotency, error) {
	var replay *Idempotency
	err := db.update("reserve idempotency key", func(tx *bolt.Tx) error {
		k := idemRecordKey(scope, key)
		rec, err := loadIdem(tx, k)
		if err != nil {
			return err
		}
		now := db.now()
		// A pending record of another boot belongs to a request that died
		// with its process: it is taken over, whatever its body was.
		if rec != nil && now.Sub(rec.CreatedAt) < IdempotencyTTL && (rec.Done || rec.Boot == db.boot) {
			switch {
			case rec.BodyHash != hash:
				return refuse("idempotency key %q: %w", key, ErrIdempotencyMismatch)
			case rec.Done:
				replay = rec
				return nil
			}
			return refuse("idempotency key %q: %w", key, ErrIdempotencyInFlight)
		}
		return putIdem(tx, k, &Idempotency{Scope: scope, Key: key, BodyHash: hash, Boot: db.boot, CreatedAt: now})
	})
	if err != nil {
		return nil, err
	}
	return replay, nil
}

// CompleteIdempotency stores the response of a reserved request so repeats
// replay it. It does nothing when the record is done already (CreateCallback
// completed it); ErrNotFound when there is no record.
func (db *DB) CompleteIdempotency(scope, key string, status int, contentType string, body []byte) error {
	return db.update("complete idempotency key", func(tx *bolt.Tx) error {
		k := idemRecordKey(scope, key)
		rec, err := loadIdem(tx, k)
		if err != nil {
			return err
		}
		switch {
		case rec == nil:
			return refuse("complete idempotency key %q: %w", key, ErrNotFound)
		case rec.Done:
			return nil
		}
		rec.Done, rec.Status, rec.ContentType, rec.Body = true, status, contentType, body
		return putIdem(tx, k, rec)
	})
}

// ReleaseIdempotency drops a pending reservation (the request failed, so a
// retry with the key should run again). Done records and missing ones are
// left alone.
func (db *DB) ReleaseIdempotency(scope, key string) error {
	return db.update("release idempotency key", func(tx *bolt.Tx) error {
		k := idemRecordKey(scope, key)
		rec, err := loadIdem(tx, k)
		if err != nil || rec == nil || rec.Done {
			return err
		}
		return tx.Bucket(bktIdem).Delete(k)
	})
}

// PruneIdempotency deletes records created before before and returns how
// many it deleted.
func (db *DB) PruneIdempotency(before time.Time) (int, error) {
	n := 0
	err := db.update("prune idempotency keys", func(tx *bolt.Tx) error {
		n = 0
		var (
			created struct{ CreatedAt time.Time }
			doomed  [][]byte
		)
		err := tx.Bucket(bktIdem).ForEach(func(k, v []byte) error {
			created.CreatedAt = time.Time{}
			if err := json.Unmarshal(v, &created); err != nil {
				return fmt.Errorf("decode idempotency record: %w", err)
			}
			if created.CreatedAt.Before(before) {
				doomed = append(doomed, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Deleting while iterating makes bbolt's cursor skip keys.
		b := tx.Bucket(bktIdem)
		for _, k := range doomed {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(doomed)
		return nil
	})
	return n, err
}
