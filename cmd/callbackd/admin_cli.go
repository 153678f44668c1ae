package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/callbackd/callbackd/client"
)

var teamsCommand = command{
	name:    "teams",
	summary: "list, show, create and delete teams",
	usage:   teamsUsage,
	run: verbCommand("teams", teamsUsage, map[string]runFunc{
		"list": apiVerb("teams", teamsUsage, nil, func(ctx context.Context, c *client.Client, _ []string) (*client.Page[*client.Team], error) {
			return c.Teams.List(ctx)
		}, func(w io.Writer, page *client.Page[*client.Team]) {
			t := newTable(w, "ID", "NAME", "STRATEGY", "REPS", "TIME ZONE", "CREATED")
			for _, tm := range page.Data {
				tz := "-"
				if tm.Window != nil {
					tz = tm.Window.TimeZone
				}
				t.row(tm.ID, orDash(tm.Name), tm.Strategy, strconv.Itoa(len(tm.Reps)), tz, when(tm.CreatedAt))
			}
			t.flush()
		}),
		"get": apiVerb("teams", teamsUsage, []string{"ID"}, func(ctx context.Context, c *client.Client, pos []string) (*client.Team, error) {
			return c.Teams.Get(ctx, pos[0])
		}, showTeam),
		"create": apiCommand("teams", teamsUsage, []string{"FILE"}, func(*flag.FlagSet) apiAction {
			var in client.TeamCreate
			check := func(pos []string) error { return readJSONFile(pos[0], &in) }
			return apiAction{check: check, run: func(ctx context.Context, c *client.Client, _ []string, out output) error {
				team, err := c.Teams.Create(ctx, &in)
				if err != nil {
					return err
				}
				emit(out, team, showTeam)
				return nil
			}}
		}),
		"delete": deleteByID("teams", teamsUsage, func(ctx context.Context, c *client.Client, id string) error {
			return c.Teams.Delete(ctx, id)
		}),
	}),
}

const teamsUsage = `usage: callbackd teams list [flags]
       callbackd teams get ID [flags]
       callbackd teams create FILE [flags]
       callbackd teams delete ID [flags]

The teams of a running server (/v1/teams): their reps, strategy, business
hours, retry policy and ring timeouts. create posts FILE ("-": standard
input), a JSON team as POST /v1/teams takes it, for example:

  {"id": "sales", "name": "Sales", "reps": [{"number": "+442079460001"}],
   "window": {"time_zone": "Europe/London", "hours": {"mon-fri": ["09:00-17:30"]}}}

delete refuses a team that callbacks still use (exit status 1).

Flags:
` + remoteFlagsHelp

// readJSONFile decodes the JSON object in file ("-": standard input)
// strictly into v.
func readJSONFile(file string, v any) error {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return badUsage("read %s: %v", file, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badUsage("%s: %v", file, err)
	}
	return nil
}

func showTeam(w io.Writer, t *client.Team) {
	tw := newTable(w, "id", t.ID)
	kv := func(k, v string) {
		if v != "" {
			tw.row(k, v)
		}
	}
	kv("name", t.Name)
	kv("strategy", t.Strategy)
	for i, r := range t.Reps {
		kv(fmt.Sprintf("rep %d", i+1), strings.TrimSpace(r.Number+" "+r.Name))
	}
	if w := t.Window; w != nil {
		kv("time zone", w.TimeZone)
		for _, d := range []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"} {
			if h := w.Hours[d]; len(h) > 0 {
				kv("hours "+d, strings.Join(h, ", "))
			}
		}
		kv("closed", strings.Join(w.Closed, ", "))
	} else {
		kv("window", "any time")
	}
	kv("retry", retrySummary(t.Retry))
	if t.RepRingTimeout > 0 {
		kv("rep ring", t.RepRingTimeout.String())
	}
	if t.CustomerRingTimeout > 0 {
		kv("customer ring", t.CustomerRingTimeout.String())
	}
	kv("whisper", t.Whisper)
	if t.CallerID != nil {
		kv("caller id", strings.TrimSpace(t.CallerID.Number+" "+t.CallerID.Name))
	}
	kv("created", when(t.CreatedAt))
	kv("updated", when(t.UpdatedAt))
	tw.flush()
}

