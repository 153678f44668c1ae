package api

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/callbackd/callbackd/metrics"
	"github.com/callbackd/callbackd/store"
)

// DefaultMaxBody bounds request bodies: a callback request with the
// largest metadata the engine takes fits with room to spare.
const DefaultMaxBody = 64 << 10

// Options tune a Server. The zero Options work.
type Options struct {
	// MaxBody bounds request bodies in bytes; 0 = DefaultMaxBody.
	MaxBody int64
	// Checks are what /readyz runs.
	Checks []Check
	// Log receives one debug line per request and the errors; nil discards.
	Log *slog.Logger
	// Metrics records API latency and serves /metrics; nil: /metrics is 404.
	Metrics *metrics.Metrics
	// Now is the time for new API keys; nil = time.Now.
	Now func() time.Time
}

// Server is the REST API. It is an http.Handler.
type Server struct {
	svc     Service
	hooks   Webhooks // nil: the webhook routes answer 404
	keys    Keys
	checks  []Check
	log     *slog.Logger
	metrics *metrics.Metrics
	now     func() time.Time
	maxBody int64

	router  *mux.Router
	handler http.Handler
	promh   http.Handler
	backup  func(io.Writer) (int64, error)
}

// New returns the API over svc (the engine) and keys (the store).
func New(svc Service, keys Keys, o Options) *Server {
	s := &Server{svc: svc, keys: keys, checks: o.Checks, log: o.Log, metrics: o.Metrics, now: o.Now, maxBody: o.MaxBody}
	s.hooks, _ = svc.(Webhooks)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBody
	}
	if s.metrics != nil {
		s.promh = s.metrics.Handler()
	}
	s.router = s.routes()
	s.handler = s.observe(s.recoverPanics(s.router))
	return s
}

// Router returns the routes, for walking them (the OpenAPI test does).
// Serve the Server itself: it adds metrics, logging and panic recovery
// around the router.
func (s *Server) Router() *mux.Router { return s.router }

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// SetBackup enables GET /v1/backup (admin), which streams a consistent
// copy of the store from backup (store.DB.Backup) while the server runs.
// Without it the route answers 404. Call it before serving.
func (s *Server) SetBackup(backup func(io.Writer) (int64, error)) { s.backup = backup }

// Scopes of the routes without an API key: public, or authenticated by a
// trigger's secret (the inbound hooks).
const (
	public        = ""
	triggerSecret = "trigger secret"
)

