package engine

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/callbackd/callbackd/schedule"
	"github.com/callbackd/callbackd/store"
)

// Rep strategies of a team.
const (
	StrategySequential = "sequential"
	StrategyRoundRobin = "round_robin"
)

// Bounds of a team.
const (
	MaxReps        = 50
	MinRingTimeout = time.Second
	MaxRingTimeout = 5 * time.Minute
)

var teamIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// CreateTeam validates t and stores it. An empty ID gets a generated one;
// a taken ID is ErrConflict. The stored team is returned.
func (e *Engine) CreateTeam(ctx context.Context, t *store.Team) (*store.Team, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if t.ID == "" {
		t.ID = store.NewID("team_", e.clk.Now())
	} else if !teamIDPattern.MatchString(t.ID) {
		return nil, fieldErr("id", CodeInvalidField, "lowercase letters, digits, '_' and '-', starting with a letter or digit, at most 64")
	}
	t.NextRep = 0
	if err := e.checkTeam(t); err != nil {
		return nil, err
	}
	if err := e.st.CreateTeam(t); err != nil {
		return nil, fmt.Errorf("engine: creating team %s: %w", t.ID, err)
	}
	e.teamsChanged()
	e.log.Info("team created", "team", t.ID, "reps", len(t.Reps))
	return e.GetTeam(t.ID)
}

// UpdateTeam applies patch to the stored team and stores the result if it
// is valid. The ID cannot change. Callbacks already created keep the window
// and retry policy they were created with; new attempts use the new reps.
func (e *Engine) UpdateTeam(ctx context.Context, id string, patch func(*store.Team) error) (*store.Team, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t, err := e.st.UpdateTeam(id, func(t *store.Team) error {
		if err := patch(t); err != nil {
			return err
		}
		if t.ID != id {
			return fieldErr("id", CodeInvalidField, "cannot be changed")
		}
		if len(t.Reps) > 0 {
			t.NextRep %= len(t.Reps)
		}
		return e.checkTeam(t)
	})
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return nil, fe
		}
		return nil, wrapTeam("updating", id, err)
	}
	e.teamsChanged()
	e.log.Info("team updated", "team", id, "reps", len(t.Reps))
	return t, nil
}

// GetTeam returns a team.
func (e *Engine) GetTeam(id string) (*store.Team, error) {
	t, err := e.st.GetTeam(id)
	if err != nil {
		return nil, wrapTeam("reading", id, err)
	}
	return t, nil
}

// ListTeams returns all teams by ID.
func (e *Engine) ListTeams() ([]*store.Team, error) {
	ts, err := e.st.ListTeams()
	if err != nil {
		return nil, fmt.Errorf("engine: listing teams: %w", err)
	}
	return ts, nil
}

// DeleteTeam deletes a team; ErrTeamInUse while a pending callback names it.
func (e *Engine) DeleteTeam(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := e.st.DeleteTeam(id); err != nil {
		return wrapTeam("deleting", id, err)
	}
	e.teamsChanged()
	e.log.Info("team deleted", "team", id)
	return nil
}

func wrapTeam(what, id string, err error) error {
	return fmt.Errorf("engine: %s team %s: %w", what, id, err)
}

// checkTeam validates t and normalises it in place: rep and caller-ID
// numbers to E.164, an empty strategy to sequential.
func (e *Engine) checkTeam(t *store.Team) error {
	if err := checkName("name", t.Name); err != nil {
		return err
	}
	switch {
	case len(t.Reps) == 0:
		return fieldErr("reps", CodeInvalidField, "at least one rep is required")
	case len(t.Reps) > MaxReps:
		return fieldErr("reps", CodeInvalidField, fmt.Sprintf("at most %d reps", MaxReps))
	}
	seen := map[string]int{}
	for i := range t.Reps {
		r := &t.Reps[i]
		field := fmt.Sprintf("reps[%d].number", i)
		p, err := e.normalise(field, r.Number, "", "")
		if err != nil {
			return err
		}
		if err := e.denied(field, p); err != nil {
			return err
		}
		if j, dup := seen[p.e164]; dup {
			return fieldErr(field, CodeInvalidField, fmt.Sprintf("the same number as reps[%d]", j))
		}
		seen[p.e164] = i
		r.Number = p.e164
		if err := checkName(fmt.Sprintf("reps[%d].name", i), r.Name); err != nil {
			return err
		}
	}
	switch t.Strategy {
	case "":
		t.Strategy = StrategySequential
	case StrategySequential, StrategyRoundRobin:
	default:
		return fieldErr("strategy", CodeInvalidField, "must be sequential or round_robin")
	}
	if err := t.Window.Validate(); err != nil {
		return scheduleError("window", err)
	}
	if err := t.Retry.Validate(); err != nil {
		return scheduleError("retry", err)
	}
	for _, rt := range []struct {
		field string
		d     schedule.Duration
	}{{"rep_ring_timeout", t.RepRingTimeout}, {"customer_ring_timeout", t.CustomerRingTimeout}} {
		if d := time.Duration(rt.d); d != 0 && (d < MinRingTimeout || d > MaxRingTimeout) {
			return fieldErr(rt.field, CodeInvalidField, fmt.Sprintf("must be %v to %v", schedule.Duration(MinRingTimeout), schedule.Duration(MaxRingTimeout)))
		}
	}
	if w := t.Whisper; w != "" {
		if strings.ContainsAny(w, `/\`) || strings.HasPrefix(w, ".") || len(w) > 255 {
			return fieldErr("whisper", CodeInvalidField, "a prompt file name, without folders")
		}
		if e.cfg.Prompt != nil {
			if _, err := e.cfg.Prompt(w); err != nil {
				return fieldErr("whisper", CodeInvalidField, "cannot load the prompt: "+err.Error())
			}
		}
	}
	if t.CallerID.Number != "" {
		p, err := e.normalise("caller_id.number", t.CallerID.Number, "", "")
		if err != nil {
			return err
		}
		t.CallerID.Number = p.e164
	}
	return checkName("caller_id.name", t.CallerID.Name)
}

func scheduleError(prefix string, err error) error {
	var fe *schedule.FieldError
	if errors.As(err, &fe) {
		return fieldErr(prefix+"."+fe.Field, CodeInvalidField, fe.Msg)
	}
	return fieldErr(prefix, CodeInvalidField, err.Error())
}
