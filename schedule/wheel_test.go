package schedule

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

const tick = 10 * time.Millisecond

// firing records what one Advance fired and the time it was given.
type firing struct {
	id  uint64
	now time.Time
}

type recorder struct{ got []firing }

func (r *recorder) advance(w *Wheel, now time.Time) int {
	return w.Advance(now, func(id uint64) { r.got = append(r.got, firing{id, now}) })
}

// checkFired verifies that every timer fired exactly once, never before its
// due time, at most one tick after it, and in order of due tick.
func checkFired(t *testing.T, got []firing, due map[uint64]time.Time, late time.Duration) {
	t.Helper()
	if len(got) != len(due) {
		t.Fatalf("fired %d timers, want %d", len(got), len(due))
	}
	seen := map[uint64]bool{}
	var prevTick time.Duration = -1
	for _, f := range got {
		at, ok := due[f.id]
		if !ok || seen[f.id] {
			t.Fatalf("id %d fired unexpectedly (known %v, seen %v)", f.id, ok, seen[f.id])
		}
		seen[f.id] = true
		if f.now.Before(at) {
			t.Fatalf("id %d due %v fired early at %v", f.id, at, f.now)
		}
		if f.now.Sub(at) > late {
			t.Fatalf("id %d due %v fired %v late", f.id, at, f.now.Sub(at))
		}
		dt := at.Sub(t0) + tick - 1
		dt -= dt % tick
		if dt < prevTick {
			t.Fatalf("id %d (due tick %v) fired after a timer due at tick %v", f.id, dt, prevTick)
		}
		prevTick = dt
	}
}

func TestWheelFiresInOrderNeverEarlyAtMostOneTickLate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		spread time.Duration
		n      int
	}{
		{"within a second", time.Second, 2000},
		{"within an hour", time.Hour, 5000},
		{"within five weeks", 5 * 7 * 24 * time.Hour, 5000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(1, uint64(tc.n)))
			w := NewWheel(tick, t0)
			due := map[uint64]time.Time{}
			for i := range tc.n {
				at := t0.Add(time.Duration(rng.Int64N(int64(tc.spread))) + 1)
				due[uint64(i)] = at
				w.Add(at, uint64(i))
			}
			if w.Len() != tc.n {
				t.Fatalf("Len %d, want %d", w.Len(), tc.n)
			}
			var r recorder
			// Ticking through five weeks is 300M steps; instead visit
			// every due time's tick end plus a few random instants, which
			// exercises the same edges. Advancing to a tick's end is
			// what a per-tick Advance would do.
			var stops []time.Time
			for _, at := range due {
				k := (at.Sub(t0) + tick - 1) / tick
				stops = append(stops, t0.Add(k*tick), t0.Add(k*tick-1))
			}
			for range 100 {
				stops = append(stops, t0.Add(time.Duration(rng.Int64N(int64(tc.spread)))))
			}
			slices.SortFunc(stops, func(a, b time.Time) int { return a.Compare(b) })
			for _, s := range stops {
				r.advance(w, s)
			}
			checkFired(t, r.got, due, tick)
			if w.Len() != 0 {
				t.Fatalf("Len %d after all fired", w.Len())
			}
		})
	}
}

func TestWheelTickByTick(t *testing.T) {
	t.Parallel()
	w := NewWheel(tick, t0)
	due := map[uint64]time.Time{}
	rng := rand.New(rand.NewPCG(2, 2))
	// 20 s of ticks: crosses level-0 and level-1 boundaries many times.
	for i := range 3000 {
		at := t0.Add(time.Duration(rng.Int64N(int64(20 * time.Second))))
		due[uint64(i)] = at
		w.Add(at, uint64(i))
	}
	var r recorder
	for now := t0; !now.After(t0.Add(20*time.Second + tick)); now = now.Add(tick) {
		r.advance(w, now)
	}
	checkFired(t, r.got, due, tick)
}

func TestWheelExactTickBoundaries(t *testing.T) {
	t.Parallel()
	w := NewWheel(tick, t0)
	var r recorder
	w.Add(t0.Add(tick), 1)     // exactly on a tick
	w.Add(t0.Add(tick+1), 2)   // 1 ns into the next tick
	w.Add(t0.Add(2*tick-1), 3) // last ns of that tick
	r.advance(w, t0.Add(tick-1))
	if len(r.got) != 0 {
		t.Fatalf("fired early: %v", r.got)
	}
	r.advance(w, t0.Add(tick))
	if len(r.got) != 1 || r.got[0].id != 1 {
		t.Fatalf("at 1 tick got %v", r.got)
	}
	r.advance(w, t0.Add(2*tick-1))
	if len(r.got) != 1 {
		t.Fatalf("fired early: %v", r.got)
	}
	r.advance(w, t0.Add(2*tick))
	if len(r.got) != 3 {
		t.Fatalf("at 2 ticks got %v", r.got)
	}
}

