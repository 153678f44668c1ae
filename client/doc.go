// Package client is a Go client of the callbackd REST API: callbacks with
// their event logs and the deliveries to their webhook_url, teams, webhook
// endpoints and their deliveries, API keys, REST Hooks subscriptions, and
// triggers with their inbound URL. It uses only the standard library, and
// its types are its own, mirroring the API's JSON (api/openapi.json), so
// that it stays a thin and stable dependency.
//
//	c, err := client.New("http://127.0.0.1:8080", os.Getenv("CALLBACKD_API_KEY"))
//	...
//	cb, err := c.Callbacks.Create(ctx, &client.CallbackCreate{
//		Customer: client.Customer{Number: "+442079460123", Name: "Ada"},
//		Team:     "sales",
//	})
//	for e, err := range c.Callbacks.Follow(ctx, cb.ID, 0, time.Second) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(e.Sequence, e.Type)
//	}
//
// # Lists
//
// A List method returns one *Page; the All methods (and AllEvents,
// AllDeliveries) walk every page with starting_after (or after, for
// events) as range-over-func iterators that yield (item, nil) and, on a
// failure, one (zero, err) last.
//
// # Errors
//
// An error answer is an *Error holding the RFC 9457 problem the server sent:
// Type ("urn:callbackd:problem:validation", see Error.Code and the Code
// constants), Title, Status, Detail, and Field, the input at fault
// ("customer.number"), and Reason. IsNotFound, IsUnauthorized,
// IsForbidden, IsConflict, IsInvalid and IsRateLimited test for the common
// cases, or use errors.As. A request that got no answer (connection
// refused or broken, a timeout) is a *ConnError naming the request and the
// server; IsConnection tests for it.
//
// # Retries and idempotency
//
// Every POST carries an Idempotency-Key: a new random one per call unless
// the IdempotencyKey option gives one, and the same on each retry, so the
// server runs it at most once. Requests are sent again, up to 3 times by
// default (WithRetries, Retries), with exponential backoff and jitter
// (WithBackoff), when no answer came, on 5xx, on 429 (after its
// Retry-After, when it is at most MaxRetryAfter; a daily limit is not
// retried), and on a 409 that says the same Idempotency-Key is still in
// flight. The Replayed option reports whether an answer was the stored one
// of an earlier request with the same key. A DELETE whose first try went
// through but whose answer was lost is a not-found error on the retry.
//
// # Receiving webhooks
//
// Deliveries are signed by the Standard Webhooks scheme with the endpoint's
// secret (WebhookCreated.Secret, WebhooksService.Secret). Check them with
// Verify in the module's webhook package:
//
//	err := webhook.Verify(secret, r.Header, body, 0, time.Now())
//
// It is not wrapped here because that package also holds the server's
// sender, and so depends on the store; this one depends on nothing. Any
// Standard Webhooks library checks them too.
package client
