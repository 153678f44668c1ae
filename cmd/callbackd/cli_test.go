package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/client"
	"github.com/callbackd/callbackd/webhook"
)

// The API commands, run through run() against a whole callbackd in the
// test's process.

// cli runs a command against l with the admin key (or the --key in args,
// which comes later and wins).
func (l *live) cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	n := 1 // after the command, and its verb
	if slices.Contains([]string{"teams", "webhooks", "triggers", "keys"}, args[0]) && len(args) > 1 {
		n = 2
	}
	full := slices.Concat(args[:n], []string{"--server", l.base, "--key", testAdminKey}, args[n:])
	return runCmd(t, t.Context(), full...)
}

// cliOK runs a command that must succeed.
func (l *live) cliOK(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := l.cli(t, args...)
	if code != exitOK {
		t.Fatalf("callbackd %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// cliJSON runs a command with --json that must succeed and decodes its
// output into out.
func cliJSON[T any](t *testing.T, l *live, args ...string) T {
	t.Helper()
	var out T
	stdout := l.cliOK(t, append(args, "--json")...)
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("callbackd %s --json: %v\n%s", strings.Join(args, " "), err, stdout)
	}
	return out
}

// jsonLines decodes one T per line.
func jsonLines[T any](t *testing.T, s string) []T {
	t.Helper()
	var out []T
	for line := range strings.Lines(s) {
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, v)
	}
	return out
}

func TestCLICallback(t *testing.T) {
	t.Parallel()
	l := startLive(t, configOptions{}, nil)
	cb := cliJSON[client.Callback](t, l, "create", "--customer", sb(t, "hangup"), "--name", "Ann", "--rep", sb(t, "echo"),
		"--meta", "form=pricing", "--max-attempts", "2", "--interval", "10m")
	if cb.ID == "" || cb.Customer.Name != "Ann" || cb.Metadata["form"] != "pricing" || cb.Retry.MaxAttempts != 2 {
		t.Fatalf("created %+v", cb)
	}
	// --follow prints each event as it happens and ends after the final one.
	start := time.Now()
	out := l.cliOK(t, "events", cb.ID, "--follow", "--interval", "100ms")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.Contains(lines[0], "callback.scheduled") || !strings.Contains(lines[len(lines)-1], "callback.completed") ||
		!strings.Contains(out, "call.connected") || !strings.Contains(strings.Join(strings.Fields(out), " "), "call.connected customer "+sb(t, "hangup")+" 200") {
		t.Errorf("events --follow:\n%s", out)
	}
	if time.Since(start) < 3*time.Second {
		t.Errorf("events --follow returned after %v, before the call was over", time.Since(start))
	}
	evs := jsonLines[client.Event](t, l.cliOK(t, "events", "--json", cb.ID))
	if len(evs) != len(lines) || !evs[len(evs)-1].Final() {
		t.Errorf("events --json: %d events, text %d", len(evs), len(lines))
	}
	after := jsonLines[client.Event](t, l.cliOK(t, "events", cb.ID, "--json", "--after", "2"))
	if len(after) != len(evs)-2 || after[0].Sequence != 3 {
		t.Errorf("events --after 2: %d events from %d", len(after), after[0].Sequence)
	}

	got := cliJSON[client.Callback](t, l, "get", cb.ID)
	if got.Status != client.StatusCompleted || len(got.Attempts) != 1 || got.Attempts[0].Outcome != "connected" {
		t.Errorf("get: %+v", got)
	}
	text := strings.Join(strings.Fields(l.cliOK(t, "get", cb.ID)), " ")
	for _, want := range []string{"status completed", "metadata form=pricing", "ATTEMPT", "connected", sb(t, "echo") + " answered 200"} {
		if !strings.Contains(text, want) {
			t.Errorf("get does not say %q:\n%s", want, text)
		}
	}
}

func TestCLIListAndCancel(t *testing.T) {
	t.Parallel()
	l := startLive(t, configOptions{}, nil)
	const customer = "+12025550111"
	var ids []string
	for range 3 {
		cb := cliJSON[client.Callback](t, l, "create", "--customer", customer, "--rep", sb(t, "echo"), "--in", "1h")
		if cb.Status != client.StatusScheduled || cb.NextAttemptAt.Before(time.Now().Add(50*time.Minute)) {
			t.Errorf("created %+v", cb)
		}
		ids = append(ids, cb.ID)
	}
	slices.Reverse(ids)
	page := cliJSON[client.Page[*client.Callback]](t, l, "list", "--customer", customer, "--limit", "2")
	if len(page.Data) != 2 || !page.HasMore || page.Data[0].ID != ids[0] {
		t.Errorf("list --limit 2: %+v", page)
	}
	code, stdout, stderr := l.cli(t, "list", "--customer", customer, "--limit", "2")
	if code != exitOK || !strings.Contains(stdout, ids[1]) || strings.Contains(stdout, ids[2]) ||
		!strings.Contains(stderr, "--starting-after "+ids[1]) || !strings.HasPrefix(stdout, "ID ") {
		t.Errorf("list text: %d\n%s\n%s", code, stdout, stderr)
	}
	page = cliJSON[client.Page[*client.Callback]](t, l, "list", "--customer", customer, "--limit", "1", "--all")
	if len(page.Data) != 3 || page.HasMore || page.Data[2].ID != ids[2] {
		t.Errorf("list --all: %+v", page)
	}
	page = cliJSON[client.Page[*client.Callback]](t, l, "list", "--customer", customer, "--starting-after", ids[0], "--status", "scheduled")
	if len(page.Data) != 2 || page.Data[0].ID != ids[1] {
		t.Errorf("list --starting-after: %+v", page)
	}

	out := l.cliOK(t, "cancel", ids[0])
	if !strings.Contains(out, "canceled") {
		t.Errorf("cancel:\n%s", out)
	}
	// A finished callback cannot be canceled: the API's 409.
	code, stdout, stderr = l.cli(t, "cancel", ids[0])
	if code != exitFail || stdout != "" || !strings.Contains(stderr, "409") {
		t.Errorf("cancel twice: %d %q %q", code, stdout, stderr)
	}
	evs := jsonLines[client.Event](t, l.cliOK(t, "events", ids[0], "--follow", "--json"))
	if last := evs[len(evs)-1]; last.Type != client.EventCallbackCanceled {
		t.Errorf("events of a canceled callback end with %s", last.Type)
	}
	page = cliJSON[client.Page[*client.Callback]](t, l, "list", "--customer", customer, "--status", "canceled")
	if len(page.Data) != 1 {
		t.Errorf("canceled: %+v", page)
	}
}

// The exit codes scripts rely on.
func TestCLIExitCodes(t *testing.T) {
	t.Parallel()
	l := startLive(t, configOptions{}, nil)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"unknown callback", []string{"get", "cb_nope"}, exitNotFound, `no callback "cb_nope"`},
		{"unknown callback's events", []string{"events", "cb_nope", "--follow"}, exitNotFound, "404"},
		{"unknown team", []string{"teams", "get", "nope"}, exitNotFound, "404"},
		{"unknown webhook", []string{"webhooks", "delete", "we_nope"}, exitNotFound, "404"},
		{"unknown key", []string{"keys", "revoke", "key_nope"}, exitNotFound, "404"},
		{"wrong key", []string{"list", "--key", "cbk_wrong"}, exitAuth, "401 Unauthenticated"},
		{"invalid number", []string{"create", "--customer", "+1 555", "--rep", sb(t, "echo")}, exitFail,
			"422 Invalid value (customer.number): not a valid phone number"},
		{"premium rate", []string{"create", "--customer", "+19005550123", "--rep", sb(t, "echo")}, exitFail, "403"},
		{"no server", []string{"list", "--server", "http://127.0.0.1:1"}, exitUnavailable, "connection refused"},

		{"missing ID", []string{"get"}, exitUsage, "missing ID"},
		{"two IDs", []string{"cancel", "cb_1", "cb_2"}, exitUsage, `unexpected argument "cb_2"`},
		{"unknown flag", []string{"list", "--colour", "blue"}, exitUsage, "flag provided but not defined: -colour"},
		{"bad limit", []string{"list", "--limit", "0"}, exitUsage, "--limit 0: want 1 to 100"},
		{"bad time", []string{"list", "--created-gte", "yesterday"}, exitUsage, `--created-gte "yesterday"`},
		{"no customer", []string{"create", "--rep", "+15550000002"}, exitUsage, "missing --customer NUMBER"},
		{"rep and team", []string{"create", "--customer", "+15550000005", "--rep", "+15550000002", "--team", "x"}, exitUsage,
			"give one of --team ID and --rep NUMBER"},
		{"bad meta", []string{"create", "--customer", "+15550000005", "--rep", "+15550000002", "--meta", "x"}, exitUsage, "KEY=VALUE"},
		{"bad interval", []string{"create", "--customer", "+15550000005", "--rep", "+15550000002", "--interval", "often"}, exitUsage, `"often"`},
		{"bad server", []string{"list", "--server", "localhost:8080"}, exitUsage, "--server"},
		{"unknown verb", []string{"teams", "frob"}, exitUsage, `unknown verb "frob"`},
		{"flag before verb", []string{"webhooks"}, exitUsage, "give the verb (create, delete, deliveries, list, retry, rotate-secret, test) before the flags"},
		{"missing team file", []string{"teams", "create", filepath.Join(t.TempDir(), "none.json")}, exitUsage, "none.json"},
		{"webhook without url", []string{"webhooks", "create"}, exitUsage, "missing --url URL"},
		{"retry without delivery", []string{"webhooks", "retry", "we_1"}, exitUsage, "missing DELIVERY_ID"},
		{"unknown trigger", []string{"triggers", "get", "trg_nope"}, exitNotFound, "404"},
		{"unknown trigger's secret", []string{"triggers", "rotate-secret", "trg_nope"}, exitNotFound, "404"},
		{"negative overlap", []string{"triggers", "rotate-secret", "trg_1", "--overlap", "-1s"}, exitUsage, "--overlap -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := l.cli(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, want %d; stderr %q, want %q", code, tt.code, stderr, tt.stderr)
			}
			if code != exitOK && stdout != "" {
				t.Errorf("stdout on failure: %q", stdout)
			}
		})
	}
	if code, _, stderr := runCmd(t, t.Context(), "teams"); code != exitUsage || !strings.Contains(stderr, "missing verb: create, delete, get, list") {
		t.Errorf("teams without a verb: %d %s", code, stderr)
	}
	// Help, for each API command.
	for _, cmd := range []string{"create", "get", "list", "cancel", "events", "teams", "webhooks", "triggers", "keys"} {
		code, stdout, _ := runCmd(t, t.Context(), cmd, "--help")
		if code != exitOK || !strings.Contains(stdout, "usage: callbackd "+cmd) || !strings.Contains(stdout, "--server URL") {
			t.Errorf("%s --help: %d\n%s", cmd, code, stdout)
		}
	}
}

