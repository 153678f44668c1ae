package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"

	"github.com/callbackd/callbackd/client"
)

var triggersCommand = command{
	name:    "triggers",
	summary: "list, show, create and delete triggers; rotate a trigger's secret",
	usage:   triggersUsage,
	run: verbCommand("triggers", triggersUsage, map[string]runFunc{
		"list": apiVerb("triggers", triggersUsage, nil, func(ctx context.Context, c *client.Client, _ []string) (*client.Page[*client.Trigger], error) {
			return c.Triggers.List(ctx)
		}, func(w io.Writer, page *client.Page[*client.Trigger]) {
			t := newTable(w, "ID", "NAME", "ENABLED", "AUTH", "CONDITION")
			for _, tr := range page.Data {
				t.row(tr.ID, tr.Name, strconv.FormatBool(tr.Enabled), tr.Auth.Mode, orDash(tr.Condition))
			}
			t.flush()
		}),
		"get": apiVerb("triggers", triggersUsage, []string{"ID"}, func(ctx context.Context, c *client.Client, pos []string) (*client.Trigger, error) {
			return c.Triggers.Get(ctx, pos[0])
		}, func(w io.Writer, tr *client.Trigger) { showTrigger(w, tr, "") }),
		"create": apiCommand("triggers", triggersUsage, []string{"FILE"}, func(*flag.FlagSet) apiAction {
			var in client.TriggerCreate
			check := func(pos []string) error { return readJSONFile(pos[0], &in) }
			return apiAction{check: check, run: func(ctx context.Context, c *client.Client, _ []string, out output) error {
				tr, err := c.Triggers.Create(ctx, &in)
				if err != nil {
					return err
				}
				emit(out, tr, func(w io.Writer, tr *client.TriggerCreated) { showTrigger(w, &tr.Trigger, tr.Secret) })
				return nil
			}}
		}),
		"delete": deleteByID("triggers", triggersUsage, func(ctx context.Context, c *client.Client, id string) error {
			return c.Triggers.Delete(ctx, id)
		}),
		"rotate-secret": apiCommand("triggers", triggersUsage, []string{"ID"}, func(fs *flag.FlagSet) apiAction {
			overlap := fs.Duration("overlap", 0, "")
			check := func([]string) error {
				if *overlap < 0 {
					return badUsage("--overlap %v: want 0s or more", *overlap)
				}
				return nil
			}
			return apiAction{check: check, run: func(ctx context.Context, c *client.Client, pos []string, out output) error {
				var o *client.Duration
				if *overlap > 0 {
					o = new(client.Duration(*overlap))
				}
				s, err := c.Triggers.RotateSecret(ctx, pos[0], o)
				if err != nil {
					return err
				}
				emit(out, &rotated{ID: pos[0], Secret: s}, func(w io.Writer, r *rotated) { fmt.Fprintln(w, r.Secret) })
				return nil
			}}
		}),
	}),
}

// rotated is a new secret, as --json prints it.
type rotated struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

const triggersUsage = `usage: callbackd triggers list [flags]
       callbackd triggers get ID [flags]
       callbackd triggers create FILE [flags]
       callbackd triggers delete ID [flags]
       callbackd triggers rotate-secret ID [--overlap D] [flags]

The triggers of a running server (/v1/triggers; an admin key): inbound URLs
whose events become callbacks when their CEL condition holds. create posts
FILE ("-": standard input), a JSON trigger as POST /v1/triggers takes it,
for example:

  {"name": "hot leads", "condition": "payload.score >= 80",
   "mapping": {"customer_number": "payload.phone", "team": "'sales'"}}

and prints the trigger with its URL and secret; a condition or mapping that
does not compile is refused with its line and column (exit status 1).
rotate-secret prints the trigger's new secret; the one it replaces stops
at once, or with --overlap D (at most 168h) works on beside it for D, so
that the sender can be switched without losing an event.

Flags:
` + remoteFlagsHelp

// showTrigger prints a trigger, and secret when there is one to show.
func showTrigger(w io.Writer, tr *client.Trigger, secret string) {
	t := newTable(w, "id", tr.ID)
	t.row("name", tr.Name)
	t.row("url", tr.URL)
	t.row("enabled", strconv.FormatBool(tr.Enabled))
	t.row("auth", tr.Auth.Mode)
	if secret != "" {
		t.row("secret", secret)
	}
	t.row("condition", orDash(tr.Condition))
	m := tr.Mapping
	for _, f := range []struct{ name, expr string }{
		{"customer_number", m.CustomerNumber}, {"customer_name", m.CustomerName}, {"customer_country", m.CustomerCountry},
		{"team", m.Team}, {"rep_number", m.RepNumber}, {"scheduled_at", m.ScheduledAt}, {"delay", m.Delay},
	} {
		if f.expr != "" {
			t.row("map "+f.name, f.expr)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m.Metadata)) {
		t.row("map metadata."+k, m.Metadata[k])
	}
	if tr.Dedup != 0 {
		t.row("dedup", tr.Dedup.String())
	}
	if tr.RateLimit != 0 {
		t.row("rate limit", strconv.Itoa(tr.RateLimit)+"/min")
	}
	t.row("created", when(tr.CreatedAt))
	t.flush()
}
