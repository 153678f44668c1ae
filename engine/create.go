package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/callbackd/callbackd/schedule"
	"github.com/callbackd/callbackd/store"
)

// Bounds of a request's times and texts.
const (
	// MaxScheduleAhead is how far ahead a callback may be requested.
	MaxScheduleAhead = 366 * 24 * time.Hour
	// MaxSchedulePast is how far in the past scheduled_at may be; a past
	// time within it means now (a client's clock or queue may lag), one
	// beyond it is more likely a mistake than a wish to be called now.
	MaxSchedulePast = 24 * time.Hour
	MaxNameLen      = 100
	MaxURLLen       = 2048
)

// CallbackRequest is a request for a callback, as the API decoded it.
type CallbackRequest struct {
	// Customer is the person to call. Number is E.164, or national with
	// Country (ISO 3166 alpha-2).
	Customer struct{ Number, Country, Name string }
	// Team or RepNumber, exactly one: who calls the customer back.
	Team      string
	RepNumber string
	// ScheduledAt is the earliest time to call; zero means now.
	ScheduledAt time.Time
	// Retry overrides fields of the team's retry policy (JSON as in
	// schedule.Policy).
	Retry      json.RawMessage
	WebhookURL string
	Metadata   map[string]string
	// Idem, when set, completes the request's idempotency record in the
	// transaction that creates the callback.
	Idem *store.IdemCommit
}

// Create validates r, stores the callback with its first event and arms
// it; a callback due now goes to the dispatch queue at once, or, when its
// trunk can admit it at once, is stored already in_progress with its first
// attempt started and dialled (startNow). Validation failures are
// *FieldError.
func (e *Engine) Create(ctx context.Context, r CallbackRequest) (*store.Callback, error) {
	return e.create(ctx, r, nil)
}

// create is Create for a callback a trigger made when dedup is set: the
// store then refuses it with a *DuplicateError if the trigger made one for
// the same customer within dedup.Window, in the transaction that would
// create it, and its first event names the trigger.
func (e *Engine) create(ctx context.Context, r CallbackRequest, dedup *store.DedupCommit) (*store.Callback, error) {
	if e.isDraining() {
		return nil, ErrDraining
	}
	now := e.clk.Now().UTC()
	cb, customer, err := e.validate(ctx, r, now)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if customer.pn != nil && e.perDay > 0 {
		// Count and create under one lock per number, or concurrent
		// requests could all see room under the limit.
		mu := &e.numLocks[lockIndex(cb.Customer.Number, len(e.numLocks))]
		mu.Lock()
		defer mu.Unlock()
		n, err := e.st.CountCustomerSince(cb.Customer.Number, now.Add(-24*time.Hour))
		if err != nil {
			return nil, fmt.Errorf("engine: counting callbacks of the customer: %w", err)
		}
		if n >= e.perDay {
			return nil, fieldErr("customer.number", CodeDailyLimit, fmt.Sprintf("%d callbacks for this number in the last 24 hours; the limit is %d", n, e.perDay))
		}
	}
	started, err := e.startNow(cb, r.Idem, dedup)
	if !started && err == nil {
		err = e.insert(cb, []store.NewEvent{{Type: evScheduled, Data: newScheduledData(cb.NextAttemptAt, dedup)}}, nil, r.Idem, dedup)
	}
	if err != nil {
		if errors.Is(err, store.ErrUnknownTeam) { // deleted since validate read it
			return nil, fieldErr("team", CodeUnknownTeam, fmt.Sprintf("no team %q", r.Team))
		}
		return nil, fmt.Errorf("engine: storing the callback: %w", err)
	}
	if started {
		return cb, nil
	}
	e.m.MoveCallback("", string(store.Scheduled))
	e.log.Info("callback scheduled", "callback", cb.ID, "team", cb.Team, "next_attempt_at", cb.NextAttemptAt)
	e.arm(cb.ID, cb.NextAttemptAt, cb.CreatedAt)
	return cb, nil
}

