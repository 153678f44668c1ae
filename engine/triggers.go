package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/callbackd/callbackd/store"
	"github.com/callbackd/callbackd/trigger"
)

// DedupPruneInterval is how often the dedup records of ended windows are
// deleted. An ended record no longer refuses anything, so this only bounds
// the store's growth.
const DedupPruneInterval = time.Hour

// Trigger is a trigger as the engine shows it: its spec as compiled (the
// auth mode filled in), never its secret.
type Trigger struct {
	ID        string
	Spec      trigger.Spec
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TriggerResult is what FireTrigger made of one event.
type TriggerResult struct {
	// Matched: the condition held and Callback was created.
	Matched bool
	// Reason says why an event did not match.
	Reason   string
	Callback *store.Callback
}

// CreateTrigger compiles s and stores it with a fresh secret, which it
// returns too: the one time the secret is shown besides a rotation. A spec
// that does not compile is a *FieldError naming the field ("condition",
// "mapping.customer_number"), with the line and column of an expression
// error in its message.
func (e *Engine) CreateTrigger(ctx context.Context, s trigger.Spec) (*Trigger, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	ct, raw, err := compileSpec(s)
	if err != nil {
		return nil, "", err
	}
	spec := ct.Spec()
	st := &store.Trigger{Name: spec.Name, Enabled: spec.Enabled, Spec: raw, DedupWindow: time.Duration(spec.Dedup),
		Secret: store.NewTriggerSecret()}
	if err := e.st.CreateTrigger(st); err != nil {
		return nil, "", fmt.Errorf("engine: creating trigger: %w", err)
	}
	e.triggers.put(st.ID, st.Spec, ct)
	e.log.Info("trigger created", "trigger", st.ID, "enabled", spec.Enabled, "auth", spec.Auth.Mode)
	return viewTrigger(st, spec), st.Secret, nil
}

// GetTrigger returns a trigger; ErrNotFound if there is none.
func (e *Engine) GetTrigger(id string) (*Trigger, error) {
	st, spec, err := e.readTrigger(id)
	if err != nil {
		return nil, err
	}
	return viewTrigger(st, spec), nil
}

// readTrigger reads the stored trigger and decodes its spec.
func (e *Engine) readTrigger(id string) (*store.Trigger, trigger.Spec, error) {
	st, err := e.st.GetTrigger(id)
	if err != nil {
		return nil, trigger.Spec{}, wrapRead("trigger", id, err)
	}
	spec, err := decodeSpec(st)
	return st, spec, err
}

// ListTriggers returns every trigger, oldest first.
func (e *Engine) ListTriggers() ([]*Trigger, error) {
	sts, err := e.st.ListTriggers()
	if err != nil {
		return nil, fmt.Errorf("engine: listing triggers: %w", err)
	}
	out := make([]*Trigger, 0, len(sts))
	for _, st := range sts {
		spec, err := decodeSpec(st)
		if err != nil {
			return nil, err
		}
		out = append(out, viewTrigger(st, spec))
	}
	return out, nil
}

// UpdateTrigger applies patch to the trigger's spec and stores the result
// if it compiles (refusals as CreateTrigger's). It is compiled outside the
// store's transaction, which other writers wait for; a spec changed
// meanwhile by another writer is ErrConflict.
func (e *Engine) UpdateTrigger(ctx context.Context, id string, patch func(*trigger.Spec) error) (*Trigger, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cur, spec, err := e.readTrigger(id)
	if err != nil {
		return nil, err
	}
	if err := patch(&spec); err != nil {
		return nil, err
	}
	ct, raw, err := compileSpec(spec)
	if err != nil {
		return nil, err
	}
	spec = ct.Spec()
	st, err := e.st.UpdateTrigger(id, func(t *store.Trigger) error {
		if !bytes.Equal(t.Spec, cur.Spec) {
			return fmt.Errorf("trigger %s: the spec changed meanwhile: %w", id, ErrConflict)
		}
		t.Name, t.Enabled, t.Spec, t.DedupWindow = spec.Name, spec.Enabled, raw, time.Duration(spec.Dedup)
		return nil
	})
	if err != nil {
		return nil, wrapTrigger("updating", id, err)
	}
	e.triggers.put(id, st.Spec, ct)
	e.log.Info("trigger updated", "trigger", id, "enabled", spec.Enabled, "auth", spec.Auth.Mode)
	return viewTrigger(st, spec), nil
}

// DeleteTrigger deletes a trigger and its dedup records; the callbacks it
// made stay.
func (e *Engine) DeleteTrigger(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := e.st.DeleteTrigger(id); err != nil {
		return wrapTrigger("deleting", id, err)
	}
	e.triggers.drop(id)
	e.limiter.Forget(id)
	e.log.Info("trigger deleted", "trigger", id)
	return nil
}

// RotateTriggerSecret gives the trigger a new secret and returns it. The
// one it replaces still authenticates for overlap more (0 to
// MaxSecretOverlap), so that the sender can be switched without losing an
// event; 0, the default, stops it at once, as after a leak. Only the
// secret just replaced is kept: one kept from an earlier rotation stops.
func (e *Engine) RotateTriggerSecret(ctx context.Context, id string, overlap time.Duration) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if overlap < 0 || overlap > MaxSecretOverlap {
		return "", fieldErr("overlap", CodeInvalidField, fmt.Sprintf("must be from 0s to %v", MaxSecretOverlap))
	}
	secret := store.NewTriggerSecret()
	if _, err := e.st.UpdateTrigger(id, func(t *store.Trigger) error {
		t.PreviousSecret, t.PreviousUntil = "", time.Time{}
		if overlap > 0 {
			t.PreviousSecret, t.PreviousUntil = t.Secret, e.clk.Now().UTC().Add(overlap)
		}
		t.Secret = secret
		return nil
	}); err != nil {
		return "", wrapTrigger("rotating the secret of", id, err)
	}
	e.log.Info("trigger secret rotated", "trigger", id, "overlap", overlap)
	return secret, nil
}

