package trigger

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestLimiter(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	l := NewLimiter(clk.now)

	// A minute's worth at once, then one every 60s/3.
	for i := range 3 {
		if ok, _ := l.Allow("trg_a", 3); !ok {
			t.Fatalf("call %d refused", i+1)
		}
	}
	ok, wait := l.Allow("trg_a", 3)
	if ok || wait != 20*time.Second {
		t.Fatalf("4th call: %v, wait %s; want refused, 20s", ok, wait)
	}
	// Another trigger has its own bucket; no limit is no limit.
	if ok, _ := l.Allow("trg_b", 3); !ok {
		t.Error("trg_b refused because of trg_a")
	}
	for range 100 {
		if ok, _ := l.Allow("trg_c", 0); !ok {
			t.Fatal("limit 0 refused")
		}
	}

	clk.advance(10 * time.Second)
	if ok, wait := l.Allow("trg_a", 3); ok || wait != 10*time.Second {
		t.Errorf("after 10s: %v, wait %s; want refused, 10s", ok, wait)
	}
	clk.advance(10 * time.Second)
	if ok, _ := l.Allow("trg_a", 3); !ok {
		t.Error("after 20s: refused")
	}
	if ok, _ := l.Allow("trg_a", 3); ok {
		t.Error("second call after 20s allowed")
	}

	// An idle bucket fills up to the limit, not beyond.
	clk.advance(time.Hour)
	n := 0
	for {
		if ok, _ := l.Allow("trg_a", 3); !ok {
			break
		}
		n++
	}
	if n != 3 {
		t.Errorf("after an idle hour %d calls allowed, want 3", n)
	}

	// A lowered limit applies at once.
	clk.advance(time.Hour)
	if ok, _ := l.Allow("trg_a", 1); !ok {
		t.Error("lowered limit: first refused")
	}
	if ok, wait := l.Allow("trg_a", 1); ok || wait != time.Minute {
		t.Errorf("lowered limit: second %v, wait %s", ok, wait)
	}

	// Forget starts the trigger over.
	l.Forget("trg_a")
	if ok, _ := l.Allow("trg_a", 1); !ok {
		t.Error("after Forget: refused")
	}
}

// Concurrent callers never get more than the bucket holds.
func TestLimiterConcurrent(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	l := NewLimiter(clk.now)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for range 100 {
				if ok, _ := l.Allow("trg_hot", 50); ok {
					allowed.Add(1)
				}
				l.Allow(fmt.Sprint("trg_", g), 5)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 50 {
		t.Errorf("%d allowed, want 50", n)
	}
}

// Idle triggers' buckets do not pile up.
func TestLimiterPrunes(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	var l Limiter
	l.now = clk.now
	for i := range 3 * limiterPrune {
		l.Allow(fmt.Sprint("trg_", i), 60)
		clk.advance(time.Second)
	}
	if n := len(l.buckets); n > limiterPrune+60 {
		t.Errorf("%d buckets kept", n)
	}
}