func TestWheelCancel(t *testing.T) {
	t.Parallel()
	w := NewWheel(tick, t0)
	var r recorder
	a := w.Add(t0.Add(time.Second), 1)
	b := w.Add(t0.Add(time.Second), 2)
	c := w.Add(t0.Add(30*24*time.Hour), 3) // high level
	if !w.Cancel(a) {
		t.Fatal("Cancel of a pending timer returned false")
	}
	if w.Cancel(a) {
		t.Fatal("second Cancel returned true")
	}
	if !w.Cancel(c) {
		t.Fatal("Cancel of a far timer returned false")
	}
	if w.Len() != 1 {
		t.Fatalf("Len %d, want 1", w.Len())
	}
	r.advance(w, t0.Add(60*24*time.Hour))
	if len(r.got) != 1 || r.got[0].id != 2 {
		t.Fatalf("fired %v, want only id 2", r.got)
	}
	if w.Cancel(b) {
		t.Fatal("Cancel after firing returned true")
	}
	if w.Cancel(0) || w.Cancel(Timer(5)) || w.Cancel(Timer(1<<32|1<<30)) {
		t.Fatal("Cancel of a bogus handle returned true")
	}
	// The freed node is reused; the old handle must not cancel the new timer.
	d := w.Add(t0.Add(90*24*time.Hour), 4)
	if w.Cancel(b) || w.Cancel(a) {
		t.Fatal("stale handle cancelled a reused node")
	}
	if !w.Cancel(d) {
		t.Fatal("Cancel of the reused node failed")
	}
}

func TestWheelCancelEmptiesBucket(t *testing.T) {
	t.Parallel()
	// Cancelling the only timer of a bucket must clear its bit, or step
	// would jump to an empty bucket (harmless) — and the opposite, a
	// cleared bit on a non-empty bucket, would lose timers. Check both by
	// cancelling from the head, middle and tail of one bucket.
	w := NewWheel(tick, t0)
	var hs []Timer
	for i := range 5 {
		hs = append(hs, w.Add(t0.Add(5*time.Second), uint64(i)))
	}
	w.Cancel(hs[0])
	w.Cancel(hs[2])
	w.Cancel(hs[4])
	var r recorder
	r.advance(w, t0.Add(time.Minute))
	if len(r.got) != 2 || r.got[0].id != 1 || r.got[1].id != 3 {
		t.Fatalf("got %v, want ids 1 and 3 in insertion order", r.got)
	}
	for l := range w.occ {
		if w.occ[l] != 0 {
			t.Fatalf("level %d bitmap %x after all fired", l, w.occ[l])
		}
	}
}

func TestWheelReAdd(t *testing.T) {
	t.Parallel()
	w := NewWheel(tick, t0)
	var r recorder
	h := w.Add(t0.Add(time.Hour), 7)
	w.Cancel(h)
	w.Add(t0.Add(2*time.Hour), 7)
	r.advance(w, t0.Add(90*time.Minute))
	if len(r.got) != 0 {
		t.Fatalf("cancelled timer fired: %v", r.got)
	}
	r.advance(w, t0.Add(2*time.Hour))
	if len(r.got) != 1 || r.got[0].id != 7 {
		t.Fatalf("got %v", r.got)
	}
	// Re-adding from inside fire, for a time already passed, fires in the
	// next Advance rather than looping in this one.
	n := 0
	w.Add(t0.Add(3*time.Hour), 8)
	for range 3 {
		w.Advance(t0.Add(3*time.Hour), func(id uint64) {
			n++
			w.Add(t0, id)
		})
	}
	if n != 3 {
		t.Fatalf("self re-adding timer fired %d times in 3 Advances, want 3", n)
	}
}

