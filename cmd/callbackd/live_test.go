package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/callbackd/callbackd/config"
	"github.com/callbackd/callbackd/internal/testlog"
	"github.com/callbackd/callbackd/schedule"
)

// live is a whole callbackd (telephony stack, store, engine, API) running in
// the test's process, so that a test can drive its clock.
type live struct {
	cfg  testConfig
	c    *config.Config
	st   *stack
	srv  *server
	base string
}

// startLive starts callbackd on a configuration written with o. clk drives
// the engine's scheduling (nil: the real clock); calls still take real time.
func startLive(t testing.TB, o configOptions, clk schedule.Clock) *live {
	t.Helper()
	l := &live{cfg: writeTestConfigOpts(t, o)}
	var err error
	if l.c, err = config.Load(l.cfg.Path); err != nil {
		t.Fatal(err)
	}
	if clk == nil {
		clk = schedule.System
	}
	level := slog.LevelInfo
	if o.quiet {
		level = slog.LevelWarn
	}
	log := testlog.New(t, level)
	ctx := context.WithoutCancel(t.Context())
	if l.st, err = startStack(ctx, l.c, log, false); err != nil {
		t.Fatal(err)
	}
	if l.srv, err = startServer(ctx, l.c, l.st, false, log, clk); err != nil {
		l.st.Close()
		t.Fatal(err)
	}
	l.base = "http://" + l.srv.ln.Addr().String()
	t.Cleanup(func() { l.stop(t) })
	return l
}

// stop shuts callbackd down as SIGTERM does, with a short drain.
func (l *live) stop(t testing.TB) {
	t.Helper()
	if l.srv == nil {
		return
	}
	if err := l.srv.shutdown(time.Second, slog.New(slog.DiscardHandler)); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if err := l.st.Close(); err != nil {
		t.Errorf("stack close: %v", err)
	}
	l.srv = nil
}

// apiCall sends a request with the admin key and decodes a JSON answer into
// out (when not nil). It returns the status code.
func apiCall(t testing.TB, base, method, path string, body, out any) int {
	t.Helper()
	return apiCallKey(t, base, testAdminKey, method, path, body, out)
}

func apiCallKey(t testing.TB, base, key, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

// cbView is the part of the callback JSON the tests look at.
type cbView struct {
	ID            string    `json:"id"`
	Status        string    `json:"status"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	AttemptCount  int       `json:"attempt_count"`
	Outcome       string    `json:"outcome"`
	Reason        string    `json:"reason"`
	Attempts      []struct {
		Number      int       `json:"number"`
		Outcome     string    `json:"outcome"`
		StartedAt   time.Time `json:"started_at"`
		FinishedAt  time.Time `json:"finished_at"`
		TalkSeconds float64   `json:"talk_seconds"`
		Customer    *struct {
			Number string `json:"number"`
			Code   int    `json:"sip_code"`
		} `json:"customer"`
	} `json:"attempts"`
}

type eventView struct {
	ID   string          `json:"id"`
	Seq  uint64          `json:"sequence"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// createCallback posts body and returns the created callback.
func createCallback(t testing.TB, base string, body map[string]any) cbView {
	t.Helper()
	var cb cbView
	var problem map[string]any
	var raw json.RawMessage
	if code := apiCall(t, base, "POST", "/v1/callbacks", body, &raw); code != http.StatusCreated {
		_ = json.Unmarshal(raw, &problem)
		t.Fatalf("POST /v1/callbacks: %d %v", code, problem)
	}
	if err := json.Unmarshal(raw, &cb); err != nil {
		t.Fatal(err)
	}
	return cb
}

func getCallback(t *testing.T, base, id string) cbView {
	t.Helper()
	var cb cbView
	if code := apiCall(t, base, "GET", "/v1/callbacks/"+id, nil, &cb); code != http.StatusOK {
		t.Fatalf("GET callback %s: %d", id, code)
	}
	return cb
}

// waitCallback polls until cond holds for the callback, or fails after d.
func waitCallback(t *testing.T, base, id string, d time.Duration, what string, cond func(cbView) bool) cbView {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		cb := getCallback(t, base, id)
		if cond(cb) {
			return cb
		}
		if time.Now().After(deadline) {
			t.Fatalf("callback %s: not %s after %v: %+v", id, what, d, cb)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitStatus(t *testing.T, base, id, status string, d time.Duration) cbView {
	t.Helper()
	return waitCallback(t, base, id, d, status, func(cb cbView) bool { return cb.Status == status })
}

// events returns a callback's whole event log.
func events(t *testing.T, base, id string) []eventView {
	t.Helper()
	var all []eventView
	after := uint64(0)
	for {
		var page struct {
			Data    []eventView `json:"data"`
			HasMore bool        `json:"has_more"`
		}
		if code := apiCall(t, base, "GET", fmt.Sprintf("/v1/callbacks/%s/events?after=%d&limit=100", id, after), nil, &page); code != http.StatusOK {
			t.Fatalf("events of %s: %d", id, code)
		}
		all = append(all, page.Data...)
		if !page.HasMore || len(page.Data) == 0 {
			return all
		}
		after = page.Data[len(page.Data)-1].Seq
	}
}

var finalEvents = map[string]bool{"callback.completed": true, "callback.failed": true, "callback.canceled": true}

// checkEventLog checks the log is gap-free from 1, starts with
// callback.scheduled and has exactly one final event, the last one.
func checkEventLog(t *testing.T, id string, evs []eventView) {
	t.Helper()
	finals := 0
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Errorf("%s: event %d has sequence %d", id, i, e.Seq)
		}
		if finalEvents[e.Type] {
			finals++
		}
	}
	if len(evs) == 0 || evs[0].Type != "callback.scheduled" {
		t.Errorf("%s: log does not start with callback.scheduled: %v", id, eventTypes(evs))
	}
	if finals != 1 || !finalEvents[evs[len(evs)-1].Type] {
		t.Errorf("%s: %d final events, want exactly one, last: %v", id, finals, eventTypes(evs))
	}
}

func eventTypes(evs []eventView) []string {
	s := make([]string, len(evs))
	for i, e := range evs {
		s[i] = e.Type
	}
	return s
}
