package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/callbackd/callbackd/trigger"
)

// End to end: an application's events, signed, posted to a trigger's URL
// become callbacks that connect on the sandbox trunk.

type triggerView struct {
	ID     string `json:"id"`
	URL    string `json:"url"`
	Secret string `json:"secret"`
	Auth   struct {
		Mode string `json:"mode"`
	} `json:"auth"`
}

type hookView struct {
	Matched    bool   `json:"matched"`
	Reason     string `json:"reason"`
	Duplicate  bool   `json:"duplicate"`
	CallbackID string `json:"callback_id"`
	Type       string `json:"type"` // of a problem
}

// postEvent posts payload to the trigger's URL, signed with secret, as an
// application would: no API key.
func postEvent(t *testing.T, base string, tr triggerView, secret, payload string) (int, hookView) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+tr.URL, bytes.NewReader([]byte(payload)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(trigger.HeaderSignature, trigger.Sign(secret, []byte(payload)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", tr.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var v hookView
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("POST %s: %d %s: %v", tr.URL, resp.StatusCode, body, err)
	}
	return resp.StatusCode, v
}

func TestTriggerEventsMakeCallbacks(t *testing.T) {
	t.Parallel()
	l := startLive(t, configOptions{}, nil)
	team := map[string]any{"id": "sales", "name": "Sales", "reps": []map[string]string{{"number": sb(t, "echo"), "name": "Bob"}}}
	if code := apiCall(t, l.base, "POST", "/v1/teams", team, nil); code != http.StatusCreated {
		t.Fatalf("create team: %d", code)
	}
	var tr triggerView
	code := apiCall(t, l.base, "POST", "/v1/triggers", map[string]any{
		"name":      "hot leads",
		"condition": "payload.score >= 80",
		"mapping": map[string]any{
			"customer_number": "payload.phone",
			"customer_name":   "payload.?name.orValue('')",
			"team":            "'sales'",
			"metadata":        map[string]any{"source": "'pricing form'"},
		},
		"dedup": "24h",
		"auth":  map[string]any{"mode": "hmac_sha256"},
	}, &tr)
	if code != http.StatusCreated || tr.Secret == "" || tr.URL != "/v1/hooks/"+tr.ID || tr.Auth.Mode != trigger.AuthHMACSHA256 {
		t.Fatalf("create trigger: %d %+v", code, tr)
	}
	customer := sb(t, "hangup")
	lead := `{"score": 91, "phone": "` + customer + `", "name": "Ann", "page": "/pricing"}`

	// A matching event: a callback that connects.
	code, res := postEvent(t, l.base, tr, tr.Secret, lead)
	if code != http.StatusCreated || !res.Matched || res.CallbackID == "" {
		t.Fatalf("matching event: %d %+v", code, res)
	}
	done := waitStatus(t, l.base, res.CallbackID, "completed", 30*time.Second)
	if len(done.Attempts) != 1 || done.Attempts[0].Outcome != "connected" {
		t.Errorf("attempts %+v, want one connected", done.Attempts)
	}
	evs := events(t, l.base, res.CallbackID)
	checkEventLog(t, res.CallbackID, evs)
	var scheduled struct {
		TriggerID string `json:"trigger_id"`
	}
	if err := json.Unmarshal(evs[0].Data, &scheduled); err != nil || scheduled.TriggerID != tr.ID {
		t.Errorf("callback.scheduled data %s, want trigger_id %s", evs[0].Data, tr.ID)
	}

	// Not matching: an answer, no callback.
	code, res2 := postEvent(t, l.base, tr, tr.Secret, `{"score": 40, "phone": "`+customer+`"}`)
	if code != http.StatusOK || res2.Matched || res2.Reason != "condition is false" {
		t.Errorf("non-matching event: %d %+v", code, res2)
	}
	// The same customer again within the window: the first callback.
	code, res3 := postEvent(t, l.base, tr, tr.Secret, lead)
	if code != http.StatusOK || !res3.Matched || !res3.Duplicate || res3.CallbackID != res.CallbackID {
		t.Errorf("repeated event: %d %+v, want a duplicate of %s", code, res3, res.CallbackID)
	}
	// A wrong signature: refused.
	code, res4 := postEvent(t, l.base, tr, tr.Secret+"x", `{"score": 99, "phone": "`+sb(t, "echo")+`"}`)
	if code != http.StatusUnauthorized || res4.Type != "urn:callbackd:problem:unauthenticated" {
		t.Errorf("wrong signature: %d %+v", code, res4)
	}

	var page struct {
		Data []cbView `json:"data"`
	}
	if code := apiCall(t, l.base, "GET", "/v1/callbacks?limit=100", nil, &page); code != http.StatusOK || len(page.Data) != 1 {
		t.Errorf("callbacks: %d, %d of them, want the one", code, len(page.Data))
	}
}
