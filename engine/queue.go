package engine

import (
	"container/heap"
	"context"
	"math"
	"sync"
	"time"
)

// item is a due callback waiting for a trunk slot.
type item struct {
	id           string
	due, created time.Time
	idx          int
}

// queue orders due callbacks by due time, then creation, then ID, so that
// under load the callback promised first is called first.
type queue []*item

func (q queue) Len() int           { return len(q) }
func (q queue) Less(i, j int) bool { return before(q[i], q[j]) }

// before reports whether a comes before b in the queue.
func before(a, b *item) bool {
	if !a.due.Equal(b.due) {
		return a.due.Before(b.due)
	}
	if !a.created.Equal(b.created) {
		return a.created.Before(b.created)
	}
	return a.id < b.id
}
func (q queue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].idx, q[j].idx = i, j
}
func (q *queue) Push(x any) {
	it := x.(*item)
	it.idx = len(*q)
	*q = append(*q, it)
}
func (q *queue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	it.idx = -1
	return it
}

// dispatcher admits due callbacks of one trunk in queue order while the
// trunk has room: fewer active attempts than its limit and a free
// calls-per-second slot. Over the limits callbacks wait; they are not
// refused.
type dispatcher struct {
	trunk     string
	maxActive int           // 0 = no limit
	perWindow int           // starts allowed per window; 0 = no limit
	window    time.Duration // the calls-per-second window

	wake chan struct{}

	mu     sync.Mutex
	q      queue
	byID   map[string]*item
	active int
	starts []time.Time // the last perWindow admissions, oldest first
	closed bool
}

func newDispatcher(trunk string, l Limit) *dispatcher {
	d := &dispatcher{trunk: trunk, wake: make(chan struct{}, 1), byID: map[string]*item{}}
	if l.MaxCalls > 0 {
		// An attempt holds two dialogs on the trunk, rep and customer.
		d.maxActive = max(1, l.MaxCalls/2)
	}
	if cps := l.CallsPerSecond; cps > 0 {
		// A whole number of calls in any one-second window; a fraction is
		// rounded down, so the limit is never exceeded. Below one call a
		// second: one call per 1/cps seconds.
		if cps >= 1 {
			d.perWindow, d.window = int(math.Floor(cps)), time.Second
		} else {
			d.perWindow, d.window = 1, time.Duration(float64(time.Second)/cps)
		}
	}
	return d
}

// push queues it, replacing an entry for the same callback.
func (d *dispatcher) push(it *item) {
	d.mu.Lock()
	if old := d.byID[it.id]; old != nil {
		heap.Remove(&d.q, old.idx)
	}
	d.byID[it.id] = it
	heap.Push(&d.q, it)
	d.mu.Unlock()
	d.poke()
}

// remove drops callback id from the queue; it reports whether it was there.
func (d *dispatcher) remove(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	it := d.byID[id]
	if it == nil {
		return false
	}
	delete(d.byID, id)
	heap.Remove(&d.q, it.idx)
	return true
}

// release frees the slot of a finished attempt.
func (d *dispatcher) release() {
	d.mu.Lock()
	d.active--
	d.mu.Unlock()
	d.poke()
}

// close stops admissions; what is queued stays scheduled in the store.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
}

func (d *dispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// admit takes the callbacks that may start at now, in queue order, and
// counts them as active.
func (d *dispatcher) admit(now time.Time) []*item {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*item
	for !d.closed && len(d.q) > 0 && d.takeLocked(now) {
		it := heap.Pop(&d.q).(*item)
		delete(d.byID, it.id)
		out = append(out, it)
	}
	return out
}

// admitNow admits it, which is not queued, at once if the dispatcher would:
// nothing queued comes before it, the trunk has room at now and admissions
// are open. onAdmit runs under the dispatcher's lock when it is admitted,
// so close (Shutdown) cannot come between the two. The caller owns the
// slot as if admit had returned it, and gives it back with unadmit if it
// does not start the attempt.
func (d *dispatcher) admitNow(it *item, now time.Time, onAdmit func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || (len(d.q) > 0 && before(d.q[0], it)) || !d.takeLocked(now) {
		return false
	}
	onAdmit()
	return true
}

// takeLocked takes a slot for an admission at now if the trunk has one:
// fewer active attempts than its limit and a free calls-per-second slot.
// The caller holds d.mu.
func (d *dispatcher) takeLocked(now time.Time) bool {
	if d.maxActive > 0 && d.active >= d.maxActive {
		return false
	}
	if d.perWindow > 0 && len(d.starts) == d.perWindow {
		if now.Sub(d.starts[0]) < d.window {
			return false // the runWheel tick wakes the dispatcher to look again
		}
		d.starts = append(d.starts[:0], d.starts[1:]...)
	}
	d.active++
	if d.perWindow > 0 {
		d.starts = append(d.starts, now)
	}
	return true
}

// unadmit gives back the slot admitNow took at at for an attempt that did
// not start: the active count and the calls-per-second start.
func (d *dispatcher) unadmit(at time.Time) {
	d.mu.Lock()
	d.active--
	for i := len(d.starts) - 1; i >= 0; i-- {
		if d.starts[i].Equal(at) {
			d.starts = append(d.starts[:i], d.starts[i+1:]...)
			break
		}
	}
	d.mu.Unlock()
	d.poke()
}

// queued returns the number of callbacks waiting, for tests and logs.
func (d *dispatcher) queued() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.q)
}

// runDispatcher starts an attempt for each admitted callback until ctx ends.
func (e *Engine) runDispatcher(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.disp.wake:
		}
		for _, it := range e.disp.admit(e.clk.Now()) {
			e.attempts.Add(1)
			go e.attempt(it)
		}
	}
}