// Without a key anywhere, an API command is a usage error.
func TestCLINoKey(t *testing.T) {
	t.Setenv("CALLBACKD_API_KEY", "")
	t.Setenv("CALLBACKD_ADMIN_KEY", "")
	code, _, stderr := runCmd(t, t.Context(), "list", "--server", "http://127.0.0.1:1")
	if code != exitUsage || !strings.Contains(stderr, "no API key") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	// The environment gives the server and the key.
	l := startLive(t, configOptions{quiet: true}, nil)
	t.Setenv("CALLBACKD_URL", l.base)
	t.Setenv("CALLBACKD_API_KEY", testAdminKey)
	if code, stdout, stderr := runCmd(t, t.Context(), "list", "--json"); code != exitOK || !strings.Contains(stdout, `"has_more":false`) {
		t.Errorf("list from the environment: %d %s %s", code, stdout, stderr)
	}
	// keys: CALLBACKD_URL selects the API; --config the store.
	if code, stdout, stderr := runCmd(t, t.Context(), "keys", "list"); code != exitOK || !strings.Contains(stdout, "admin") {
		t.Errorf("keys list through CALLBACKD_URL: %d %s %s", code, stdout, stderr)
	}
	code, _, stderr = runCmd(t, t.Context(), "keys", "list", "--config", l.cfg.Path)
	if code != exitFail || !strings.Contains(stderr, "in use") {
		t.Errorf("keys list --config beside the running server: %d %s", code, stderr)
	}
}

