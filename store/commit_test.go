package store

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// holdCommitter blocks the committer inside a transaction until the
// returned release is called, so the requests submitted meanwhile share the
// next transaction.
func holdCommitter(t *testing.T, db *DB) (release func()) {
	t.Helper()
	entered, gate := make(chan struct{}), make(chan struct{})
	go func() {
		_ = db.update("hold", func(*bolt.Tx) error {
			close(entered)
			<-gate
			return nil
		})
	}()
	<-entered
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return release
}

// queueLen waits until n requests wait for the committer.
func queueLen(t *testing.T, db *DB, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(db.commit.reqs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", len(db.commit.reqs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSharedTransactionFailure puts an update, a started create, a create
// that fails in bbolt (key too large), a refused create and a good create
// in one transaction:
// the storage error rolls it back, the others are retried without it, and
// the update's fn still runs exactly once.
func TestSharedTransactionFailure(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	cb := mustCreate(t, db, newCallback(clk, "+14155550100", ""))
	release := holdCommitter(t, db)

	var (
		wg    sync.WaitGroup
		calls atomic.Int32
		errs  [5]error
	)
	good := newCallback(clk, "+14155550102", "")
	started, startedEvs, startedAttempt := startedCallback(clk, "+14155550104", "")
	steps := []func() error{
		func() error {
			_, evs, err := db.UpdateCallback(cb.ID, func(u *Update) error {
				calls.Add(1)
				u.Callback.Status = InProgress
				_, err := u.Append("callback.attempt_started", nil)
				return err
			})
			if err == nil && (len(evs) != 1 || evs[0].Seq != 2) {
				t.Errorf("update events %+v", evs)
			}
			return err
		},
		func() error {
			// Applied, rolled back with the oversized key, and run again.
			evs, err := db.CreateCallbackStarted(started, startedEvs, startedAttempt, nil)
			if err == nil && (len(evs) != 2 || evs[1].Seq != 2) {
				t.Errorf("started create events %+v", evs)
			}
			return err
		},
		func() error {
			huge := newCallback(clk, "+14155550101", "")
			huge.ID = "cb_" + strings.Repeat("x", bolt.MaxKeySize)
			_, err := db.CreateCallback(huge, "callback.scheduled", nil, nil)
			return err
		},
		func() error {
			_, err := db.CreateCallback(newCallback(clk, "+14155550103", "ghost"), "callback.scheduled", nil, nil)
			return err
		},
		func() error {
			_, err := db.CreateCallback(good, "callback.scheduled", nil, nil)
			return err
		},
	}
	for i, step := range steps {
		wg.Go(func() { errs[i] = step() })
		queueLen(t, db, i+1) // keep the order in the transaction
	}
	release()
	wg.Wait()

	if errs[0] != nil || errs[1] != nil || errs[4] != nil {
		t.Fatalf("good requests failed: update %v, started create %v, create %v", errs[0], errs[1], errs[4])
	}
	if errs[2] == nil || !strings.Contains(errs[2].Error(), "key too large") {
		t.Errorf("oversized key: %v", errs[2])
	}
	if !errors.Is(errs[3], ErrUnknownTeam) {
		t.Errorf("unknown team: %v", errs[3])
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("update fn ran %d times, want once", n)
	}
	if got, _ := db.GetCallback(cb.ID); got.Status != InProgress || got.LastSeq != 2 {
		t.Errorf("updated callback %+v", got)
	}
	if evs, _ := db.Events(cb.ID, 0, 0); len(evs) != 2 {
		t.Errorf("%d events, want 2", len(evs))
	}
	if _, err := db.GetCallback(good.ID); err != nil {
		t.Errorf("good create lost: %v", err)
	}
	if evs, _ := db.Events(started.ID, 0, 0); len(evs) != 2 || evs[0].Seq != 1 || evs[1].Seq != 2 {
		t.Errorf("started create's events %+v", evs)
	}
	if as, err := db.Attempts(started.ID); err != nil || len(as) != 1 {
		t.Errorf("started create's attempts %+v, %v", as, err)
	}
}

// TestPanicInUpdate re-raises fn's panic in the caller and leaves the
// transaction's other writers alone.
func TestPanicInUpdate(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	a := mustCreate(t, db, newCallback(clk, "+14155550100", ""))
	release := holdCommitter(t, db)

	var wg sync.WaitGroup
	var recovered any
	wg.Go(func() {
		defer func() { recovered = recover() }()
		_, _, _ = db.UpdateCallback(a.ID, func(u *Update) error {
			u.Callback.Status = Failed
			panic("fn broke")
		})
	})
	queueLen(t, db, 1)
	other := newCallback(clk, "+14155550101", "")
	var otherErr error
	wg.Go(func() { _, otherErr = db.CreateCallback(other, "callback.scheduled", nil, nil) })
	queueLen(t, db, 2)
	release()
	wg.Wait()

	if recovered != "fn broke" {
		t.Errorf("recovered %v, want the fn's panic", recovered)
	}
	if otherErr != nil {
		t.Errorf("neighbour failed: %v", otherErr)
	}
	if got, _ := db.GetCallback(a.ID); got.Status != Scheduled {
		t.Errorf("panicking update was written: %+v", got)
	}
}

// TestCloseServesQueuedWrites closes the store while writes wait: each one
// either commits or gets ErrClosed, none hangs or is lost silently.
func TestCloseServesQueuedWrites(t *testing.T) {
	clk := newClock()
	path := t.TempDir() + "/close.db"
	db := openAt(t, path, clk)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created []string
	)
	for i := range 200 {
		wg.Go(func() {
			cb := newCallback(clk, "+14155550100", "")
			_, err := db.CreateCallback(cb, "callback.scheduled", nil, nil)
			switch {
			case err == nil:
				mu.Lock()
				created = append(created, cb.ID)
				mu.Unlock()
			case !errors.Is(err, ErrClosed):
				t.Errorf("create %d: %v", i, err)
			}
		})
	}
	time.Sleep(2 * time.Millisecond)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	db = openAt(t, path, clk)
	for _, id := range created {
		if _, err := db.GetCallback(id); err != nil {
			t.Fatalf("acknowledged create %s lost: %v", id, err)
		}
	}
}
