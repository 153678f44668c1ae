package store

import (
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Every write goes through one committer goroutine. It takes the first
// request, then whatever queued while the previous commit's fsync ran, and
// commits them in one transaction: a lone write pays one fsync and no
// waiting, and 64 concurrent writers share fsyncs. (bbolt's db.Batch does
// the sharing too but starts each batch on a timer, which costs a lone
// write the whole MaxBatchDelay: 4.3 ms instead of 1.5 ms per create at a
// 2 ms delay on the development machine, and fewer creates a second at
// the default 10 ms.)
//
// A request's function reports the caller's mistakes (unknown team,
// conflict, fn's own error) as abort{err} after writing nothing, so the
// others in the transaction go on. Only a storage error or a panic rolls
// the transaction back; then the failing request gets the error and the
// others run again, in the same order on the same state, so a function
// either recomputes the same writes or replays what it computed before.

// maxBatch bounds the requests in one transaction.
const maxBatch = 512

type request struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// abort is a request's refusal: it wrote nothing and the transaction goes on.
type abort struct{ err error }

func (a abort) Error() string { return a.err.Error() }

// panicked carries a request function's panic back to its caller.
type panicked struct{ v any }

func (p panicked) Error() string { return fmt.Sprintf("panic in store transaction: %v", p.v) }

type committer struct {
	bolt *bolt.DB
	reqs chan *request
	mu   sync.RWMutex // write-held by close, so no send races the channel's close
	shut bool
	done chan struct{}
	pool sync.Pool
}

func newCommitter(b *bolt.DB) *committer {
	c := &committer{bolt: b, reqs: make(chan *request, maxBatch), done: make(chan struct{})}
	c.pool.New = func() any { return &request{done: make(chan error, 1)} }
	go c.loop()
	return c
}

// do runs fn in a shared write transaction and returns its error (the
// abort's inner error for a refusal); ErrClosed once close began.
func (c *committer) do(fn func(*bolt.Tx) error) error {
	r := c.pool.Get().(*request)
	r.fn = fn
	c.mu.RLock()
	if c.shut {
		c.mu.RUnlock()
		c.pool.Put(r)
		return ErrClosed
	}
	c.reqs <- r
	c.mu.RUnlock()
	err := <-r.done
	r.fn = nil
	c.pool.Put(r)
	var p panicked
	if errors.As(err, &p) {
		panic(p.v)
	}
	return err
}

// close serves the requests already queued, then stops.
func (c *committer) close() {
	c.mu.Lock()
	if !c.shut {
		c.shut = true
		close(c.reqs)
	}
	c.mu.Unlock()
	<-c.done
}

func (c *committer) loop() {
	defer close(c.done)
	batch := make([]*request, 0, maxBatch)
	for r := range c.reqs {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-c.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		c.run(batch)
	}
}

// run commits batch, taking out and failing any request whose function hits
// a storage error or panics, and retrying the rest.
func (c *committer) run(batch []*request) {
	results := make([]error, len(batch))
	for len(batch) > 0 {
		failed := -1
		err := c.bolt.Update(func(tx *bolt.Tx) error {
			for i, r := range batch {
				err := call(r.fn, tx)
				var a abort
				switch {
				case err == nil:
					results[i] = nil
				case errors.As(err, &a):
					results[i] = a.err
				default:
					failed = i
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			batch[failed].done <- err
			batch = append(batch[:failed], batch[failed+1:]...)
			results = append(results[:failed], results[failed+1:]...)
			continue
		}
		for i, r := range batch {
			if err != nil { // the commit itself failed: nobody's writes count
				r.done <- err
			} else {
				r.done <- results[i]
			}
		}
		return
	}
}

func call(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicked{v}
		}
	}()
	return fn(tx)
}