// startNow is Create's fast path for a callback due at once that its
// trunk can admit right away (nothing queued before it, a concurrent-call
// and a calls-per-second slot free, not draining): it takes the slot,
// stores cb with its first attempt started, events callback.scheduled and
// callback.attempt_started, in the one transaction that creates it (a
// single commit before the INVITE, where the queue takes two: the create,
// then the attempt's start), and runs the attempt as the dispatcher would
// after begin. It reports false, having done nothing, when cb is not due,
// finds no slot or the dispatcher is not running; Create then stores it
// scheduled. On a store error the slot is given back and nothing runs.
func (e *Engine) startNow(cb *store.Callback, idem *store.IdemCommit, dedup *store.DedupCommit) (bool, error) {
	now := e.clk.Now()
	due := cb.NextAttemptAt
	if due.After(now) || !e.dispatching() {
		return false, nil
	}
	it := &item{id: cb.ID, due: due, created: cb.CreatedAt}
	// attempts.Add under the dispatcher's lock, as for the dispatcher's
	// admissions: Shutdown's attempts.Wait starts only after it closes the
	// dispatcher.
	if !e.disp.admitNow(it, now, func() { e.attempts.Add(1) }) {
		return false, nil
	}
	// Registered before the start is stored, as attempt does, so that a
	// Cancel seeing it in_progress finds the run to hang up.
	r := e.register(cb.ID)
	if r == nil { // a fresh ID: cannot happen
		e.disp.unadmit(now)
		e.attempts.Done()
		return false, nil
	}
	cb.Status, cb.AttemptCount, cb.NextAttemptAt = store.InProgress, 1, time.Time{}
	a := &store.Attempt{CallbackID: cb.ID, Number: 1, StartedAt: now, Trunk: e.cfg.Trunk}
	err := e.insert(cb, []store.NewEvent{
		{Type: evScheduled, Data: newScheduledData(due, dedup)},
		{Type: evAttemptStarted, Data: attemptData{Attempt: 1}},
	}, a, idem, dedup)
	if err != nil {
		e.unregister(cb.ID, r)
		e.disp.unadmit(now)
		e.attempts.Done()
		cb.Status, cb.AttemptCount, cb.NextAttemptAt = store.Scheduled, 0, due
		return true, err
	}
	e.m.MoveCallback("", string(store.InProgress))
	e.log.Info("callback scheduled", "callback", cb.ID, "team", cb.Team, "next_attempt_at", due)
	e.log.Info("callback attempt started", "callback", cb.ID, "attempt", 1, "trunk", e.cfg.Trunk)
	// The attempt gets its own copy: Create's caller has cb.
	c := *cb
	go e.attemptStarted(it, r, &c)
	return true, nil
}

// insert stores a new callback with its events and, when it starts at
// once, its first attempt. A trigger's callback (dedup set) goes through
// CreateCallbackDeduped, which checks and records the dedup window in the
// same transaction.
func (e *Engine) insert(cb *store.Callback, evs []store.NewEvent, a *store.Attempt, idem *store.IdemCommit, dedup *store.DedupCommit) error {
	var err error
	switch {
	case dedup != nil:
		_, err = e.st.CreateCallbackDeduped(cb, evs, a, idem, dedup)
	case a != nil:
		_, err = e.st.CreateCallbackStarted(cb, evs, a, idem)
	default:
		_, err = e.st.CreateCallback(cb, evs[0].Type, evs[0].Data, idem)
	}
	return err
}

// newScheduledData is the data of callback.scheduled: when the first
// attempt is due and, for a trigger's callback, which trigger made it.
func newScheduledData(next time.Time, dedup *store.DedupCommit) scheduledData {
	d := scheduledData{NextAttemptAt: next}
	if dedup != nil {
		d.TriggerID = dedup.TriggerID
	}
	return d
}

func lockIndex(s string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(s))
	return int(h.Sum32() % uint32(n))
}

// validate checks r and builds the callback to store.
func (e *Engine) validate(ctx context.Context, r CallbackRequest, now time.Time) (*store.Callback, phone, error) {
	cb := &store.Callback{
		ID:        store.NewID("cb_", now),
		Status:    store.Scheduled,
		CreatedAt: now,
		UpdatedAt: now,
	}
	var team *store.Team
	switch {
	case r.Team != "" && r.RepNumber != "":
		return nil, phone{}, fieldErr("rep_number", CodeInvalidField, "set team or rep_number, not both")
	case r.Team == "" && r.RepNumber == "":
		return nil, phone{}, fieldErr("team", CodeInvalidField, "team or rep_number is required")
	case r.Team != "":
		t, err := e.st.GetTeam(r.Team)
		if errors.Is(err, store.ErrNotFound) {
			return nil, phone{}, fieldErr("team", CodeUnknownTeam, fmt.Sprintf("no team %q", r.Team))
		}
		if err != nil {
			return nil, phone{}, fmt.Errorf("engine: reading team %s: %w", r.Team, err)
		}
		team, cb.Team = t, t.ID
	}

	customer, err := e.normalise("customer.number", r.Customer.Number, "customer.country", r.Customer.Country)
	if err != nil {
		return nil, phone{}, err
	}
	if err := checkName("customer.name", r.Customer.Name); err != nil {
		return nil, phone{}, err
	}
	cb.Customer = store.Party{Number: customer.e164, Name: strings.TrimSpace(r.Customer.Name)}
	if r.RepNumber != "" {
		rep, err := e.normalise("rep_number", r.RepNumber, "", "")
		if err != nil {
			return nil, phone{}, err
		}
		if err := e.guard("rep_number", rep); err != nil {
			return nil, phone{}, err
		}
		cb.RepNumber = rep.e164
	}
	if err := e.guard("customer.number", customer); err != nil {
		return nil, phone{}, err
	}

	at := now
	if !r.ScheduledAt.IsZero() {
		s := r.ScheduledAt.UTC()
		switch {
		case s.After(now.Add(MaxScheduleAhead)):
			return nil, phone{}, fieldErr("scheduled_at", CodeInvalidTime, "more than a year ahead")
		case s.Before(now.Add(-MaxSchedulePast)):
			return nil, phone{}, fieldErr("scheduled_at", CodeInvalidTime, "more than a day in the past; leave it out to be called now")
		case s.After(now):
			at = s
		}
		cb.ScheduledAt = s
	}

	if team != nil {
		cb.Window = team.Window
		cb.Retry = team.Retry
	}
	if len(r.Retry) > 0 {
		if err := json.Unmarshal(r.Retry, &cb.Retry); err != nil {
			return nil, phone{}, retryError(err)
		}
	}
	if err := cb.Retry.Validate(); err != nil {
		return nil, phone{}, retryError(err)
	}
	// Fixed at creation with its defaults spelled out, so the callback
	// shows what it will do and a later change of defaults does not move it.
	cb.Retry = cb.Retry.Effective()
	first := cb.Retry.First(at, now, cb.Window)
	if !first.Retry {
		switch first.Reason {
		case schedule.ReasonDeadline:
			return nil, phone{}, fieldErr("retry.deadline", CodeInvalidTime, "the first attempt could only start after the deadline")
		default:
			return nil, phone{}, fieldErr("team", CodeInvalidField, "the team's window never opens")
		}
	}
	cb.NextAttemptAt = first.At.UTC()

	if r.WebhookURL != "" {
		if err := e.checkWebhook(ctx, r.WebhookURL); err != nil {
			return nil, phone{}, err
		}
		cb.WebhookURL = r.WebhookURL
	}
	if err := e.checkMetadata(r.Metadata); err != nil {
		return nil, phone{}, err
	}
	if len(r.Metadata) > 0 {
		cb.Metadata = r.Metadata
	}
	return cb, customer, nil
}

