package trigger

import (
	"sync"
	"time"
)

// Limiter enforces Spec.RateLimit: a token bucket per trigger ID, in
// memory, holding up to a minute's worth of callbacks and refilled at the
// limit's rate, so a trigger sustains RateLimit callbacks a minute and may
// burst that many at once. It is safe for concurrent use; the zero value
// uses the system clock.
type Limiter struct {
	now     func() time.Time // nil: time.Now
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens    float64
	last      time.Time
	perMinute int
}

// limiterPrune is the bucket count above which full buckets (idle
// triggers) are dropped when a new one is added.
const limiterPrune = 1024

// NewLimiter returns a Limiter reading the time from now (nil: time.Now).
func NewLimiter(now func() time.Time) *Limiter {
	return &Limiter{now: now}
}

// Allow takes a token for one callback of triggerID, whose limit is
// perMinute (0 or less: no limit, always allowed). When there is none it
// returns false and how long until there is one (a Retry-After). A
// changed limit applies from this call on.
func (l *Limiter) Allow(triggerID string, perMinute int) (ok bool, wait time.Duration) {
	if perMinute <= 0 {
		return true, 0
	}
	now := time.Now()
	if l.now != nil {
		now = l.now()
	}
	rate := float64(perMinute) / float64(time.Minute) // tokens a nanosecond
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[triggerID]
	if b == nil {
		if l.buckets == nil {
			l.buckets = make(map[string]*bucket)
		}
		if len(l.buckets) >= limiterPrune {
			l.prune(now)
		}
		b = &bucket{tokens: float64(perMinute), last: now, perMinute: perMinute}
		l.buckets[triggerID] = b
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens += float64(elapsed) * rate
		b.last = now
	}
	b.perMinute = perMinute
	if b.tokens > float64(perMinute) {
		b.tokens = float64(perMinute)
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait = time.Duration((1 - b.tokens) / rate)
	if wait <= 0 {
		wait = time.Nanosecond
	}
	return false, wait
}

// Forget drops triggerID's bucket (the trigger was deleted).
func (l *Limiter) Forget(triggerID string) {
	l.mu.Lock()
	delete(l.buckets, triggerID)
	l.mu.Unlock()
}

// prune drops the buckets that would be full at now: forgetting them
// changes nothing.
func (l *Limiter) prune(now time.Time) {
	for id, b := range l.buckets {
		rate := float64(b.perMinute) / float64(time.Minute)
		if b.tokens+float64(now.Sub(b.last))*rate >= float64(b.perMinute) {
			delete(l.buckets, id)
		}
	}
}