// retrySummary is "6 attempts, after 2m 10m 30m 2h".
func retrySummary(r client.RetryPolicy) string {
	var parts []string
	if r.MaxAttempts > 0 {
		parts = append(parts, fmt.Sprintf("%d attempts", r.MaxAttempts))
	}
	if len(r.Intervals) > 0 {
		s := make([]string, len(r.Intervals))
		for i, d := range r.Intervals {
			s[i] = d.String()
		}
		parts = append(parts, "after "+strings.Join(s, " "))
	}
	if b := r.Backoff; b != nil {
		parts = append(parts, fmt.Sprintf("backoff from %s", b.Base))
	}
	return strings.Join(parts, ", ")
}

// deleteByID makes a verb that deletes the ID it is given.
func deleteByID(cmd, usage string, del func(ctx context.Context, c *client.Client, id string) error) runFunc {
	return apiVerb(cmd, usage, []string{"ID"}, func(ctx context.Context, c *client.Client, pos []string) (*deleted, error) {
		if err := del(ctx, c, pos[0]); err != nil {
			return nil, err
		}
		return &deleted{ID: pos[0], Deleted: true}, nil
	}, func(w io.Writer, d *deleted) { fmt.Fprintf(w, "deleted %s\n", d.ID) })
}

type deleted struct {
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

var webhooksCommand = command{
	name:    "webhooks",
	summary: "list, create and delete webhook endpoints; their deliveries; test",
	usage:   webhooksUsage,
	run: verbCommand("webhooks", webhooksUsage, map[string]runFunc{
		"list": apiVerb("webhooks", webhooksUsage, nil, func(ctx context.Context, c *client.Client, _ []string) (*client.Page[*client.Webhook], error) {
			return c.Webhooks.List(ctx)
		}, func(w io.Writer, page *client.Page[*client.Webhook]) {
			t := newTable(w, "ID", "URL", "EVENTS", "ENABLED", "DESCRIPTION")
			for _, we := range page.Data {
				enabled := strconv.FormatBool(we.Enabled)
				if we.DisabledReason != "" {
					enabled += " (" + we.DisabledReason + ")"
				}
				t.row(we.ID, we.URL, typesOrAll(we.EventTypes), enabled, orDash(we.Description))
			}
			t.flush()
		}),
		"create": apiCommand("webhooks", webhooksUsage, nil, func(fs *flag.FlagSet) apiAction {
			var in client.WebhookCreate
			fs.StringVar(&in.URL, "url", "", "")
			fs.StringVar(&in.Description, "description", "", "")
			var events numberList
			fs.Var(&events, "event", "")
			disabled := fs.Bool("disabled", false, "")
			check := func([]string) error {
				if in.URL == "" {
					return badUsage("missing --url URL")
				}
				in.EventTypes = events
				if *disabled {
					in.Enabled = new(false)
				}
				return nil
			}
			return apiAction{check: check, run: func(ctx context.Context, c *client.Client, _ []string, out output) error {
				we, err := c.Webhooks.Create(ctx, &in)
				if err != nil {
					return err
				}
				emit(out, we, func(w io.Writer, we *client.WebhookCreated) {
					t := newTable(w, "id", we.ID)
					t.row("url", we.URL)
					t.row("events", typesOrAll(we.EventTypes))
					t.row("enabled", strconv.FormatBool(we.Enabled))
					t.row("secret", we.Secret)
					t.flush()
				})
				return nil
			}}
		}),
		"delete": deleteByID("webhooks", webhooksUsage, func(ctx context.Context, c *client.Client, id string) error {
			return c.Webhooks.Delete(ctx, id)
		}),
		"deliveries": apiCommand("webhooks", webhooksUsage, []string{"ID"}, func(fs *flag.FlagSet) apiAction {
			limit := fs.Int("limit", 20, "")
			check := func([]string) error {
				if *limit < 1 || *limit > 100 {
					return badUsage("--limit %d: want 1 to 100", *limit)
				}
				return nil
			}
			return apiAction{check: check, run: func(ctx context.Context, c *client.Client, pos []string, out output) error {
				page, err := c.Webhooks.Deliveries(ctx, pos[0], &client.DeliveriesParams{Limit: *limit})
				if err != nil {
					return err
				}
				emit(out, page, func(w io.Writer, page *client.Page[*client.Delivery]) { showDeliveries(w, page.Data...) })
				return nil
			}}
		}),
		"rotate-secret": apiCommand("webhooks", webhooksUsage, []string{"ID"}, func(fs *flag.FlagSet) apiAction {
			overlap := fs.Duration("overlap", 24*time.Hour, "")
			check := func([]string) error {
				if *overlap < 0 {
					return badUsage("--overlap %v: want 0s or more", *overlap)
				}
				return nil
			}
			return apiAction{check: check, run: func(ctx context.Context, c *client.Client, pos []string, out output) error {
				s, err := c.Webhooks.RotateSecret(ctx, pos[0], new(client.Duration(*overlap)))
				if err != nil {
					return err
				}
				emit(out, &rotated{ID: pos[0], Secret: s}, func(w io.Writer, r *rotated) { fmt.Fprintln(w, r.Secret) })
				return nil
			}}
		}),
		"retry": apiVerb("webhooks", webhooksUsage, []string{"ID", "DELIVERY_ID"}, func(ctx context.Context, c *client.Client, pos []string) (*client.Delivery, error) {
			return c.Webhooks.RetryDelivery(ctx, pos[0], pos[1])
		}, func(w io.Writer, d *client.Delivery) { showDeliveries(w, d) }),
		"test": apiVerb("webhooks", webhooksUsage, []string{"ID"}, func(ctx context.Context, c *client.Client, pos []string) (*client.Delivery, error) {
			return c.Webhooks.Test(ctx, pos[0])
		}, func(w io.Writer, d *client.Delivery) { showDeliveries(w, d) }),
	}),
}

const webhooksUsage = `usage: callbackd webhooks list [flags]
       callbackd webhooks create --url URL [--event TYPE ...] [--description TEXT] [--disabled] [flags]
       callbackd webhooks delete ID [flags]
       callbackd webhooks deliveries ID [--limit N] [flags]
       callbackd webhooks retry ID DELIVERY_ID [flags]
       callbackd webhooks rotate-secret ID [--overlap D] [flags]
       callbackd webhooks test ID [flags]

The webhook endpoints of a running server (/v1/webhooks; an admin key):
where every event is POSTed, signed by the Standard Webhooks scheme.
create prints the endpoint with its signing secret; --event limits it to
an event type (repeat for more; default: every type). deliveries prints
the newest deliveries with their last attempt; retry sends one of them
again, now, with the same event ID; test queues a "ping" event to the
endpoint and prints its delivery. rotate-secret prints the endpoint's new
signing secret; the old ones sign beside it for --overlap (default 24h, at
most 168h; 0s: they stop at once).

Flags:
` + remoteFlagsHelp

// typesOrAll is "all", or the types.
func typesOrAll(types []string) string {
	if len(types) == 0 {
		return "all"
	}
	return strings.Join(types, ",")
}

func showDeliveries(w io.Writer, ds ...*client.Delivery) {
	t := newTable(w, "ID", "EVENT", "STATUS", "ATTEMPTS", "LAST", "CALLBACK", "CREATED")
	for _, d := range ds {
		last := "-"
		if n := len(d.Attempts); n > 0 {
			a := d.Attempts[n-1]
			last = strings.TrimSpace(fmt.Sprintf("%s %s", status(a.StatusCode, ""), a.Error))
		}
		t.row(d.ID, d.EventType, d.Status, strconv.Itoa(len(d.Attempts)), orDash(last), orDash(d.CallbackID), when(d.CreatedAt))
	}
	t.flush()
}
