package api

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/callbackd/callbackd/engine"
	"github.com/callbackd/callbackd/store"
)

// fakeKeys is an in-memory Keys with the store's idempotency rules.
type fakeKeys struct {
	mu   sync.Mutex
	keys map[string]*store.APIKey // by ID
	idem map[[2]string]*store.Idempotency
	boot string
	now  func() time.Time
}

func newFakeKeys() *fakeKeys {
	return &fakeKeys{keys: map[string]*store.APIKey{}, idem: map[[2]string]*store.Idempotency{}, boot: "boot1", now: time.Now}
}

func (f *fakeKeys) APIKeyByHash(h [32]byte) (*store.APIKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.keys {
		if k.Hash == h {
			c := *k
			return &c, nil
		}
	}
	return nil, store.ErrNotFound
}

func (f *fakeKeys) CreateAPIKey(k *store.APIKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.keys[k.ID]; ok {
		return store.ErrConflict
	}
	c := *k
	f.keys[k.ID] = &c
	return nil
}

func (f *fakeKeys) ListAPIKeys() ([]*store.APIKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*store.APIKey
	for _, k := range f.keys {
		c := *k
		out = append(out, &c)
	}
	slices.SortFunc(out, func(a, b *store.APIKey) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

func (f *fakeKeys) RevokeAPIKey(id string) (*store.APIKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	if k.RevokedAt.IsZero() {
		k.RevokedAt = f.now().UTC()
	}
	c := *k
	return &c, nil
}

func (f *fakeKeys) ReserveIdempotency(scope, key string, hash [32]byte) (*store.Idempotency, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rec := f.idem[[2]string{scope, key}]
	switch {
	case rec == nil, !rec.Done && rec.Boot != f.boot:
	case rec.BodyHash != hash:
		return nil, store.ErrIdempotencyMismatch
	case !rec.Done:
		return nil, store.ErrIdempotencyInFlight
	default:
		c := *rec
		return &c, nil
	}
	f.idem[[2]string{scope, key}] = &store.Idempotency{Scope: scope, Key: key, BodyHash: hash, Boot: f.boot, CreatedAt: f.now()}
	return nil, nil
}

func (f *fakeKeys) CompleteIdempotency(scope, key string, status int, contentType string, body []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.completeLocked(scope, key, status, contentType, body)
}

func (f *fakeKeys) completeLocked(scope, key string, status int, contentType string, body []byte) error {
	rec := f.idem[[2]string{scope, key}]
	if rec == nil {
		return errors.New("no reservation")
	}
	if rec.Done {
		return nil
	}
	rec.Done, rec.Status, rec.ContentType, rec.Body = true, status, contentType, slices.Clone(body)
	return nil
}

func (f *fakeKeys) ReleaseIdempotency(scope, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if rec := f.idem[[2]string{scope, key}]; rec != nil && !rec.Done {
		delete(f.idem, [2]string{scope, key})
	}
	return nil
}

// records returns the idempotency records.
func (f *fakeKeys) records() []store.Idempotency {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.Idempotency
	for _, r := range f.idem {
		out = append(out, *r)
	}
	return out
}

// fakeService is an in-memory Service. Create accepts any request unless
// createErr says otherwise; hooks let a test block or inspect a call.
type fakeService struct {
	keys *fakeKeys // completes IdemCommits as the store does

	mu        sync.Mutex
	callbacks map[string]*store.Callback
	teams     map[string]*store.Team
	requests  []engine.CallbackRequest
	filters   []store.CallbackFilter
	events    []store.Event
	inUse     map[string]bool

	createErr  func(engine.CallbackRequest) error
	beforeSave func() // called in Create before storing, without the lock
	n          int
}

func newFakeService(keys *fakeKeys) *fakeService {
	return &fakeService{keys: keys, callbacks: map[string]*store.Callback{}, teams: map[string]*store.Team{}, inUse: map[string]bool{}}
}

func (f *fakeService) Create(ctx context.Context, r engine.CallbackRequest) (*store.Callback, error) {
	if f.beforeSave != nil {
		f.beforeSave()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r)
	if f.createErr != nil {
		if err := f.createErr(r); err != nil {
			return nil, err
		}
	}
	f.n++
	now := time.Date(2026, 6, 10, 14, 0, f.n, 0, time.UTC)
	cb := &store.Callback{ID: store.NewID("cb_", now), Status: store.Scheduled, Team: r.Team, RepNumber: r.RepNumber,
		Customer: store.Party{Number: r.Customer.Number, Name: r.Customer.Name}, NextAttemptAt: now,
		Metadata: r.Metadata, CreatedAt: now, UpdatedAt: now}
	if r.Idem != nil {
		body, err := r.Idem.Render(cb)
		if err != nil {
			return nil, err
		}
		f.keys.mu.Lock()
		err = f.keys.completeLocked(r.Idem.Scope, r.Idem.Key, r.Idem.Status, r.Idem.ContentType, body)
		f.keys.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	f.callbacks[cb.ID] = cb
	c := *cb
	return &c, nil
}

func (f *fakeService) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.callbacks)
}

func (f *fakeService) Cancel(ctx context.Context, id string) (*store.Callback, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cb, ok := f.callbacks[id]
	if !ok {
		return nil, engine.ErrNotFound
	}
	if cb.Status.Final() {
		c := *cb
		return &c, engine.ErrFinal
	}
	cb.Status, cb.Reason = store.Canceled, "canceled_by_api"
	c := *cb
	return &c, nil
}

func (f *fakeService) Get(id string) (*store.Callback, []*store.Attempt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cb, ok := f.callbacks[id]
	if !ok {
		return nil, nil, engine.ErrNotFound
	}
	c := *cb
	return &c, nil, nil
}

func (f *fakeService) List(flt store.CallbackFilter) ([]*store.Callback, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, flt)
	return nil, false, nil
}

func (f *fakeService) Events(id string, afterSeq uint64, limit int) ([]store.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.callbacks[id]; !ok {
		return nil, engine.ErrNotFound
	}
	var out []store.Event
	for _, e := range f.events {
		if e.CallbackID == id && e.Seq > afterSeq && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (f *fakeService) CreateTeam(ctx context.Context, t *store.Team) (*store.Team, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.ID == "" {
		t.ID = store.NewID("team_", time.Now())
	}
	if _, ok := f.teams[t.ID]; ok {
		return nil, engine.ErrConflict
	}
	if len(t.Reps) == 0 {
		return nil, &engine.FieldError{Field: "reps", Code: engine.CodeInvalidField, Msg: "at least one rep is required"}
	}
	c := *t
	f.teams[t.ID] = &c
	return t, nil
}

func (f *fakeService) UpdateTeam(ctx context.Context, id string, patch func(*store.Team) error) (*store.Team, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.teams[id]
	if !ok {
		return nil, engine.ErrNotFound
	}
	c := *t
	if err := patch(&c); err != nil {
		return nil, err
	}
	f.teams[id] = &c
	out := c
	return &out, nil
}

func (f *fakeService) GetTeam(id string) (*store.Team, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.teams[id]
	if !ok {
		return nil, engine.ErrNotFound
	}
	c := *t
	return &c, nil
}

func (f *fakeService) ListTeams() ([]*store.Team, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*store.Team
	for _, t := range f.teams {
		c := *t
		out = append(out, &c)
	}
	slices.SortFunc(out, func(a, b *store.Team) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

func (f *fakeService) DeleteTeam(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.teams[id]; !ok {
		return engine.ErrNotFound
	}
	if f.inUse[id] {
		return engine.ErrTeamInUse
	}
	delete(f.teams, id)
	return nil
}
