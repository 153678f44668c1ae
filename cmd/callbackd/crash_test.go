package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/testpeer"
)

// kamailioTrunk starts Kamailio (digest auth) relaying numbers that start with
// +4 to rep and +3 to cust, and returns the trunks: YAML for the config.
func kamailioTrunk(t *testing.T, rep, cust *testpeer.SIPp, extra string) string {
	t.Helper()
	k := testpeer.StartKamailio(t, testpeer.KamailioOptions{Defines: map[string]string{
		"DEST4": "sip:" + rep.Addr().String(),
		"DEST3": "sip:" + cust.Addr().String(),
	}})
	return fmt.Sprintf("  - name: kamailio\n    host: %s\n    port: %d\n    username: callback\n    password: secret\n    from_domain: trunk.test\n%s",
		k.IP, k.Port, extra)
}

// sippMany starts a SIPp UAS taking up to n calls.
func sippMany(t *testing.T, scenario string, n int, echo bool) *testpeer.SIPp {
	t.Helper()
	return testpeer.StartSIPp(t, testpeer.SIPpOptions{
		Scenario: testpeer.RepoPath(t, "testdata", "sipp", scenario),
		RTPEcho:  echo,
		Calls:    n,
		Timeout:  5 * time.Minute,
		Extra:    []string{"-l", "1000"},
	})
}

// inviteCallIDs maps each Request-URI user of the INVITEs SIPp received to
// their distinct Call-IDs (retransmissions share one).
func inviteCallIDs(messages string) map[string]map[string]bool {
	reqURI := regexp.MustCompile(`(?m)^INVITE sip:([^@;> ]+)`)
	callID := regexp.MustCompile(`(?mi)^Call-ID:\s*(\S+)`)
	out := map[string]map[string]bool{}
	for _, block := range strings.Split(messages, "message received") {
		u := reqURI.FindStringSubmatch(block)
		c := callID.FindStringSubmatch(block)
		if u == nil || c == nil {
			continue
		}
		if out[u[1]] == nil {
			out[u[1]] = map[string]bool{}
		}
		out[u[1]][c[1]] = true
	}
	return out
}

// The server is killed with SIGKILL while a few hundred callbacks run
// against SIPp behind Kamailio. After a restart on the same store, every
// callback reaches exactly one final state, none is lost, and only the
// attempts the kill cut short are dialled again.
func TestCrashMidRun(t *testing.T) {
	t.Parallel()
	testpeer.RequirePeer(t, "sipp")
	testpeer.RequirePeer(t, "kamailio")
	const n = 300
	rep := sippMany(t, "uas_answer.xml", 4*n, true)
	cust := sippMany(t, "uas_answer_bye.xml", 4*n, false)
	trunk := kamailioTrunk(t, rep, cust, "    max_calls: 40\n")
	cfg := writeTestConfigOpts(t, configOptions{
		trunk: trunk, trunkName: "kamailio", mediaPorts: 200,
		extra: "guardrails:\n  allow: [\"+33\", \"+44\"]\n  per_number_per_day: -1\nshutdown:\n  drain: 1s\n",
	})
	bin := buildBinary(t)
	srv := startProc(t, bin, "serve", "--config", cfg.Path)
	srv.waitFor(t, true, `"msg":"callbackd serving"`, 15*time.Second)

	ids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			cb := createCallback(t, cfg.API, map[string]any{
				"customer":   map[string]any{"number": fmt.Sprintf("+331234%05d", i)},
				"rep_number": "+442079460001",
				"retry":      map[string]any{"max_attempts": 3, "intervals": []string{"1s"}},
			})
			ids[i] = cb.ID
		}()
	}
	wg.Wait()

	// Kill it once a good part, but not all, has completed.
	deadline := time.Now().Add(60 * time.Second)
	for countStatus(t, cfg.API, "completed") < n/4 {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d callbacks completed in 60 s", n/4)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv.exit(t, 10*time.Second)

	srv2 := startProc(t, bin, "serve", "--config", cfg.Path)
	srv2.waitFor(t, true, `"msg":"callbackd serving"`, 15*time.Second)
	deadline = time.Now().Add(120 * time.Second)
	for countStatus(t, cfg.API, "completed")+countStatus(t, cfg.API, "failed") < n {
		if time.Now().After(deadline) {
			t.Fatalf("not every callback final 120 s after the restart: %d completed, %d failed, %d scheduled, %d in progress",
				countStatus(t, cfg.API, "completed"), countStatus(t, cfg.API, "failed"),
				countStatus(t, cfg.API, "scheduled"), countStatus(t, cfg.API, "in_progress"))
		}
		time.Sleep(200 * time.Millisecond)
	}

	custInvites := inviteCallIDs(cust.Messages())
	interrupted := 0
	for i, id := range ids {
		cb := getCallback(t, cfg.API, id)
		if cb.Status != "completed" {
			t.Errorf("%s: %s (%s), want completed: SIPp answers every call", id, cb.Status, cb.Reason)
		}
		checkEventLog(t, id, events(t, cfg.API, id))
		for j, a := range cb.Attempts {
			last := j == len(cb.Attempts)-1
			switch {
			case !last && a.Outcome != "interrupted":
				t.Errorf("%s: attempt %d %q was followed by another, though only an interrupted one may be", id, a.Number, a.Outcome)
			case !last:
				interrupted++
			}
		}
		// SIPp saw the customer dialled at most once per attempt, and
		// exactly once when no attempt was cut short.
		num := fmt.Sprintf("+331234%05d", i)
		got := len(custInvites[num])
		if got > len(cb.Attempts) || (len(cb.Attempts) == 1 && got != 1) {
			t.Errorf("%s: customer %s got %d INVITEs over %d attempts", id, num, got, len(cb.Attempts))
		}
	}
	if interrupted == 0 {
		t.Error("no attempt was interrupted: the kill came too late to test anything")
	}
	t.Logf("%d callbacks, %d attempts interrupted by SIGKILL and retried", n, interrupted)

	srv2.cmd.Process.Signal(syscall.SIGTERM)
	if code := srv2.exit(t, 15*time.Second); code != exitOK {
		t.Errorf("exit %d after SIGTERM", code)
	}
}

// countStatus counts the callbacks in a status through the list endpoint.
func countStatus(t *testing.T, base, status string) int {
	t.Helper()
	total, after := 0, ""
	for {
		var page struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
			HasMore bool `json:"has_more"`
		}
		path := "/v1/callbacks?limit=100&status=" + status
		if after != "" {
			path += "&starting_after=" + after
		}
		if code := apiCall(t, base, "GET", path, nil, &page); code != http.StatusOK {
			t.Fatalf("list: %d", code)
		}
		total += len(page.Data)
		if !page.HasMore || len(page.Data) == 0 {
			return total
		}
		after = page.Data[len(page.Data)-1].ID
	}
}
