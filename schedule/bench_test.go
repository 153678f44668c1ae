package schedule

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

const million = 1_000_000

// spread returns n due times between a ring timeout and five weeks away,
// the range the engine holds: a third within a minute, a third within a
// day, a third within five weeks.
func spread(n int) []time.Time {
	rng := rand.New(rand.NewPCG(1, 2))
	ats := make([]time.Time, n)
	for i := range ats {
		var d time.Duration
		switch i % 3 {
		case 0:
			d = time.Duration(rng.Int64N(int64(time.Minute)))
		case 1:
			d = time.Duration(rng.Int64N(int64(24 * time.Hour)))
		default:
			d = time.Duration(rng.Int64N(int64(35 * 24 * time.Hour)))
		}
		ats[i] = t0.Add(time.Second + d)
	}
	return ats
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkWheelMillionPending fills a wheel with a million timers and
// reports the heap it holds per timer and the cost of each Add.
func BenchmarkWheelMillionPending(b *testing.B) {
	ats := spread(million)
	b.ReportAllocs()
	var bytes uint64
	for b.Loop() {
		// The forced collections measure the heap; keep them out of ns/op.
		b.StopTimer()
		before := heapInUse()
		b.StartTimer()
		w := NewWheel(10*time.Millisecond, t0)
		for i, at := range ats {
			w.Add(at, uint64(i))
		}
		b.StopTimer()
		bytes = heapInUse() - before
		if w.Len() != million {
			b.Fatal(w.Len())
		}
		runtime.KeepAlive(w)
		b.StartTimer()
	}
	b.ReportMetric(float64(bytes)/million, "B/timer")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/million, "ns/add")
	b.ReportMetric(float64(bytes)/(1<<20), "MB/million")
}

// fullWheel returns a wheel with a million timers pending.
func fullWheel(b *testing.B) (*Wheel, []Timer) {
	w := NewWheel(10*time.Millisecond, t0)
	hs := make([]Timer, million)
	for i, at := range spread(million) {
		hs[i] = w.Add(at, uint64(i))
	}
	return w, hs
}

// BenchmarkWheelAdd adds to a wheel that already holds a million timers.
func BenchmarkWheelAdd(b *testing.B) {
	w, _ := fullWheel(b)
	ats := spread(1 << 16)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Add(ats[i&(1<<16-1)], uint64(i))
	}
}

// BenchmarkWheelCancel cancels timers, in scattered order as the API would,
// among a million pending.
func BenchmarkWheelCancel(b *testing.B) {
	ats := spread(million)
	perm := rand.New(rand.NewPCG(3, 4)).Perm(million)
	hs := make([]Timer, million)
	w := NewWheel(10*time.Millisecond, t0)
	refill := func() {
		for i, at := range ats {
			hs[i] = w.Add(at, uint64(i))
		}
	}
	refill()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%million == 0 && i > 0 {
			b.StopTimer()
			refill()
			b.StartTimer()
		}
		if !w.Cancel(hs[perm[i%million]]) {
			b.Fatal("Cancel failed")
		}
	}
}

// BenchmarkWheelAddCancelParallel measures the lock under contention: every
// goroutine adds a timer and cancels it, against a million pending.
func BenchmarkWheelAddCancelParallel(b *testing.B) {
	w, _ := fullWheel(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		at := t0.Add(time.Hour)
		for pb.Next() {
			w.Cancel(w.Add(at, 1))
		}
	})
}

// BenchmarkWheelAddDuringAdvance adds while another goroutine keeps
// advancing a wheel through a million timers, to show what the fire path
// costs the API.
func BenchmarkWheelAddDuringAdvance(b *testing.B) {
	w, _ := fullWheel(b)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		now := t0
		for {
			select {
			case <-stop:
				return
			default:
			}
			now = now.Add(10 * time.Second)
			w.Advance(now, func(uint64) {})
		}
	}()
	at := t0.Add(40 * 24 * time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Cancel(w.Add(at, uint64(i)))
	}
	b.StopTimer()
	close(stop)
	<-done
}

// BenchmarkWheelAdvance fires a million timers due within one minute,
// including the cascades that bring them down the levels; ns/op is per
// timer fired.
func BenchmarkWheelAdvance(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	ats := make([]time.Time, million)
	for i := range ats {
		ats[i] = t0.Add(time.Duration(rng.Int64N(int64(time.Minute))))
	}
	b.ReportAllocs()
	fired := 0
	for b.Loop() {
		b.StopTimer()
		w := NewWheel(10*time.Millisecond, t0)
		for i, at := range ats {
			w.Add(at, uint64(i))
		}
		b.StartTimer()
		for now := t0; now.Before(t0.Add(time.Minute + time.Second)); now = now.Add(10 * time.Millisecond) {
			fired += w.Advance(now, func(uint64) {})
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(fired), "ns/fired")
}

// BenchmarkWheelIdleTick is the cost of one Advance with nothing due, the
// price of a 10 ms ticker on an idle server holding a million timers.
func BenchmarkWheelIdleTick(b *testing.B) {
	w := NewWheel(10*time.Millisecond, t0)
	for i, at := range spread(million) {
		w.Add(at.Add(time.Hour), uint64(i))
	}
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(10 * time.Millisecond)
		w.Advance(now, func(uint64) {})
	}
}

func BenchmarkWindowNext(b *testing.B) {
	office := mustWindow(b, "Europe/London", map[string][]string{"mon-fri": {"09:00-12:30", "13:30-17:30"}}, "2026-12-25", "2026-12-28")
	night := mustWindow(b, "America/New_York", map[string][]string{"sat": {"22:00-06:00"}, "sun": {"01:30-03:00"}})
	for _, bc := range []struct {
		name string
		w    Window
		at   time.Time
	}{
		{"open", office, utc("2026-06-03T10:00:00Z")},
		{"friday-evening", office, utc("2026-06-05T18:00:00Z")},
		{"christmas", office, utc("2026-12-24T18:00:00Z")},
		{"dst-fall-back", night, utc("2026-11-01T11:00:00Z")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.w.Next(bc.at); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPolicyNext(b *testing.B) {
	w := mustWindow(b, "Europe/London", map[string][]string{"mon-fri": {"09:00-17:30"}})
	p := Policy{Backoff: Backoff{Base: Duration(time.Minute), Jitter: 0.2}}
	a := Attempt{Number: 3, Outcome: "customer_no_answer", FinishedAt: utc("2026-06-03T10:00:00Z"), Created: utc("2026-06-03T09:00:00Z")}
	b.ReportAllocs()
	for b.Loop() {
		if d := p.Next(a, w); !d.Retry {
			b.Fatal(d)
		}
	}
}
