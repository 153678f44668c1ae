package store

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// crockford is Crockford's base32 alphabet in lower case: no i, l, o, u,
// so IDs read aloud or copied by hand stay unambiguous.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// idState makes IDs made in the same millisecond increase, so that bbolt's
// key order (and so "newest first" listing and cursor pagination) follows the
// order in which this process made them, not chance.
var idState struct {
	sync.Mutex
	ms   uint64
	rand [10]byte
}

// NewID returns prefix followed by 26 characters of lower-case Crockford
// base32: 48 bits of t in Unix milliseconds, then 80 random bits (the ULID
// layout). IDs therefore sort by creation time. Within one millisecond the
// random part grows by a random step, so IDs from one process keep their
// order even then.
func NewID(prefix string, t time.Time) string {
	ms := uint64(t.UnixMilli()) & (1<<48 - 1)
	var fresh [10]byte
	_, _ = rand.Read(fresh[:]) // never fails (crypto/rand panics instead)

	idState.Lock()
	r := fresh
	if ms == idState.ms && increment(&idState.rand, fresh) {
		r = idState.rand
	} else {
		idState.ms = ms
		idState.rand = fresh
	}
	idState.Unlock()

	var b [16]byte
	b[0] = byte(ms >> 40)
	b[1] = byte(ms >> 32)
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	copy(b[6:], r[:])
	return prefix + encode(b)
}

// increment adds a random 1..2^24 step to r (so consecutive IDs are not
// trivially guessable from each other) and reports false on overflow, in
// which case the caller starts over with fresh random bits.
func increment(r *[10]byte, fresh [10]byte) bool {
	step := uint32(fresh[0])<<16 | uint32(fresh[1])<<8 | uint32(fresh[2]) + 1
	lo := binary.BigEndian.Uint64(r[2:])
	hi := binary.BigEndian.Uint16(r[:2])
	nlo := lo + uint64(step)
	if nlo < lo {
		if hi == 0xffff {
			return false
		}
		hi++
	}
	binary.BigEndian.PutUint16(r[:2], hi)
	binary.BigEndian.PutUint64(r[2:], nlo)
	return true
}

// encode writes 128 bits as 26 base32 digits; the first digit carries only
// the top 3 bits (the leading 2 of its 5 are zero).
func encode(b [16]byte) string {
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// idTime returns the millisecond timestamp NewID put in id after prefix, or
// false if id is not such an ID.
func idTime(id string, prefixLen int) (time.Time, bool) {
	if len(id) != prefixLen+26 {
		return time.Time{}, false
	}
	var ms uint64
	for i := prefixLen; i < prefixLen+10; i++ {
		v := decodeDigit(id[i])
		if v < 0 {
			return time.Time{}, false
		}
		ms = ms<<5 | uint64(v)
	}
	return time.UnixMilli(int64(ms)), true
}

func decodeDigit(c byte) int {
	for i := 0; i < len(crockford); i++ {
		if crockford[i] == c {
			return i
		}
	}
	return -1
}

// idPrefixAt is the smallest prefix+26-character ID NewID could give for
// time t: used as a seek key for created-time ranges.
func idPrefixAt(prefix string, t time.Time) string {
	ms := uint64(t.UnixMilli())
	if t.UnixMilli() < 0 {
		ms = 0
	}
	var b [16]byte
	b[0] = byte(ms >> 40)
	b[1] = byte(ms >> 32)
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	return prefix + encode(b)
}
