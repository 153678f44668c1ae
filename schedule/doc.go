// Package schedule decides when things happen; it knows nothing about calls
// or storage, so the engine can test its timing with a fake clock and no
// network.
//
// It has three parts:
//
//   - [Wheel], a hierarchical timer wheel. It holds every pending deadline of
//     the process, from a 30-second ring timeout to a callback weeks away, at
//     32 bytes per timer, with O(1) Add and Cancel. The wheel stores a uint64
//     id per timer rather than a closure, because a million closures would
//     cost more than the wheel itself; the owner maps ids to its own state.
//     It has no clock of its own: [Wheel.Advance] fires what is due at the
//     time it is given, so a fake clock drives it in tests and [Wheel.Run]
//     drives it from a real ticker in production.
//
//   - [Window], a team's business hours: an IANA time zone, weekly ranges of
//     local wall-clock time (ranges may run past midnight) and closed dates.
//     [Window.Next] answers "when may a callback start at or after t?",
//     with defined behaviour on days when the clock jumps forward or back.
//
//   - [Policy], the retry policy: how many attempts, how long to wait between
//     them (a list of intervals or exponential backoff with jitter), a
//     deadline, and which outcomes deserve another try. [Policy.Next] combines
//     it with a Window into one [Decision].
//
// Policy and Window marshal to the JSON the REST API exposes (snake_case
// names, durations as Go duration strings such as "2m", dates as
// "2026-12-25", ranges as "09:00-17:30").
package schedule

// The zone database is compiled in (about 450 kB) so that windows work on a
// bare machine or a scratch container without /usr/share/zoneinfo, and so
// every installation computes the same hours from the same rules.
import _ "time/tzdata"
