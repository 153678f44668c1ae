package schedule

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func mustWindow(t testing.TB, zone string, hours map[string][]string, closed ...string) Window {
	t.Helper()
	w, err := ParseWindow(WindowSpec{TimeZone: zone, Hours: hours, Closed: closed})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseRange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Range
		err  string
	}{
		{in: "09:00-17:30", want: Range{540, 1050}},
		{in: "9:00-17:30", want: Range{540, 1050}},
		{in: "22:00-02:00", want: Range{1320, 120}},
		{in: "00:00-24:00", want: Range{0, 1440}},
		{in: "18:00-24:00", want: Range{1080, 1440}},
		{in: "22:00-00:00", want: Range{1320, 0}},
		{in: " 09:00 - 10:00", want: Range{540, 600}},
		{in: "09:00", err: "HH:MM-HH:MM"},
		{in: "9-17", err: "not HH:MM"},
		{in: "25:00-26:00", err: "not a time of day"},
		{in: "09:60-10:00", err: "not a time of day"},
		{in: "24:30-10:00", err: "not a time of day"},
		{in: "24:00-10:00", err: "outside the day"},
		{in: "09:00-09:00", err: "equal"},
		{in: "0900-1000", err: "not HH:MM"},
		{in: "-1:00-02:00", err: "not HH:MM"},
	} {
		got, err := ParseRange(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseRange(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseRange(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseWindowErrorsNameTheField(t *testing.T) {
	t.Parallel()
	ok := map[string][]string{"mon-fri": {"09:00-17:00"}}
	for _, tc := range []struct {
		name  string
		spec  WindowSpec
		field string
	}{
		{"no zone", WindowSpec{Hours: ok}, "time_zone"},
		{"unknown zone", WindowSpec{TimeZone: "Mars/Olympus", Hours: ok}, "time_zone"},
		{"local zone", WindowSpec{TimeZone: "Local", Hours: ok}, "time_zone"},
		{"bad day", WindowSpec{TimeZone: "UTC", Hours: map[string][]string{"mon": {"09:00-10:00"}, "funday": {"09:00-10:00"}}}, "hours.funday"},
		{"bad day span", WindowSpec{TimeZone: "UTC", Hours: map[string][]string{"mon-xyz": {"09:00-10:00"}}}, "hours.mon-xyz"},
		{"bad range", WindowSpec{TimeZone: "UTC", Hours: map[string][]string{"fri": {"09:00-12:00", "25:00-26:00"}}}, "hours.fri[1]"},
		{"no hours", WindowSpec{TimeZone: "UTC"}, "hours"},
		{"empty day lists", WindowSpec{TimeZone: "UTC", Hours: map[string][]string{"mon": {}}}, "hours"},
		{"bad date", WindowSpec{TimeZone: "UTC", Hours: ok, Closed: []string{"2026-12-25", "2026-02-30"}}, "closed[1]"},
		{"date format", WindowSpec{TimeZone: "UTC", Hours: ok, Closed: []string{"25.12.2026"}}, "closed[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWindow(tc.spec)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
			if fe.Field != tc.field {
				t.Fatalf("Field %q, want %q (%v)", fe.Field, tc.field, err)
			}
		})
	}
}

func TestWindowValidate(t *testing.T) {
	t.Parallel()
	if err := (Window{}).Validate(); err != nil {
		t.Fatalf("zero window: %v", err)
	}
	bad := []Window{
		{Week: [7][]Range{1: {{540, 600}}}},                  // no zone
		{Zone: time.UTC},                                     // no hours
		{Zone: time.UTC, Week: [7][]Range{1: {{540, 540}}}},  // empty range
		{Zone: time.UTC, Week: [7][]Range{1: {{-5, 600}}}},   // out of the day
		{Zone: time.UTC, Week: [7][]Range{1: {{540, 1441}}}}, // out of the day
		{Zone: time.UTC, Week: [7][]Range{1: {{540, 600}}}, Closed: []Date{{2026, 2, 29}}},
	}
	for i, w := range bad {
		if err := w.Validate(); err == nil {
			t.Errorf("case %d: Validate accepted %+v", i, w)
		}
	}
}

func TestParseDays(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]time.Weekday{
		"mon":     {time.Monday},
		"Sunday":  {time.Sunday},
		"MON-FRI": {1, 2, 3, 4, 5},
		"fri-mon": {5, 6, 0, 1},
		"sat-sun": {6, 0},
	} {
		got, err := parseDays(in)
		if err != nil || len(got) != len(want) {
			t.Errorf("parseDays(%q) = %v, %v; want %v", in, got, err, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("parseDays(%q) = %v; want %v", in, got, want)
			}
		}
	}
}

// check is one Open/Next expectation.
type check struct {
	at   string // RFC 3339
	open bool
	next string // expected Next(at); "" means at itself
}

func runChecks(t *testing.T, w Window, checks []check) {
	t.Helper()
	for _, c := range checks {
		at := utc(c.at)
		if got := w.Open(at); got != c.open {
			t.Errorf("Open(%s = %s) = %v, want %v", c.at, at.In(w.loc()).Format("Mon 15:04 MST"), got, c.open)
		}
		want := at
		if c.next != "" {
			want = utc(c.next)
		}
		got, err := w.Next(at)
		if err != nil || !got.Equal(want) {
			t.Errorf("Next(%s = %s) = %v (%s), %v; want %v (%s)", c.at, at.In(w.loc()).Format("Mon 15:04 MST"),
				got.UTC(), got.In(w.loc()).Format("Mon 02 15:04 MST"), err, want.UTC(), want.In(w.loc()).Format("Mon 02 15:04 MST"))
		}
		if c.open != (c.next == "") {
			t.Fatalf("bad test case %+v", c)
		}
	}
}

func TestWindowWeekly(t *testing.T) {
	t.Parallel()
	w := mustWindow(t, "Europe/Berlin", map[string][]string{
		"mon-fri": {"09:00-12:00", "13:00-17:30"},
		"fri":     {"22:00-02:00"},
		"sat":     {"01:00-03:00"},
	})
	// January: Berlin is UTC+1.
	runChecks(t, w, []check{
		{at: "2026-01-05T07:59:00Z", next: "2026-01-05T08:00:00Z"}, // Mon 08:59
		{at: "2026-01-05T08:00:00Z", open: true},                   // Mon 09:00
		{at: "2026-01-05T10:59:59Z", open: true},
		{at: "2026-01-05T11:00:00Z", next: "2026-01-05T12:00:00Z"}, // lunch
		{at: "2026-01-05T16:30:00Z", next: "2026-01-06T08:00:00Z"}, // Mon 17:30 closes
		{at: "2026-01-09T20:59:00Z", next: "2026-01-09T21:00:00Z"}, // Fri 21:59
		{at: "2026-01-09T23:30:00Z", open: true},                   // Sat 00:30, Friday's range
		{at: "2026-01-10T00:30:00Z", open: true},                   // Sat 01:30, both ranges
		{at: "2026-01-10T01:30:00Z", open: true},                   // Sat 02:30, Saturday's
		{at: "2026-01-10T02:00:00Z", next: "2026-01-12T08:00:00Z"}, // Sat 03:00 until Monday
		{at: "2026-01-11T12:00:00Z", next: "2026-01-12T08:00:00Z"}, // Sunday
	})
}

func TestWindowNextKeepsCallersLocationAndValue(t *testing.T) {
	t.Parallel()
	w := mustWindow(t, "Asia/Tokyo", map[string][]string{"mon-sun": {"09:00-17:00"}})
	at := time.Now()
	at = time.Date(2026, 6, 1, 3, 0, 0, 0, time.UTC).Add(at.Sub(at.Round(0))) // keep a monotonic reading
	got, _ := w.Next(at)
	if got != at {
		t.Fatalf("Next of an open instant changed it: %v != %v", got, at)
	}
	ny, _ := time.LoadLocation("America/New_York")
	got, _ = w.Next(time.Date(2026, 6, 1, 12, 0, 0, 0, ny))
	if got.Location() != ny || !got.Equal(utc("2026-06-02T00:00:00Z")) {
		t.Fatalf("Next = %v, want 09:00 Tokyo in New York time", got)
	}
}

func TestWindowClosedDates(t *testing.T) {
	t.Parallel()
	w := mustWindow(t, "Europe/London", map[string][]string{
		"mon-fri": {"09:00-17:00"},
		"thu":     {"22:00-02:00"},
	}, "2026-12-25", "2026-12-28", "2026-12-25")
	if len(w.Closed) != 2 {
		t.Fatalf("duplicate closed date kept: %v", w.Closed)
	}
	runChecks(t, w, []check{
		// Thu 24 Dec: open in the day and until midnight on its night
		// range; Friday is a holiday, so the night range stops at 00:00.
		{at: "2026-12-24T10:00:00Z", open: true},
		{at: "2026-12-24T23:59:00Z", open: true},
		{at: "2026-12-25T00:30:00Z", next: "2026-12-29T09:00:00Z"}, // Mon 28 closed too
		{at: "2026-12-25T12:00:00Z", next: "2026-12-29T09:00:00Z"},
		// The next week's Thursday night runs into a normal Friday.
		{at: "2026-12-31T22:30:00Z", open: true},
		{at: "2027-01-01T01:30:00Z", open: true},
	})
}

func TestWindowWholeDaysAreContinuousAcrossClockChanges(t *testing.T) {
	t.Parallel()
	for _, zone := range []string{"America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Apia", "America/Santiago"} {
		w := mustWindow(t, zone, map[string][]string{"mon-sun": {"00:00-24:00"}})
		for at := utc("2026-01-01T00:00:00Z"); at.Year() == 2026; at = at.Add(7 * time.Minute) {
			if !w.Open(at) {
				t.Fatalf("%s: 00:00-24:00 every day is closed at %v", zone, at.In(w.Zone))
			}
		}
	}
}

func TestWindowDSTNewYork(t *testing.T) {
	t.Parallel()
	t.Run("spring forward, range starts in the gap", func(t *testing.T) {
		t.Parallel()
		// 8 March 2026: 02:00 EST becomes 03:00 EDT. 02:30 does not exist;
		// the range opens when the clock first reads 02:30 or later.
		w := mustWindow(t, "America/New_York", map[string][]string{"sun": {"02:30-05:00"}})
		runChecks(t, w, []check{
			{at: "2026-03-08T06:59:59Z", next: "2026-03-08T07:00:00Z"}, // 01:59:59 EST
			{at: "2026-03-08T07:00:00Z", open: true},                   // 03:00 EDT
			{at: "2026-03-08T08:59:59Z", open: true},
			{at: "2026-03-08T09:00:00Z", next: "2026-03-15T06:30:00Z"}, // 05:00 EDT; next Sunday 02:30 EDT
		})
	})
	t.Run("spring forward, range wholly in the gap", func(t *testing.T) {
		t.Parallel()
		w := mustWindow(t, "America/New_York", map[string][]string{"sun": {"02:00-02:45"}})
		runChecks(t, w, []check{
			{at: "2026-03-01T07:10:00Z", open: true},                   // 02:10 EST a week before
			{at: "2026-03-08T05:00:00Z", next: "2026-03-15T06:00:00Z"}, // skipped that day
		})
	})
	t.Run("spring forward, range ends in the gap", func(t *testing.T) {
		t.Parallel()
		w := mustWindow(t, "America/New_York", map[string][]string{"sun": {"01:00-02:30"}})
		runChecks(t, w, []check{
			{at: "2026-03-08T06:00:00Z", open: true},                   // 01:00 EST
			{at: "2026-03-08T06:59:00Z", open: true},                   // 01:59 EST
			{at: "2026-03-08T07:00:00Z", next: "2026-03-15T05:00:00Z"}, // 03:00 EDT: closed
		})
	})
	t.Run("spring forward, night shift", func(t *testing.T) {
		t.Parallel()
		w := mustWindow(t, "America/New_York", map[string][]string{"sat": {"22:00-06:00"}})
		runChecks(t, w, []check{
			{at: "2026-03-08T03:00:00Z", open: true},                   // Sat 22:00 EST
			{at: "2026-03-08T09:59:00Z", open: true},                   // Sun 05:59 EDT
			{at: "2026-03-08T10:00:00Z", next: "2026-03-15T02:00:00Z"}, // 06:00 EDT: 7 real hours
		})
	})
	t.Run("fall back, range starts in the repeated hour", func(t *testing.T) {
		t.Parallel()
		// 1 November 2026: 02:00 EDT becomes 01:00 EST; 01:00-02:00 happens
		// twice. 01:30 means its first occurrence, and the range then runs
		// without a break through the repeat.
		w := mustWindow(t, "America/New_York", map[string][]string{"sun": {"01:30-03:00"}})
		runChecks(t, w, []check{
			{at: "2026-11-01T05:29:00Z", next: "2026-11-01T05:30:00Z"}, // 01:29 EDT
			{at: "2026-11-01T05:30:00Z", open: true},                   // 01:30 EDT
			{at: "2026-11-01T06:15:00Z", open: true},                   // 01:15 EST, the repeat
			{at: "2026-11-01T07:59:00Z", open: true},                   // 02:59 EST
			{at: "2026-11-01T08:00:00Z", next: "2026-11-08T06:30:00Z"}, // 03:00 EST
		})
	})
	t.Run("fall back, range ends in the repeated hour", func(t *testing.T) {
		t.Parallel()
		// Closes at the first 01:30 and stays closed when the clock reads
		// 01:00-01:30 again: the range is open once, not twice.
		w := mustWindow(t, "America/New_York", map[string][]string{"sun": {"00:00-01:30"}})
		runChecks(t, w, []check{
			{at: "2026-11-01T04:00:00Z", open: true},                   // 00:00 EDT
			{at: "2026-11-01T05:29:00Z", open: true},                   // 01:29 EDT
			{at: "2026-11-01T05:30:00Z", next: "2026-11-08T05:00:00Z"}, // 01:30 EDT
			{at: "2026-11-01T06:10:00Z", next: "2026-11-08T05:00:00Z"}, // 01:10 EST
		})
	})
	t.Run("fall back, night shift", func(t *testing.T) {
		t.Parallel()
		w := mustWindow(t, "America/New_York", map[string][]string{"sat": {"22:00-06:00"}})
		runChecks(t, w, []check{
			{at: "2026-11-01T02:00:00Z", open: true},                   // Sat 22:00 EDT
			{at: "2026-11-01T10:59:00Z", open: true},                   // Sun 05:59 EST
			{at: "2026-11-01T11:00:00Z", next: "2026-11-08T03:00:00Z"}, // 06:00 EST: 9 real hours
		})
	})
}

func TestWindowDSTLondon(t *testing.T) {
	t.Parallel()
	// 29 March 2026: 01:00 GMT becomes 02:00 BST. 25 October 2026: 02:00
	// BST becomes 01:00 GMT.
	w := mustWindow(t, "Europe/London", map[string][]string{"sun": {"01:30-03:00"}})
	runChecks(t, w, []check{
		{at: "2026-03-29T00:59:00Z", next: "2026-03-29T01:00:00Z"}, // 00:59 GMT → 02:00 BST
		{at: "2026-03-29T01:59:00Z", open: true},                   // 02:59 BST
		{at: "2026-03-29T02:00:00Z", next: "2026-04-05T00:30:00Z"}, // 03:00 BST
		{at: "2026-10-25T00:29:00Z", next: "2026-10-25T00:30:00Z"}, // 01:29 BST
		{at: "2026-10-25T01:10:00Z", open: true},                   // 01:10 GMT, repeat
		{at: "2026-10-25T02:59:00Z", open: true},                   // 02:59 GMT
		{at: "2026-10-25T03:00:00Z", next: "2026-11-01T01:30:00Z"},
	})
	// Monday to Friday office hours are untouched by a Sunday change.
	office := mustWindow(t, "Europe/London", map[string][]string{"mon-fri": {"09:00-17:30"}})
	runChecks(t, office, []check{
		{at: "2026-03-27T17:30:00Z", next: "2026-03-30T08:00:00Z"}, // Fri 17:30 GMT → Mon 09:00 BST
		{at: "2026-10-23T16:30:00Z", next: "2026-10-26T09:00:00Z"}, // Fri 17:30 BST → Mon 09:00 GMT
	})
}

func TestWindowDSTLordHowe(t *testing.T) {
	t.Parallel()
	// Lord Howe shifts by 30 minutes at 02:00: on 4 October 2026 02:00
	// +10:30 becomes 02:30 +11; on 5 April 2026 02:00 +11 becomes 01:30
	// +10:30.
	t.Run("spring forward", func(t *testing.T) {
		t.Parallel()
		w := mustWindow(t, "Australia/Lord_Howe", map[string][]string{"sun": {"02:15-04:00"}})
		runChecks(t, w, []check{
			{at: "2026-10-03T15:29:00Z", next: "2026-10-03T15:30:00Z"}, // 01:59 +10:30 → 02:30 +11
			{at: "2026-10-03T15:30:00Z", open: true},
			{at: "2026-10-03T17:00:00Z", next: "2026-10-10T15:15:00Z"}, // 04:00 +11
		})
		gap := mustWindow(t, "Australia/Lord_Howe", map[string][]string{"sun": {"02:00-02:30"}})
		runChecks(t, gap, []check{
			{at: "2026-10-03T15:00:00Z", next: "2026-10-10T15:00:00Z"}, // 01:30 +10:30; range lost that day
		})
	})
	t.Run("fall back", func(t *testing.T) {
		t.Parallel()
		w := mustWindow(t, "Australia/Lord_Howe", map[string][]string{"sun": {"01:45-03:00"}})
		runChecks(t, w, []check{
			{at: "2026-04-04T14:44:00Z", next: "2026-04-04T14:45:00Z"}, // 01:44 +11
			{at: "2026-04-04T14:45:00Z", open: true},                   // first 01:45
			{at: "2026-04-04T15:10:00Z", open: true},                   // 01:40 +10:30, the repeat
			{at: "2026-04-04T16:29:00Z", open: true},                   // 02:59 +10:30
			{at: "2026-04-04T16:30:00Z", next: "2026-04-11T15:15:00Z"}, // 03:00 +10:30
		})
		ends := mustWindow(t, "Australia/Lord_Howe", map[string][]string{"sun": {"00:00-01:45"}})
		runChecks(t, ends, []check{
			{at: "2026-04-04T14:44:00Z", open: true},
			{at: "2026-04-04T14:45:00Z", next: "2026-04-11T13:30:00Z"},
			{at: "2026-04-04T15:05:00Z", next: "2026-04-11T13:30:00Z"}, // 01:35 +10:30, repeat: closed
		})
	})
}

// TestWindowNextAgreesWithOpen checks Next against a walk over Open, minute
// by minute, for random windows in zones with clock changes.
func TestWindowNextAgreesWithOpen(t *testing.T) {
	t.Parallel()
	zones := []string{"America/New_York", "Europe/London", "Australia/Lord_Howe", "UTC"}
	rng := rand.New(rand.NewPCG(3, 3))
	clock := func() string {
		m := rng.IntN(96) * 15
		return time.Date(0, 1, 1, 0, m, 0, 0, time.UTC).Format("15:04")
	}
	for i := range 60 {
		hours := map[string][]string{}
		for range 1 + rng.IntN(4) {
			a, b := clock(), clock()
			if a == b {
				continue
			}
			d := dayKeys[rng.IntN(7)]
			hours[d] = append(hours[d], a+"-"+b)
		}
		if len(hours) == 0 {
			continue
		}
		zone := zones[i%len(zones)]
		var closed []string
		if rng.IntN(2) == 0 {
			closed = append(closed, "2026-03-08", "2026-11-02", "2026-10-04")
		}
		w := mustWindow(t, zone, hours, closed...)
		// Starts near the clock changes of each zone.
		for _, s := range []string{"2026-03-07T00:00:00Z", "2026-03-28T00:00:00Z", "2026-10-24T00:00:00Z", "2026-10-31T00:00:00Z", "2026-04-03T00:00:00Z", "2026-10-02T00:00:00Z"} {
			at := utc(s).Add(time.Duration(rng.IntN(48*60)) * time.Minute)
			n, err := w.Next(at)
			if err != nil {
				t.Fatalf("%s %v: Next(%v): %v", zone, hours, at, err)
			}
			if !w.Open(n) {
				t.Fatalf("%s %v: Next(%v) = %v, which is not open", zone, hours, at, n)
			}
			for m := at; m.Before(n); m = m.Add(time.Minute) {
				if w.Open(m) {
					t.Fatalf("%s %v closed %v: Next(%v) = %v but open at %v (%s)", zone, hours, closed, at, n.In(w.Zone), m, m.In(w.Zone))
				}
			}
			if n.After(at) && w.Open(n.Add(-time.Nanosecond)) {
				t.Fatalf("%s %v: open just before Next(%v) = %v", zone, hours, at, n)
			}
		}
	}
}

func TestWindowZeroIsAlwaysOpen(t *testing.T) {
	t.Parallel()
	var w Window
	at := utc("2026-12-25T03:00:00Z")
	if n, err := w.Next(at); err != nil || n != at || !w.Open(at) {
		t.Fatalf("zero window: Next %v, %v; Open %v", n, err, w.Open(at))
	}
}

func TestWindowNeverOpensIsBounded(t *testing.T) {
	t.Parallel()
	// Unvalidated: a zone but no hours. Next must give up, not spin.
	w := Window{Zone: time.UTC, Closed: []Date{{2026, 1, 1}}}
	if _, err := w.Next(utc("2026-01-01T00:00:00Z")); !errors.Is(err, ErrNoOpening) {
		t.Fatalf("Next = %v, want ErrNoOpening", err)
	}
	// Every Monday for two years closed: Next must still find the
	// Monday after, beyond any fixed one-year bound.
	var closed []string
	for d := (Date{2026, 1, 5}); d.Year < 2028; d = d.AddDays(7) {
		closed = append(closed, d.String())
	}
	mon := mustWindow(t, "UTC", map[string][]string{"mon": {"09:00-10:00"}}, closed...)
	if n, err := mon.Next(utc("2026-01-01T00:00:00Z")); err != nil || !n.Equal(utc("2028-01-03T09:00:00Z")) {
		t.Fatalf("Next = %v, %v", n, err)
	}
}

func TestWindowJSON(t *testing.T) {
	t.Parallel()
	in := `{"time_zone":"America/New_York","hours":{"mon-fri":["09:00-17:30"],"fri":["22:00-02:00"]},"closed":["2026-12-25","2026-07-03"]}`
	var w Window
	if err := json.Unmarshal([]byte(in), &w); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"time_zone":"America/New_York","hours":{"mon":["09:00-17:30"],"tue":["09:00-17:30"],"wed":["09:00-17:30"],"thu":["09:00-17:30"],"fri":["09:00-17:30","22:00-02:00"]},"closed":["2026-07-03","2026-12-25"]}`
	if string(out) != want {
		t.Fatalf("Marshal:\n got %s\nwant %s", out, want)
	}
	var back Window
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(back)
	if string(again) != want {
		t.Fatalf("round trip changed it: %s", again)
	}

	zero, _ := json.Marshal(Window{})
	if string(zero) != "null" {
		t.Fatalf("zero window marshals as %s", zero)
	}
	keep := w
	if err := json.Unmarshal([]byte("null"), &keep); err != nil || keep.Zone != w.Zone {
		t.Fatalf("null changed the window: %v", err)
	}
}

func TestWindowJSONErrorsCarryThePath(t *testing.T) {
	t.Parallel()
	type team struct {
		Name   string `json:"name"`
		Window Window `json:"window"`
	}
	for _, tc := range []struct {
		body  string
		field string
	}{
		{`{"window":{"time_zone":"UTC","hours":{"fri":["09:00-12:00","25:00-26:00"]}}}`, "window.hours.fri[1]"},
		{`{"window":{"time_zone":"Nowhere/Land","hours":{"fri":["09:00-12:00"]}}}`, "window.time_zone"},
		{`{"window":{"time_zone":"UTC","hours":{"fri":["09:00-12:00"]},"colsed":[]}}`, "window.colsed"},
		// encoding/json does not name map keys in the path of a type error.
		{`{"window":{"time_zone":"UTC","hours":{"fri":"09:00-12:00"}}}`, "window.hours"},
		{`{"window":{"time_zone":"UTC","hours":{}}}`, "window.hours"},
		{`{"window":{"time_zone":"UTC","hours":{"fri":["09:00-12:00"]},"closed":["tomorrow"]}}`, "window.closed[0]"},
	} {
		var v team
		err := json.Unmarshal([]byte(tc.body), &v)
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			t.Errorf("%s: error %v (%T) is not a *json.UnmarshalTypeError", tc.body, err, err)
			continue
		}
		if te.Field != tc.field {
			t.Errorf("%s: Field %q, want %q (%v)", tc.body, te.Field, tc.field, err)
		}
	}
}
