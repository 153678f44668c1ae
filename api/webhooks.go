package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/mux"

	"github.com/callbackd/callbackd/engine"
	"github.com/callbackd/callbackd/schedule"
	"github.com/callbackd/callbackd/store"
)

// webhookInput is the body of POST /v1/webhooks and PATCH
// /v1/webhooks/{id}: the settable fields of an endpoint.
type webhookInput struct {
	URL         string   `json:"url"`
	EventTypes  []string `json:"event_types"`
	Description string   `json:"description"`
	Enabled     *bool    `json:"enabled"`
}

// apply replaces the fields of e named in present with in's; null resets
// a field to its default (every event type, no description, enabled).
func (in *webhookInput) apply(e *store.Endpoint, present map[string]json.RawMessage) {
	for name := range present {
		switch name {
		case "url":
			e.URL = in.URL
		case "event_types":
			e.EventTypes = in.EventTypes
		case "description":
			e.Description = in.Description
		case "enabled":
			e.Enabled = in.Enabled == nil || *in.Enabled
		}
	}
}

// webhookView is an endpoint as the API shows it: never its secrets, and
// event_types always a list (empty: every type).
type webhookView struct {
	ID             string    `json:"id"`
	URL            string    `json:"url"`
	EventTypes     []string  `json:"event_types"`
	Description    string    `json:"description,omitempty"`
	Enabled        bool      `json:"enabled"`
	Source         string    `json:"source,omitempty"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	FailingSince   time.Time `json:"failing_since,omitzero"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

func viewWebhook(e *store.Endpoint) webhookView {
	types := e.EventTypes
	if types == nil {
		types = []string{}
	}
	return webhookView{ID: e.ID, URL: e.URL, EventTypes: types, Description: e.Description, Enabled: e.Enabled,
		Source: e.Source, DisabledReason: e.DisabledReason, FailingSince: e.FailingSince, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

// createdWebhook is the answer to POST /v1/webhooks: the endpoint and its
// signing secret.
type createdWebhook struct {
	webhookView
	Secret string `json:"secret"`
}

// webhookSecret is a signing secret.
type webhookSecret struct {
	Secret string `json:"secret"`
}

// rotateInput is the optional body of POST /v1/webhooks/{id}/rotate-secret.
type rotateInput struct {
	// Overlap is how long the old secrets keep working; absent or null:
	// the default (a webhook's engine.DefaultSecretOverlap, a trigger's 0).
	Overlap *schedule.Duration `json:"overlap"`
}

// viewDelivery shows attempts as a list even before the first.
func viewDelivery(d *store.Delivery) *store.Delivery {
	c := *d
	if c.Attempts == nil {
		c.Attempts = []store.DeliveryAttempt{}
	}
	return &c
}

func viewDeliveries(ds []*store.Delivery) []*store.Delivery {
	out := make([]*store.Delivery, len(ds))
	for i, d := range ds {
		out[i] = viewDelivery(d)
	}
	return out
}

// webhooks returns the engine's webhooks, or the problem of a server
// built without them.
func (s *Server) webhooks() (Webhooks, error) {
	if s.hooks == nil {
		return nil, newProblem(CodeNotFound, "", "webhooks are not enabled on this server")
	}
	return s.hooks, nil
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	hooks, err := s.webhooks()
	if err != nil {
		return err
	}
	b, err := s.readJSON(w, r, false)
	if err != nil {
		return err
	}
	var in webhookInput
	if err := decodeJSON(b, &in); err != nil {
		return err
	}
	ep, secret, err := hooks.CreateWebhook(r.Context(), engine.WebhookRequest{
		URL: in.URL, EventTypes: in.EventTypes, Description: in.Description, Enabled: in.Enabled,
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, createdWebhook{webhookView: viewWebhook(ep), Secret: secret})
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	hooks, err := s.webhooks()
	if err != nil {
		return err
	}
	if _, err := newQuery(r.URL.Query()); err != nil {
		return err
	}
	eps, err := hooks.ListWebhooks()
	if err != nil {
		return err
	}
	views := make([]webhookView, len(eps))
	for i, e := range eps {
		views[i] = viewWebhook(e)
	}
	return writeJSON(w, http.StatusOK, newPage(views, false))
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) error {
	hooks, err := s.webhooks()
	if err != nil {
		return err
	}
	id := mux.Vars(r)["id"]
	ep, err := hooks.GetWebhook(id)
	if err != nil {
		return notFoundAs(err, "webhook", id)
	}
	return writeJSON(w, http.StatusOK, viewWebhook(ep))
}

func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	hooks, err := s.webhooks()
	if err != nil {
		return err
	}
	id := mux.Vars(r)["id"]
	b, err := s.readJSON(w, r, true)
	if err != nil {
		return err
	}
	var in webhookInput
	present, err := decodePatch(b, &in)
	if err != nil {
		return err
	}
	ep, err := hooks.UpdateWebhook(r.Context(), id, func(e *store.Endpoint) error {
		in.apply(e, present)
		return nil
	})
	if err != nil {
		if p := toProblem(err); p.code == CodeConflict {
			return newProblem(CodeConflict, "", "webhook %q changed meanwhile; read it and try again", id)
		}
		return notFoundAs(err, "webhook", id)
	}
	return writeJSON(w, http.StatusOK, viewWebhook(ep))
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	hooks, err := s.webhooks()
	if err != nil {
		return err
	}
	id := mux.Vars(r)["id"]
	if err := hooks.DeleteWebhook(r.Context(), id); err != nil {
		return notFoundAs(err, "webhook", id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	hooks, err := s.webhooks()
	if err != nil {
		return err
	}
	id := mux.Vars(r)["id"]
	secret, err := hooks.WebhookSecret(id)
	if err != nil {
		return notFoundAs(err, "webhook", id)
	}
	return writeJSON(w, http.StatusOK, webhookSecret{Secret: secret})
}

func (s *Server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	hooks, err := s.webhooks()
	if err != nil {
		return err
	}
	id := mux.Vars(r)["id"]
	in, err := s.readRotateInput(w, r)
	if err != nil {
		return err
	}
	overlap := engine.DefaultSecretOverlap
	if in.Overlap != nil {
		overlap = time.Duration(*in.Overlap)
	}
	secret, err := hooks.RotateWebhookSecret(r.Context(), id, overlap)
	if err != nil {
		return notFoundAs(err, "webhook", id)
	}
	return writeJSON(w, http.StatusOK, webhookSecret{Secret: secret})
}

// readRotateInput reads a rotate-secret request's body, which is
// optional: none means the default overlap.
func (s *Server) readRotateInput(w http.ResponseWriter, r *http.Request) (rotateInput, error) {
	var in rotateInput
	b, err := s.readBody(w, r)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return in, err
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	if b, err = s.readJSON(w, r, false); err != nil {
		return in, err
	}
	return in, decodeJSON(b, &in)
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	hooks, err := s.webhooks()
	if err != nil {
		return err
	}
	return deliveriesPage(w, r, "webhook", hooks.Deliveries)
}

// deliveriesPage answers a page of the deliveries list finds under the
// route's {id}, an endpoint's or a callback's (what).
func deliveriesPage(w http.ResponseWriter, r *http.Request, what string,
	list func(id, startingAfter string, limit int) ([]*store.Delivery, bool, error)) error {
	id := mux.Vars(r)["id"]
	after, limit, err := deliveriesQuery(r.URL.Query())
	if err != nil {
		return err
	}
	ds, more, err := list(id, after, limit)
	if err != nil {
		return notFoundAs(err, what, id)
	}
	return writeJSON(w, http.StatusOK, newPage(viewDeliveries(ds), more))
}

// deliveriesQuery parses GET /v1/webhooks/{id}/deliveries's query.
func deliveriesQuery(v url.Values) (startingAfter string, limit int, err error) {
	q, err := newQuery(v, "limit", "starting_after")
	if err != nil {
		return "", 0, err
	}
	limit, err = q.int("limit", DefaultListLimit, 1, MaxListLimit)
	return q.str("starting_after"), limit, err
}

func (s *Server) retryDelivery(w http.ResponseWriter, r *http.Request) error {
	hooks, err := s.webhooks()
	if err != nil {
		return err
	}
	id, did := mux.Vars(r)["id"], mux.Vars(r)["delivery_id"]
	d, err := hooks.RetryDelivery(r.Context(), id, did)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return newProblem(CodeNotFound, "", "webhook %q has no delivery %q", id, did)
	case errors.Is(err, engine.ErrConflict):
		return newProblem(CodeConflict, "", "webhook %q is disabled; enable it to send its deliveries again", id)
	case err != nil:
		return err
	}
	return writeJSON(w, http.StatusAccepted, viewDelivery(d))
}

func (s *Server) listCallbackDeliveries(w http.ResponseWriter, r *http.Request) error {
	hooks, err := s.webhooks()
	if err != nil {
		return err
	}
	return deliveriesPage(w, r, "callback", hooks.CallbackDeliveries)
}

func (s *Server) retryCallbackDelivery(w http.ResponseWriter, r *http.Request) error {
	hooks, err := s.webhooks()
	if err != nil {
		return err
	}
	id, did := mux.Vars(r)["id"], mux.Vars(r)["delivery_id"]
	d, err := hooks.RetryCallbackDelivery(r.Context(), id, did)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return newProblem(CodeNotFound, "", "callback %q has no webhook_url delivery %q", id, did)
	case err != nil:
		return err
	}
	return writeJSON(w, http.StatusAccepted, viewDelivery(d))
}

func (s *Server) testWebhook(w http.ResponseWriter, r *http.Request) error {
	hooks, err := s.webhooks()
	if err != nil {
		return err
	}
	id := mux.Vars(r)["id"]
	d, err := hooks.TestWebhook(r.Context(), id)
	if errors.Is(err, engine.ErrConflict) {
		return newProblem(CodeConflict, "", "webhook %q is disabled; enable it first", id)
	}
	if err != nil {
		return notFoundAs(err, "webhook", id)
	}
	return writeJSON(w, http.StatusAccepted, viewDelivery(d))
}

func (s *Server) getCallbackWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	hooks, err := s.webhooks()
	if err != nil {
		return err
	}
	if _, err := newQuery(r.URL.Query()); err != nil {
		return err
	}
	secret, err := hooks.CallbackWebhookSecret()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, webhookSecret{Secret: secret})
}
