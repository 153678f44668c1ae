package schedule

import (
	"sync"
	"time"
)

// Clock is where the engine and [Wheel.Run] read the time. Production uses
// [System]; tests use a [FakeClock] so that a retry two hours away takes no
// time at all.
type Clock interface {
	Now() time.Time
	NewTicker(d time.Duration) Ticker
}

// Ticker delivers the clock's time every period, dropping ticks a slow
// receiver misses, as time.Ticker does.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// System is the real clock.
var System Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }

// FakeClock is a Clock that moves only when told to. Its tickers fire when
// Set or Advance moves the time past their next tick; like real tickers
// they have room for one pending tick and drop the rest, which is harmless
// for Wheel.Run because each Advance catches up to the clock's time.
// It is safe for concurrent use.
type FakeClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers map[*fakeTicker]struct{}
}

// NewFakeClock returns a FakeClock reading now.
func NewFakeClock(now time.Time) *FakeClock {
	return &FakeClock{now: now, tickers: map[*fakeTicker]struct{}{}}
}

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.setLocked(c.now.Add(d))
	c.mu.Unlock()
}

// Set moves the clock to t. Moving it backwards fires no ticker.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.setLocked(t)
	c.mu.Unlock()
}

func (c *FakeClock) setLocked(t time.Time) {
	c.now = t
	for tk := range c.tickers {
		if t.Before(tk.next) {
			continue
		}
		// Skip the ticks jumped over, as a real ticker would drop them.
		n := t.Sub(tk.next)/tk.d + 1
		tk.next = tk.next.Add(n * tk.d)
		select {
		case tk.c <- t:
		default:
		}
	}
}

// NewTicker returns a ticker with period d whose first tick is at Now()+d.
func (c *FakeClock) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("schedule: FakeClock.NewTicker: period must be positive")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	tk := &fakeTicker{clock: c, d: d, next: c.now.Add(d), c: make(chan time.Time, 1)}
	c.tickers[tk] = struct{}{}
	return tk
}

type fakeTicker struct {
	clock *FakeClock
	d     time.Duration
	next  time.Time
	c     chan time.Time
}

func (t *fakeTicker) C() <-chan time.Time { return t.c }

func (t *fakeTicker) Stop() {
	t.clock.mu.Lock()
	delete(t.clock.tickers, t)
	t.clock.mu.Unlock()
}
