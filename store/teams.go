package store

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// CreateTeam stores a new team, setting CreatedAt and UpdatedAt; ErrConflict
// if the ID exists.
func (db *DB) CreateTeam(t *Team) error {
	if t.ID == "" {
		return errorf("create team: empty ID")
	}
	return db.update("create team "+t.ID, func(tx *bolt.Tx) error {
		b := tx.Bucket(bktTeams)
		if b.Get([]byte(t.ID)) != nil {
			return refuse("create team %s: %w", t.ID, ErrConflict)
		}
		now := db.now()
		t.CreatedAt, t.UpdatedAt = now, now
		v, err := encodeTeam(t)
		if err != nil {
			return err
		}
		return b.Put([]byte(t.ID), v)
	})
}

// GetTeam returns the team, or ErrNotFound.
func (db *DB) GetTeam(id string) (*Team, error) {
	var t *Team
	err := db.view("get team "+id, func(tx *bolt.Tx) error {
		var err error
		t, err = loadTeam(tx, id)
		return err
	})
	return t, err
}

func loadTeam(tx *bolt.Tx, id string) (*Team, error) {
	v := tx.Bucket(bktTeams).Get([]byte(id))
	if v == nil {
		return nil, errorf("team %s: %w", id, ErrNotFound)
	}
	return decodeTeam(v)
}

// ListTeams returns all teams by ID.
func (db *DB) ListTeams() ([]*Team, error) {
	var out []*Team
	err := db.view("list teams", func(tx *bolt.Tx) error {
		return tx.Bucket(bktTeams).ForEach(func(_, v []byte) error {
			t, err := decodeTeam(v)
			if err != nil {
				return err
			}
			out = append(out, t)
			return nil
		})
	})
	return out, err
}

// UpdateTeam runs fn on the stored team in one transaction and stores the
// result with a new UpdatedAt. fn's error rolls back and is returned
// (wrapped); the ID and CreatedAt cannot change.
func (db *DB) UpdateTeam(id string, fn func(*Team) error) (*Team, error) {
	var (
		prepared bool // fn runs once; a rerun of the transaction replays
		t        *Team
		v        []byte
		refusal  error
	)
	err := db.update("update team "+id, func(tx *bolt.Tx) error {
		if !prepared {
			prepared = true
			t, v, refusal = db.prepareTeamUpdate(tx, id, fn)
		}
		if refusal != nil {
			return refusal
		}
		return tx.Bucket(bktTeams).Put([]byte(id), v)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (db *DB) prepareTeamUpdate(tx *bolt.Tx, id string, fn func(*Team) error) (*Team, []byte, error) {
	t, err := loadTeam(tx, id)
	if err != nil {
		return nil, nil, abort{err}
	}
	created := t.CreatedAt
	if err := fn(t); err != nil {
		return nil, nil, refuse("update team %s: %w", id, err)
	}
	if t.ID != id {
		return nil, nil, refuse("update team %s: the ID cannot change (to %q)", id, t.ID)
	}
	t.CreatedAt, t.UpdatedAt = created, db.now()
	v, err := encodeTeam(t)
	if err != nil {
		return nil, nil, abort{err}
	}
	return t, v, nil
}

// DeleteTeam deletes the team: ErrNotFound if there is none, ErrTeamInUse
// while a scheduled or in-progress callback names it (final callbacks keep
// the ID as history).
func (db *DB) DeleteTeam(id string) error {
	return db.update("delete team "+id, func(tx *bolt.Tx) error {
		b := tx.Bucket(bktTeams)
		if b.Get([]byte(id)) == nil {
			return refuse("delete team %s: %w", id, ErrNotFound)
		}
		// The pending index keeps each callback's team as its value, so this
		// reads no callback records.
		team := []byte(id)
		c := tx.Bucket(bktPending).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if bytes.Equal(v, team) {
				return refuse("delete team %s: callback %s: %w", id, k, ErrTeamInUse)
			}
		}
		return b.Delete(team)
	})
}
