package webhook

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callbackd/callbackd/store"
)

// timedOutbox notes when each delivery was handed to the sender: the
// moment its commit's OnDeliveries call happened.
type timedOutbox struct {
	*store.DB
	mu        sync.Mutex
	committed map[string]time.Time // event ID -> OnDeliveries time
}

func (o *timedOutbox) OnDeliveries(fn func([]*store.Delivery)) {
	o.DB.OnDeliveries(func(ds []*store.Delivery) {
		now := time.Now()
		o.mu.Lock()
		for _, d := range ds {
			o.committed[d.EventID] = now
		}
		o.mu.Unlock()
		fn(ds)
	})
}

// BenchmarkDeliver measures events delivered per second to a local
// receiver that answers 200 at once, and the time from the store's commit
// (the OnDeliveries call) to the request arriving at the receiver:
// "burst" creates events from 16 goroutines as fast as the store takes
// them (throughput; the latency includes the queue that builds up),
// "one-by-one" creates the next event when the last has arrived (the
// latency of an idle sender), and "from-write" does the same but counts
// from just before the event's write: a state change to its webhook.
func BenchmarkDeliver(b *testing.B) {
	b.Run("burst", func(b *testing.B) { benchDeliver(b, 16, false, false) })
	b.Run("one-by-one", func(b *testing.B) { benchDeliver(b, 1, true, false) })
	b.Run("from-write", func(b *testing.B) { benchDeliver(b, 1, true, true) })
}

func benchDeliver(b *testing.B, producers int, wait, fromWrite bool) {
	db := openStore(b)
	o := &timedOutbox{DB: db, committed: map[string]time.Time{}}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		secret    string
		badSigs   atomic.Int64
		done      = make(chan struct{})
		arrivals  = make(chan struct{}, 1)
		want      atomic.Int64
		writing   atomic.Int64 // fromWrite: when the current event's write began, Unix ns
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived := time.Now()
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		sec := secret
		mu.Unlock()
		if err := Verify(sec, r.Header, body, 0, time.Now()); err != nil {
			badSigs.Add(1)
		}
		o.mu.Lock()
		at, ok := o.committed[r.Header.Get(HeaderID)]
		o.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		mu.Lock()
		defer mu.Unlock()
		if fromWrite {
			at = time.Unix(0, writing.Load())
		}
		if ok {
			latencies = append(latencies, arrived.Sub(at))
			if int64(len(latencies)) == want.Load() {
				close(done)
			}
			select {
			case arrivals <- struct{}{}:
			default:
			}
		}
	}))
	b.Cleanup(srv.Close)
	ep := newEndpoint(b, db, srv.URL)
	mu.Lock()
	secret = ep.Secrets[0].Value
	mu.Unlock()
	cfg := Config{AllowPrivate: true, Log: slog.New(slog.DiscardHandler)}
	startSender(b, o, cfg)

	want.Store(int64(b.N))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range producers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				cb := &store.Callback{Customer: store.Party{Number: "+15550000005"}}
				writing.Store(time.Now().UnixNano())
				if _, err := db.CreateCallback(cb, "callback.scheduled", map[string]any{"x": 1}, nil); err != nil {
					b.Error(err)
					return
				}
				if wait {
					<-arrivals
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("only %d of %d events arrived", len(latencies), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if n := badSigs.Load(); n > 0 {
		b.Errorf("%d requests failed verification", n)
	}
	mu.Lock()
	ls := slices.Clone(latencies)
	mu.Unlock()
	slices.Sort(ls)
	q := func(p float64) float64 {
		return float64(ls[min(len(ls)-1, int(p*float64(len(ls))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}
