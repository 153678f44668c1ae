package schedule

import (
	"context"
	"math/bits"
	"sync"
	"time"
)

// Wheel geometry. 64 slots per level let one uint64 per level record which
// slots hold timers, so finding the next due slot is a TrailingZeros64
// instead of a walk over empty slots; that is what lets Advance jump over a
// quiet week in microseconds. Eleven levels of 6 bits cover every uint64
// tick, so no timer is ever too far away for the wheel and there is no
// overflow list to rescan.
const (
	slotBits  = 6
	slots     = 1 << slotBits
	slotMask  = slots - 1
	levels    = 11
	nBuckets  = levels * slots
	dueList   = nBuckets     // sentinel: popped from the wheel, waiting to fire
	lateList  = nBuckets + 1 // sentinel: added at or before the wheel's time
	nSentinel = nBuckets + 2

	// Nodes live in fixed-size chunks rather than one growing slice, so an
	// Add never copies the whole table under the lock (a 32 MB copy at a
	// million timers would stall every API goroutine for milliseconds) and
	// memory grows by 32 kB at a time instead of doubling.
	chunkBits = 10
	chunkSize = 1 << chunkBits
	chunkMask = chunkSize - 1

	// fireBatch is how many due ids Advance collects under the lock before
	// releasing it to call fire, so Add and Cancel wait at most one batch
	// even when a million timers fall due at once.
	fireBatch = 256
)

// node is one pending timer, or a list sentinel. Lists are circular and
// doubly linked through int32 indices, which is what makes Cancel O(1) and
// keeps a node at 32 bytes: no pointers for the garbage collector to scan,
// no per-timer allocation.
type node struct {
	id   uint64
	when uint64 // due tick, counted from the wheel's start
	next int32
	prev int32
	// gen changes each time the node is freed, so a Timer handle kept past
	// its firing cannot cancel whichever timer reuses the node.
	gen uint32
}

// Timer identifies a pending timer for Cancel. The zero Timer is never
// valid. A Timer is only meaningful to the Wheel that returned it.
type Timer uint64

// Wheel is a hierarchical timer wheel keyed by due time. Timers carry a
// uint64 id chosen by the caller; when one is due, Advance passes its id to
// the fire function.
//
// A timer fires in the first Advance whose time has reached the first tick
// boundary at or after its due time: never early, and at most one tick
// late when Advance is called every tick. Timers due in the same tick fire in no
// promised order; timers in different ticks fire in tick order.
//
// Add, Cancel and Len are safe from any goroutine, also while Advance runs.
// The wheel measures wall-clock time (monotonic readings are dropped),
// because the times it is given come from users and storage as wall times.
type Wheel struct {
	tick  time.Duration
	start time.Time

	// advMu serialises Advance calls so timers fire in order even if two
	// goroutines advance the same wheel.
	advMu sync.Mutex

	mu     sync.Mutex
	now    uint64 // every timer due at or before this tick has been popped
	chunks [][]node
	n      int32 // nodes handed out so far, sentinels included
	free   int32 // head of the free list through node.next, or -1
	count  int
	occ    [levels]uint64 // bit s of occ[l]: bucket (l, s) is not empty
}

// NewWheel returns an empty wheel whose time is start, with the given tick
// (its resolution). Ten milliseconds suits callbacks and ring timeouts; a
// smaller tick costs only more frequent Advance calls.
func NewWheel(tick time.Duration, start time.Time) *Wheel {
	if tick <= 0 {
		panic("schedule: NewWheel: tick must be positive")
	}
	w := &Wheel{tick: tick, start: start.Round(0), free: -1}
	for i := 0; i < nSentinel; i++ {
		s := w.alloc()
		w.node(s).next, w.node(s).prev = s, s
	}
	return w
}

// Tick returns the wheel's resolution.
func (w *Wheel) Tick() time.Duration { return w.tick }