func TestCLITeams(t *testing.T) {
	t.Parallel()
	l := startLive(t, configOptions{quiet: true}, nil)
	file := filepath.Join(t.TempDir(), "team.json")
	body := `{"id": "sales", "name": "Sales", "reps": [{"number": "` + sb(t, "echo") + `", "name": "Bo"}],
	  "window": {"time_zone": "Europe/London", "hours": {"mon-fri": ["09:00-17:30"]}},
	  "retry": {"max_attempts": 3, "intervals": ["5m"]}}`
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out := l.cliOK(t, "teams", "create", file)
	for _, want := range []string{"id ", "sales", "hours mon", "09:00-17:30", "3 attempts, after 5m", "rep 1", "Bo"} {
		if !strings.Contains(out, want) {
			t.Errorf("teams create does not say %q:\n%s", want, out)
		}
	}
	list := cliJSON[client.Page[*client.Team]](t, l, "teams", "list")
	if len(list.Data) != 1 || list.Data[0].ID != "sales" || list.Data[0].Window == nil {
		t.Errorf("teams list: %+v", list)
	}
	if out := l.cliOK(t, "teams", "list"); !strings.Contains(out, "Europe/London") {
		t.Errorf("teams list:\n%s", out)
	}
	if got := cliJSON[client.Team](t, l, "teams", "get", "sales"); got.Name != "Sales" {
		t.Errorf("teams get: %+v", got)
	}
	// A callback for the team, then the team cannot go.
	cb := cliJSON[client.Callback](t, l, "create", "--customer", "+12025550112", "--team", "sales", "--in", "1h")
	if cb.Team != "sales" {
		t.Errorf("created %+v", cb)
	}
	if code, _, stderr := l.cli(t, "teams", "delete", "sales"); code != exitFail || !strings.Contains(stderr, "409") {
		t.Errorf("delete a team in use: %d %s", code, stderr)
	}
	l.cliOK(t, "cancel", cb.ID)
	if out := l.cliOK(t, "teams", "delete", "sales"); out != "deleted sales\n" {
		t.Errorf("teams delete: %q", out)
	}
	if code, _, _ := l.cli(t, "teams", "get", "sales"); code != exitNotFound {
		t.Errorf("get a deleted team: %d", code)
	}
	// A file with a misspelt field is refused before anything is sent.
	os.WriteFile(file, []byte(`{"reps": [], "colour": "blue"}`), 0o644)
	if code, _, stderr := l.cli(t, "teams", "create", file); code != exitUsage || !strings.Contains(stderr, "colour") {
		t.Errorf("unknown field: %d %s", code, stderr)
	}
}

