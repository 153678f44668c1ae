package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/callbackd/callbackd/engine"
	"github.com/callbackd/callbackd/store"
)

// RESTHooks is what the API asks of the engine for REST Hooks
// subscriptions (Zapier, n8n, Make); *engine.Engine is one. A Service
// without it serves those routes as 404.
type RESTHooks interface {
	Subscribe(ctx context.Context, targetURL, event string) (*store.Endpoint, error)
	Unsubscribe(ctx context.Context, id string) error
	Samples(event string, limit int) ([]store.Envelope, error)
}

// subscribeInput is the body of POST /v1/hooks/subscriptions.
type subscribeInput struct {
	TargetURL string `json:"target_url"`
	Event     string `json:"event"`
}

// subscriptionView is a subscription as its subscriber sees it. The
// secret lets a subscriber that can verify Standard Webhooks signatures do
// so; the subscription is also listed with GET /v1/webhooks.
type subscriptionView struct {
	ID        string    `json:"id"`
	TargetURL string    `json:"target_url"`
	Event     string    `json:"event"`
	Secret    string    `json:"secret"`
	CreatedAt time.Time `json:"created_at"`
}

func (s *Server) restHooks() (RESTHooks, error) {
	rh, ok := s.svc.(RESTHooks)
	if !ok {
		return nil, newProblem(CodeNotFound, "", "REST Hooks are not enabled on this server")
	}
	return rh, nil
}

func (s *Server) subscribe(w http.ResponseWriter, r *http.Request) error {
	rh, err := s.restHooks()
	if err != nil {
		return err
	}
	b, err := s.readJSON(w, r, false)
	if err != nil {
		return err
	}
	var in subscribeInput
	if err := decodeJSON(b, &in); err != nil {
		return err
	}
	ep, err := rh.Subscribe(r.Context(), in.TargetURL, in.Event)
	if err != nil {
		return err
	}
	var secret string
	if len(ep.Secrets) > 0 {
		secret = ep.Secrets[0].Value
	}
	return writeJSON(w, http.StatusCreated, subscriptionView{ID: ep.ID, TargetURL: ep.URL, Event: in.Event,
		Secret: secret, CreatedAt: ep.CreatedAt})
}

func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) error {
	rh, err := s.restHooks()
	if err != nil {
		return err
	}
	id := mux.Vars(r)["id"]
	if err := rh.Unsubscribe(r.Context(), id); err != nil {
		return notFoundAs(err, "subscription", id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listSamples(w http.ResponseWriter, r *http.Request) error {
	rh, err := s.restHooks()
	if err != nil {
		return err
	}
	q, err := newQuery(r.URL.Query(), "event", "limit")
	if err != nil {
		return err
	}
	limit, err := q.int("limit", engine.DefaultSampleLimit, 1, engine.MaxSampleLimit)
	if err != nil {
		return err
	}
	envs, err := rh.Samples(q.str("event"), limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newPage(envs, false))
}
