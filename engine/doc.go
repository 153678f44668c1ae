// Package engine runs the life of a callback: it validates and stores a
// request, keeps every pending callback on a timer wheel, queues the due ones
// per trunk under the trunk's call limits, runs each attempt through a Dialer
// and records what happened, then retries, completes or fails the callback
// by its policy.
//
// The store is the truth. Every state change and its event are written in
// one transaction before the action they record takes place (the attempt is
// in_progress in the store before the first INVITE), so after a crash the
// store says which attempts may have dialled: Start records those as
// "interrupted" and lets the policy retry them. The in-memory wheel and
// queues are only an index of the store's pending callbacks and are rebuilt
// from it by Start.
//
// Triggers turn an application's events into callbacks: FireTrigger
// evaluates a trigger's compiled spec on an event and creates the callback
// it maps to through Create's path, deduplicated per customer in the
// transaction that creates it.
//
// The engine knows nothing of HTTP, bbolt or SIP: it depends on the small
// Store and Dialer interfaces so it can be tested with a fake dialer and a
// fake clock.
package engine