func TestCLIWebhooks(t *testing.T) {
	t.Parallel()
	l := startLive(t, configOptions{extra: fastWebhooks, quiet: true}, nil)
	var mu sync.Mutex
	var secret string
	var verified []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := webhook.Verify(secret, r.Header, body, 0, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		verified = append(verified, r.Header.Get(webhook.HeaderID))
	}))
	t.Cleanup(rcv.Close)

	we := cliJSON[client.WebhookCreated](t, l, "webhooks", "create", "--url", rcv.URL, "--event", "callback.canceled", "--description", "cli")
	if we.Secret == "" || !slices.Equal(we.EventTypes, []string{"callback.canceled"}) {
		t.Fatalf("created %+v", we)
	}
	mu.Lock()
	secret = we.Secret
	mu.Unlock()
	if out := l.cliOK(t, "webhooks", "list"); !strings.Contains(out, we.ID) || !strings.Contains(out, "callback.canceled") {
		t.Errorf("webhooks list:\n%s", out)
	}
	ping := cliJSON[client.Delivery](t, l, "webhooks", "test", we.ID)
	if ping.EventType != "ping" {
		t.Errorf("test: %+v", ping)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		page := cliJSON[client.Page[*client.Delivery]](t, l, "webhooks", "deliveries", we.ID)
		if len(page.Data) == 1 && page.Data[0].Status == "succeeded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries: %+v", page)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out := l.cliOK(t, "webhooks", "deliveries", we.ID); !strings.Contains(out, "succeeded") || !strings.Contains(out, ping.ID) {
		t.Errorf("deliveries:\n%s", out)
	}
	mu.Lock()
	if len(verified) != 1 || verified[0] != ping.EventID {
		t.Errorf("verified deliveries %v, want the ping %s", verified, ping.EventID)
	}
	mu.Unlock()
	// Sent again: the same event ID arrives a second time.
	if out := l.cliOK(t, "webhooks", "retry", we.ID, ping.ID); !strings.Contains(out, ping.ID) || !strings.Contains(out, "pending") {
		t.Errorf("retry:\n%s", out)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		got := slices.Clone(verified)
		mu.Unlock()
		if len(got) == 2 {
			if got[1] != ping.EventID {
				t.Errorf("retried delivery came as %s, want %s", got[1], ping.EventID)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("verified deliveries %v after the retry", got)
		}
	}
	// A new secret at once: the next ping verifies with it alone.
	rs := cliJSON[rotated](t, l, "webhooks", "rotate-secret", we.ID, "--overlap", "0s")
	if rs.ID != we.ID || !strings.HasPrefix(rs.Secret, "whsec_") || rs.Secret == we.Secret {
		t.Fatalf("rotate-secret: %+v", rs)
	}
	mu.Lock()
	secret = rs.Secret
	mu.Unlock()
	ping2 := cliJSON[client.Delivery](t, l, "webhooks", "test", we.ID)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		got := slices.Clone(verified)
		mu.Unlock()
		if slices.Contains(got, ping2.EventID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ping after the rotation did not verify with the new secret: %v", got)
		}
	}
	if out := l.cliOK(t, "webhooks", "delete", we.ID, "--json"); !strings.Contains(out, `"deleted":true`) {
		t.Errorf("delete: %s", out)
	}
}

