package schedule

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Window is when a team takes calls: weekly ranges of local wall-clock time
// in an IANA zone, minus closed dates.
//
// The zero Window is always open; a callback without a team has no hours.
// Any other Window must pass [Window.Validate] (which [ParseWindow] and
// UnmarshalJSON apply), so it has at least one open range and Next ends.
//
// Wall-clock times are turned into instants by one rule: a range boundary
// (opening or closing) is the first instant at which the zone's clock
// shows that time or later on that date. On the day the clock springs
// forward, a boundary inside the skipped hour therefore falls at the end
// of the gap (02:30 in New York on 8 March 2026 is 03:00 EDT), and a range
// wholly inside the gap is closed that day. On the day it falls back, a
// boundary inside the repeated hour takes its first occurrence, so
// 01:00-01:30 is open for 30 real minutes, once, and a night shift
// 22:00-06:00 spanning the change is open for nine real hours without a
// break. The same rule covers Lord Howe's half-hour shift and zones that
// skip midnight. (Go's time.Date leaves the choice unspecified for
// nonexistent times, which is why the package does not rely on it.)
//
// A closed date closes the whole local calendar day, from its first
// instant to the next day's, including the part of the previous day's
// overnight range that runs into it: nobody is called on a holiday.
type Window struct {
	// Zone is where the hours and dates are read. Validate requires it
	// for any non-zero Window; Next and Open treat nil as UTC.
	Zone *time.Location
	// Week holds the ranges that start on each day, indexed by
	// time.Weekday (Sunday is 0). Ranges may overlap; they are united.
	Week [7][]Range
	// Closed are local dates on which the window is shut all day.
	Closed []Date
}

// Range is a span of local wall-clock time in minutes after midnight.
// End may be 1440 (24:00). An End at or before Start means the range runs
// past midnight into the next day: Fri 22:00-02:00 ends on Saturday.
type Range struct {
	Start, End int
}

const minutesPerDay = 24 * 60

// ErrNoOpening is returned by Window.Next when the window does not open
// within the search bound, which only an unvalidated window can cause.
var ErrNoOpening = errors.New("schedule: window never opens")

// ParseRange parses "HH:MM-HH:MM", e.g. "09:00-17:30" or "22:00-02:00".
// The end may be "24:00"; start and end may not be equal, since an empty
// range and a whole day are both likely typos (write "00:00-24:00").
func ParseRange(s string) (Range, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return Range{}, fmt.Errorf("range %q: want HH:MM-HH:MM", s)
	}
	start, err := parseClock(strings.TrimSpace(a))
	if err != nil {
		return Range{}, fmt.Errorf("range %q: start: %v", s, err)
	}
	end, err := parseClock(strings.TrimSpace(b))
	if err != nil {
		return Range{}, fmt.Errorf("range %q: end: %v", s, err)
	}
	r := Range{start, end}
	if err := r.check(); err != nil {
		return Range{}, fmt.Errorf("range %q: %v", s, err)
	}
	return r, nil
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	hh, err1 := strconv.ParseUint(h, 10, 8)
	mm, err2 := strconv.ParseUint(m, 10, 8)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	if hh > 24 || mm > 59 || hh == 24 && mm != 0 {
		return 0, fmt.Errorf("%q is not a time of day", s)
	}
	return int(hh*60 + mm), nil
}

func (r Range) check() error {
	switch {
	case r.Start < 0 || r.Start >= minutesPerDay:
		return fmt.Errorf("start %d minutes is outside the day", r.Start)
	case r.End < 0 || r.End > minutesPerDay:
		return fmt.Errorf("end %d minutes is outside the day", r.End)
	case r.Start == r.End:
		return errors.New("start and end are equal; use 00:00-24:00 for a whole day")
	}
	return nil
}

// overnight reports whether r runs into the next day.
func (r Range) overnight() bool { return r.End <= r.Start }

// String returns r as "HH:MM-HH:MM".
func (r Range) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", r.Start/60, r.Start%60, r.End/60, r.End%60)
}

// MarshalText implements encoding.TextMarshaler.
func (r Range) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Range) UnmarshalText(b []byte) error {
	v, err := ParseRange(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Date is a calendar date without a zone; a Window reads it in its own.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate parses "YYYY-MM-DD".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// DateOf returns the date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// String returns d as "YYYY-MM-DD".
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// MarshalText implements encoding.TextMarshaler.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Compare returns -1, 0 or +1 as d is before, equal to or after e.
func (d Date) Compare(e Date) int {
	switch {
	case d.Year != e.Year:
		return cmpInt(d.Year, e.Year)
	case d.Month != e.Month:
		return cmpInt(int(d.Month), int(e.Month))
	}
	return cmpInt(d.Day, e.Day)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// AddDays returns the date n days after d.
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, time.UTC))
}

// Weekday returns the day of the week of d.
func (d Date) Weekday() time.Weekday {
	return time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Weekday()
}