// TriggerAuth returns what an inbound request for the trigger must prove
// and with what: the spec, whose auth mode says how, and the secrets that
// authenticate now (the current one, and the one before it during a
// rotation's overlap), for trigger.VerifyAuth. ErrNotFound for an unknown
// trigger.
func (e *Engine) TriggerAuth(id string) (trigger.Spec, []string, error) {
	st, ct, err := e.loadTrigger(id)
	if err != nil {
		return trigger.Spec{}, nil, err
	}
	secrets := []string{st.Secret}
	if st.PreviousSecret != "" && e.clk.Now().Before(st.PreviousUntil) {
		secrets = append(secrets, st.PreviousSecret)
	}
	return ct.Spec(), secrets, nil
}

// FireTrigger runs one inbound event, payload (the request's body, already
// authenticated), through the trigger. Not matched: the result says why
// and nothing is created. Matched: the callback it maps to is created as
// Create creates any (validation, guardrails, a fast start when due now),
// once per customer within the trigger's dedup window, and at most at its
// rate limit.
//
// Errors: ErrNotFound, ErrTriggerDisabled, the trigger package's
// *PayloadError, *MissingFieldError and *EvalError, *RateLimitError,
// *DuplicateError (naming the earlier callback), *FieldError (the mapped
// request was refused; Field names the mapping, "mapping.customer_number"),
// ErrDraining.
func (e *Engine) FireTrigger(ctx context.Context, id string, payload []byte) (*TriggerResult, error) {
	_, ct, err := e.loadTrigger(id)
	if err != nil {
		return nil, err
	}
	spec := ct.Spec()
	if !spec.Enabled {
		return nil, fmt.Errorf("engine: trigger %s: %w", id, ErrTriggerDisabled)
	}
	res, err := ct.Evaluate(ctx, payload)
	if err != nil {
		return nil, fmt.Errorf("engine: trigger %s: %w", id, err)
	}
	if !res.Matched {
		e.log.Debug("trigger event not matched", "trigger", id, "reason", res.Reason)
		return &TriggerResult{Reason: res.Reason}, nil
	}
	if ok, wait := e.limiter.Allow(id, spec.RateLimit); !ok {
		return nil, &RateLimitError{TriggerID: id, RetryAfter: wait}
	}
	r := callbackRequest(res.Callback, e.clk.Now())
	cb, err := e.create(ctx, r, &store.DedupCommit{TriggerID: id, Window: time.Duration(spec.Dedup)})
	var fe *FieldError
	var dup *DuplicateError
	switch {
	case errors.As(err, &fe):
		return nil, mappingError(fe, res.Callback.Delay > 0)
	case errors.As(err, &dup):
		e.log.Info("trigger event is a duplicate", "trigger", id, "callback", dup.CallbackID)
		return nil, err
	case err != nil:
		return nil, err
	}
	e.log.Info("trigger made a callback", "trigger", id, "callback", cb.ID)
	return &TriggerResult{Matched: true, Callback: cb}, nil
}

// callbackRequest is the request a matched event maps to. A delay is
// counted from now, the event's arrival.
func callbackRequest(t trigger.Request, now time.Time) CallbackRequest {
	var r CallbackRequest
	r.Customer.Number, r.Customer.Country, r.Customer.Name = t.CustomerNumber, t.CustomerCountry, t.CustomerName
	r.Team, r.RepNumber = t.Team, t.RepNumber
	r.ScheduledAt = t.ScheduledAt
	if t.Delay > 0 {
		r.ScheduledAt = now.Add(t.Delay)
	}
	r.Metadata = t.Metadata
	return r
}

// mappedFields are the mappings behind a callback request's fields.
var mappedFields = map[string]string{
	"customer.number":  "mapping.customer_number",
	"customer.country": "mapping.customer_country",
	"customer.name":    "mapping.customer_name",
	"team":             "mapping.team",
	"rep_number":       "mapping.rep_number",
	"scheduled_at":     "mapping.scheduled_at",
	"metadata":         "mapping.metadata",
}