// Now returns the wheel's time: the start of the last tick Advance reached.
func (w *Wheel) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.timeOf(w.now)
}

// Len returns the number of pending timers, including due timers that
// Advance has not yet handed to fire.
func (w *Wheel) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.count
}

// Add arms a timer that fires id at time at. A time at or before the
// wheel's current time fires in the next Advance (not the one running, so
// a fire function that re-adds "now" cannot spin Advance forever).
// Adding the same id twice arms two timers.
func (w *Wheel) Add(at time.Time, id uint64) Timer {
	when := w.ticksCeil(at)
	w.mu.Lock()
	i := w.alloc()
	nd := w.node(i)
	nd.id, nd.when = id, when
	w.place(i, lateList)
	w.count++
	t := Timer(uint64(nd.gen)<<32 | uint64(uint32(i)))
	w.mu.Unlock()
	return t
}

// Cancel stops t. It reports whether it did: false means the timer already
// fired, is being fired by a running Advance, or was cancelled before, so a
// caller racing a firing must be ready for the fire to arrive anyway.
func (w *Wheel) Cancel(t Timer) bool {
	i, gen := int32(uint32(t)), uint32(t>>32)
	w.mu.Lock()
	defer w.mu.Unlock()
	if i < nSentinel || i >= w.n {
		return false
	}
	if w.node(i).gen != gen {
		return false
	}
	w.unlink(i)
	w.release(i)
	w.count--
	return true
}

// Advance moves the wheel's time forward to now and calls fire, from the
// calling goroutine and without the wheel's lock held, for each due timer
// in tick order. fire may call Add and Cancel but not Advance. A now
// before the wheel's time fires only timers added in the past. Advance
// returns the number of timers fired.
func (w *Wheel) Advance(now time.Time, fire func(id uint64)) int {
	target := w.ticksFloor(now)
	w.advMu.Lock()
	defer w.advMu.Unlock()

	var buf [fireBatch]uint64
	fired := 0
	w.mu.Lock()
	// Only what was late when this Advance began; see Add.
	w.spliceTail(dueList, lateList)
	for {
		n := 0
		for n < len(buf) {
			s := w.node(dueList)
			if s.next == dueList {
				if !w.step(target) {
					break
				}
				continue
			}
			i := s.next
			buf[n] = w.node(i).id
			n++
			w.unlink(i)
			w.release(i)
			w.count--
		}
		if n == 0 {
			break
		}
		w.mu.Unlock()
		for _, id := range buf[:n] {
			fire(id)
		}
		fired += n
		w.mu.Lock()
	}
	w.mu.Unlock()
	return fired
}

// step moves the wheel's time to the next tick, up to target, at which a
// bucket needs attention, and moves that bucket's due timers to the due
// list (cascading the rest to lower levels). It reports false when nothing
// is due by target, after moving the time to target.
func (w *Wheel) step(target uint64) bool {
	for l := 0; l < levels; l++ {
		shift := uint(l * slotBits)
		cur := (w.now >> shift) & slotMask
		// Buckets at or below the current slot are empty by construction: a
		// timer goes to the level of the highest 6-bit group in which its
		// tick differs from the wheel's, and that group is always ahead.
		mask := w.occ[l] & (^uint64(0) << (cur + 1))
		if mask == 0 {
			continue
		}
		s := uint64(bits.TrailingZeros64(mask))
		// The first tick of bucket (l, s): higher groups as now, group l = s,
		// lower groups zero. Buckets on lower levels are all earlier than
		// anything on this one, so the first level with a bucket wins.
		above := shift + slotBits
		var hi uint64
		if above < 64 {
			hi = w.now >> above << above
		}
		at := hi | s<<shift
		if at > target {
			break
		}
		w.now = at
		b := int32(l*slots) + int32(s)
		w.occ[l] &^= 1 << s
		if l == 0 {
			w.spliceTail(dueList, b)
			return true
		}
		// Re-place each timer against the new time: all share the groups
		// above l with it, so each lands on a lower level or is due now.
		for {
			i := w.node(b).next
			if i == b {
				break
			}
			w.unlink(i)
			w.place(i, dueList)
		}
		return true
	}
	if target > w.now {
		w.now = target
	}
	return false
}

