package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callbackd/callbackd/store"
)

// Outbox is what the sender needs of the store; *store.DB is one.
type Outbox interface {
	PendingDeliveries() ([]*store.Delivery, error)
	Payload(eventID string) ([]byte, error)
	RecordAttempt(id string, a store.DeliveryAttempt, status store.DeliveryStatus, next time.Time, why string) (*store.Delivery, error)
	GetEndpoint(id string) (*store.Endpoint, error)
	UpdateEndpoint(id string, fn func(*store.Endpoint) error) (*store.Endpoint, error)
	CallbackSecret() (string, error)
	OnDeliveries(fn func([]*store.Delivery))
}

// Config tunes a Sender. The zero value is usable.
type Config struct {
	// Workers is how many sends are in flight at once over all targets;
	// 0 = 16.
	Workers int
	// PerTarget is how many sends are in flight at once to one target (an
	// endpoint, or a callback's webhook_url), so that a slow or dead one
	// holds at most this many of the Workers; 0 = 4.
	PerTarget int
	// Timeout bounds one attempt: connecting, sending, and the response's
	// status and first bytes; 0 = 15s.
	Timeout time.Duration
	// Schedule is the delay before each retry after a failed attempt. The
	// first attempt is immediate; after len(Schedule) failed retries the
	// delivery fails. nil = 0, 5s, 5m, 30m, 2h, 5h, 10h, 10h (about a day
	// and a half); an empty, non-nil slice means no retry at all.
	Schedule []time.Duration
	// Jitter is the ± fraction applied at random to each delay, so that
	// many deliveries failing together do not retry together; 0 = 0.1,
	// negative = none.
	Jitter float64
	// DisableAfter disables an endpoint that has failed continuously (no
	// success since its first failure) for this long; 0 = 5 days,
	// negative = never.
	DisableAfter time.Duration
	// AllowPrivate lets webhooks go to loopback, private, link-local and
	// other non-public addresses (see CheckURL).
	AllowPrivate bool
	// UserAgent is sent with every request; "" = "callbackd".
	UserAgent string
	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// Log gets one line per delivery given up and per endpoint disabled;
	// successes and retries only at Debug. nil = discard.
	Log *slog.Logger
	// OnAttempt, if set, is told of every attempt (for metrics). It must
	// not block.
	OnAttempt func(d *store.Delivery, a store.DeliveryAttempt)
}

var defaultSchedule = []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

const (
	defaultWorkers      = 16
	defaultPerTarget    = 4
	defaultTimeout      = 15 * time.Second
	defaultJitter       = 0.1
	defaultDisableAfter = 5 * 24 * time.Hour
	defaultUserAgent    = "callbackd"
	// maxRetryAfter caps how long a Retry-After header can make us wait.
	maxRetryAfter = 24 * time.Hour
)

