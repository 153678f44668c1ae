package api

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/callbackd/callbackd/schedule"
	"github.com/callbackd/callbackd/store"
)

// teamInput is the body of POST /v1/teams and PATCH /v1/teams/{id}: the
// settable fields of store.Team under the same names. Times and the
// round-robin cursor are the server's.
type teamInput struct {
	ID                  string            `json:"id"`
	Name                string            `json:"name"`
	Reps                []store.Party     `json:"reps"`
	Strategy            string            `json:"strategy"`
	Window              schedule.Window   `json:"window"`
	Retry               schedule.Policy   `json:"retry"`
	RepRingTimeout      schedule.Duration `json:"rep_ring_timeout"`
	CustomerRingTimeout schedule.Duration `json:"customer_ring_timeout"`
	Whisper             string            `json:"whisper"`
	CallerID            store.Party       `json:"caller_id"`
}

func (in *teamInput) team() *store.Team {
	return &store.Team{
		ID: in.ID, Name: in.Name, Reps: in.Reps, Strategy: in.Strategy, Window: in.Window, Retry: in.Retry,
		RepRingTimeout: in.RepRingTimeout, CustomerRingTimeout: in.CustomerRingTimeout,
		Whisper: in.Whisper, CallerID: in.CallerID,
	}
}

// apply replaces the fields of t named in present with in's: a PATCH
// replaces what it names, whole (a window or retry policy is not merged),
// and null resets a field to its default.
func (in *teamInput) apply(t *store.Team, present map[string]json.RawMessage) {
	for name := range present {
		switch name {
		case "id":
			t.ID = in.ID
		case "name":
			t.Name = in.Name
		case "reps":
			t.Reps = in.Reps
		case "strategy":
			t.Strategy = in.Strategy
		case "window":
			t.Window = in.Window
		case "retry":
			t.Retry = in.Retry
		case "rep_ring_timeout":
			t.RepRingTimeout = in.RepRingTimeout
		case "customer_ring_timeout":
			t.CustomerRingTimeout = in.CustomerRingTimeout
		case "whisper":
			t.Whisper = in.Whisper
		case "caller_id":
			t.CallerID = in.CallerID
		}
	}
}

func (s *Server) createTeam(w http.ResponseWriter, r *http.Request) error {
	b, err := s.readJSON(w, r, false)
	if err != nil {
		return err
	}
	var in teamInput
	if err := decodeJSON(b, &in); err != nil {
		return err
	}
	t, err := s.svc.CreateTeam(r.Context(), in.team())
	if err != nil {
		if p := toProblem(err); p.code == CodeConflict {
			return newProblem(CodeConflict, "id", "a team with ID %q exists already", in.ID)
		}
		return err
	}
	return writeJSON(w, http.StatusCreated, t)
}

func (s *Server) listTeams(w http.ResponseWriter, r *http.Request) error {
	if _, err := newQuery(r.URL.Query()); err != nil {
		return err
	}
	ts, err := s.svc.ListTeams()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newPage(ts, false))
}

func (s *Server) getTeam(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	t, err := s.svc.GetTeam(id)
	if err != nil {
		return notFoundAs(err, "team", id)
	}
	return writeJSON(w, http.StatusOK, t)
}

func (s *Server) updateTeam(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	b, err := s.readJSON(w, r, true)
	if err != nil {
		return err
	}
	var in teamInput
	present, err := decodePatch(b, &in)
	if err != nil {
		return err
	}
	t, err := s.svc.UpdateTeam(r.Context(), id, func(t *store.Team) error {
		in.apply(t, present)
		return nil
	})
	if err != nil {
		return notFoundAs(err, "team", id)
	}
	return writeJSON(w, http.StatusOK, t)
}

func (s *Server) deleteTeam(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	if err := s.svc.DeleteTeam(r.Context(), id); err != nil {
		if p := toProblem(err); p.code == CodeConflict {
			return newProblem(CodeConflict, "", "team %q is named by pending callbacks; cancel them or let them finish first", id)
		}
		return notFoundAs(err, "team", id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
