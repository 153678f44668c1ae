package client_test

import (
	"slices"
	"testing"
	"time"

	"github.com/callbackd/callbackd/client"
)

// A trigger turns events into callbacks; Fire sends them as an
// application does, in each auth mode.
func TestTriggers(t *testing.T) {
	t.Parallel()
	c := admin(t)
	ctx := ctxFor(t, time.Minute)
	trg, err := c.Triggers.Create(ctx, &client.TriggerCreate{
		Name:      "hot leads",
		Condition: "payload.score >= 80",
		Mapping: client.TriggerMapping{
			CustomerNumber: "payload.phone",
			CustomerName:   "payload.?name.orValue('')",
			RepNumber:      "'" + number(t, "echo") + "'",
			Delay:          "'1h'",
			Metadata:       map[string]string{"source": "'form'"},
		},
		Dedup: client.Duration(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	if trg.Secret == "" || trg.URL != "/v1/hooks/"+trg.ID || !trg.Enabled || trg.Auth.Mode != client.AuthTokenHeader || trg.Dedup != client.Duration(time.Hour) {
		t.Fatalf("created %+v", trg)
	}

	res, err := c.Triggers.Fire(ctx, trg.ID, trg.Secret, "", map[string]any{"score": 91, "phone": "+12025550105", "name": "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Matched || res.Callback == nil || res.CallbackID != res.Callback.ID || res.Callback.Customer.Name != "Ada" ||
		res.Callback.Metadata["source"] != "form" || res.Callback.Status != client.StatusScheduled {
		t.Errorf("fired: %+v", res)
	}
	first := res.CallbackID
	res, err = c.Triggers.Fire(ctx, trg.ID, trg.Secret, client.AuthTokenHeader, map[string]any{"score": 95, "phone": "+12025550105"})
	if err != nil || !res.Duplicate || res.CallbackID != first {
		t.Errorf("the same customer again: %+v, %v", res, err)
	}
	res, err = c.Triggers.Fire(ctx, trg.ID, trg.Secret, "", map[string]any{"score": 10, "phone": "+12025550106"})
	if err != nil || res.Matched || res.Reason == "" {
		t.Errorf("not matched: %+v, %v", res, err)
	}
	if _, err := c.Triggers.Fire(ctx, trg.ID, "tsec_wrong", "", map[string]any{}); !client.IsUnauthorized(err) {
		t.Errorf("wrong secret: %v", err)
	}
	_, err = c.Triggers.Fire(ctx, trg.ID, trg.Secret, "", map[string]any{"score": 99})
	if e := client.AsError(err); e == nil || e.Field != "mapping.customer_number" {
		t.Errorf("no phone in the payload: %v", err)
	}

	// HMAC, then a token in the query.
	for _, mode := range []string{client.AuthHMACSHA256, client.AuthTokenQuery} {
		updated, err := c.Triggers.Update(ctx, trg.ID, &client.TriggerUpdate{Auth: &client.TriggerAuth{Mode: mode}, Reset: []string{"dedup"}})
		if err != nil || updated.Auth.Mode != mode || updated.Dedup != 0 {
			t.Fatalf("update to %s: %+v, %v", mode, updated, err)
		}
		res, err = c.Triggers.Fire(ctx, trg.ID, trg.Secret, mode, map[string]any{"score": 80, "phone": "+12025550105"})
		if err != nil || !res.Matched || res.Duplicate || res.CallbackID == first {
			t.Errorf("%s: %+v, %v", mode, res, err)
		}
		if _, err := c.Triggers.Fire(ctx, trg.ID, trg.Secret, client.AuthTokenHeader, map[string]any{}); !client.IsUnauthorized(err) {
			t.Errorf("%s trigger with a token header: %v", mode, err)
		}
	}

	replaced, err := c.Triggers.RotateSecret(ctx, trg.ID, nil)
	if err != nil || replaced == trg.Secret {
		t.Fatalf("rotate: %q, %v", replaced, err)
	}
	if _, err := c.Triggers.Fire(ctx, trg.ID, trg.Secret, client.AuthTokenQuery, map[string]any{}); !client.IsUnauthorized(err) {
		t.Errorf("the old secret: %v", err)
	}
	// With an overlap the secret replaced works on beside the new one.
	secret, err := c.Triggers.RotateSecret(ctx, trg.ID, new(client.Duration(time.Hour)))
	if err != nil || secret == replaced {
		t.Fatalf("rotate with an overlap: %q, %v", secret, err)
	}
	for _, s := range []string{replaced, secret} {
		if _, err := c.Triggers.Fire(ctx, trg.ID, s, client.AuthTokenQuery, map[string]any{}); err != nil {
			t.Errorf("a secret in the overlap: %v", err)
		}
	}
	if _, err := c.Triggers.RotateSecret(ctx, trg.ID, new(client.Duration(200*time.Hour))); !client.IsInvalid(err) || client.AsError(err).Field != "overlap" {
		t.Errorf("an overlap of 200h: %v", err)
	}
	if _, err := c.Triggers.Update(ctx, trg.ID, &client.TriggerUpdate{Enabled: new(false)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Triggers.Fire(ctx, trg.ID, secret, client.AuthTokenQuery, map[string]any{"score": 90, "phone": "+12025550107"})
	if e := client.AsError(err); !client.IsConflict(err) || e.Code() != client.CodeTriggerDisabled {
		t.Errorf("disabled: %v", err)
	}
	list, err := c.Triggers.List(ctx)
	if err != nil || !slices.ContainsFunc(list.Data, func(x *client.Trigger) bool { return x.ID == trg.ID && !x.Enabled }) {
		t.Errorf("list: %+v, %v", list, err)
	}
	if err := c.Triggers.Delete(ctx, trg.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Triggers.Get(ctx, trg.ID); !client.IsNotFound(err) {
		t.Errorf("after delete: %v", err)
	}
	if _, err := c.Triggers.Fire(ctx, trg.ID, secret, client.AuthTokenQuery, map[string]any{}); !client.IsNotFound(err) {
		t.Errorf("fire a deleted trigger: %v", err)
	}
	// The callbacks it made.
	page, err := c.Callbacks.List(ctx, &client.ListParams{Customer: "+12025550105"})
	if err != nil || len(page.Data) != 3 {
		t.Errorf("callbacks made: %d, %v", len(page.Data), err)
	}
	for _, cb := range page.Data {
		c.Callbacks.Cancel(ctx, cb.ID)
	}
}