// place links node i into the bucket for its due tick relative to w.now,
// or onto list past if it is already due.
func (w *Wheel) place(i, past int32) {
	when := w.node(i).when
	if when <= w.now {
		w.linkTail(past, i)
		return
	}
	l := (bits.Len64(when^w.now) - 1) / slotBits
	s := (when >> uint(l*slotBits)) & slotMask
	w.occ[l] |= 1 << s
	w.linkTail(int32(l*slots)+int32(s), i)
}

func (w *Wheel) node(i int32) *node {
	return &w.chunks[i>>chunkBits][i&chunkMask]
}

func (w *Wheel) alloc() int32 {
	if i := w.free; i >= 0 {
		w.free = w.node(i).next
		return i
	}
	i := w.n
	if int(i>>chunkBits) == len(w.chunks) {
		w.chunks = append(w.chunks, make([]node, chunkSize))
	}
	w.n++
	w.node(i).gen = 1
	return i
}

func (w *Wheel) release(i int32) {
	nd := w.node(i)
	nd.gen++
	if nd.gen == 0 {
		nd.gen = 1 // keep the zero Timer invalid
	}
	nd.next, nd.prev = w.free, -1
	w.free = i
}

func (w *Wheel) linkTail(list, i int32) {
	s := w.node(list)
	last := s.prev
	nd := w.node(i)
	nd.prev, nd.next = last, list
	w.node(last).next = i
	s.prev = i
}

// unlink removes node i from its list and, when that empties a wheel
// bucket, clears the bucket's bit. An emptied list is the only case in
// which i's neighbours are one and the same node: the list's sentinel.
func (w *Wheel) unlink(i int32) {
	nd := w.node(i)
	p, n := nd.prev, nd.next
	w.node(p).next = n
	w.node(n).prev = p
	if p == n && p < nBuckets {
		w.occ[p/slots] &^= 1 << (p % slots)
	}
}

// spliceTail moves every node of list from to the end of list to in O(1).
func (w *Wheel) spliceTail(to, from int32) {
	f := w.node(from)
	if f.next == from {
		return
	}
	first, last := f.next, f.prev
	t := w.node(to)
	tail := t.prev
	w.node(tail).next = first
	w.node(first).prev = tail
	w.node(last).next = to
	t.prev = last
	f.next, f.prev = from, from
}

// ticksCeil is the first tick whose start is at or after at, so a timer
// never fires early.
func (w *Wheel) ticksCeil(at time.Time) uint64 {
	d := at.Round(0).Sub(w.start)
	if d <= 0 {
		return 0
	}
	t := uint64(d / w.tick)
	if d%w.tick != 0 {
		t++
	}
	return t
}

// ticksFloor is the last tick whose start is at or before now.
func (w *Wheel) ticksFloor(now time.Time) uint64 {
	d := now.Round(0).Sub(w.start)
	if d <= 0 {
		return 0
	}
	return uint64(d / w.tick)
}

func (w *Wheel) timeOf(tick uint64) time.Time {
	return w.start.Add(time.Duration(tick) * w.tick)
}

// Run advances w to c.Now() on every tick of a ticker from c until ctx is
// done, and returns ctx.Err(). It advances once at the start, so timers
// already due fire without waiting a tick. A nil c means [System].
func (w *Wheel) Run(ctx context.Context, c Clock, fire func(id uint64)) error {
	if c == nil {
		c = System
	}
	t := c.NewTicker(w.tick)
	defer t.Stop()
	w.Advance(c.Now(), fire)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
			w.Advance(c.Now(), fire)
		}
	}
}