// triggers: made from a file, listed, shown, fired with their secret, the
// secret rotated, deleted; one that does not compile is refused.
func TestCLITriggers(t *testing.T) {
	t.Parallel()
	l := startLive(t, configOptions{quiet: true}, nil)
	file := filepath.Join(t.TempDir(), "trigger.json")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"name": "hot leads", "condition": "payload.score >= 80",
	  "mapping": {"customer_number": "payload.phone", "rep_number": "'` + sb(t, "echo") + `'",
	              "delay": "'1h'", "metadata": {"score": "string(int(payload.score))"}},
	  "dedup": "24h"}`)
	out := l.cliOK(t, "triggers", "create", file)
	for _, want := range []string{"hot leads", "/v1/hooks/trg_", "secret", "tsec_", "payload.score >= 80",
		"map customer_number", "map metadata.score", "dedup", "24h"} {
		if !strings.Contains(out, want) {
			t.Errorf("triggers create does not say %q:\n%s", want, out)
		}
	}
	list := cliJSON[client.Page[*client.Trigger]](t, l, "triggers", "list")
	if len(list.Data) != 1 || list.Data[0].Name != "hot leads" {
		t.Fatalf("triggers list: %+v", list)
	}
	tr := list.Data[0]
	if out := l.cliOK(t, "triggers", "list"); !strings.Contains(out, tr.ID) || !strings.Contains(out, "token_header") {
		t.Errorf("triggers list:\n%s", out)
	}
	if got := cliJSON[client.Trigger](t, l, "triggers", "get", tr.ID); got.Mapping.CustomerNumber != "payload.phone" {
		t.Errorf("triggers get: %+v", got)
	}

	// The rotated secret fires the trigger; the one before it no longer does.
	created := strings.Fields(out[strings.Index(out, "tsec_"):])[0]
	rs := cliJSON[rotated](t, l, "triggers", "rotate-secret", tr.ID)
	if rs.ID != tr.ID || !strings.HasPrefix(rs.Secret, "tsec_") || rs.Secret == created {
		t.Fatalf("rotate-secret: %+v (created with %s)", rs, created)
	}
	c, err := client.New(l.base, testAdminKey)
	if err != nil {
		t.Fatal(err)
	}
	event := map[string]any{"phone": "+12025550131", "score": 91}
	if _, err := c.Triggers.Fire(t.Context(), tr.ID, created, "", event); !client.IsUnauthorized(err) {
		t.Errorf("fired with the old secret: %v", err)
	}
	res, err := c.Triggers.Fire(t.Context(), tr.ID, rs.Secret, "", event)
	if err != nil || !res.Matched || res.Callback == nil || res.Callback.Metadata["score"] != "91" {
		t.Fatalf("fired with the new secret: %+v, %v", res, err)
	}
	l.cliOK(t, "cancel", res.CallbackID)
	// With --overlap the secret replaced works on beside the new one.
	rs2 := cliJSON[rotated](t, l, "triggers", "rotate-secret", tr.ID, "--overlap", "1h")
	for _, secret := range []string{rs.Secret, rs2.Secret} {
		if _, err := c.Triggers.Fire(t.Context(), tr.ID, secret, "", map[string]any{"score": 1}); err != nil {
			t.Errorf("a secret in the overlap: %v", err)
		}
	}
	if code, _, stderr := l.cli(t, "triggers", "rotate-secret", tr.ID, "--overlap", "200h"); code != exitFail || !strings.Contains(stderr, "overlap") {
		t.Errorf("--overlap 200h: exit %d, %s", code, stderr)
	}

	// A condition that does not compile: nothing is made.
	write(`{"name": "broken", "condition": "payload.score >=", "mapping": {"customer_number": "payload.phone", "team": "'sales'"}}`)
	if code, _, stderr := l.cli(t, "triggers", "create", file); code != exitFail || !strings.Contains(stderr, "422") || !strings.Contains(stderr, "condition") {
		t.Errorf("a condition that does not compile: exit %d, %s", code, stderr)
	}
	if out := l.cliOK(t, "triggers", "delete", tr.ID); out != "deleted "+tr.ID+"\n" {
		t.Errorf("triggers delete: %q", out)
	}
	if list := cliJSON[client.Page[*client.Trigger]](t, l, "triggers", "list"); len(list.Data) != 0 {
		t.Errorf("after delete: %+v", list.Data)
	}
}

// keys: through the API with --server; in the store with --config.
func TestCLIKeys(t *testing.T) {
	t.Parallel()
	l := startLive(t, configOptions{quiet: true}, nil)
	code, stdout, stderr := l.cli(t, "keys", "create", "--name", "reader", "--scope", "callbacks:read")
	secret := strings.TrimSpace(stdout)
	if code != exitOK || !strings.HasPrefix(secret, "cbk_") || !strings.Contains(stderr, "shown only once") {
		t.Fatalf("keys create: %d %q %q", code, stdout, stderr)
	}
	keys := cliJSON[client.Page[*client.APIKey]](t, l, "keys", "list")
	i := slices.IndexFunc(keys.Data, func(k *client.APIKey) bool { return k.Name == "reader" })
	if i < 0 {
		t.Fatalf("keys list: %+v", keys)
	}
	id := keys.Data[i].ID
	l.cliOK(t, "list", "--key", secret)
	if code, _, stderr := l.cli(t, "create", "--key", secret, "--customer", sb(t, "echo"), "--rep", sb(t, "echo")); code != exitAuth || !strings.Contains(stderr, "403") {
		t.Errorf("create with a read key: %d %s", code, stderr)
	}
	if out := l.cliOK(t, "keys", "revoke", id); !strings.Contains(out, "revoked "+id) {
		t.Errorf("revoke: %q", out)
	}
	if code, _, _ := l.cli(t, "list", "--key", secret); code != exitAuth {
		t.Errorf("a revoked key: exit %d", code)
	}
	if code, _, stderr := runCmd(t, t.Context(), "keys", "list", "--server", l.base, "--config", l.cfg.Path); code != exitUsage || !strings.Contains(stderr, "not both") {
		t.Errorf("--server and --config: %d %s", code, stderr)
	}

	// The store of a stopped server.
	cfg := writeTestConfigOpts(t, configOptions{})
	code, stdout, stderr = runCmd(t, t.Context(), "keys", "create", "--config", cfg.Path, "--name", "offline", "--json")
	var created client.APIKeyCreated
	if code != exitOK || json.Unmarshal([]byte(stdout), &created) != nil || created.Secret == "" || created.ID == "" {
		t.Fatalf("keys create --json: %d %s %s", code, stdout, stderr)
	}
	if out := runOK(t, "keys", "revoke", created.ID, "--config", cfg.Path); !strings.Contains(out, "revoked "+created.ID) {
		t.Errorf("offline revoke: %q", out)
	}
	if out := runOK(t, "keys", "list", "--config", cfg.Path); !strings.Contains(out, created.ID) || !strings.Contains(out, "REVOKED") {
		t.Errorf("offline list:\n%s", out)
	}
	if code, _, _ := runCmd(t, t.Context(), "keys", "revoke", "key_nope", "--config", cfg.Path); code != exitNotFound {
		t.Errorf("offline revoke of an unknown key: %d", code)
	}
	if code, _, stderr := runCmd(t, t.Context(), "keys", "list", "--config", cfg.Path, "--key", "k"); code != exitUsage || !strings.Contains(stderr, "--key is for a server") {
		t.Errorf("--key offline: %d %s", code, stderr)
	}
}

func runOK(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCmd(t, t.Context(), args...)
	if code != exitOK {
		t.Fatalf("callbackd %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}