func (c Config) withDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = defaultWorkers
	}
	if c.PerTarget <= 0 {
		c.PerTarget = defaultPerTarget
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	if c.Schedule == nil {
		c.Schedule = defaultSchedule
	}
	c.Schedule = slices.Clone(c.Schedule)
	switch {
	case c.Jitter == 0:
		c.Jitter = defaultJitter
	case c.Jitter < 0:
		c.Jitter = 0
	case c.Jitter > 1:
		c.Jitter = 1
	}
	if c.DisableAfter == 0 {
		c.DisableAfter = defaultDisableAfter
	}
	if c.UserAgent == "" {
		c.UserAgent = defaultUserAgent
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Sender delivers the outbox. Deliveries of one stream (one callback's
// events to one target) go strictly in order, one at a time; different
// streams and targets go in parallel, within Workers and PerTarget.
//
// The sender keeps every pending delivery it knows of in memory, grouped
// by target and stream; the store stays the truth: whatever is pending
// there when the sender stops is loaded again by the next Start.
type Sender struct {
	o         Outbox
	cfg       Config
	log       *slog.Logger
	client    *http.Client
	transport *http.Transport

	// ctx is the parent of every send; Close cancels it when its own
	// context ends before the sends do.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // sends in flight

	secret atomic.Pointer[string] // the callback webhook secret
	// storeBackoff is the first delay after a store error (tests shorten it).
	storeBackoff time.Duration

	mu       sync.Mutex
	starting bool // Start was called
	started  bool // Start has loaded the pending deliveries: sending
	closed   bool
	known    map[string]*item   // delivery ID -> its item
	targets  map[string]*target // target key -> target
	runnable []*target          // targets with a ready stream and a free slot, FIFO
	inflight int                // sends in flight over all targets
	enqSeq   uint64             // numbers items in the order they were enqueued
}

// item is one pending delivery in memory.
type item struct {
	id  string // the delivery's ID and sequence, fixed: the sort key
	seq uint64
	enq uint64 // Sender.enqSeq when it was enqueued

	// Under Sender.mu.
	due     time.Time // when it may be sent
	running bool

	// Only touched by the goroutine sending it (one at a time).
	d         *store.Delivery
	storeErrs int // consecutive store errors, for their backoff
}

func (it *item) before(o *item) bool {
	if it.seq != o.seq {
		return it.seq < o.seq
	}
	return it.id < o.id
}

type streamState uint8

const (
	stIdle    streamState = iota // nothing decided: evaluate it
	stWaiting                    // head due later; timer armed
	stReady                      // in its target's ready list
	stRunning                    // head being sent
)

// stream is the ordered queue of one Delivery.Stream().
type stream struct {
	key   string
	tgt   *target
	items []*item // in order; items[0] is the head
	state streamState
	timer *time.Timer
	gen   uint64 // invalidates timers that fired too late
}

// target is an endpoint or a callback's webhook_url: the unit PerTarget
// limits.
type target struct {
	key      string
	streams  map[string]*stream
	ready    []*stream // streams whose head is due, FIFO
	inflight int
	queued   bool // in Sender.runnable
}

func targetKey(d *store.Delivery) string {
	if d.EndpointID != "" {
		return d.EndpointID
	}
	return "url:" + d.URL
}

// New returns a sender for o. Call Start to begin sending.
func New(o Outbox, cfg Config) *Sender {
	cfg = cfg.withDefaults()
	dialer := &net.Dialer{
		Timeout:   cfg.Timeout,
		KeepAlive: 30 * time.Second,
		Control:   DialControl(cfg.AllowPrivate),
	}
	tr := &http.Transport{
		// No proxy: the address check must see the receiver's address, and
		// a proxy from the environment would also see every payload.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          cfg.Workers * 2,
		MaxIdleConnsPerHost:   cfg.PerTarget,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   cfg.Timeout,
		ExpectContinueTimeout: time.Second,
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Sender{
		o:         o,
		cfg:       cfg,
		log:       cfg.Log,
		transport: tr,
		client: &http.Client{
			Transport: tr,
			// A redirect is a failed attempt: following it would send the
			// signed payload somewhere the user did not configure.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		ctx:          ctx,
		cancel:       cancel,
		storeBackoff: time.Second,
		known:        map[string]*item{},
		targets:      map[string]*target{},
	}
}

// ErrClosed is returned by Start on a sender already closed.
var ErrClosed = errors.New("webhook sender closed")

// Start registers the sender as the store's OnDeliveries hook, loads every
// pending delivery and starts sending. ctx bounds only the start; the
// sender runs until Close.
func (s *Sender) Start(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.starting:
		s.mu.Unlock()
		return errors.New("webhook sender already started")
	}
	s.starting = true
	s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	secret, err := s.o.CallbackSecret()
	if err != nil {
		return fmt.Errorf("webhook sender: callback secret: %w", err)
	}
	s.secret.Store(&secret)
	// Hook first, then load: a delivery committed in between is in both,
	// and Enqueue keeps one. Nothing is sent before the load is merged, so
	// no delivery can finish and then be loaded again as pending.
	s.o.OnDeliveries(func(ds []*store.Delivery) { s.Enqueue(ds...) })
	ds, err := s.o.PendingDeliveries()
	if err != nil {
		s.o.OnDeliveries(nil)
		return fmt.Errorf("webhook sender: load pending deliveries: %w", err)
	}
	s.Enqueue(ds...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.started = true
	for _, t := range s.targets {
		for _, st := range t.streams {
			s.evaluate(st)
		}
	}
	s.pump()
	s.log.Debug("webhook sender started", "pending", len(s.known))
	return nil
}

// Enqueue adds pending deliveries to send. It is the store's OnDeliveries
// hook and may also be called directly; deliveries already known, or not
// pending, are ignored. It does not block.
func (s *Sender) Enqueue(ds ...*store.Delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	for _, d := range ds {
		if d == nil || d.Status != store.DeliveryPending {
			continue
		}
		if _, ok := s.known[d.ID]; ok {
			continue
		}
		s.enqSeq++
		it := &item{id: d.ID, seq: d.Seq, enq: s.enqSeq, due: d.NextAttemptAt, d: d}
		s.known[d.ID] = it
		st := s.streamFor(d)
		i, _ := slices.BinarySearchFunc(st.items, it, func(a, b *item) int {
			switch {
			case a.before(b):
				return -1
			case b.before(a):
				return 1
			}
			return 0
		})
		st.items = slices.Insert(st.items, i, it)
		if s.started && (st.state == stIdle || (st.state == stWaiting && i == 0)) {
			s.evaluate(st)
		}
	}
	s.pump()
}

// Close stops taking work and waits for the sends in flight until ctx
// ends; then it cancels them (their deliveries stay pending, the attempt
// unrecorded) and waits for them to return. Pending deliveries stay
// pending in the store for the next Start.
func (s *Sender) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	inflight := s.inflight
	for _, t := range s.targets {
		for _, st := range t.streams {
			if st.timer != nil {
				st.timer.Stop()
				st.timer = nil
			}
			st.gen++
		}
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("webhook sender: %d sends cancelled, their deliveries stay pending: %w", inflight, ctx.Err())
		s.cancel()
		<-done
	}
	s.cancel()
	s.transport.CloseIdleConnections()
	return err
}

func (s *Sender) streamFor(d *store.Delivery) *stream {
	tk := targetKey(d)
	t := s.targets[tk]
	if t == nil {
		t = &target{key: tk, streams: map[string]*stream{}}
		s.targets[tk] = t
	}
	sk := d.Stream()
	st := t.streams[sk]
	if st == nil {
		st = &stream{key: sk, tgt: t}
		t.streams[sk] = st
	}
	return st
}

// evaluate decides what an idle or waiting stream does next: go away when
// empty, become ready when its head is due, or wait for it. Under s.mu.
func (s *Sender) evaluate(st *stream) {
	if st.state == stReady || st.state == stRunning || !s.started || s.closed {
		return
	}
	if st.timer != nil {
		st.timer.Stop()
		st.timer = nil
	}
	st.gen++
	st.state = stIdle
	if len(st.items) == 0 {
		s.removeStream(st)
		return
	}
	wait := st.items[0].due.Sub(s.cfg.Now())
	if wait <= 0 {
		s.makeReady(st)
		return
	}
	st.state = stWaiting
	gen := st.gen
	st.timer = time.AfterFunc(wait, func() { s.fire(st, gen) })
}

// fire is a stream's timer: its head is due.
func (s *Sender) fire(st *stream, gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || st.gen != gen || st.state != stWaiting {
		return
	}
	st.timer = nil
	if len(st.items) == 0 {
		st.state = stIdle
		s.removeStream(st)
		return
	}
	s.makeReady(st)
	s.pump()
}

func (s *Sender) makeReady(st *stream) {
	st.state = stReady
	st.tgt.ready = append(st.tgt.ready, st)
	s.queueTarget(st.tgt)
}

func (s *Sender) queueTarget(t *target) {
	if !t.queued && len(t.ready) > 0 && t.inflight < s.cfg.PerTarget {
		t.queued = true
		s.runnable = append(s.runnable, t)
	}
}

func (s *Sender) removeStream(st *stream) {
	t := st.tgt
	if t.streams[st.key] == st {
		delete(t.streams, st.key)
	}
	if len(t.streams) == 0 && t.inflight == 0 && s.targets[t.key] == t {
		delete(s.targets, t.key)
	}
}

// pump starts sends while there are free workers and ready streams, taking
// targets in turn so that none starves another. Under s.mu.
func (s *Sender) pump() {
	if !s.started || s.closed {
		return
	}
	for s.inflight < s.cfg.Workers && len(s.runnable) > 0 {
		t := s.runnable[0]
		s.runnable[0] = nil
		s.runnable = s.runnable[1:]
		t.queued = false
		if t.inflight >= s.cfg.PerTarget || len(t.ready) == 0 {
			continue
		}
		st := t.ready[0]
		t.ready[0] = nil
		t.ready = t.ready[1:]
		if len(st.items) == 0 {
			st.state = stIdle
			s.removeStream(st)
			s.queueTarget(t)
			continue
		}
		it := st.items[0]
		st.state = stRunning
		it.running = true
		t.inflight++
		s.inflight++
		s.wg.Add(1)
		go s.run(st, it)
		s.queueTarget(t)
	}
	if len(s.runnable) == 0 {
		s.runnable = nil // let the backing array go
	}
}

// outcome is what became of one send.
type outcome struct {
	kind outcomeKind
	at   time.Time // retry: when
	// dropTarget: the store has given up the target's pending deliveries
	// (endpoint disabled or deleted), those enqueued up to mark included.
	dropTarget bool
	mark       uint64
}

type outcomeKind uint8

const (
	outDone  outcomeKind = iota // finished, given up or gone: forget it
	outRetry                    // try again at at
	outHold                     // closing: leave it pending, untouched
)

func (s *Sender) run(st *stream, it *item) {
	defer s.wg.Done()
	o := s.deliver(it)
	s.finish(st, it, o)
}

// finish applies a send's outcome and lets the stream go on.
func (s *Sender) finish(st *stream, it *item, o outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := st.tgt
	t.inflight--
	s.inflight--
	it.running = false
	st.state = stIdle
	switch o.kind {
	case outDone:
		s.removeItem(st, it)
	case outRetry:
		it.due = o.at
	}
	if o.dropTarget {
		s.dropTarget(t, o.mark)
	}
	if s.closed {
		return
	}
	s.evaluate(st)
	s.queueTarget(t)
	s.pump()
}

func (s *Sender) removeItem(st *stream, it *item) {
	if i := slices.Index(st.items, it); i >= 0 {
		st.items = slices.Delete(st.items, i, i+1)
	}
	if s.known[it.id] == it {
		delete(s.known, it.id)
	}
}

// dropTarget forgets the target's deliveries enqueued up to mark: the
// store gave them up when the endpoint was disabled or deleted after they
// were made pending. Later ones (the endpoint enabled again and a delivery
// retried) stay. Under s.mu.
func (s *Sender) dropTarget(t *target, mark uint64) {
	for _, st := range t.streams {
		kept := st.items[:0:0]
		for _, it := range st.items {
			if it.running || it.enq > mark {
				kept = append(kept, it)
				continue
			}
			if s.known[it.id] == it {
				delete(s.known, it.id)
			}
		}
		st.items = kept
		if st.state == stIdle || st.state == stWaiting {
			s.evaluate(st)
		}
	}
}

// mark returns the number of the last item enqueued.
func (s *Sender) mark() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.enqSeq
}
