package store

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCreateCallbackParallel creates callbacks from 64 goroutines, the
// issue's "64 concurrent clients": db.Batch lets them share fsyncs.
func BenchmarkCreateCallbackParallel(b *testing.B) {
	db := openTest(b, nil)
	mustTeam(b, db, "sales")
	var (
		n    atomic.Int64
		mu   sync.Mutex
		lats []time.Duration
	)
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 4096)
		for pb.Next() {
			i := n.Add(1)
			now := time.Now()
			cb := &Callback{
				ID:            NewID("cb_", now),
				Status:        Scheduled,
				Team:          "sales",
				Customer:      Party{Number: fmt.Sprintf("+1415555%04d", i%10000)},
				NextAttemptAt: now,
				CreatedAt:     now,
				UpdatedAt:     now,
				Metadata:      map[string]string{"order": "42"},
			}
			if _, err := db.CreateCallback(cb, "callback.scheduled", map[string]any{"next_attempt_at": now}, nil); err != nil {
				b.Error(err)
				return
			}
			local = append(local, time.Since(now))
		}
		mu.Lock()
		lats = append(lats, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "creates/s")
	if len(lats) > 0 {
		slices.Sort(lats)
		b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99-ms")
	}
}

func BenchmarkGetCallback(b *testing.B) {
	clk := newClock()
	db := openTest(b, clk)
	var idList []string
	for i := range 1000 {
		cb := newCallback(clk, fmt.Sprintf("+1415555%04d", i), "")
		if _, err := db.CreateCallback(cb, "callback.scheduled", nil, nil); err != nil {
			b.Fatal(err)
		}
		idList = append(idList, cb.ID)
		clk.Advance(time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := db.GetCallback(idList[i%len(idList)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateCallback is one creator alone: its ns/op is the latency a
// lone create pays (batch wait plus one fsync).
func BenchmarkCreateCallback(b *testing.B) {
	db := openTest(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now()
		cb := &Callback{ID: NewID("cb_", now), Customer: Party{Number: "+14155550100"}, CreatedAt: now}
		if _, err := db.CreateCallback(cb, "callback.scheduled", nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateCallback is one updater alone (a transaction of its own).
func BenchmarkUpdateCallback(b *testing.B) {
	clk := newClock()
	db := openTest(b, clk)
	cb := mustCreate(b, db, newCallback(clk, "+14155550100", ""))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := db.UpdateCallback(cb.ID, func(u *Update) error {
			_, err := u.Append("tick", nil)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
}
