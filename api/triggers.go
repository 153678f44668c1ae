package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/callbackd/callbackd/engine"
	"github.com/callbackd/callbackd/store"
	"github.com/callbackd/callbackd/trigger"
)

// Triggers is what the API asks of the engine about triggers and their
// inbound events; *engine.Engine is one. A Service without it serves the
// trigger and inbound hook routes as 404. Validation failures are
// *engine.FieldError; FireTrigger's typed errors are told apart.
type Triggers interface {
	CreateTrigger(ctx context.Context, s trigger.Spec) (*engine.Trigger, string, error)
	GetTrigger(id string) (*engine.Trigger, error)
	ListTriggers() ([]*engine.Trigger, error)
	UpdateTrigger(ctx context.Context, id string, patch func(*trigger.Spec) error) (*engine.Trigger, error)
	DeleteTrigger(ctx context.Context, id string) error
	RotateTriggerSecret(ctx context.Context, id string, overlap time.Duration) (string, error)
	TriggerAuth(id string) (trigger.Spec, []string, error)
	FireTrigger(ctx context.Context, id string, payload []byte) (*engine.TriggerResult, error)
}

// hookChallenge is the WWW-Authenticate of a refused inbound event: not
// an API key but the trigger's secret, in the way its auth mode says.
const hookChallenge = `Callbackd-Trigger realm="callbackd"`

// hookPath is the path of a trigger's inbound URL.
func hookPath(triggerID string) string { return "/v1/hooks/" + triggerID }

