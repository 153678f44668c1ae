package main

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callbackd/callbackd/internal/testpeer"
	"github.com/callbackd/callbackd/schedule"
)

// Callbacks created through the API, placed through Kamailio (digest auth)
// to SIPp far ends: one that answers and hangs up, one that is busy, one
// that never answers. The waits between attempts run on a fake clock.
func TestKamailioCallbacks(t *testing.T) {
	t.Parallel()
	testpeer.RequirePeer(t, "sipp")
	testpeer.RequirePeer(t, "kamailio")
	rep := sippMany(t, "uas_answer.xml", 10, true)
	answer := sippMany(t, "uas_answer_stream_bye.xml", 1, false)
	busy := sippMany(t, "uas_busy.xml", 2, false)
	noAnswer := sippMany(t, "uas_no_answer.xml", 2, false)
	k := testpeer.StartKamailio(t, testpeer.KamailioOptions{Defines: map[string]string{
		"DEST4": "sip:" + rep.Addr().String(),
		"DEST3": "sip:" + answer.Addr().String(),
		"DEST2": "sip:" + busy.Addr().String(),
		"DEST6": "sip:" + noAnswer.Addr().String(),
	}})
	trunk := "  - name: kamailio\n    host: " + k.IP.String() + "\n    port: " + strconv.Itoa(k.Port) +
		"\n    username: callback\n    password: secret\n    from_domain: trunk.test\n"
	clk := schedule.NewFakeClock(time.Now().UTC())
	l := startLive(t, configOptions{trunk: trunk, trunkName: "kamailio",
		extra: "guardrails:\n  allow: [\"+27\", \"+33\", \"+44\", \"+61\"]\n  per_number_per_day: -1\n"}, clk)
	team := map[string]any{
		"id": "sales", "name": "Sales", "reps": []map[string]string{{"number": "+442079460001", "name": "Rep"}},
		"customer_ring_timeout": "2s", "caller_id": map[string]string{"number": "+442079460999", "name": "ACME"},
		"retry": map[string]any{"max_attempts": 2, "intervals": []string{"10m"}},
	}
	if code := apiCall(t, l.base, "POST", "/v1/teams", team, nil); code != http.StatusCreated {
		t.Fatalf("create team: %d", code)
	}

	connected := createCallback(t, l.base, map[string]any{"customer": map[string]any{"number": "+33123456789"}, "team": "sales"})
	busyCB := createCallback(t, l.base, map[string]any{"customer": map[string]any{"number": "+27211234567"}, "team": "sales"})
	missed := createCallback(t, l.base, map[string]any{"customer": map[string]any{"number": "0291234567", "country": "AU"}, "team": "sales"})

	got := waitStatus(t, l.base, connected.ID, "completed", 20*time.Second)
	if got.Attempts[0].Outcome != "connected" || got.Attempts[0].Customer == nil || got.Attempts[0].Customer.Code != 200 {
		t.Errorf("connected callback: %+v", got.Attempts)
	}
	checkEventLog(t, connected.ID, events(t, l.base, connected.ID))
	// Audio crossed both ways (SIPp echoes the rep's leg; the relay counts).
	if m := scrape(t, l.base); m[`callbackd_relay_packets_total{direction="rep_to_customer"}`] == 0 ||
		m[`callbackd_relay_packets_total{direction="customer_to_rep"}`] == 0 {
		t.Errorf("relay counters %v, want both directions above 0", m)
	}

	for _, id := range []string{busyCB.ID, missed.ID} {
		waitCallback(t, l.base, id, 20*time.Second, "waiting for its retry", func(c cbView) bool {
			return c.Status == "scheduled" && c.AttemptCount == 1
		})
	}
	if c := getCallback(t, l.base, missed.ID); c.Outcome != "customer_no_answer" {
		t.Errorf("no-answer outcome %q", c.Outcome)
	}
	clk.Advance(10*time.Minute + time.Second)
	last := waitStatus(t, l.base, busyCB.ID, "failed", 20*time.Second)
	if last.AttemptCount != 2 || last.Reason != schedule.ReasonMaxAttempts || last.Outcome != "customer_busy" {
		t.Errorf("busy callback: %+v", last)
	}
	checkEventLog(t, busyCB.ID, events(t, l.base, busyCB.ID))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if code, err := busy.Wait(ctx); err != nil || code != 0 {
		t.Errorf("SIPp (busy) exit %d %v: want both INVITEs seen and ACKed", code, err)
	}
	waitStatus(t, l.base, missed.ID, "failed", 20*time.Second)
}

// scrape reads /metrics into name{labels} -> value.
func scrape(t *testing.T, base string) map[string]float64 { return scrapeTB(t, base) }

func scrapeTB(t testing.TB, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m
}
