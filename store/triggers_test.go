package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

const formSpec = `{"name":"form","condition":"payload.score >= 80","mapping":{"customer_number":"payload.phone","team":"'sales'"},"dedup":"24h","enabled":true}`

func newTrigger(t *testing.T, db *DB, name string) *Trigger {
	t.Helper()
	tr := &Trigger{Name: name, Enabled: true, Spec: json.RawMessage(formSpec), DedupWindow: 24 * time.Hour}
	if err := db.CreateTrigger(tr); err != nil {
		t.Fatalf("CreateTrigger: %v", err)
	}
	return tr
}

// dedupRecords reads the dedup bucket: key -> record.
func dedupRecords(t *testing.T, db *DB) map[string]dedupRecord {
	t.Helper()
	out := map[string]dedupRecord{}
	if err := db.view("read dedup", func(tx *bolt.Tx) error {
		return tx.Bucket(bktTriggerDedup).ForEach(func(k, v []byte) error {
			var rec dedupRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			out[string(k)] = rec
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func bucketKeys(t *testing.T, db *DB, bucket []byte) int {
	t.Helper()
	n := 0
	if err := db.view("count", func(tx *bolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTriggers(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	form := newTrigger(t, db, "form")
	if !strings.HasPrefix(form.ID, "trg_") || len(form.ID) != 30 {
		t.Errorf("ID %q, want trg_ and 26 characters", form.ID)
	}
	if !strings.HasPrefix(form.Secret, "tsec_") || len(form.Secret) < 40 || strings.ContainsAny(form.Secret, "+/=") {
		t.Errorf("Secret %q, want a URL-safe tsec_ secret", form.Secret)
	}
	if !form.CreatedAt.Equal(clk.Now()) || !form.UpdatedAt.Equal(clk.Now()) {
		t.Errorf("times not set: %+v", form)
	}
	clk.Advance(time.Millisecond)
	crm := &Trigger{ID: "trg_crm", Name: "crm", Secret: "chosen", Spec: json.RawMessage(`{"name":"crm"}`)}
	if err := db.CreateTrigger(crm); err != nil {
		t.Fatal(err)
	}

	got, err := db.GetTrigger(form.ID)
	if err != nil || got.Name != "form" || !got.Enabled || got.Secret != form.Secret || got.DedupWindow != 24*time.Hour ||
		string(got.Spec) != formSpec || !got.CreatedAt.Equal(form.CreatedAt) {
		t.Errorf("GetTrigger = %+v, %v", got, err)
	}
	list, err := db.ListTriggers()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tr := range list {
		names = append(names, tr.Name)
		if tr.Secret == "" {
			t.Errorf("ListTriggers lost %s's secret", tr.ID)
		}
	}
	if !slices.Equal(names, []string{"form", "crm"}) {
		t.Errorf("ListTriggers = %v, want oldest first", names)
	}

	clk.Advance(time.Minute)
	up, err := db.UpdateTrigger(form.ID, func(tr *Trigger) error {
		tr.Enabled = false
		tr.Spec = json.RawMessage(`{"name":"form","enabled":false}`)
		tr.DedupWindow = 0
		tr.Secret = "rotated"
		tr.CreatedAt = time.Time{} // ignored
		return nil
	})
	if err != nil || up.Enabled || up.Secret != "rotated" || up.DedupWindow != 0 ||
		!up.UpdatedAt.Equal(clk.Now()) || !up.CreatedAt.Equal(form.CreatedAt) {
		t.Errorf("UpdateTrigger = %+v, %v", up, err)
	}
	if got, _ := db.GetTrigger(form.ID); got.Enabled || got.Secret != "rotated" || string(got.Spec) != `{"name":"form","enabled":false}` {
		t.Errorf("after update GetTrigger = %+v", got)
	}

	errBoom := errors.New("invalid spec")
	tests := []struct {
		name    string
		do      func() error
		wantErr error
	}{
		{"create duplicate", func() error { return db.CreateTrigger(&Trigger{ID: crm.ID}) }, ErrConflict},
		{"create bad spec", func() error { return db.CreateTrigger(&Trigger{Spec: json.RawMessage(`{"name":`)}) }, nil},
		{"get missing", func() error { _, err := db.GetTrigger("trg_nope"); return err }, ErrNotFound},
		{"update missing", func() error {
			_, err := db.UpdateTrigger("trg_nope", func(*Trigger) error { return nil })
			return err
		}, ErrNotFound},
		{"update fn error", func() error {
			_, err := db.UpdateTrigger(crm.ID, func(tr *Trigger) error { tr.Name = "lost"; return errBoom })
			return err
		}, errBoom},
		{"update id change", func() error {
			_, err := db.UpdateTrigger(crm.ID, func(tr *Trigger) error { tr.ID = "trg_other"; return nil })
			return err
		}, nil},
		{"update empty secret", func() error {
			_, err := db.UpdateTrigger(crm.ID, func(tr *Trigger) error { tr.Secret = ""; return nil })
			return err
		}, nil},
		{"update bad spec", func() error {
			_, err := db.UpdateTrigger(crm.ID, func(tr *Trigger) error { tr.Spec = json.RawMessage("nope"); return nil })
			return err
		}, nil},
		{"delete missing", func() error { return db.DeleteTrigger("trg_nope") }, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
		})
	}
	if got, _ := db.GetTrigger(crm.ID); got.Name != "crm" || got.Secret != "chosen" || string(got.Spec) != `{"name":"crm"}` {
		t.Errorf("refused updates changed the trigger: %+v", got)
	}
	if list, _ := db.ListTriggers(); len(list) != 2 {
		t.Errorf("%d triggers after refused creates, want 2", len(list))
	}

	if err := db.DeleteTrigger(crm.ID); err != nil {
		t.Fatalf("DeleteTrigger: %v", err)
	}
	if _, err := db.GetTrigger(crm.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete GetTrigger = %v", err)
	}
}

// The API's JSON of a trigger never holds its secret; the stored record
// does.
func TestTriggerSecretNotInPublicJSON(t *testing.T) {
	db := openTest(t, newClock())
	tr := newTrigger(t, db, "form")
	pub, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(pub), tr.Secret) || strings.Contains(string(pub), "secret") {
		t.Errorf("public JSON shows the secret: %s", pub)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(pub, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "name", "enabled", "spec", "created_at", "updated_at"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("public JSON has no %q: %s", k, pub)
		}
	}
	var raw []byte
	_ = db.view("raw", func(tx *bolt.Tx) error {
		raw = append(raw, tx.Bucket(bktTriggers).Get([]byte(tr.ID))...)
		return nil
	})
	if !strings.Contains(string(raw), tr.Secret) {
		t.Errorf("stored record lost the secret: %s", raw)
	}
}

// dedupCreate creates a scheduled callback for number from trigger trg.
func dedupCreate(clk *fakeClock, db *DB, trg, number string, window time.Duration) (*Callback, error) {
	cb := newCallback(clk, number, "sales")
	_, err := db.CreateCallbackDeduped(cb, []NewEvent{{Type: "callback.scheduled"}}, nil, nil,
		&DedupCommit{TriggerID: trg, Number: number, Window: window})
	return cb, err
}

func TestCreateCallbackDeduped(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	mustTeam(t, db, "sales")
	const ada, bo, window = "+14155550123", "+14155550124", 24 * time.Hour

	first, err := dedupCreate(clk, db, "trg_a", ada, window)
	if err != nil {
		t.Fatalf("first create: %v", err)
	}
	if first.Status != Scheduled {
		t.Errorf("status %q, want scheduled", first.Status)
	}
	rec, ok := dedupRecords(t, db)[DedupKeyFor("trg_a", ada)]
	if !ok || rec.CallbackID != first.ID || !rec.At.Equal(first.CreatedAt) || !rec.Until.Equal(first.CreatedAt.Add(window)) {
		t.Errorf("dedup record %+v, %v; want one for %s", rec, ok, first.ID)
	}

	// Within the window: refused, with the first callback named.
	clk.Advance(window - time.Second)
	dup, err := dedupCreate(clk, db, "trg_a", ada, window)
	var de *DuplicateError
	if !errors.Is(err, ErrDuplicate) || !errors.As(err, &de) || de.CallbackID != first.ID || !de.At.Equal(first.CreatedAt) {
		t.Fatalf("create within the window: %v, want a DuplicateError naming %s", err, first.ID)
	}
	if !strings.Contains(err.Error(), first.ID) {
		t.Errorf("error %q does not name the earlier callback", err)
	}
	if _, err := db.GetCallback(dup.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("duplicate stored: %v", err)
	}

	// Another number, another trigger, no dedup: not duplicates.
	if _, err := dedupCreate(clk, db, "trg_a", bo, window); err != nil {
		t.Errorf("other number: %v", err)
	}
	if _, err := dedupCreate(clk, db, "trg_b", ada, window); err != nil {
		t.Errorf("other trigger: %v", err)
	}
	if _, err := dedupCreate(clk, db, "trg_a", ada, 0); err != nil {
		t.Errorf("window 0: %v", err)
	}
	if _, err := db.CreateCallbackDeduped(newCallback(clk, ada, "sales"), []NewEvent{{Type: "callback.scheduled"}}, nil, nil, nil); err != nil {
		t.Errorf("nil dedup: %v", err)
	}
	// A shorter window (the trigger was edited) applies to the old record.
	if _, err := dedupCreate(clk, db, "trg_a", ada, time.Hour); err != nil {
		t.Errorf("window shortened to 1h, last callback 24h ago: %v", err)
	}
	last := dedupRecords(t, db)[DedupKeyFor("trg_a", ada)]

	// The number defaults to the callback's.
	cb := newCallback(clk, ada, "sales")
	_, err = db.CreateCallbackDeduped(cb, []NewEvent{{Type: "callback.scheduled"}}, nil, nil, &DedupCommit{TriggerID: "trg_a", Window: window})
	if !errors.Is(err, ErrDuplicate) {
		t.Errorf("dedup by the callback's number: %v", err)
	}

	// After the window: allowed, and the record moves on.
	clk.Advance(window)
	again, err := dedupCreate(clk, db, "trg_a", ada, window)
	if err != nil {
		t.Fatalf("after the window: %v", err)
	}
	if rec := dedupRecords(t, db)[DedupKeyFor("trg_a", ada)]; rec.CallbackID != again.ID || rec.CallbackID == last.CallbackID {
		t.Errorf("dedup record %+v, want %s", rec, again.ID)
	}

	// Started callbacks (due now, admitted at once) are deduplicated too.
	clk.Advance(time.Minute)
	scb, evs, att := startedCallback(clk, ada, "sales")
	_, err = db.CreateCallbackDeduped(scb, evs, att, nil, &DedupCommit{TriggerID: "trg_a", Number: ada, Window: window})
	if !errors.Is(err, ErrDuplicate) {
		t.Errorf("started duplicate: %v", err)
	}
	scb, evs, att = startedCallback(clk, "+14155550999", "")
	scb.Status = ""
	if _, err := db.CreateCallbackDeduped(scb, evs, att, nil, &DedupCommit{TriggerID: "trg_a", Window: window}); err != nil || scb.Status != InProgress {
		t.Errorf("started create: %v, status %q", err, scb.Status)
	}
	if as, err := db.Attempts(scb.ID); err != nil || len(as) != 1 {
		t.Errorf("started callback attempts %+v, %v", as, err)
	}
	bad, evs, att := startedCallback(clk, "+14155550998", "")
	bad.AttemptCount = 2
	if _, err := db.CreateCallbackDeduped(bad, evs, att, nil, &DedupCommit{TriggerID: "trg_a", Window: window}); err == nil {
		t.Error("started with a wrong attempt count accepted")
	}
	if _, err := dedupCreate(clk, db, "", ada, window); err == nil {
		t.Error("dedup without a trigger ID accepted")
	}
}

// A refused create writes nothing: no callback, event, index entry,
// idempotency completion or dedup record; and a create refused for
// another reason does not claim the number.
func TestCreateCallbackDedupedRefusalWritesNothing(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	mustTeam(t, db, "sales")
	const ada, window = "+14155550123", time.Hour
	first, err := dedupCreate(clk, db, "trg_a", ada, window)
	if err != nil {
		t.Fatal(err)
	}
	before := dedupRecords(t, db)
	callbacks, events, customers := bucketKeys(t, db, bktCallbacks), bucketKeys(t, db, bktEvents), bucketKeys(t, db, bktByCustomer)

	clk.Advance(time.Minute)
	if _, err := db.ReserveIdempotency("key_a", "k1", [32]byte{1}); err != nil {
		t.Fatal(err)
	}
	cb := newCallback(clk, ada, "sales")
	idem := &IdemCommit{Scope: "key_a", Key: "k1", Status: 201, ContentType: "application/json",
		Render: func(cb *Callback) ([]byte, error) { return json.Marshal(cb) }}
	_, err = db.CreateCallbackDeduped(cb, []NewEvent{{Type: "callback.scheduled"}}, nil, idem,
		&DedupCommit{TriggerID: "trg_a", Number: ada, Window: window})
	if !errors.Is(err, ErrDuplicate) {
		t.Fatalf("create: %v, want ErrDuplicate", err)
	}
	if bucketKeys(t, db, bktCallbacks) != callbacks || bucketKeys(t, db, bktEvents) != events ||
		bucketKeys(t, db, bktByCustomer) != customers {
		t.Error("the refused create wrote a callback, an event or an index entry")
	}
	if pending, _ := db.Pending(); !slices.Equal(ids(pending), []string{first.ID}) {
		t.Errorf("Pending = %v, want only %s", ids(pending), first.ID)
	}
	if rec, err := db.ReserveIdempotency("key_a", "k1", [32]byte{1}); !errors.Is(err, ErrIdempotencyInFlight) {
		t.Errorf("idempotency record after the refusal: %+v, %v; want still pending", rec, err)
	}
	if after := dedupRecords(t, db); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("dedup records changed: %v, were %v", after, before)
	}

	// Refused for an unknown team: the number is not claimed.
	bo := "+14155550124"
	nobody := newCallback(clk, bo, "nobody")
	_, err = db.CreateCallbackDeduped(nobody, []NewEvent{{Type: "callback.scheduled"}}, nil, nil,
		&DedupCommit{TriggerID: "trg_a", Number: bo, Window: window})
	if !errors.Is(err, ErrUnknownTeam) {
		t.Fatalf("create with an unknown team: %v", err)
	}
	if _, ok := dedupRecords(t, db)[DedupKeyFor("trg_a", bo)]; ok {
		t.Error("a refused create left a dedup record")
	}
	if _, err := dedupCreate(clk, db, "trg_a", bo, window); err != nil {
		t.Errorf("the next create for the number: %v", err)
	}
}

// Concurrent creates for one trigger and number share transactions: one
// callback is made, the others name it.
func TestCreateCallbackDedupedConcurrent(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	mustTeam(t, db, "sales")
	const n = 32
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		made    []string
		dupOf   = map[string]int{}
		unknown []error
	)
	for i := range n {
		wg.Go(func() {
			number := "+14155550123"
			if i%4 == 3 {
				number = fmt.Sprintf("+1415555090%d", i%10) // some other numbers, some repeated
			}
			cb, err := dedupCreate(clk, db, "trg_a", number, time.Hour)
			mu.Lock()
			defer mu.Unlock()
			var de *DuplicateError
			switch {
			case err == nil:
				made = append(made, number+" "+cb.ID)
			case errors.As(err, &de):
				dupOf[number+" "+de.CallbackID]++
			default:
				unknown = append(unknown, err)
			}
		})
	}
	wg.Wait()
	if len(unknown) > 0 {
		t.Fatalf("errors: %v", unknown)
	}
	numbers := map[string]bool{}
	for _, m := range made {
		num, _, _ := strings.Cut(m, " ")
		if numbers[num] {
			t.Errorf("two callbacks for %s", num)
		}
		numbers[num] = true
	}
	refused := 0
	for key, c := range dupOf {
		if !slices.Contains(made, key) {
			t.Errorf("refusal names %s, which was not made", key)
		}
		refused += c
	}
	if len(made)+refused != n || bucketKeys(t, db, bktCallbacks) != len(made) {
		t.Errorf("%d made, %d refused, %d stored; want %d in all", len(made), refused, bucketKeys(t, db, bktCallbacks), n)
	}
	if got := len(dedupRecords(t, db)); got != len(made) {
		t.Errorf("%d dedup records for %d callbacks", got, len(made))
	}
}

func TestDeleteTriggerAndPruneDedup(t *testing.T) {
	clk := newClock()
	db := openTest(t, clk)
	mustTeam(t, db, "sales")
	a := newTrigger(t, db, "a")
	b := newTrigger(t, db, "b")
	for _, number := range []string{"+14155550001", "+14155550002"} {
		if _, err := dedupCreate(clk, db, a.ID, number, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dedupCreate(clk, db, b.ID, "+14155550001", 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteTrigger(a.ID); err != nil {
		t.Fatal(err)
	}
	recs := dedupRecords(t, db)
	if len(recs) != 1 {
		t.Errorf("dedup records after deleting %s: %v", a.ID, recs)
	}
	if _, ok := recs[DedupKeyFor(b.ID, "+14155550001")]; !ok {
		t.Errorf("the other trigger's record went too: %v", recs)
	}
	if got, _, _ := db.ListCallbacks(CallbackFilter{}); len(got) != 3 {
		t.Errorf("callbacks after deleting the trigger: %d, want 3 kept", len(got))
	}

	// Records go once their window has passed.
	if _, err := dedupCreate(clk, db, b.ID, "+14155550003", 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	if n, err := db.PruneDedup(clk.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("PruneDedup after 1h = %d, %v; want 1", n, err)
	}
	if n, err := db.PruneDedup(clk.Now().Add(2 * time.Hour)); err != nil || n != 1 {
		t.Errorf("PruneDedup after 2h = %d, %v; want 1", n, err)
	}
	if recs := dedupRecords(t, db); len(recs) != 0 {
		t.Errorf("records left: %v", recs)
	}
}