// triggerView is a trigger as the API shows it: its spec's fields, the
// path events are posted to, never its secret.
type triggerView struct {
	ID string `json:"id"`
	trigger.Spec
	URL       string    `json:"url"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func viewTrigger(t *engine.Trigger) triggerView {
	return triggerView{ID: t.ID, Spec: t.Spec, URL: hookPath(t.ID), CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

// createdTrigger is the answer to POST /v1/triggers: the trigger and its
// secret, shown this once.
type createdTrigger struct {
	triggerView
	Secret string `json:"secret"`
}

// rotatedSecret is the answer to POST /v1/triggers/{id}/rotate-secret.
type rotatedSecret struct {
	Secret string `json:"secret"`
}

// hookResult is the answer to an inbound event.
type hookResult struct {
	Matched bool `json:"matched"`
	// Reason says why an event did not match.
	Reason string `json:"reason,omitempty"`
	// Duplicate: the trigger made CallbackID for this customer within its
	// dedup window, and made no other.
	Duplicate  bool            `json:"duplicate,omitempty"`
	CallbackID string          `json:"callback_id,omitempty"`
	Callback   *store.Callback `json:"callback,omitempty"`
}

// applySpec replaces the fields of s named in present with in's: a PATCH
// replaces what it names, whole (a mapping is not merged), and null resets
// a field to its default (enabled: true).
func applySpec(s *trigger.Spec, in trigger.Spec, present map[string]json.RawMessage) {
	for name := range present {
		switch name {
		case "name":
			s.Name = in.Name
		case "condition":
			s.Condition = in.Condition
		case "mapping":
			s.Mapping = in.Mapping
		case "dedup":
			s.Dedup = in.Dedup
		case "rate_limit":
			s.RateLimit = in.RateLimit
		case "auth":
			s.Auth = in.Auth
		case "enabled":
			s.Enabled = in.Enabled
		}
	}
}

// newSpec is what a trigger body decodes onto: enabled unless it says
// false (or, in a PATCH, null).
func newSpec() trigger.Spec { return trigger.Spec{Enabled: true} }

// triggers returns the engine's triggers, or the problem of a server built
// without them.
func (s *Server) triggers() (Triggers, error) {
	trg, ok := s.svc.(Triggers)
	if !ok {
		return nil, newProblem(CodeNotFound, "", "triggers are not enabled on this server")
	}
	return trg, nil
}

func (s *Server) createTrigger(w http.ResponseWriter, r *http.Request) error {
	trg, err := s.triggers()
	if err != nil {
		return err
	}
	b, err := s.readJSON(w, r, false)
	if err != nil {
		return err
	}
	spec := newSpec()
	if err := decodeJSON(b, &spec); err != nil {
		return err
	}
	t, secret, err := trg.CreateTrigger(r.Context(), spec)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, createdTrigger{triggerView: viewTrigger(t), Secret: secret})
}

func (s *Server) listTriggers(w http.ResponseWriter, r *http.Request) error {
	trg, err := s.triggers()
	if err != nil {
		return err
	}
	if _, err := newQuery(r.URL.Query()); err != nil {
		return err
	}
	ts, err := trg.ListTriggers()
	if err != nil {
		return err
	}
	views := make([]triggerView, len(ts))
	for i, t := range ts {
		views[i] = viewTrigger(t)
	}
	return writeJSON(w, http.StatusOK, newPage(views, false))
}

func (s *Server) getTrigger(w http.ResponseWriter, r *http.Request) error {
	trg, err := s.triggers()
	if err != nil {
		return err
	}
	id := mux.Vars(r)["id"]
	t, err := trg.GetTrigger(id)
	if err != nil {
		return notFoundAs(err, "trigger", id)
	}
	return writeJSON(w, http.StatusOK, viewTrigger(t))
}

func (s *Server) updateTrigger(w http.ResponseWriter, r *http.Request) error {
	trg, err := s.triggers()
	if err != nil {
		return err
	}
	id := mux.Vars(r)["id"]
	b, err := s.readJSON(w, r, true)
	if err != nil {
		return err
	}
	in := newSpec()
	present, err := decodePatch(b, &in)
	if err != nil {
		return err
	}
	t, err := trg.UpdateTrigger(r.Context(), id, func(s *trigger.Spec) error {
		applySpec(s, in, present)
		return nil
	})
	if err != nil {
		if p := toProblem(err); p.code == CodeConflict {
			return newProblem(CodeConflict, "", "trigger %q changed meanwhile; read it and try again", id)
		}
		return notFoundAs(err, "trigger", id)
	}
	return writeJSON(w, http.StatusOK, viewTrigger(t))
}

func (s *Server) deleteTrigger(w http.ResponseWriter, r *http.Request) error {
	trg, err := s.triggers()
	if err != nil {
		return err
	}
	id := mux.Vars(r)["id"]
	if err := trg.DeleteTrigger(r.Context(), id); err != nil {
		return notFoundAs(err, "trigger", id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) rotateTriggerSecret(w http.ResponseWriter, r *http.Request) error {
	trg, err := s.triggers()
	if err != nil {
		return err
	}
	id := mux.Vars(r)["id"]
	in, err := s.readRotateInput(w, r)
	if err != nil {
		return err
	}
	// Unlike a webhook's, a trigger's old secret stops at once unless an
	// overlap is asked for: a rotation is most often for a leak.
	var overlap time.Duration
	if in.Overlap != nil {
		overlap = time.Duration(*in.Overlap)
	}
	secret, err := trg.RotateTriggerSecret(r.Context(), id, overlap)
	if err != nil {
		return notFoundAs(err, "trigger", id)
	}
	return writeJSON(w, http.StatusOK, rotatedSecret{Secret: secret})
}

// hookReq is an inbound event authorizeHook accepted.
type hookReq struct {
	triggerID string
	body      []byte
}

type hookCtxKey struct{}

func hookOf(r *http.Request) *hookReq {
	h, _ := r.Context().Value(hookCtxKey{}).(*hookReq)
	return h
}

// authorizeHook wraps an inbound hook route: it reads the body, up to
// trigger.MaxPayloadBytes (events are larger than API requests), and lets
// the request through only if it carries the trigger's secret as the
// trigger's auth mode says. An unknown trigger is 404 at once: IDs are not
// secret, secrets are compared in constant time.
func (s *Server) authorizeHook(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		trg, err := s.triggers()
		if err != nil {
			s.fail(w, r, err)
			return
		}
		id := mux.Vars(r)["trigger_id"]
		spec, secrets, err := trg.TriggerAuth(id)
		if err != nil {
			s.fail(w, r, notFoundAs(err, "trigger", id))
			return
		}
		r = r.WithContext(withBodyLimit(r.Context(), trigger.MaxPayloadBytes))
		body, err := s.readBody(w, r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := trigger.VerifyAuth(spec, secrets, r, body); err != nil {
			w.Header().Set("WWW-Authenticate", hookChallenge)
			s.writeProblem(w, r, newProblem(CodeUnauthenticated, "", "%s",
				strings.TrimPrefix(err.Error(), trigger.ErrUnauthorized.Error()+": ")))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), hookCtxKey{}, &hookReq{triggerID: id, body: body})))
	})
}

// fireHook runs an inbound event through its trigger. The Content-Type is
// not checked: senders label JSON in many ways, and the body must be a JSON
// object whatever the label says.
func (s *Server) fireHook(w http.ResponseWriter, r *http.Request) error {
	trg, err := s.triggers()
	if err != nil {
		return err
	}
	h := hookOf(r)
	if h == nil { // the route is always wrapped by authorizeHook
		return internal(errors.New("inbound hook without authorizeHook"))
	}
	res, err := trg.FireTrigger(r.Context(), h.triggerID, h.body)
	if err != nil {
		return s.hookError(w, h, err)
	}
	if !res.Matched {
		return writeJSON(w, http.StatusOK, hookResult{Reason: res.Reason})
	}
	return writeJSON(w, http.StatusCreated, hookResult{Matched: true, CallbackID: res.Callback.ID, Callback: res.Callback})
}

// hookError answers FireTrigger's refusals. A duplicate is no error to the
// sender: the event did what it asks for, once, so a retrying sender stops.
func (s *Server) hookError(w http.ResponseWriter, h *hookReq, err error) error {
	var (
		dup *engine.DuplicateError
		rl  *engine.RateLimitError
		pe  *trigger.PayloadError
		mf  *trigger.MissingFieldError
		ee  *trigger.EvalError
	)
	switch {
	case errors.As(err, &dup):
		return writeJSON(w, http.StatusOK, hookResult{Matched: true, Duplicate: true, CallbackID: dup.CallbackID})
	case errors.As(err, &rl):
		secs := int(math.Ceil(rl.RetryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		return newProblem(CodeRateLimited, "", "trigger %s made as many callbacks as its rate_limit allows; retry in %d s", h.triggerID, max(secs, 1))
	case errors.As(err, &pe):
		if json.Valid(h.body) {
			return newProblem(CodeWrongType, "", "the body must be a JSON object: %s", pe.Message)
		}
		return newProblem(CodeInvalidJSON, "", "the body must be a JSON object: %s", pe.Message)
	case errors.As(err, &mf):
		p := newProblem(CodeValidation, mf.Field, "%s is missing from the payload", cmp.Or(mf.Path, "a value"))
		p.Reason = "missing_field"
		return p
	case errors.As(err, &ee):
		p := newProblem(CodeValidation, ee.Field, "%s", ee.Message)
		p.Reason = "evaluation_error"
		return p
	case errors.Is(err, engine.ErrTriggerDisabled):
		return newProblem(CodeTriggerDisabled, "", "trigger %s is disabled; enable it with PATCH /v1/triggers/%s", h.triggerID, h.triggerID)
	}
	return notFoundAs(err, "trigger", h.triggerID)
}