func TestWheelFarFutureCascades(t *testing.T) {
	t.Parallel()
	// One timer at each power of 64 ticks and its neighbours: each must
	// cascade down through every level to fire in the right tick. A 1 ns
	// tick lets time.Duration reach the top level (2^60 ticks, 36 years).
	w := NewWheel(time.Nanosecond, t0)
	due := map[uint64]time.Time{}
	id := uint64(0)
	for l := 0; l < levels; l++ {
		base := time.Duration(1) << (6 * l)
		for _, d := range []time.Duration{base - 1, base, base + 1, 3*base + 5} {
			if d <= 0 {
				continue
			}
			at := t0.Add(d)
			due[id] = at
			w.Add(at, id)
			id++
		}
	}
	var ats []time.Time
	for _, at := range due {
		ats = append(ats, at)
	}
	slices.SortFunc(ats, func(a, b time.Time) int { return a.Compare(b) })
	var r recorder
	for _, at := range ats {
		r.advance(w, at.Add(-time.Nanosecond)) // just before: nothing new fires
		r.advance(w, at)
	}
	// Advance stops exactly at each due time, so "late" is zero here.
	checkFired(t, r.got, due, 0)
}

func TestWheelFarFutureOneJump(t *testing.T) {
	t.Parallel()
	w := NewWheel(tick, t0)
	years := t0.AddDate(200, 0, 0)
	w.Add(years, 1)
	w.Add(t0.Add(time.Hour), 2)
	var r recorder
	start := time.Now()
	r.advance(w, t0.AddDate(100, 0, 0))
	if len(r.got) != 1 || r.got[0].id != 2 {
		t.Fatalf("got %v", r.got)
	}
	r.advance(w, years)
	if len(r.got) != 2 || r.got[1].id != 1 {
		t.Fatalf("got %v", r.got)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("jumping 200 years took %v; empty stretches must be skipped", el)
	}
}

func TestWheelManyAtSameInstant(t *testing.T) {
	t.Parallel()
	w := NewWheel(tick, t0)
	at := t0.Add(36 * time.Hour)
	const n = 100_000
	for i := range n {
		w.Add(at, uint64(i))
	}
	w.Add(at.Add(tick), n) // the next tick, must come last
	var r recorder
	r.advance(w, at.Add(-tick))
	if len(r.got) != 0 {
		t.Fatalf("%d fired early", len(r.got))
	}
	if got := r.advance(w, at.Add(tick)); got != n+1 {
		t.Fatalf("Advance returned %d, want %d", got, n+1)
	}
	if r.got[n].id != n {
		t.Fatalf("the later timer fired before some of the earlier ones")
	}
	seen := make([]bool, n)
	for _, f := range r.got[:n] {
		seen[f.id] = true
	}
	if i := slices.Index(seen, false); i >= 0 {
		t.Fatalf("id %d did not fire", i)
	}
}

func TestWheelPastAndBackwards(t *testing.T) {
	t.Parallel()
	w := NewWheel(tick, t0)
	var r recorder
	r.advance(w, t0.Add(time.Hour))
	w.Add(t0, 1) // in the past
	w.Add(t0.Add(time.Hour), 2)
	if r.advance(w, t0.Add(time.Minute)); len(r.got) != 2 {
		t.Fatalf("past timers did not fire at the next Advance, even one going backwards: %v", r.got)
	}
	if got := w.Now(); !got.Equal(t0.Add(time.Hour)) {
		t.Fatalf("Now moved backwards to %v", got)
	}
}