// retryError turns a retry override's decoding or validation error into a
// FieldError under "retry".
func retryError(err error) error {
	var te *json.UnmarshalTypeError
	var fe *schedule.FieldError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field == "":
		return fieldErr("retry", CodeInvalidField, "must be an object")
	case errors.As(err, &te):
		msg := te.Value // the schedule package's words, or a JSON kind
		if !strings.Contains(msg, " ") {
			msg = "wrong type: a JSON " + msg
		}
		return fieldErr("retry."+te.Field, CodeInvalidField, msg)
	case errors.As(err, &fe):
		return fieldErr("retry."+fe.Field, CodeInvalidField, fe.Msg)
	case errors.As(err, &se):
		return fieldErr("retry", CodeInvalidField, "not valid JSON")
	}
	return fieldErr("retry", CodeInvalidField, err.Error())
}

func checkName(field, name string) error {
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameLen {
		return fieldErr(field, CodeInvalidField, fmt.Sprintf("at most %d characters of UTF-8", MaxNameLen))
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fieldErr(field, CodeInvalidField, "control characters are not allowed")
		}
	}
	return nil
}

// checkWebhook checks a callback's own webhook_url as an endpoint's url
// is checked: its syntax, then Config.CheckWebhookURL.
func (e *Engine) checkWebhook(ctx context.Context, s string) error {
	if err := checkURLSyntax("webhook_url", s); err != nil {
		return err
	}
	return e.checkWebhookTarget(ctx, "webhook_url", s)
}

// checkURLSyntax checks that s is an absolute http(s) URL without
// credentials.
func checkURLSyntax(field, s string) error {
	if len(s) > MaxURLLen {
		return fieldErr(field, CodeInvalidField, fmt.Sprintf("longer than %d bytes", MaxURLLen))
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return fieldErr(field, CodeInvalidField, "must be an absolute http or https URL")
	}
	if u.User != nil {
		return fieldErr(field, CodeInvalidField, "must not carry credentials; webhooks are signed instead")
	}
	return nil
}

// checkMetadata bounds the metadata, which is stored with the callback and
// sent in every webhook.
func (e *Engine) checkMetadata(md map[string]string) error {
	if len(md) > MetadataMaxKeys {
		return fieldErr("metadata", CodeMetadataTooLarge, fmt.Sprintf("%d keys; at most %d", len(md), MetadataMaxKeys))
	}
	size := 0
	for k, v := range md {
		switch {
		case k == "":
			return fieldErr("metadata", CodeInvalidField, "keys must not be empty")
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			return fieldErr("metadata."+k, CodeInvalidField, "not valid UTF-8")
		case utf8.RuneCountInString(k) > MetadataMaxKeyLen:
			return fieldErr("metadata."+k, CodeMetadataTooLarge, fmt.Sprintf("keys are at most %d characters", MetadataMaxKeyLen))
		case utf8.RuneCountInString(v) > MetadataMaxValueLen:
			return fieldErr("metadata."+k, CodeMetadataTooLarge, fmt.Sprintf("values are at most %d characters", MetadataMaxValueLen))
		}
		size += len(k) + len(v)
	}
	if size > e.cfg.MetadataMaxBytes {
		return fieldErr("metadata", CodeMetadataTooLarge, fmt.Sprintf("%d bytes; at most %d", size, e.cfg.MetadataMaxBytes))
	}
	return nil
}
