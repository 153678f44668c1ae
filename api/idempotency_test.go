package api

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// runIdempotency checks the Idempotency-Key rules on POST /v1/callbacks.
func runIdempotency(t *testing.T, h *harness) {
	t.Helper()
	post := func(key string, body any, idem string) *response {
		return h.do(req{method: "POST", path: "/v1/callbacks", key: key, body: body, headers: map[string]string{IdempotencyHeader: idem}})
	}
	base := h.stored()

	first := post(h.writer, validCallback(), "order-42").want(http.StatusCreated)
	if first.header.Get(ReplayedHeader) != "" {
		t.Errorf("first response marked replayed")
	}
	again := post(h.writer, validCallback(), "order-42").want(http.StatusCreated)
	if again.header.Get(ReplayedHeader) != "true" {
		t.Errorf("second response: %s = %q, want true", ReplayedHeader, again.header.Get(ReplayedHeader))
	}
	if !bytes.Equal(first.body, again.body) {
		t.Errorf("replayed body differs:\nfirst  %s\nreplay %s", first.body, again.body)
	}
	if ct := again.header.Get("Content-Type"); ct != JSONContentType {
		t.Errorf("replay Content-Type %q", ct)
	}
	if n := h.stored() - base; n != 1 {
		t.Errorf("%d callbacks after a replay, want 1", n)
	}

	other := with(func(b map[string]any) { b["metadata"] = map[string]any{"order": "43"} })
	post(h.writer, other, "order-42").problem(422, CodeIdempotencyMismatch, IdempotencyHeader)
	if n := h.stored() - base; n != 1 {
		t.Errorf("%d callbacks after a mismatch, want 1", n)
	}

	// Keys are scoped by API key: another key's same header is another
	// request.
	post(h.admin, validCallback(), "order-42").want(http.StatusCreated)
	if n := h.stored() - base; n != 2 {
		t.Errorf("%d callbacks after the same header with another API key, want 2", n)
	}

	// A refused request is not kept: fixing the body and retrying with
	// the same key runs it.
	bad := with(func(b map[string]any) { b["colour"] = "red" })
	post(h.writer, bad, "order-44").problem(400, CodeUnknownField, "colour")
	fixed := post(h.writer, validCallback(), "order-44").want(http.StatusCreated)
	if fixed.header.Get(ReplayedHeader) != "" {
		t.Errorf("retry after a refusal was a replay of it")
	}
	if n := h.stored() - base; n != 3 {
		t.Errorf("%d callbacks, want 3", n)
	}

	post(h.writer, validCallback(), strings.Repeat("k", 256)).problem(422, CodeValidation, IdempotencyHeader)
	post(h.writer, validCallback(), "tab\there").problem(422, CodeValidation, IdempotencyHeader)
}

// runIdempotencyConcurrent fires one request with the same key from many
// goroutines: exactly one runs; the others get its response or 409.
func runIdempotencyConcurrent(t *testing.T, h *harness, n int) {
	t.Helper()
	base := h.stored()
	var wg sync.WaitGroup
	res := make([]*response, n)
	for i := range n {
		wg.Go(func() {
			res[i] = h.do(req{method: "POST", path: "/v1/callbacks", key: h.writer, body: validCallback(),
				headers: map[string]string{IdempotencyHeader: "concurrent"}})
		})
	}
	wg.Wait()
	var created, replayed, inFlight int
	var body []byte
	for _, r := range res {
		switch {
		case r.code == http.StatusCreated && r.header.Get(ReplayedHeader) == "true":
			replayed++
			if body != nil && !bytes.Equal(body, r.body) {
				t.Errorf("replays differ")
			}
			body = r.body
		case r.code == http.StatusCreated:
			created++
		case r.code == http.StatusConflict:
			r.problem(409, CodeIdempotencyInFlight, IdempotencyHeader)
			inFlight++
		default:
			t.Errorf("unexpected response %d %s", r.code, r.body)
		}
	}
	if created != 1 {
		t.Errorf("%d requests ran, want 1 (replayed %d, in flight %d)", created, replayed, inFlight)
	}
	if got := h.stored() - base; got != 1 {
		t.Errorf("%d callbacks stored, want 1", got)
	}
	t.Logf("%d concurrent requests: 1 ran, %d replayed, %d in flight", n, replayed, inFlight)
}

func TestIdempotency(t *testing.T) {
	h, _, _ := newFakeHarness(t, Options{})
	runIdempotency(t, h)
}

