package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/callbackd/callbackd/engine"
	"github.com/callbackd/callbackd/schedule"
	"github.com/callbackd/callbackd/store"
)

// callbackInput is the body of POST /v1/callbacks.
type callbackInput struct {
	Customer struct {
		Number  string `json:"number"`
		Country string `json:"country"`
		Name    string `json:"name"`
	} `json:"customer"`
	Team        string `json:"team"`
	RepNumber   string `json:"rep_number"`
	ScheduledAt timeAt `json:"scheduled_at"`
	// Retry overlays the team's policy; the engine decodes it onto a copy
	// of the team's, so it stays raw here.
	Retry      json.RawMessage   `json:"retry"`
	WebhookURL string            `json:"webhook_url"`
	Metadata   map[string]string `json:"metadata"`
}

// callbackDetail is GET /v1/callbacks/{id}: the callback and its attempts.
type callbackDetail struct {
	*store.Callback
	Attempts []*store.Attempt `json:"attempts"`
}

// renderCallback is the body of a created callback, for the response and
// for the idempotency record written in the same transaction.
func renderCallback(cb *store.Callback) ([]byte, error) { return encode(cb) }

func (s *Server) createCallback(w http.ResponseWriter, r *http.Request) error {
	b, err := s.readJSON(w, r, false)
	if err != nil {
		return err
	}
	var in callbackInput
	if err := decodeJSON(b, &in); err != nil {
		return err
	}
	if err := checkRetryShape(in.Retry); err != nil {
		return err
	}
	req := engine.CallbackRequest{
		Team:        in.Team,
		RepNumber:   in.RepNumber,
		ScheduledAt: time.Time(in.ScheduledAt),
		Retry:       in.Retry,
		WebhookURL:  in.WebhookURL,
		Metadata:    in.Metadata,
	}
	req.Customer.Number, req.Customer.Country, req.Customer.Name = in.Customer.Number, in.Customer.Country, in.Customer.Name
	if st := idemOf(r); st != nil {
		req.Idem = &store.IdemCommit{Scope: st.scope, Key: st.key, Status: http.StatusCreated,
			ContentType: JSONContentType, Render: renderCallback}
	}
	cb, err := s.svc.Create(r.Context(), req)
	if err != nil {
		return err
	}
	if req.Idem != nil {
		idemOf(r).committed = true
	}
	body, err := renderCallback(cb)
	if err != nil {
		return internal(err)
	}
	writeBody(w, http.StatusCreated, body)
	return nil
}

// checkRetryShape finds unknown fields and wrong types in a retry override
// so that they are the same 400 problems as anywhere else in the body. Its
// values are judged by the engine, against the team's policy they overlay.
func checkRetryShape(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if k := jsonKind(raw); k != "object" {
		return newProblem(CodeWrongType, "retry", "must be an object, not %s", article(k))
	}
	var p schedule.Policy
	err := json.Unmarshal(raw, &p)
	var te *json.UnmarshalTypeError
	if err == nil || !errors.As(err, &te) {
		return nil
	}
	prob := typeProblem(te)
	if prob.code == CodeValidation {
		return nil
	}
	prob.Field = "retry." + te.Field
	if prob.code == CodeUnknownField {
		prob.Detail = "unknown field \"" + prob.Field + "\""
	}
	return prob
}

func (s *Server) getCallback(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	cb, attempts, err := s.svc.Get(id)
	if err != nil {
		return notFoundAs(err, "callback", id)
	}
	if attempts == nil {
		attempts = []*store.Attempt{}
	}
	return writeJSON(w, http.StatusOK, callbackDetail{Callback: cb, Attempts: attempts})
}

func (s *Server) listCallbacks(w http.ResponseWriter, r *http.Request) error {
	f, err := callbackFilter(r.URL.Query())
	if err != nil {
		return err
	}
	items, more, err := s.svc.List(f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newPage(items, more))
}

func (s *Server) cancelCallback(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	cb, err := s.svc.Cancel(r.Context(), id)
	switch {
	case errors.Is(err, engine.ErrFinal) && cb != nil:
		return newProblem(CodeConflict, "", "callback %s is %s already", id, cb.Status)
	case err != nil:
		return notFoundAs(err, "callback", id)
	}
	return writeJSON(w, http.StatusOK, cb)
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	after, limit, err := eventsQuery(r.URL.Query())
	if err != nil {
		return err
	}
	// One more than asked tells whether there is a next page.
	evs, err := s.svc.Events(id, after, limit+1)
	if err != nil {
		return notFoundAs(err, "callback", id)
	}
	more := len(evs) > limit
	if more {
		evs = evs[:limit]
	}
	return writeJSON(w, http.StatusOK, newPage(evs, more))
}

// notFoundAs names the missing resource in a not-found problem; other
// errors pass.
func notFoundAs(err error, what, id string) error {
	if errors.Is(err, engine.ErrNotFound) {
		return newProblem(CodeNotFound, "", "no %s %q", what, id)
	}
	return err
}
