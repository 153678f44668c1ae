package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestFakeClockTicker(t *testing.T) {
	t.Parallel()
	c := NewFakeClock(t0)
	tk := c.NewTicker(time.Second)
	recv := func() (time.Time, bool) {
		select {
		case v := <-tk.C():
			return v, true
		default:
			return time.Time{}, false
		}
	}
	c.Advance(999 * time.Millisecond)
	if _, ok := recv(); ok {
		t.Fatal("ticked before its period")
	}
	c.Advance(time.Millisecond)
	if v, ok := recv(); !ok || !v.Equal(t0.Add(time.Second)) {
		t.Fatalf("tick %v %v, want one at 1s", v, ok)
	}
	// A jump over many periods delivers one tick, like time.Ticker.
	c.Advance(10 * time.Second)
	c.Advance(500 * time.Millisecond)
	if _, ok := recv(); !ok {
		t.Fatal("no tick after a jump")
	}
	if _, ok := recv(); ok {
		t.Fatal("a jump delivered more than one tick")
	}
	c.Set(t0) // backwards: nothing
	if _, ok := recv(); ok || !c.Now().Equal(t0) {
		t.Fatal("moving back ticked or did not move")
	}
	tk.Stop()
	c.Advance(time.Hour)
	if _, ok := recv(); ok {
		t.Fatal("stopped ticker ticked")
	}
	if w := NewWheel(tick, t0); w.Tick() != tick {
		t.Fatal("Tick")
	}
}

func TestTextForms(t *testing.T) {
	t.Parallel()
	var r Range
	if err := r.UnmarshalText([]byte("22:00-02:00")); err != nil || r != (Range{1320, 120}) {
		t.Fatalf("Range: %v %v", r, err)
	}
	if err := r.UnmarshalText([]byte("22:00")); err == nil {
		t.Fatal("Range accepted 22:00")
	}
	var d Date
	if err := d.UnmarshalText([]byte("2026-12-25")); err != nil || d != (Date{2026, 12, 25}) || d.Weekday() != time.Friday {
		t.Fatalf("Date: %v %v", d, err)
	}
	if err := d.UnmarshalText([]byte("2026-13-01")); err == nil {
		t.Fatal("Date accepted month 13")
	}
	fe := &FieldError{Field: "hours.fri[1]", Value: "25:00-26:00", Msg: "not a time of day"}
	if got := fe.Error(); !strings.Contains(got, `hours.fri[1]: "25:00-26:00": not a time of day`) {
		t.Fatalf("FieldError: %s", got)
	}
	w := mustWindow(t, "Europe/Paris", map[string][]string{"mon-fri": {"09:00-17:00"}, "sat": {"10:00-12:00"}}, "2026-07-14")
	back, err := ParseWindow(w.Spec())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := w.MarshalJSON()
	b, _ := back.MarshalJSON()
	if string(a) != string(b) {
		t.Fatalf("Spec round trip: %s != %s", a, b)
	}
}