func (d Date) valid() bool {
	return d.Year >= 1 && d.Year <= 9999 && DateOf(time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC)) == d
}

// IsZero reports whether w is the zero Window, which is always open.
func (w Window) IsZero() bool {
	if w.Zone != nil || len(w.Closed) > 0 {
		return false
	}
	for _, rs := range w.Week {
		if len(rs) > 0 {
			return false
		}
	}
	return true
}

// Validate reports the first problem with w as a *FieldError naming the
// field as it appears in JSON. The zero Window is valid.
func (w Window) Validate() error {
	if w.IsZero() {
		return nil
	}
	if w.Zone == nil {
		return &FieldError{Field: "time_zone", Msg: "required"}
	}
	open := false
	for day, rs := range w.Week {
		for i, r := range rs {
			if err := r.check(); err != nil {
				return &FieldError{Field: fmt.Sprintf("hours.%s[%d]", dayKeys[day], i), Msg: err.Error()}
			}
			open = true
		}
	}
	if !open {
		// Without this a window could never open and Next would have
		// nothing to find.
		return &FieldError{Field: "hours", Msg: "no open hours; omit the window to allow any time"}
	}
	for i, d := range w.Closed {
		if !d.valid() {
			return &FieldError{Field: fmt.Sprintf("closed[%d]", i), Value: d.String(), Msg: "not a date"}
		}
	}
	return nil
}

func (w Window) loc() *time.Location {
	if w.Zone == nil {
		return time.UTC
	}
	return w.Zone
}

func (w Window) closed(d Date) bool { return slices.Contains(w.Closed, d) }

// Open reports whether w is open at t.
func (w Window) Open(t time.Time) bool {
	if w.IsZero() {
		return true
	}
	n, err := w.next(t, 1)
	return err == nil && n.Equal(t)
}

// Next returns t if w is open at t, and otherwise the first instant after
// t at which it opens, in t's location. It returns ErrNoOpening if the
// window does not open within four weeks after the later of t and its last
// closed date, which a validated window always does: each week has an open
// range, and only a closure or a range lost in a clock change removes one.
func (w Window) Next(t time.Time) (time.Time, error) {
	if w.IsZero() {
		return t, nil
	}
	last := DateOf(t.In(w.loc()))
	for _, d := range w.Closed {
		if d.Compare(last) > 0 {
			last = d
		}
	}
	days := 0
	for d := DateOf(t.In(w.loc())); d.Compare(last) < 0; d = d.AddDays(7) {
		days += 7
	}
	n, err := w.next(t, days+28)
	if err != nil {
		return time.Time{}, err
	}
	if n.Equal(t) {
		return t, nil
	}
	return n.In(t.Location()), nil
}

// next searches the ranges starting on each local date from the day before
// t's (whose overnight ranges may cover t) to days after it.
func (w Window) next(t time.Time, days int) (time.Time, error) {
	loc := w.loc()
	first := DateOf(t.In(loc)).AddDays(-1)
	var best time.Time
	found := false
	for k := 0; k <= days+1; k++ {
		d := first.AddDays(k)
		// Ranges of later dates start no earlier than the date does.
		if found && resolve(loc, d, 0).After(best) {
			break
		}
		for _, r := range w.Week[d.Weekday()] {
			end := r.End
			if r.overnight() {
				end += minutesPerDay
			}
			a, b := resolve(loc, d, r.Start), resolve(loc, d, end)
			x := a
			if t.After(x) {
				x = t
			}
			for x.Before(b) {
				xd := DateOf(x.In(loc))
				if !w.closed(xd) {
					if !found || x.Before(best) {
						best, found = x, true
					}
					break
				}
				x = resolve(loc, xd.AddDays(1), 0)
			}
		}
	}
	if !found {
		return time.Time{}, ErrNoOpening
	}
	return best, nil
}

// resolve returns the first instant at which loc's clock shows minute
// (after midnight; it may exceed a day) of date d or later. See Window.
func resolve(loc *time.Location, d Date, minute int) time.Time {
	t := time.Date(d.Year, d.Month, d.Day, 0, minute, 0, 0, loc)
	wall := time.Date(d.Year, d.Month, d.Day, 0, minute, 0, 0, time.UTC)
	// Every instant whose clock reads wall lies within a day of it, as
	// offsets stay within ±26 hours even in historical zones. With no
	// transition in that span, the one candidate is time.Date's answer.
	lo, hi := wall.Add(-26*time.Hour), wall.Add(26*time.Hour)
	if start, end := t.ZoneBounds(); (start.IsZero() || !start.After(lo)) && (end.IsZero() || end.After(hi)) {
		return t
	}
	// Walk the zone's periods from lo: in a period [u, e) with offset off
	// the clock first shows wall or later at max(u, wall-off), clipped to u
	// when the period began already past wall (the end of a gap).
	u := lo
	for {
		_, off := u.In(loc).Zone()
		_, e := u.In(loc).ZoneBounds()
		c := wall.Add(-time.Duration(off) * time.Second)
		if c.Before(u) {
			c = u
		}
		if e.IsZero() || c.Before(e) {
			return c.In(loc)
		}
		u = e
	}
}

