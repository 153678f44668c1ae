package api

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callbackd/callbackd/store"
)

// List bounds.
const (
	DefaultListLimit   = 20
	MaxListLimit       = 100
	DefaultEventsLimit = 100
	MaxEventsLimit     = 1000
)

// query reads a URL query strictly, like a body: unknown and repeated
// parameters are errors rather than silently ignored filters.
type query struct {
	v url.Values
}

func newQuery(v url.Values, known ...string) (query, error) {
	for name, vals := range v {
		if !slices.Contains(known, name) {
			return query{}, newProblem(CodeUnknownField, name, "unknown query parameter %q; known: %s", name, strings.Join(known, ", "))
		}
		if len(vals) > 1 {
			return query{}, newProblem(CodeValidation, name, "give %s once", name)
		}
	}
	return query{v}, nil
}

func (q query) str(name string) string { return q.v.Get(name) }

// int reads an integer in [lo, hi]; def when absent.
func (q query) int(name string, def, lo, hi int) (int, error) {
	s, ok := q.v[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(s[0])
	if err != nil || n < lo || n > hi {
		return 0, newProblem(CodeValidation, name, "must be an integer from %d to %d", lo, hi)
	}
	return n, nil
}

// time reads an RFC 3339 time; zero when absent.
func (q query) time(name string) (time.Time, error) {
	s, ok := q.v[name]
	if !ok {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s[0])
	if err != nil {
		return time.Time{}, newProblem(CodeValidation, name, "%q is not an RFC 3339 time such as 2026-06-10T14:00:00Z", s[0])
	}
	return t, nil
}

// callbackFilter parses GET /v1/callbacks's query.
func callbackFilter(v url.Values) (store.CallbackFilter, error) {
	q, err := newQuery(v, "status", "team", "customer", "created_gte", "created_lt", "limit", "starting_after")
	if err != nil {
		return store.CallbackFilter{}, err
	}
	f := store.CallbackFilter{
		Status:        store.Status(q.str("status")),
		Team:          q.str("team"),
		Customer:      customerParam(q.str("customer")),
		StartingAfter: q.str("starting_after"),
	}
	if f.Status != "" && !f.Status.Valid() {
		return f, newProblem(CodeValidation, "status", "must be one of scheduled, in_progress, completed, failed, canceled")
	}
	if f.CreatedFrom, err = q.time("created_gte"); err != nil {
		return f, err
	}
	if f.CreatedTo, err = q.time("created_lt"); err != nil {
		return f, err
	}
	if f.Limit, err = q.int("limit", DefaultListLimit, 1, MaxListLimit); err != nil {
		return f, err
	}
	return f, nil
}

// customerParam undoes a common slip: an unencoded "+" in a query string
// means a space, so "?customer=+4420..." arrives as " 4420...".
func customerParam(s string) string {
	if t := strings.TrimSpace(s); t != s && t != "" && t[0] >= '0' && t[0] <= '9' {
		return "+" + t
	}
	return s
}

// eventsQuery parses GET /v1/callbacks/{id}/events's query.
func eventsQuery(v url.Values) (after uint64, limit int, err error) {
	q, err := newQuery(v, "after", "limit")
	if err != nil {
		return 0, 0, err
	}
	if s, ok := q.v["after"]; ok {
		if after, err = strconv.ParseUint(s[0], 10, 64); err != nil {
			return 0, 0, newProblem(CodeValidation, "after", "must be an event sequence number (0 or more)")
		}
	}
	limit, err = q.int("limit", DefaultEventsLimit, 1, MaxEventsLimit)
	return after, limit, err
}
