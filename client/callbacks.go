package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// CallbacksService is /v1/callbacks: create, read, list, cancel, and the
// event log.
type CallbacksService struct{ c *Client }

// Create asks for a callback (POST /v1/callbacks). The answer is
// "scheduled", or already "in_progress" when it was due now and the trunk
// had room.
func (s *CallbacksService) Create(ctx context.Context, in *CallbackCreate, opts ...RequestOption) (*Callback, error) {
	return doOne[Callback](ctx, s.c, ep(http.MethodPost, "/v1/callbacks"), in, opts)
}

// Get returns a callback with its attempts.
func (s *CallbacksService) Get(ctx context.Context, id string, opts ...RequestOption) (*Callback, error) {
	return doOne[Callback](ctx, s.c, ep(http.MethodGet, "/v1/callbacks/%s", id), nil, opts)
}

// Cancel cancels a callback that has not finished; a call in progress is
// hung up. A finished one is a conflict (IsConflict).
func (s *CallbacksService) Cancel(ctx context.Context, id string, opts ...RequestOption) (*Callback, error) {
	return doOne[Callback](ctx, s.c, ep(http.MethodPost, "/v1/callbacks/%s/cancel", id), nil, opts)
}

// ListParams filters and pages GET /v1/callbacks. The zero value lists
// every callback, newest first, 20 a page.
type ListParams struct {
	Status        Status
	Team          string
	Customer      string    // E.164
	CreatedGTE    time.Time // created at or after
	CreatedLT     time.Time // created before
	Limit         int       // per page, 1 to 100; 0: the server's default (20)
	StartingAfter string    // the ID after which the page starts
}

func (p *ListParams) values() url.Values {
	q := url.Values{}
	if p == nil {
		return q
	}
	setNonZero(q, "status", string(p.Status))
	setNonZero(q, "team", p.Team)
	setNonZero(q, "customer", p.Customer)
	setTime(q, "created_gte", p.CreatedGTE)
	setTime(q, "created_lt", p.CreatedLT)
	setInt(q, "limit", p.Limit)
	setNonZero(q, "starting_after", p.StartingAfter)
	return q
}

// List returns one page of callbacks, newest first.
func (s *CallbacksService) List(ctx context.Context, p *ListParams, opts ...RequestOption) (*Page[*Callback], error) {
	return doOne[Page[*Callback]](ctx, s.c, ep(http.MethodGet, "/v1/callbacks").with(p.values()), nil, opts)
}

// All walks every callback matching p, newest first, a page at a time,
// from p.StartingAfter on. It stops at the first error, which it yields.
func (s *CallbacksService) All(ctx context.Context, p *ListParams, opts ...RequestOption) iter.Seq2[*Callback, error] {
	q := ListParams{}
	if p != nil {
		q = *p
	}
	return paginate(q.StartingAfter, func(after string) (*Page[*Callback], error) {
		q.StartingAfter = after
		return s.List(ctx, &q, opts...)
	}, func(cb *Callback) string { return cb.ID })
}

// EventsParams pages a callback's event log.
type EventsParams struct {
	After uint64 // the events after this sequence number
	Limit int    // 1 to 1000; 0: the server's default (100)
}

// Events returns one page of a callback's event log, in order.
func (s *CallbacksService) Events(ctx context.Context, id string, p *EventsParams, opts ...RequestOption) (*Page[*Event], error) {
	q := url.Values{}
	if p != nil {
		if p.After > 0 {
			q.Set("after", strconv.FormatUint(p.After, 10))
		}
		setInt(q, "limit", p.Limit)
	}
	return doOne[Page[*Event]](ctx, s.c, ep(http.MethodGet, "/v1/callbacks/%s/events", id).with(q), nil, opts)
}

// AllEvents walks the callback's event log as it is now, after the
// sequence number after.
func (s *CallbacksService) AllEvents(ctx context.Context, id string, after uint64, opts ...RequestOption) iter.Seq2[*Event, error] {
	return paginate(seqCursor(after), func(cursor string) (*Page[*Event], error) {
		n, _ := strconv.ParseUint(cursor, 10, 64)
		return s.Events(ctx, id, &EventsParams{After: n, Limit: 1000}, opts...)
	}, func(e *Event) string { return seqCursor(e.Sequence) })
}

func seqCursor(n uint64) string { return strconv.FormatUint(n, 10) }

// Follow yields the callback's events after the sequence number after,
// as they happen, polling every interval (0: one second) once it has
// caught up, until the final event (Event.Final), which it yields last.
// It stops at the first error, which it yields, and when ctx ends (with
// ctx's error).
func (s *CallbacksService) Follow(ctx context.Context, id string, after uint64, interval time.Duration, opts ...RequestOption) iter.Seq2[*Event, error] {
	if interval <= 0 {
		interval = time.Second
	}
	return func(yield func(*Event, error) bool) {
		for {
			page, err := s.Events(ctx, id, &EventsParams{After: after, Limit: 1000}, opts...)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, e := range page.Data {
				if !yield(e, nil) || e.Final() {
					return
				}
				after = e.Sequence
			}
			if page.HasMore && len(page.Data) > 0 {
				continue
			}
			if err := sleep(ctx, interval); err != nil {
				yield(nil, err)
				return
			}
		}
	}
}

// paginate walks pages: fetch(cursor) returns the page after cursor, and
// next(item) is the cursor after an item.
func paginate[T any](cursor string, fetch func(cursor string) (*Page[T], error), next func(T) string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			page, err := fetch(cursor)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, v := range page.Data {
				if !yield(v, nil) {
					return
				}
			}
			if !page.HasMore || len(page.Data) == 0 {
				return
			}
			cursor = next(page.Data[len(page.Data)-1])
		}
	}
}

func setNonZero(q url.Values, name, v string) {
	if v != "" {
		q.Set(name, v)
	}
}

func setInt(q url.Values, name string, v int) {
	if v != 0 {
		q.Set(name, strconv.Itoa(v))
	}
}

func setTime(q url.Values, name string, t time.Time) {
	if !t.IsZero() {
		q.Set(name, t.UTC().Format(time.RFC3339Nano))
	}
}

// Deliveries returns one page of what was sent to the callback's own
// webhook_url, newest first, each with every attempt.
func (s *CallbacksService) Deliveries(ctx context.Context, id string, p *DeliveriesParams, opts ...RequestOption) (*Page[*Delivery], error) {
	return deliveriesPage(ctx, s.c, "/v1/callbacks/%s/deliveries", id, p, opts)
}

// AllDeliveries walks what was sent to the callback's own webhook_url,
// newest first.
func (s *CallbacksService) AllDeliveries(ctx context.Context, id string, p *DeliveriesParams, opts ...RequestOption) iter.Seq2[*Delivery, error] {
	return allDeliveries(p, func(q *DeliveriesParams) (*Page[*Delivery], error) { return s.Deliveries(ctx, id, q, opts...) })
}

// RetryDelivery sends a delivery to the callback's own webhook_url again,
// now, with the same event ID.
func (s *CallbacksService) RetryDelivery(ctx context.Context, id, deliveryID string, opts ...RequestOption) (*Delivery, error) {
	return doOne[Delivery](ctx, s.c, ep(http.MethodPost, "/v1/callbacks/%s/deliveries/%s/retry", id, deliveryID), nil, opts)
}
