package engine

import (
	"context"
	"time"

	"github.com/callbackd/callbackd/schedule"
	"github.com/callbackd/callbackd/store"
)

// armed is a callback waiting on the wheel. The wheel holds only a uint64
// per timer; these maps lead from it to the callback and back, so arming
// and disarming stay O(1).
type armed struct {
	cb      string
	tid     uint64
	timer   schedule.Timer
	due     int64 // unix nanoseconds; the queue orders by it
	created int64
}

var allStatuses = []store.Status{store.Scheduled, store.InProgress, store.Completed, store.Failed, store.Canceled}

// arm makes callback id due at due: on the wheel, or straight into the
// dispatch queue when due is not in the future, so a callback due now does
// not wait for the next tick. Arming again replaces the earlier timer.
func (e *Engine) arm(id string, due, created time.Time) {
	if !due.After(e.clk.Now()) {
		e.mu.Lock()
		e.disarmLocked(id)
		e.mu.Unlock()
		e.disp.push(&item{id: id, due: due, created: created})
		return
	}
	e.disp.remove(id)
	e.armAt(id, due, due, created)
}

// armAt puts callback id on the wheel to fire at at; due is its stored due
// time, which the dispatch checks and the queue orders by.
func (e *Engine) armAt(id string, at, due, created time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.disarmLocked(id)
	e.nextTimer++
	a := &armed{cb: id, tid: e.nextTimer, due: due.UnixNano(), created: created.UnixNano()}
	e.timers[id] = a
	e.timerIDs[a.tid] = a
	// Added under e.mu: fire takes e.mu too, so it cannot look the id up
	// before the maps hold it.
	a.timer = e.wheel.Add(at, a.tid)
}

// disarm removes callback id from the wheel and the queue.
func (e *Engine) disarm(id string) {
	e.mu.Lock()
	e.disarmLocked(id)
	e.mu.Unlock()
	e.disp.remove(id)
}

func (e *Engine) disarmLocked(id string) {
	a := e.timers[id]
	if a == nil {
		return
	}
	delete(e.timers, id)
	delete(e.timerIDs, a.tid)
	e.wheel.Cancel(a.timer)
}

// fire is the wheel's callback: the timer's callback is due.
func (e *Engine) fire(tid uint64) {
	e.mu.Lock()
	a := e.timerIDs[tid]
	if a != nil {
		delete(e.timerIDs, tid)
		delete(e.timers, a.cb)
	}
	e.mu.Unlock()
	if a == nil {
		return // disarmed while the wheel was firing it
	}
	e.disp.push(&item{id: a.cb, due: time.Unix(0, a.due), created: time.Unix(0, a.created)})
}

// runWheel advances the wheel on every tick of the engine's clock and then
// wakes the dispatcher, which may be waiting for a calls-per-second slot.
func (e *Engine) runWheel(ctx context.Context) {
	t := e.clk.NewTicker(e.cfg.Tick)
	defer t.Stop()
	e.wheel.Advance(e.clk.Now(), e.fire)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			e.wheel.Advance(e.clk.Now(), e.fire)
			e.disp.poke()
		}
	}
}
