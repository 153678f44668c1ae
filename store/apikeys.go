package store

import bolt "go.etcd.io/bbolt"

// CreateAPIKey stores a new key; ErrConflict if its ID or hash exists.
func (db *DB) CreateAPIKey(k *APIKey) error {
	if k.ID == "" {
		return errorf("create api key: empty ID")
	}
	return db.update("create api key "+k.ID, func(tx *bolt.Tx) error {
		if tx.Bucket(bktAPIKeys).Get([]byte(k.ID)) != nil {
			return refuse("create api key %s: %w", k.ID, ErrConflict)
		}
		if tx.Bucket(bktAPIKeyHash).Get(k.Hash[:]) != nil {
			return refuse("create api key %s: hash in use: %w", k.ID, ErrConflict)
		}
		if k.CreatedAt.IsZero() {
			k.CreatedAt = db.now()
		}
		return putKey(tx, k)
	})
}

// PutAPIKey inserts or replaces the key with k.ID (the admin key from
// configuration, written at every start). For the same secret (hash) the
// stored CreatedAt and RevokedAt are kept and copied into k: a revoked
// configuration key stays revoked across restarts until its secret
// changes. A hash that belongs to another key is ErrConflict.
func (db *DB) PutAPIKey(k *APIKey) error {
	if k.ID == "" {
		return errorf("put api key: empty ID")
	}
	return db.update("put api key "+k.ID, func(tx *bolt.Tx) error {
		hashes := tx.Bucket(bktAPIKeyHash)
		if owner := hashes.Get(k.Hash[:]); owner != nil && string(owner) != k.ID {
			return refuse("put api key %s: hash in use by %s: %w", k.ID, owner, ErrConflict)
		}
		if v := tx.Bucket(bktAPIKeys).Get([]byte(k.ID)); v != nil {
			old, err := decodeKey(v)
			if err != nil {
				return err
			}
			if old.Hash == k.Hash {
				k.CreatedAt, k.RevokedAt = old.CreatedAt, old.RevokedAt
			} else if err := hashes.Delete(old.Hash[:]); err != nil {
				return err
			}
		}
		if k.CreatedAt.IsZero() {
			k.CreatedAt = db.now()
		}
		return putKey(tx, k)
	})
}

func putKey(tx *bolt.Tx, k *APIKey) error {
	v, err := encodeKey(k)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bktAPIKeys).Put([]byte(k.ID), v); err != nil {
		return err
	}
	return tx.Bucket(bktAPIKeyHash).Put(k.Hash[:], []byte(k.ID))
}

// APIKeyByHash returns the key whose secret hashes to h (revoked keys too:
// the caller checks RevokedAt), or ErrNotFound.
func (db *DB) APIKeyByHash(h [32]byte) (*APIKey, error) {
	var k *APIKey
	err := db.view("api key by hash", func(tx *bolt.Tx) error {
		id := tx.Bucket(bktAPIKeyHash).Get(h[:])
		if id == nil {
			return errorf("api key by hash: %w", ErrNotFound)
		}
		var err error
		k, err = loadKey(tx, string(id))
		return err
	})
	return k, err
}

// GetAPIKey returns the key, or ErrNotFound.
func (db *DB) GetAPIKey(id string) (*APIKey, error) {
	var k *APIKey
	err := db.view("get api key "+id, func(tx *bolt.Tx) error {
		var err error
		k, err = loadKey(tx, id)
		return err
	})
	return k, err
}

func loadKey(tx *bolt.Tx, id string) (*APIKey, error) {
	v := tx.Bucket(bktAPIKeys).Get([]byte(id))
	if v == nil {
		return nil, errorf("api key %s: %w", id, ErrNotFound)
	}
	return decodeKey(v)
}

// ListAPIKeys returns all keys by ID (creation order for NewID IDs).
func (db *DB) ListAPIKeys() ([]*APIKey, error) {
	var out []*APIKey
	err := db.view("list api keys", func(tx *bolt.Tx) error {
		return tx.Bucket(bktAPIKeys).ForEach(func(_, v []byte) error {
			k, err := decodeKey(v)
			if err != nil {
				return err
			}
			out = append(out, k)
			return nil
		})
	})
	return out, err
}

// RevokeAPIKey sets RevokedAt (kept if already set) and returns the key;
// ErrNotFound if there is none.
func (db *DB) RevokeAPIKey(id string) (*APIKey, error) {
	var k *APIKey
	err := db.update("revoke api key "+id, func(tx *bolt.Tx) error {
		var err error
		if k, err = loadKey(tx, id); err != nil {
			return abort{err}
		}
		if !k.RevokedAt.IsZero() {
			return nil
		}
		k.RevokedAt = db.now()
		return putKey(tx, k)
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}
