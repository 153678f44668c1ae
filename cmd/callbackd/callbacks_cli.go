package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callbackd/callbackd/client"
)

var createCommand = command{
	name:    "create",
	summary: "ask a running server for a callback",
	usage:   createUsage,
	run:     runCreate,
}

const createUsage = `usage: callbackd create --customer NUMBER (--team ID | --rep NUMBER) [flags]

Asks the server for a callback (POST /v1/callbacks) and prints it: its ID
and status, "scheduled" or, when it was due now and the trunk had room,
already "in_progress". Follow it with "callbackd events --follow ID".

Flags:
  --customer NUMBER      the customer's number: E.164, or national with --country (required)
  --name NAME            the customer's name
  --country CC           the country of a national --customer number, e.g. GB
  --team ID              the team whose reps take the call
  --rep NUMBER           the rep's number, instead of a team
  --at TIME              when, in RFC 3339 such as 2026-06-10T14:00:00Z (default: now)
  --in DURATION          when, from now, such as 30m (instead of --at)
  --max-attempts N       attempts at most, the first included
  --interval D           the wait after an attempt; repeat for the next ones (the last repeats)
  --webhook-url URL      where to POST this callback's events
  --meta KEY=VALUE       metadata; repeat for more
  --idempotency-key KEY  the request's Idempotency-Key (default: a new random one): the
                         same key and flags again within 24 hours create nothing new
` + remoteFlagsHelp

var runCreate = apiCommand("create", createUsage, nil, func(fs *flag.FlagSet) apiAction {
	var in client.CallbackCreate
	fs.StringVar(&in.Customer.Number, "customer", "", "")
	fs.StringVar(&in.Customer.Name, "name", "", "")
	fs.StringVar(&in.Customer.Country, "country", "", "")
	fs.StringVar(&in.Team, "team", "", "")
	fs.StringVar(&in.RepNumber, "rep", "", "")
	fs.StringVar(&in.WebhookURL, "webhook-url", "", "")
	at := fs.String("at", "", "")
	after := fs.Duration("in", 0, "")
	maxAttempts := fs.Int("max-attempts", 0, "")
	var intervals, meta numberList
	fs.Var(&intervals, "interval", "")
	fs.Var(&meta, "meta", "")
	idemKey := fs.String("idempotency-key", "", "")
	check := func([]string) error {
		switch {
		case in.Customer.Number == "":
			return badUsage("missing --customer NUMBER")
		case (in.Team == "") == (in.RepNumber == ""):
			return badUsage("give one of --team ID and --rep NUMBER")
		case *at != "" && *after != 0:
			return badUsage("give --at or --in, not both")
		case *after < 0:
			return badUsage("--in %v: must not be negative", *after)
		}
		if *at != "" {
			t, err := parseTime("at", *at)
			if err != nil {
				return err
			}
			in.ScheduledAt = t
		} else if *after > 0 {
			in.ScheduledAt = time.Now().Add(*after)
		}
		if *maxAttempts != 0 || len(intervals) > 0 {
			in.Retry = &client.RetryPolicy{MaxAttempts: *maxAttempts}
			for _, s := range intervals {
				d, err := time.ParseDuration(s)
				if err != nil || d <= 0 {
					return badUsage("--interval %q: not a duration such as 5m", s)
				}
				in.Retry.Intervals = append(in.Retry.Intervals, client.Duration(d))
			}
		}
		for _, kv := range meta {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return badUsage("--meta %q: want KEY=VALUE", kv)
			}
			if in.Metadata == nil {
				in.Metadata = map[string]string{}
			}
			in.Metadata[k] = v
		}
		return nil
	}
	return apiAction{check: check, run: func(ctx context.Context, c *client.Client, _ []string, out output) error {
		var opts []client.RequestOption
		if *idemKey != "" {
			opts = append(opts, client.IdempotencyKey(*idemKey))
		}
		cb, err := c.Callbacks.Create(ctx, &in, opts...)
		if err != nil {
			return err
		}
		emit(out, cb, showCallback)
		return nil
	}}
})

// parseTime reads the RFC 3339 time of flag name.
func parseTime(name, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return t, badUsage("--%s %q: not an RFC 3339 time such as 2026-06-10T14:00:00Z", name, v)
	}
	return t, nil
}

var getCommand = command{
	name:    "get",
	summary: "show a callback with its attempts",
	usage:   getUsage,
	run: apiVerb("get", getUsage, []string{"ID"}, func(ctx context.Context, c *client.Client, pos []string) (*client.Callback, error) {
		return c.Callbacks.Get(ctx, pos[0])
	}, showCallback),
}

