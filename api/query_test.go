package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/callbackd/callbackd/store"
)

func TestListQuery(t *testing.T) {
	h, svc, _ := newFakeHarness(t, Options{})
	from := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		query  string
		want   store.CallbackFilter
		status int
		code   string
		field  string
	}{
		{query: "", want: store.CallbackFilter{Limit: 20}},
		{query: "status=failed&team=sales&limit=100&starting_after=cb_x",
			want: store.CallbackFilter{Status: store.Failed, Team: "sales", Limit: 100, StartingAfter: "cb_x"}},
		{query: "customer=%2B442079460123", want: store.CallbackFilter{Customer: numCustomer, Limit: 20}},
		{query: "customer=+442079460123", want: store.CallbackFilter{Customer: numCustomer, Limit: 20}},
		{query: "created_gte=2026-06-01T00:00:00Z&created_lt=2026-06-02T02:00:00%2B02:00",
			want: store.CallbackFilter{CreatedFrom: from, CreatedTo: to, Limit: 20}},
		{query: "status=done", status: 422, code: CodeValidation, field: "status"},
		{query: "limit=0", status: 422, code: CodeValidation, field: "limit"},
		{query: "limit=101", status: 422, code: CodeValidation, field: "limit"},
		{query: "limit=ten", status: 422, code: CodeValidation, field: "limit"},
		{query: "created_gte=yesterday", status: 422, code: CodeValidation, field: "created_gte"},
		{query: "created_lt=2026-06-01", status: 422, code: CodeValidation, field: "created_lt"},
		{query: "colour=red", status: 400, code: CodeUnknownField, field: "colour"},
		{query: "status=failed&status=completed", status: 422, code: CodeValidation, field: "status"},
	} {
		t.Run(c.query, func(t *testing.T) {
			h := h.with(t)
			n := len(svc.filters)
			r := h.do(req{method: "GET", path: "/v1/callbacks?" + c.query, key: h.reader})
			if c.status != 0 {
				r.problem(c.status, c.code, c.field)
				if len(svc.filters) != n {
					t.Errorf("the service was asked despite the error")
				}
				return
			}
			r.want(http.StatusOK)
			var page struct {
				Data    []any `json:"data"`
				HasMore *bool `json:"has_more"`
			}
			r.decode(&page)
			if page.Data == nil || page.HasMore == nil {
				t.Errorf("page %s: want data [] and has_more", r.body)
			}
			got := svc.filters[len(svc.filters)-1]
			if !got.CreatedFrom.Equal(c.want.CreatedFrom) || !got.CreatedTo.Equal(c.want.CreatedTo) {
				t.Errorf("created range %v..%v, want %v..%v", got.CreatedFrom, got.CreatedTo, c.want.CreatedFrom, c.want.CreatedTo)
			}
			got.CreatedFrom, got.CreatedTo, c.want.CreatedFrom, c.want.CreatedTo = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if got != c.want {
				t.Errorf("filter %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestEventsQuery(t *testing.T) {
	h, svc, _ := newFakeHarness(t, Options{})
	cbID := h.do(req{method: "POST", path: "/v1/callbacks", key: h.writer, body: validCallback()}).want(201)
	var cb store.Callback
	cbID.decode(&cb)
	for i := 1; i <= 5; i++ {
		svc.events = append(svc.events, store.Event{ID: "evt_" + string(rune('a'+i)), CallbackID: cb.ID, Seq: uint64(i), Type: "callback.scheduled"})
	}
	type page struct {
		Data    []store.Event `json:"data"`
		HasMore bool          `json:"has_more"`
	}
	var p page
	h.do(req{method: "GET", path: "/v1/callbacks/" + cb.ID + "/events?limit=2", key: h.reader}).want(200).decode(&p)
	if len(p.Data) != 2 || !p.HasMore || p.Data[0].Seq != 1 {
		t.Errorf("first page %+v", p)
	}
	p = page{}
	h.do(req{method: "GET", path: "/v1/callbacks/" + cb.ID + "/events?after=2&limit=3", key: h.reader}).want(200).decode(&p)
	if len(p.Data) != 3 || p.HasMore || p.Data[0].Seq != 3 {
		t.Errorf("last page %+v", p)
	}
	h.do(req{method: "GET", path: "/v1/callbacks/" + cb.ID + "/events?after=-1", key: h.reader}).problem(422, CodeValidation, "after")
	h.do(req{method: "GET", path: "/v1/callbacks/" + cb.ID + "/events?limit=1001", key: h.reader}).problem(422, CodeValidation, "limit")
	h.do(req{method: "GET", path: "/v1/callbacks/cb_nope/events", key: h.reader}).problem(404, CodeNotFound, "")
}