// dayKeys are the JSON names of the days, indexed by time.Weekday.
var dayKeys = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseDay parses a day name: "mon", "Monday" and "MON" are all Monday.
func ParseDay(s string) (time.Weekday, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	for i, k := range dayKeys {
		full := strings.ToLower(time.Weekday(i).String())
		if l == k || l == full {
			return time.Weekday(i), nil
		}
	}
	return 0, fmt.Errorf("%q is not a day of the week", s)
}

// parseDays parses a key of the hours object: a day ("mon") or a span of
// days ("mon-fri", which may wrap: "fri-mon" is Friday to Monday).
func parseDays(s string) ([]time.Weekday, error) {
	a, b, span := strings.Cut(s, "-")
	from, err := ParseDay(a)
	if err != nil {
		return nil, err
	}
	if !span {
		return []time.Weekday{from}, nil
	}
	to, err := ParseDay(b)
	if err != nil {
		return nil, err
	}
	days := []time.Weekday{from}
	for d := from; d != to; {
		d = (d + 1) % 7
		days = append(days, d)
	}
	return days, nil
}

// WindowSpec is a Window as text, the way JSON and configuration files
// write it.
type WindowSpec struct {
	// TimeZone is an IANA zone name such as "Europe/London".
	TimeZone string `json:"time_zone"`
	// Hours maps a day ("mon"), or a span of days ("mon-fri"), to ranges
	// ("09:00-12:00", "13:00-17:30", "22:00-02:00"). Keys that cover the
	// same day add their ranges together.
	Hours map[string][]string `json:"hours"`
	// Closed lists local dates ("2026-12-25") on which nobody is called.
	Closed []string `json:"closed,omitempty"`
}

// ParseWindow parses and validates s. Errors are *FieldError naming the
// bad field ("time_zone", "hours.fri[1]", "closed[0]"). Closed dates are
// sorted and each day's ranges sorted by start, duplicates dropped.
func ParseWindow(s WindowSpec) (Window, error) {
	var w Window
	name := strings.TrimSpace(s.TimeZone)
	switch {
	case name == "":
		return Window{}, &FieldError{Field: "time_zone", Msg: "required"}
	case name == "Local":
		// The machine's zone would make a team's hours depend on where
		// the server runs.
		return Window{}, &FieldError{Field: "time_zone", Value: name, Msg: "not allowed; name an IANA zone such as Europe/London"}
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return Window{}, &FieldError{Field: "time_zone", Value: name, Msg: "unknown IANA time zone"}
	}
	w.Zone = loc
	keys := make([]string, 0, len(s.Hours))
	for k := range s.Hours {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the first error reported must not depend on map order
	for _, k := range keys {
		days, err := parseDays(k)
		if err != nil {
			return Window{}, &FieldError{Field: "hours." + k, Value: k, Msg: "not a day or span of days such as mon or mon-fri"}
		}
		for i, rs := range s.Hours[k] {
			r, err := ParseRange(rs)
			if err != nil {
				return Window{}, &FieldError{Field: fmt.Sprintf("hours.%s[%d]", k, i), Value: rs, Msg: strings.TrimPrefix(err.Error(), fmt.Sprintf("range %q: ", rs))}
			}
			for _, d := range days {
				w.Week[d] = append(w.Week[d], r)
			}
		}
	}
	for i, ds := range s.Closed {
		d, err := ParseDate(ds)
		if err != nil {
			return Window{}, &FieldError{Field: fmt.Sprintf("closed[%d]", i), Value: ds, Msg: "not a date as YYYY-MM-DD"}
		}
		w.Closed = append(w.Closed, d)
	}
	// Canonical order, so that a window reads back as it was stored
	// whichever keys its ranges came from.
	for d, rs := range w.Week {
		slices.SortFunc(rs, func(a, b Range) int {
			if a.Start != b.Start {
				return cmpInt(a.Start, b.Start)
			}
			return cmpInt(a.End, b.End)
		})
		w.Week[d] = slices.Compact(rs)
	}
	slices.SortFunc(w.Closed, Date.Compare)
	w.Closed = slices.Compact(w.Closed)
	if err := w.Validate(); err != nil {
		return Window{}, err
	}
	return w, nil
}

// Spec returns w as text; ParseWindow(w.Spec()) gives back w (with closed
// dates sorted).
func (w Window) Spec() WindowSpec {
	s := WindowSpec{TimeZone: w.loc().String(), Hours: map[string][]string{}}
	for d, rs := range w.Week {
		for _, r := range rs {
			s.Hours[dayKeys[d]] = append(s.Hours[dayKeys[d]], r.String())
		}
	}
	for _, d := range w.Closed {
		s.Closed = append(s.Closed, d.String())
	}
	return s
}