const getUsage = `usage: callbackd get ID [flags]

Prints the callback and each of its attempts (GET /v1/callbacks/{id}).

Flags:
` + remoteFlagsHelp

var cancelCommand = command{
	name:    "cancel",
	summary: "cancel a callback; a call in progress is hung up",
	usage:   cancelUsage,
	run: apiVerb("cancel", cancelUsage, []string{"ID"}, func(ctx context.Context, c *client.Client, pos []string) (*client.Callback, error) {
		return c.Callbacks.Cancel(ctx, pos[0])
	}, showCallback),
}

const cancelUsage = `usage: callbackd cancel ID [flags]

Cancels the callback (POST /v1/callbacks/{id}/cancel) and prints it. One
that has already finished cannot be canceled (exit status 1).

Flags:
` + remoteFlagsHelp

// showCallback prints a callback as "key value" lines and its attempts
// as a table.
func showCallback(w io.Writer, cb *client.Callback) {
	t := newTable(w, "id", cb.ID)
	kv := func(k, v string) {
		if v != "" {
			t.row(k, v)
		}
	}
	kv("status", string(cb.Status))
	kv("customer", strings.TrimSpace(cb.Customer.Number+" "+cb.Customer.Name))
	kv("team", cb.Team)
	kv("rep", cb.RepNumber)
	if !cb.ScheduledAt.IsZero() {
		kv("scheduled at", when(cb.ScheduledAt))
	}
	if !cb.NextAttemptAt.IsZero() {
		kv("next attempt", when(cb.NextAttemptAt))
	}
	kv("attempts", fmt.Sprintf("%d of %d", cb.AttemptCount, cb.Retry.MaxAttempts))
	kv("outcome", cb.Outcome)
	kv("reason", cb.Reason)
	if cb.Window != nil {
		kv("window", cb.Window.TimeZone)
	}
	kv("webhook url", cb.WebhookURL)
	for _, k := range slices.Sorted(maps.Keys(cb.Metadata)) {
		kv("metadata", k+"="+cb.Metadata[k])
	}
	kv("created", when(cb.CreatedAt))
	kv("updated", when(cb.UpdatedAt))
	t.flush()
	if len(cb.Attempts) == 0 {
		return
	}
	fmt.Fprintln(w)
	t = newTable(w, "ATTEMPT", "STARTED", "OUTCOME", "SIP", "REP", "CUSTOMER", "TALK")
	for _, a := range cb.Attempts {
		rep := "-"
		if len(a.Reps) > 0 {
			rep = legSummary(&a.Reps[len(a.Reps)-1])
		}
		talk := "-"
		if a.TalkSeconds > 0 {
			talk = fmt.Sprintf("%.1fs", a.TalkSeconds)
		}
		t.row(strconv.Itoa(a.Number), when(a.StartedAt), orDash(a.Outcome), orDash(status(a.SIPCode, a.SIPReason)),
			rep, legSummary(a.Customer), talk)
	}
	t.flush()
}

// legSummary is "+15550000002 answered 200".
func legSummary(l *client.Leg) string {
	if l == nil {
		return "-"
	}
	return strings.Join(strings.Fields(l.Number+" "+l.Outcome+" "+status(l.SIPCode, "")), " ")
}

var listCommand = command{
	name:    "list",
	summary: "list callbacks, newest first",
	usage:   listUsage,
	run:     runList,
}

const listUsage = `usage: callbackd list [flags]

Lists callbacks, newest first (GET /v1/callbacks): one page of --limit, or
every page with --all. After a page with more behind it, the text output
says how to ask for the next one; --json prints {"data": [...], "has_more": BOOL}.

Flags:
  --status STATUS        scheduled, in_progress, completed, failed or canceled
  --team ID              the team's callbacks
  --customer NUMBER      the customer's (E.164)
  --created-gte TIME     created at or after (RFC 3339)
  --created-lt TIME      created before (RFC 3339)
  --limit N              callbacks per page, 1 to 100 (default 20)
  --starting-after ID    the page after this callback
  --all                  every page
` + remoteFlagsHelp