// routes registers every route. Each has exactly one method, so a walk of
// the router lists (method, path) pairs as the OpenAPI document does.
func (s *Server) routes() *mux.Router {
	r := mux.NewRouter()
	r.StrictSlash(false)
	r.Use(nameRoute)
	r.NotFoundHandler = http.HandlerFunc(s.notFound)
	r.MethodNotAllowedHandler = http.HandlerFunc(s.methodNotAllowed)

	for _, rt := range []struct {
		method, path, scope string
		h                   handlerFunc
	}{
		{http.MethodPost, "/v1/callbacks", store.ScopeCallbacksWrite, s.createCallback},
		{http.MethodGet, "/v1/callbacks", store.ScopeCallbacksRead, s.listCallbacks},
		{http.MethodGet, "/v1/callbacks/{id}", store.ScopeCallbacksRead, s.getCallback},
		{http.MethodPost, "/v1/callbacks/{id}/cancel", store.ScopeCallbacksWrite, s.cancelCallback},
		{http.MethodGet, "/v1/callbacks/{id}/events", store.ScopeCallbacksRead, s.listEvents},
		// The callback's own webhook_url is its creator's, so callback
		// keys see and resend what went there; endpoints stay admin's.
		{http.MethodGet, "/v1/callbacks/{id}/deliveries", store.ScopeCallbacksRead, s.listCallbackDeliveries},
		{http.MethodPost, "/v1/callbacks/{id}/deliveries/{delivery_id}/retry", store.ScopeCallbacksWrite, s.retryCallbackDelivery},

		{http.MethodPost, "/v1/teams", store.ScopeAdmin, s.createTeam},
		{http.MethodGet, "/v1/teams", store.ScopeCallbacksRead, s.listTeams},
		{http.MethodGet, "/v1/teams/{id}", store.ScopeCallbacksRead, s.getTeam},
		{http.MethodPatch, "/v1/teams/{id}", store.ScopeAdmin, s.updateTeam},
		{http.MethodDelete, "/v1/teams/{id}", store.ScopeAdmin, s.deleteTeam},

		{http.MethodPost, "/v1/api-keys", store.ScopeAdmin, s.createAPIKey},
		{http.MethodGet, "/v1/api-keys", store.ScopeAdmin, s.listAPIKeys},
		{http.MethodPost, "/v1/api-keys/{id}/revoke", store.ScopeAdmin, s.revokeAPIKey},

		{http.MethodPost, "/v1/webhooks", store.ScopeAdmin, s.createWebhook},
		{http.MethodGet, "/v1/webhooks", store.ScopeAdmin, s.listWebhooks},
		{http.MethodGet, "/v1/webhooks/{id}", store.ScopeAdmin, s.getWebhook},
		{http.MethodPatch, "/v1/webhooks/{id}", store.ScopeAdmin, s.updateWebhook},
		{http.MethodDelete, "/v1/webhooks/{id}", store.ScopeAdmin, s.deleteWebhook},
		{http.MethodGet, "/v1/webhooks/{id}/secret", store.ScopeAdmin, s.getWebhookSecret},
		{http.MethodPost, "/v1/webhooks/{id}/rotate-secret", store.ScopeAdmin, s.rotateWebhookSecret},
		{http.MethodGet, "/v1/webhooks/{id}/deliveries", store.ScopeAdmin, s.listDeliveries},
		{http.MethodPost, "/v1/webhooks/{id}/deliveries/{delivery_id}/retry", store.ScopeAdmin, s.retryDelivery},
		{http.MethodPost, "/v1/webhooks/{id}/test", store.ScopeAdmin, s.testWebhook},
		{http.MethodGet, "/v1/webhook-secret", store.ScopeAdmin, s.getCallbackWebhookSecret},

		// REST Hooks deliver only events a callbacks:read key can read
		// anyway, so an integration needs no admin key to subscribe.
		{http.MethodPost, "/v1/hooks/subscriptions", store.ScopeCallbacksRead, s.subscribe},
		{http.MethodDelete, "/v1/hooks/subscriptions/{id}", store.ScopeCallbacksRead, s.unsubscribe},
		{http.MethodGet, "/v1/hooks/samples", store.ScopeCallbacksRead, s.listSamples},

		{http.MethodPost, "/v1/triggers", store.ScopeAdmin, s.createTrigger},
		{http.MethodGet, "/v1/triggers", store.ScopeAdmin, s.listTriggers},
		{http.MethodGet, "/v1/triggers/{id}", store.ScopeAdmin, s.getTrigger},
		{http.MethodPatch, "/v1/triggers/{id}", store.ScopeAdmin, s.updateTrigger},
		{http.MethodDelete, "/v1/triggers/{id}", store.ScopeAdmin, s.deleteTrigger},
		{http.MethodPost, "/v1/triggers/{id}/rotate-secret", store.ScopeAdmin, s.rotateTriggerSecret},
		// The pattern keeps trigger IDs apart from the other /v1/hooks/ routes.
		{http.MethodPost, "/v1/hooks/{trigger_id:trg_[0-9a-z]+}", triggerSecret, s.fireHook},

		{http.MethodGet, "/v1/backup", store.ScopeAdmin, s.serveBackup},

		{http.MethodGet, "/healthz", public, s.healthz},
		{http.MethodGet, "/readyz", public, s.readyz},
		{http.MethodGet, "/metrics", public, s.serveMetrics},
	} {
		var h http.Handler = s.wrap(rt.h)
		if rt.method == http.MethodPost {
			h = s.idempotent(h)
		}
		switch rt.scope {
		case public:
		case triggerSecret:
			h = s.authorizeHook(h)
		default:
			h = s.authorize(rt.scope, h)
		}
		r.Handle(rt.path, h).Methods(rt.method)
	}
	r.HandleFunc("/v1/openapi.json", serveOpenAPI).Methods(http.MethodGet)
	return r
}

// handlerFunc is a handler that returns its failure; wrap turns the error
// into a problem response.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) wrap(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeProblem(w, r, newProblem(CodeNotFound, "", "no route for %s", r.URL.Path))
}

// methodNotAllowed answers 405 with the Allow header, found by asking the
// router which methods match the path.
func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete, http.MethodPut} {
		probe := r.Clone(r.Context())
		probe.Method = m
		var match mux.RouteMatch
		if s.router.Match(probe, &match) && match.MatchErr == nil {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
	}
	s.writeProblem(w, r, newProblem(CodeMethodNotAllowed, "", "%s is not allowed on %s", r.Method, r.URL.Path))
}
