package store

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// The model hides some fields from API JSON (json:"-") that the store must
// keep; these records embed the model type and add them back.

type callbackRecord struct {
	*Callback
	LastSeq uint64 `json:"last_seq"`
}

type teamRecord struct {
	*Team
	NextRep int `json:"next_rep,omitempty"`
}

type keyRecord struct {
	*APIKey
	Hash string `json:"hash"` // hex
}

func encodeCallback(cb *Callback) ([]byte, error) {
	b, err := json.Marshal(callbackRecord{Callback: cb, LastSeq: cb.LastSeq})
	if err != nil {
		return nil, fmt.Errorf("encode callback %s: %w", cb.ID, err)
	}
	return b, nil
}

func decodeCallback(b []byte) (*Callback, error) {
	rec := callbackRecord{Callback: new(Callback)}
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("decode callback: %w", err)
	}
	rec.Callback.LastSeq = rec.LastSeq
	return rec.Callback, nil
}

func encodeTeam(t *Team) ([]byte, error) {
	b, err := json.Marshal(teamRecord{Team: t, NextRep: t.NextRep})
	if err != nil {
		return nil, fmt.Errorf("encode team %s: %w", t.ID, err)
	}
	return b, nil
}

func decodeTeam(b []byte) (*Team, error) {
	rec := teamRecord{Team: new(Team)}
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("decode team: %w", err)
	}
	rec.Team.NextRep = rec.NextRep
	return rec.Team, nil
}

func encodeKey(k *APIKey) ([]byte, error) {
	b, err := json.Marshal(keyRecord{APIKey: k, Hash: hex.EncodeToString(k.Hash[:])})
	if err != nil {
		return nil, fmt.Errorf("encode api key %s: %w", k.ID, err)
	}
	return b, nil
}

func decodeKey(b []byte) (*APIKey, error) {
	rec := keyRecord{APIKey: new(APIKey)}
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("decode api key: %w", err)
	}
	h, err := hex.DecodeString(rec.Hash)
	if err != nil || len(h) != 32 {
		return nil, fmt.Errorf("decode api key %s: bad hash", rec.APIKey.ID)
	}
	copy(rec.APIKey.Hash[:], h)
	return rec.APIKey, nil
}

// childKey is parent "/" n (8 bytes big-endian): the key of an attempt or
// event. The separator keeps one callback's prefix from matching another
// whose ID merely starts with it.
func childKey(parent string, n uint64) []byte {
	k := make([]byte, len(parent)+1+8)
	copy(k, parent)
	k[len(parent)] = '/'
	binary.BigEndian.PutUint64(k[len(parent)+1:], n)
	return k
}

func childPrefix(parent string) []byte {
	return append([]byte(parent), '/')
}

func childNumber(k []byte) uint64 {
	if len(k) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k[len(k)-8:])
}

func customerKey(number, id string) []byte {
	return []byte(number + "|" + id)
}

func timeBytes(t time.Time) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(t.UnixNano()))
	return b[:]
}

func bytesTime(b []byte) time.Time {
	if len(b) != 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b)))
}