var runList = apiCommand("list", listUsage, nil, func(fs *flag.FlagSet) apiAction {
	var p client.ListParams
	status := fs.String("status", "", "")
	fs.StringVar(&p.Team, "team", "", "")
	fs.StringVar(&p.Customer, "customer", "", "")
	gte := fs.String("created-gte", "", "")
	lt := fs.String("created-lt", "", "")
	fs.IntVar(&p.Limit, "limit", 20, "")
	fs.StringVar(&p.StartingAfter, "starting-after", "", "")
	all := fs.Bool("all", false, "")
	check := func([]string) (err error) {
		p.Status = client.Status(*status)
		if *gte != "" {
			if p.CreatedGTE, err = parseTime("created-gte", *gte); err != nil {
				return err
			}
		}
		if *lt != "" {
			if p.CreatedLT, err = parseTime("created-lt", *lt); err != nil {
				return err
			}
		}
		if p.Limit < 1 || p.Limit > 100 {
			return badUsage("--limit %d: want 1 to 100", p.Limit)
		}
		return nil
	}
	return apiAction{check: check, run: func(ctx context.Context, c *client.Client, _ []string, out output) error {
		page := &client.Page[*client.Callback]{Data: []*client.Callback{}}
		if *all {
			for cb, err := range c.Callbacks.All(ctx, &p) {
				if err != nil {
					return err
				}
				page.Data = append(page.Data, cb)
			}
		} else {
			var err error
			if page, err = c.Callbacks.List(ctx, &p); err != nil {
				return err
			}
		}
		if out.json {
			printJSON(out.w, page)
			return nil
		}
		t := newTable(out.w, "ID", "STATUS", "CUSTOMER", "REP/TEAM", "ATTEMPTS", "OUTCOME", "NEXT ATTEMPT", "CREATED")
		for _, cb := range page.Data {
			t.row(cb.ID, string(cb.Status), cb.Customer.Number, orDash(cb.RepNumber+cb.Team), strconv.Itoa(cb.AttemptCount),
				orDash(cb.Outcome), when(cb.NextAttemptAt), when(cb.CreatedAt))
		}
		t.flush()
		if page.HasMore && len(page.Data) > 0 {
			fmt.Fprintf(out.errw, "more: callbackd list --starting-after %s (or --all)\n", page.Data[len(page.Data)-1].ID)
		}
		return nil
	}}
})

var eventsCommand = command{
	name:    "events",
	summary: "print a callback's events; --follow: as they happen",
	usage:   eventsUsage,
	run:     runEvents,
}

const eventsUsage = `usage: callbackd events ID [--follow] [flags]

Prints the callback's event log in order (GET /v1/callbacks/{id}/events):
sequence, time (UTC), type, and the event's details. With --follow it goes
on printing events as they happen, polling every --interval, and exits 0
after the final one (callback.completed, callback.failed or
callback.canceled). --json prints one JSON object per line, the events as
the API gives them.

Flags:
  --follow        wait for new events until the final one
  --after N       only the events after sequence number N
  --interval D    how often --follow asks (default 1s)
` + remoteFlagsHelp

var runEvents = apiCommand("events", eventsUsage, []string{"ID"}, func(fs *flag.FlagSet) apiAction {
	follow := fs.Bool("follow", false, "")
	after := fs.Uint64("after", 0, "")
	interval := fs.Duration("interval", time.Second, "")
	check := func([]string) error {
		if *interval <= 0 {
			return badUsage("--interval %v: must be positive", *interval)
		}
		return nil
	}
	return apiAction{check: check, run: func(ctx context.Context, c *client.Client, pos []string, out output) error {
		events := c.Callbacks.AllEvents(ctx, pos[0], *after)
		if *follow {
			events = c.Callbacks.Follow(ctx, pos[0], *after, *interval)
		}
		for e, err := range events {
			if err != nil {
				return err
			}
			if out.json {
				printJSON(out.w, e)
				continue
			}
			// One line at a time, without a table, so that --follow
			// prints each event as it comes.
			fmt.Fprintf(out.w, "%3d  %s  %-24s  %s\n", e.Sequence, e.CreatedAt.UTC().Format("2006-01-02 15:04:05.000"), e.Type, eventDetails(e))
		}
		return nil
	}}
})

// eventDetails is an event's data in a few words.
func eventDetails(e *client.Event) string {
	d, err := e.EventData()
	if err != nil {
		return string(e.Data)
	}
	var parts []string
	add := func(format string, a ...any) { parts = append(parts, fmt.Sprintf(format, a...)) }
	if d.Leg != "" {
		add("%-8s %s", d.Leg, d.Number)
	}
	if s := status(d.SIPCode, d.SIPReason); s != "" {
		add("%s", s)
	}
	if d.Attempt > 0 && d.Leg == "" {
		add("attempt %d", d.Attempt)
	}
	if d.Outcome != "" {
		add("%s", d.Outcome)
	}
	if d.Reason != "" {
		add("(%s)", d.Reason)
	}
	if d.TalkSeconds > 0 {
		add("talk %.1fs", d.TalkSeconds)
	}
	if !d.NextAttemptAt.IsZero() {
		add("next attempt %s", when(d.NextAttemptAt))
	}
	return strings.Join(parts, "  ")
}