// TestIdempotencyConcurrent holds the first request in the service until
// the others have answered, so they must see it in flight.
func TestIdempotencyConcurrent(t *testing.T) {
	h, svc, _ := newFakeHarness(t, Options{})
	const n = 8
	release := make(chan struct{})
	var once sync.Once
	svc.beforeSave = func() { <-release }
	var answered sync.WaitGroup
	answered.Add(n - 1)
	go func() {
		answered.Wait()
		once.Do(func() { close(release) })
	}()
	// Should more than one run, they would wait forever: fail instead.
	time.AfterFunc(10*time.Second, func() { once.Do(func() { close(release) }) })
	var wg sync.WaitGroup
	res := make([]*response, n)
	for i := range n {
		wg.Go(func() {
			res[i] = h.do(req{method: "POST", path: "/v1/callbacks", key: h.writer, body: validCallback(),
				headers: map[string]string{IdempotencyHeader: "held"}})
			if res[i].code != http.StatusCreated {
				answered.Done()
			}
		})
	}
	wg.Wait()
	created := 0
	for _, r := range res {
		switch r.code {
		case http.StatusCreated:
			created++
		default:
			r.problem(409, CodeIdempotencyInFlight, IdempotencyHeader)
		}
	}
	if created != 1 || svc.count() != 1 {
		t.Errorf("%d created, %d stored; want 1 and 1", created, svc.count())
	}
	// Now done: the same request is a replay.
	r := h.do(req{method: "POST", path: "/v1/callbacks", key: h.writer, body: validCallback(),
		headers: map[string]string{IdempotencyHeader: "held"}}).want(http.StatusCreated)
	if r.header.Get(ReplayedHeader) != "true" {
		t.Errorf("after the first finished: not a replay")
	}
}

func TestIdempotencyConcurrentRace(t *testing.T) {
	h, _, _ := newFakeHarness(t, Options{})
	runIdempotencyConcurrent(t, h, 16)
}

// TestIdempotencyCommitInCreate checks that POST /v1/callbacks hands the
// record to the service, which completes it in its transaction with the
// body the handler sends.
func TestIdempotencyCommitInCreate(t *testing.T) {
	h, svc, keys := newFakeHarness(t, Options{})
	r := h.do(req{method: "POST", path: "/v1/callbacks", key: h.writer, body: validCallback(),
		headers: map[string]string{IdempotencyHeader: "tx"}}).want(http.StatusCreated)
	if len(svc.requests) != 1 || svc.requests[0].Idem == nil {
		t.Fatalf("service got no IdemCommit: %+v", svc.requests)
	}
	ic := svc.requests[0].Idem
	if ic.Key != "tx" || ic.Status != http.StatusCreated || ic.ContentType != JSONContentType || ic.Scope == "" {
		t.Errorf("IdemCommit %+v", ic)
	}
	recs := keys.records()
	if len(recs) != 1 || !recs[0].Done || !bytes.Equal(recs[0].Body, r.body) {
		t.Errorf("record %+v, want done with the response body %s", recs, r.body)
	}
	// Without the header there is no commit and no record.
	h.do(req{method: "POST", path: "/v1/callbacks", key: h.writer, body: validCallback()}).want(http.StatusCreated)
	if svc.requests[1].Idem != nil || len(keys.records()) != 1 {
		t.Errorf("a request without Idempotency-Key made a record")
	}
}

// TestIdempotencyOtherPosts covers the middleware on the other POSTs, and
// that an API key's secret is never kept in a record nor replayed.
func TestIdempotencyOtherPosts(t *testing.T) {
	h, _, keys := newFakeHarness(t, Options{})
	team := map[string]any{"id": "sales", "name": "Sales", "reps": []map[string]any{{"number": numRep}}}
	post := func(path string, body any, idem string) *response {
		return h.do(req{method: "POST", path: path, key: h.admin, body: body, headers: map[string]string{IdempotencyHeader: idem}})
	}
	a := post("/v1/teams", team, "team-1").want(http.StatusCreated)
	b := post("/v1/teams", team, "team-1").want(http.StatusCreated)
	if !bytes.Equal(a.body, b.body) || b.header.Get(ReplayedHeader) != "true" {
		t.Errorf("team replay: %s / %s", a.body, b.body)
	}
	// Without the key, the same body is a second create: a conflict.
	h.post("/v1/teams", team).problem(409, CodeConflict, "id")

	k1 := post("/v1/api-keys", map[string]any{"name": "web", "scopes": []string{"callbacks:write"}}, "key-1").want(http.StatusCreated)
	k2 := post("/v1/api-keys", map[string]any{"name": "web", "scopes": []string{"callbacks:write"}}, "key-1").want(http.StatusCreated)
	var c1, c2 map[string]any
	k1.decode(&c1)
	k2.decode(&c2)
	secret, _ := c1["secret"].(string)
	if !strings.HasPrefix(secret, "cbk_") {
		t.Fatalf("create key: no secret: %s", k1.body)
	}
	if _, ok := c2["secret"]; ok || c2["id"] != c1["id"] || k2.header.Get(ReplayedHeader) != "true" {
		t.Errorf("key replay %s, want the same key without its secret", k2.body)
	}
	for _, rec := range keys.records() {
		if bytes.Contains(rec.Body, []byte(secret)) {
			t.Errorf("idempotency record %s keeps the secret", rec.Key)
		}
	}
	if n, _ := keys.ListAPIKeys(); len(n) != 4 {
		t.Errorf("%d keys, want the harness's 3 and one created", len(n))
	}
}