// mappingError renames a refused request's field to the mapping that gave
// it, which is what the trigger's author can fix.
func mappingError(fe *FieldError, delayed bool) *FieldError {
	f := fe.Field
	switch {
	case f == "scheduled_at" && delayed:
		f = "mapping.delay"
	case mappedFields[f] != "":
		f = mappedFields[f]
	case strings.HasPrefix(f, "metadata."):
		f = "mapping." + f
	}
	return &FieldError{Field: f, Code: fe.Code, Msg: fe.Msg}
}

// loadTrigger reads the trigger and its compiled form: from the cache
// while the stored spec is the one compiled, so an event costs a store
// read but no compilation, and a change by any writer is seen at once.
func (e *Engine) loadTrigger(id string) (*store.Trigger, *trigger.Trigger, error) {
	st, err := e.st.GetTrigger(id)
	if err != nil {
		return nil, nil, wrapRead("trigger", id, err)
	}
	if ct := e.triggers.get(id, st.Spec); ct != nil {
		return st, ct, nil
	}
	spec, err := decodeSpec(st)
	if err != nil {
		return nil, nil, err
	}
	ct, err := trigger.Compile(spec)
	if err != nil {
		// It compiled when it was saved; a newer build may be stricter.
		return nil, nil, fmt.Errorf("engine: trigger %s no longer compiles; update it: %w", id, err)
	}
	e.triggers.put(id, st.Spec, ct)
	return st, ct, nil
}

// compileSpec compiles s and encodes the spec it normalises to, for the
// store. A *trigger.CompileError becomes a *FieldError.
func compileSpec(s trigger.Spec) (*trigger.Trigger, json.RawMessage, error) {
	ct, err := trigger.Compile(s)
	var ce *trigger.CompileError
	switch {
	case errors.As(err, &ce):
		return nil, nil, compileFieldError(ce)
	case err != nil:
		return nil, nil, fmt.Errorf("engine: compiling trigger: %w", err)
	}
	// Without HTML escaping, as the store keeps it: payload.score >= 80
	// reads as written.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ct.Spec()); err != nil {
		return nil, nil, fmt.Errorf("engine: encoding trigger spec: %w", err)
	}
	return ct, bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// compileFieldError puts the position of an expression error first in the
// message and the caret snippet under it.
func compileFieldError(ce *trigger.CompileError) *FieldError {
	if ce.Line == 0 {
		return fieldErr(ce.Field, CodeInvalidField, ce.Message)
	}
	msg := fmt.Sprintf("line %d, column %d: %s", ce.Line, ce.Column, ce.Message)
	if ce.Snippet != "" {
		msg += "\n" + ce.Snippet
	}
	return fieldErr(ce.Field, CodeInvalidExpression, msg)
}

func decodeSpec(st *store.Trigger) (trigger.Spec, error) {
	var s trigger.Spec
	if err := json.Unmarshal(st.Spec, &s); err != nil {
		return trigger.Spec{}, fmt.Errorf("engine: decoding the spec of trigger %s: %w", st.ID, err)
	}
	return s, nil
}

func viewTrigger(st *store.Trigger, spec trigger.Spec) *Trigger {
	return &Trigger{ID: st.ID, Spec: spec, CreatedAt: st.CreatedAt, UpdatedAt: st.UpdatedAt}
}

func wrapTrigger(what, id string, err error) error {
	return fmt.Errorf("engine: %s trigger %s: %w", what, id, err)
}

// runPruner deletes the dedup records of ended windows every
// DedupPruneInterval until ctx ends.
func (e *Engine) runPruner(ctx context.Context) {
	t := e.clk.NewTicker(DedupPruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			e.pruneDedup()
		}
	}
}

func (e *Engine) pruneDedup() {
	n, err := e.st.PruneDedup(e.clk.Now())
	if err != nil {
		e.log.Error("pruning trigger dedup records", "err", err)
		return
	}
	if n > 0 {
		e.log.Debug("trigger dedup records pruned", "records", n)
	}
}

// triggerCache holds compiled triggers by ID, each with the stored spec it
// was compiled from.
type triggerCache struct {
	mu sync.Mutex
	m  map[string]cachedTrigger
}

type cachedTrigger struct {
	spec []byte
	t    *trigger.Trigger
}

func newTriggerCache() *triggerCache { return &triggerCache{m: map[string]cachedTrigger{}} }

// get returns the compiled trigger if it was compiled from spec.
func (c *triggerCache) get(id string, spec []byte) *trigger.Trigger {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ct, ok := c.m[id]; ok && bytes.Equal(ct.spec, spec) {
		return ct.t
	}
	return nil
}

func (c *triggerCache) put(id string, spec []byte, t *trigger.Trigger) {
	c.mu.Lock()
	c.m[id] = cachedTrigger{spec: bytes.Clone(spec), t: t}
	c.mu.Unlock()
}

func (c *triggerCache) drop(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}