// TestWheelModel runs random Add, Cancel and Advance operations against a
// plain list and compares what fires.
func TestWheelModel(t *testing.T) {
	t.Parallel()
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 99))
		w := NewWheel(tick, t0)
		type pend struct {
			h  Timer
			at time.Time
		}
		model := map[uint64]pend{}
		now := t0
		next := uint64(0)
		for range 5000 {
			switch op := rng.IntN(10); {
			case op < 5:
				var d time.Duration
				switch rng.IntN(4) {
				case 0:
					d = time.Duration(rng.Int64N(int64(time.Second)))
				case 1:
					d = time.Duration(rng.Int64N(int64(time.Hour)))
				case 2:
					d = time.Duration(rng.Int64N(int64(60 * 24 * time.Hour)))
				case 3:
					d = -time.Duration(rng.Int64N(int64(time.Minute)))
				}
				at := now.Add(d)
				model[next] = pend{w.Add(at, next), at}
				next++
			case op < 7 && len(model) > 0:
				keys := slices.Sorted(func(yield func(uint64) bool) {
					for k := range model {
						if !yield(k) {
							return
						}
					}
				})
				k := keys[rng.IntN(len(keys))]
				if !w.Cancel(model[k].h) {
					t.Fatalf("seed %d: Cancel of pending id %d failed", seed, k)
				}
				delete(model, k)
			default:
				var d time.Duration
				if rng.IntN(3) == 0 {
					d = time.Duration(rng.Int64N(int64(30 * 24 * time.Hour)))
				} else {
					d = time.Duration(rng.Int64N(int64(2 * time.Second)))
				}
				now = now.Add(d)
				limit := w.timeOf(w.ticksFloor(now))
				want := map[uint64]bool{}
				for k, p := range model {
					if !p.at.After(limit) || p.at.Before(w.Now()) {
						want[k] = true
					}
				}
				got := map[uint64]bool{}
				w.Advance(now, func(id uint64) {
					if got[id] {
						t.Fatalf("seed %d: id %d fired twice", seed, id)
					}
					got[id] = true
				})
				for k := range want {
					if !got[k] {
						t.Fatalf("seed %d: id %d due %v not fired at %v", seed, k, model[k].at, now)
					}
				}
				for k := range got {
					if !want[k] {
						t.Fatalf("seed %d: id %d due %v fired early at %v", seed, k, model[k].at, now)
					}
					delete(model, k)
				}
			}
			if w.Len() != len(model) {
				t.Fatalf("seed %d: Len %d, model %d", seed, w.Len(), len(model))
			}
		}
	}
}

func TestWheelConcurrent(t *testing.T) {
	t.Parallel()
	w := NewWheel(time.Millisecond, t0)
	const workers, per = 8, 2000
	var fired [workers * per]atomic.Int32
	var cancelled [workers * per]bool
	done := make(chan struct{})
	var now atomic.Int64
	go func() {
		defer close(done)
		for i := 1; i <= 4000; i++ {
			n := t0.Add(time.Duration(i) * time.Millisecond)
			now.Store(int64(i))
			w.Advance(n, func(id uint64) {
				fired[id].Add(1)
				// fire may call back into the wheel.
				w.Cancel(Timer(id))
			})
		}
	}()
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for i := range per {
				id := uint64(g*per + i)
				at := t0.Add(time.Duration(now.Load()+rng.Int64N(500)) * time.Millisecond)
				h := w.Add(at, id)
				if rng.IntN(3) == 0 {
					cancelled[id] = w.Cancel(h)
				}
			}
		})
	}
	wg.Wait()
	<-done
	w.Advance(t0.Add(time.Hour), func(id uint64) { fired[id].Add(1) })
	for id := range fired {
		want := int32(1)
		if cancelled[id] {
			want = 0
		}
		if got := fired[id].Load(); got != want {
			t.Fatalf("id %d fired %d times (cancelled %v)", id, got, cancelled[id])
		}
	}
	if w.Len() != 0 {
		t.Fatalf("Len %d after all fired", w.Len())
	}
}

func TestWheelRunWithFakeClock(t *testing.T) {
	t.Parallel()
	c := NewFakeClock(t0)
	w := NewWheel(tick, t0)
	got := make(chan uint64, 10)
	w.Add(t0.Add(2*time.Hour), 1)
	w.Add(t0, 2) // due at once
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx, c, func(id uint64) { got <- id }) }()
	if id := <-got; id != 2 {
		t.Fatalf("first fired %d, want 2", id)
	}
	// Advance the clock until the timer fires; the ticker may be created
	// after the first Advance, so keep nudging.
	deadline := time.After(5 * time.Second)
	for fired := false; !fired; {
		c.Advance(time.Hour)
		select {
		case id := <-got:
			if id != 1 {
				t.Fatalf("fired %d, want 1", id)
			}
			fired = true
		case <-time.After(time.Millisecond):
		case <-deadline:
			t.Fatal("timer never fired under the fake clock")
		}
	}
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
}

func TestWheelRunRealClock(t *testing.T) {
	t.Parallel()
	w := NewWheel(time.Millisecond, time.Now())
	got := make(chan time.Time, 1)
	at := time.Now().Add(20 * time.Millisecond)
	w.Add(at, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go w.Run(ctx, nil, func(uint64) { got <- time.Now() })
	select {
	case f := <-got:
		if f.Before(at) {
			t.Fatalf("fired %v early", at.Sub(f))
		}
	case <-ctx.Done():
		t.Fatal("timer never fired on the real clock")
	}
}
