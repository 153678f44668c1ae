"""The client against a real callbackd (internal/testserver) on the
sandbox trunk: no mocks."""

from __future__ import annotations

import itertools
import json
import time
import unittest
import uuid
from datetime import datetime, timedelta, timezone

from server_fixture import server, server_log  # also puts the package on sys.path

import callbackd
from receiver import Received, Receiver

_numbers = itertools.count(100)


def fresh_number() -> str:
    """A valid US number no other test uses (never dialled: the callbacks
    to it are scheduled days ahead)."""
    return "+1202555%04d" % next(_numbers)


def later(days: int = 7) -> datetime:
    return datetime.now(timezone.utc) + timedelta(days=days)


class ServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        info = server()
        cls.info = info
        cls.numbers = info["numbers"]
        cls.client = callbackd.Client(info["url"], info["admin_key"], timeout=20, backoff_base=0.05)


class TestCallFlow(ServerTest):
    """Real calls: one that connects and completes (customer `hangup`, rep
    `echo`), one the customer rejects, watched through get, the event log
    and a webhook endpoint whose every delivery is verified."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        c = cls.client
        cls.receiver = Receiver()
        cls.endpoint = c.webhooks.create(cls.receiver.url("/endpoint"), description="python tests")
        cls.server_secret = c.webhooks.callback_secret()
        cls.created = c.callbacks.create(
            {"number": cls.numbers["hangup"], "name": "Ann"},
            rep_number=cls.numbers["echo"],
            webhook_url=cls.receiver.url("/own"),
            metadata={"order": "42"},
        )
        cls.rejected = c.callbacks.create(cls.numbers["reject"], rep_number=cls.numbers["echo"])
        # The first status seen while the call runs (the 201 may already be in_progress).
        cls.seen_statuses = {cls.created.status, c.callbacks.get(cls.created.id).status}

    @classmethod
    def tearDownClass(cls) -> None:
        cls.receiver.close()

    def completed(self) -> callbackd.Callback:
        return self.client.callbacks.wait(self.created.id, timeout=30, interval=0.2)

    def test_create_answer(self) -> None:
        cb = self.created
        self.assertTrue(cb.id.startswith("cb_"))
        self.assertIn(cb.status, ("scheduled", "in_progress"))
        self.assertEqual(cb.customer.number, self.numbers["hangup"])
        self.assertEqual(cb.customer.name, "Ann")
        self.assertEqual(cb.rep_number, self.numbers["echo"])
        self.assertEqual(cb.metadata, {"order": "42"})
        self.assertIsNone(cb.window)
        self.assertEqual(cb.retry.max_attempts, 6)
        self.assertIsInstance(cb.created_at, datetime)
        self.assertEqual(cb.raw["id"], cb.id)

    def test_connects_and_completes(self) -> None:
        self.assertIn("in_progress", self.seen_statuses)
        cb = self.completed()
        self.assertEqual(cb.status, "completed", server_log())
        self.assertTrue(cb.is_final)
        self.assertEqual(cb.outcome, "connected")
        self.assertEqual(cb.attempt_count, 1)
        self.assertEqual(len(cb.attempts), 1)
        a = cb.attempts[0]
        self.assertEqual(a.number, 1)
        self.assertEqual(a.outcome, "connected")
        self.assertEqual(a.sip_code, 200)
        self.assertEqual(a.hung_up_by, "customer")
        self.assertGreater(a.talk_seconds, 3)
        self.assertEqual([leg.number for leg in a.reps], [self.numbers["echo"]])
        self.assertEqual(a.reps[0].outcome, "answered")
        self.assertEqual(a.customer.role, "customer")
        self.assertEqual(a.customer.outcome, "answered")
        self.assertTrue(a.customer.call_id)
        self.assertLess(a.started_at, a.connected_at)
        self.assertLess(a.connected_at, a.finished_at)

    def test_event_log(self) -> None:
        self.completed()
        events = list(self.client.callbacks.iter_events(self.created.id))
        self.assertEqual([e.sequence for e in events], list(range(1, len(events) + 1)))
        types = [e.type for e in events]
        self.assertEqual(types[0], "callback.scheduled")
        self.assertEqual(types[-1], "callback.completed")
        connected = [(e.data["leg"], e.data["sip_code"]) for e in events if e.type == "call.connected"]
        self.assertEqual(connected, [("rep", 200), ("customer", 200)])
        self.assertLess(types.index("call.connected"), types.index("call.completed"))
        self.assertTrue(all(e.callback_id == self.created.id and e.id.startswith("evt_") for e in events))

        # The same log, two events a page.
        paged = self.client.callbacks.events(self.created.id, limit=2)
        self.assertEqual(len(paged), 2)
        self.assertTrue(paged.has_more)
        self.assertEqual([e.id for e in paged.iter_all()], [e.id for e in events])
        self.assertEqual(sum(1 for _ in paged.pages()), (len(events) + 1) // 2)
        tail = self.client.callbacks.events(self.created.id, after=len(events) - 1)
        self.assertEqual([e.type for e in tail], ["callback.completed"])
        self.assertFalse(tail.has_more)

    def test_rejected_customer_fails(self) -> None:
        cb = self.client.callbacks.wait(self.rejected.id, timeout=30, interval=0.2)
        self.assertEqual(cb.status, "failed", server_log())
        self.assertEqual(cb.outcome, "customer_rejected")
        self.assertEqual(cb.reason, "not_retryable")
        self.assertEqual(cb.attempts[0].customer.sip_code, 603)
        events = list(self.client.callbacks.iter_events(cb.id))
        self.assertEqual(events[-1].type, "callback.failed")
        self.assertEqual(events[-1].data.get("outcome"), "customer_rejected")

    def _verified(self, path: str, secret: str) -> list:
        """Every delivery on path, verified; the first of each webhook-id."""
        seen, out = set(), []
        for r in self.receiver.on(path):
            body = callbackd.verify(r.body, r.headers, secret)
            self.assertEqual(body["id"], r.headers.get("Webhook-Id") or r.headers.get("webhook-id"))
            if body["id"] not in seen:
                seen.add(body["id"])
                out.append(body)
        return out

    def test_webhook_endpoint_gets_every_event_in_order(self) -> None:
        self.completed()
        log = list(self.client.callbacks.iter_events(self.created.id))

        def all_there(_: list) -> bool:
            got = [b for b in self._verified("/endpoint", self.endpoint.secret)
                   if b.get("data", {}).get("callback", {}).get("id") == self.created.id]
            return len(got) >= len(log)

        self.receiver.wait_for(all_there)
        bodies = [b for b in self._verified("/endpoint", self.endpoint.secret)
                  if b["data"]["callback"]["id"] == self.created.id]
        self.assertEqual([b["sequence"] for b in bodies], [e.sequence for e in log])
        self.assertEqual([b["type"] for b in bodies], [e.type for e in log])
        self.assertEqual([b["id"] for b in bodies], [e.id for e in log])
        ev = callbackd.WebhookEvent.from_dict(bodies[-1])
        self.assertEqual(ev.type, "callback.completed")
        self.assertEqual(ev.callback.status, "completed")
        self.assertEqual(ev.attempt.outcome, "connected")
        connected = callbackd.WebhookEvent.from_dict(next(b for b in bodies if b["type"] == "call.connected"))
        self.assertEqual(connected.call["leg"], "rep")

        # A wrong secret or a changed body fails verification.
        r = self.receiver.on("/endpoint")[0]
        with self.assertRaises(callbackd.WebhookVerificationError):
            callbackd.verify(r.body, r.headers, self.server_secret)
        with self.assertRaises(callbackd.WebhookVerificationError):
            callbackd.verify(r.body + b" ", r.headers, self.endpoint.secret)

        # The endpoint's deliveries, as the API lists them.
        def succeeded() -> list:
            ds = [d for d in self.client.webhooks.deliveries(self.endpoint.id, limit=5).iter_all()
                  if d.callback_id == self.created.id]
            return ds if len(ds) == len(log) and all(d.status == "succeeded" for d in ds) else []

        deadline = time.monotonic() + 10
        ds = succeeded()
        while not ds and time.monotonic() < deadline:
            time.sleep(0.2)
            ds = succeeded()
        self.assertTrue(ds, "deliveries did not all succeed")
        self.assertEqual(sorted(d.sequence for d in ds), [e.sequence for e in log])
        self.assertTrue(all(d.attempts and d.attempts[-1].status_code == 204 for d in ds))

    def test_own_webhook_url_signed_with_server_secret(self) -> None:
        self.completed()
        n = len(list(self.client.callbacks.iter_events(self.created.id)))
        self.receiver.wait_for(lambda _: len(self._verified("/own", self.server_secret)) >= n)
        bodies = self._verified("/own", self.server_secret)
        self.assertEqual([b["sequence"] for b in bodies], list(range(1, n + 1)))

    def test_rest_hook_samples(self) -> None:
        self.completed()
        samples = self.client.hooks.samples("callback.completed", limit=5)
        self.assertIn(self.created.id, [s.callback.id for s in samples if s.callback])
        self.assertTrue(all(s.type == "callback.completed" for s in samples))


class TestCallbacks(ServerTest):
    def test_list_pages(self) -> None:
        customer = fresh_number()
        ids = [self.client.callbacks.create(customer, rep_number=self.numbers["echo"], scheduled_at=later()).id
               for _ in range(7)]
        first = self.client.callbacks.list(customer=customer, limit=3)
        self.assertIsInstance(first, callbackd.Page)
        self.assertEqual(len(first), 3)
        self.assertTrue(first.has_more)
        self.assertEqual([p.data[0].id for p in first.pages()], [ids[6], ids[3], ids[0]])
        self.assertEqual([len(p) for p in first.pages()], [3, 3, 1])
        # Newest first, across pages.
        self.assertEqual([cb.id for cb in first.iter_all()], ids[::-1])
        self.assertEqual([cb.id for cb in self.client.callbacks.iter(customer=customer, limit=2)], ids[::-1])
        # starting_after by hand.
        second = self.client.callbacks.list(customer=customer, limit=3, starting_after=first[-1].id)
        self.assertEqual([cb.id for cb in second], [ids[3], ids[2], ids[1]])
        last = second.next_page()
        self.assertEqual([cb.id for cb in last], [ids[0]])
        self.assertFalse(last.has_more)
        self.assertIsNone(last.next_page())
        # Filters.
        self.assertEqual(len(self.client.callbacks.list(customer=customer, status="completed")), 0)
        self.assertEqual(len(list(self.client.callbacks.iter(customer=customer, status="scheduled"))), 7)
        future = datetime.now(timezone.utc) + timedelta(hours=1)
        self.assertEqual(len(self.client.callbacks.list(customer=customer, created_gte=future)), 0)
        self.assertEqual(len(self.client.callbacks.list(customer=customer, created_lt=future, limit=100)), 7)

    def test_cancel_scheduled(self) -> None:
        when = later(2).replace(microsecond=0)
        cb = self.client.callbacks.create(fresh_number(), rep_number=self.numbers["echo"], scheduled_at=when)
        self.assertEqual(cb.status, "scheduled")
        self.assertEqual(cb.scheduled_at, when)
        self.assertEqual(cb.next_attempt_at, when)
        self.assertEqual(cb.attempt_count, 0)
        canceled = self.client.callbacks.cancel(cb.id)
        self.assertEqual(canceled.status, "canceled")
        self.assertEqual(canceled.reason, "canceled_by_api")
        self.assertTrue(canceled.is_final)
        got = self.client.callbacks.get(cb.id)
        self.assertEqual(got.status, "canceled")
        self.assertEqual(got.attempts, [])
        self.assertEqual([e.type for e in self.client.callbacks.iter_events(cb.id)],
                         ["callback.scheduled", "callback.canceled"])
        with self.assertRaises(callbackd.Conflict) as ctx:
            self.client.callbacks.cancel(cb.id)
        self.assertEqual(ctx.exception.status, 409)
        self.assertEqual(ctx.exception.type, "urn:callbackd:problem:conflict")
        with self.assertRaises(callbackd.NotFound):
            self.client.callbacks.cancel("cb_00000000000000000000000000")

    def test_idempotency_key_reuse(self) -> None:
        customer = fresh_number()
        key = "python-test-" + uuid.uuid4().hex
        when = later()
        a = self.client.callbacks.create(customer, rep_number=self.numbers["echo"], scheduled_at=when,
                                         idempotency_key=key)
        b = self.client.callbacks.create(customer, rep_number=self.numbers["echo"], scheduled_at=when,
                                         idempotency_key=key)
        self.assertEqual(a.id, b.id)
        self.assertEqual(len(self.client.callbacks.list(customer=customer)), 1)
        with self.assertRaises(callbackd.IdempotencyMismatch) as ctx:
            self.client.callbacks.create(customer, rep_number=self.numbers["echo"], scheduled_at=later(3),
                                         idempotency_key=key)
        e = ctx.exception
        self.assertIsInstance(e, callbackd.ValidationError)
        self.assertEqual((e.status, e.code, e.field), (422, "idempotency-mismatch", "Idempotency-Key"))
        # Without a key of its own each call gets a fresh one: two callbacks.
        self.client.callbacks.create(customer, rep_number=self.numbers["echo"], scheduled_at=when)
        self.client.callbacks.create(customer, rep_number=self.numbers["echo"], scheduled_at=when)
        self.assertEqual(len(self.client.callbacks.list(customer=customer)), 3)

    def test_retry_policy_and_national_number(self) -> None:
        cb = self.client.callbacks.create("(202) 555-0298", country="US", rep_number=self.numbers["echo"],
                                          scheduled_at=later(), retry={"max_attempts": 3, "intervals": ["5m"]})
        self.assertEqual(cb.customer.number, "+12025550298")
        self.assertEqual(cb.retry.max_attempts, 3)
        self.assertEqual(cb.retry.intervals, ["5m"])
        self.client.callbacks.cancel(cb.id)
        # Models made by hand are inputs too.
        policy = callbackd.RetryPolicy(max_attempts=2, backoff=callbackd.Backoff(base="1m", factor=3))
        cb2 = self.client.callbacks.create(callbackd.Party(number=fresh_number(), name="Bo"),
                                           rep_number=self.numbers["echo"], scheduled_at=later(), retry=policy)
        self.assertEqual((cb2.customer.name, cb2.retry.max_attempts), ("Bo", 2))
        self.assertEqual((cb2.retry.backoff.base, cb2.retry.backoff.factor), ("1m", 3))
        # ... and so are models read back.
        cb3 = self.client.callbacks.create(fresh_number(), rep_number=self.numbers["echo"], scheduled_at=later(),
                                           retry=cb2.retry)
        self.assertEqual(cb3.retry, cb2.retry)


class TestErrors(ServerTest):
    def test_invalid_number(self) -> None:
        with self.assertRaises(callbackd.ValidationError) as ctx:
            self.client.callbacks.create("+1555000", rep_number=self.numbers["echo"])
        e = ctx.exception
        self.assertEqual(e.status, 422)
        self.assertEqual(e.type, "urn:callbackd:problem:validation")
        self.assertEqual(e.code, "validation")
        self.assertEqual(e.title, "Invalid value")
        self.assertEqual(e.field, "customer.number")
        self.assertEqual(e.reason, "invalid_number")
        self.assertTrue(e.detail)
        self.assertEqual(e.raw["field"], "customer.number")
        self.assertIn("customer.number", str(e))

    def test_premium_rate(self) -> None:
        with self.assertRaises(callbackd.DestinationNotAllowed) as ctx:
            self.client.callbacks.create("+1 900 555 0123", rep_number=self.numbers["echo"])
        e = ctx.exception
        self.assertIsInstance(e, callbackd.Forbidden)
        self.assertEqual((e.status, e.code, e.field, e.reason), (403, "premium-rate", "customer.number", "premium_rate"))

    def test_unknown_team_and_field(self) -> None:
        with self.assertRaises(callbackd.ValidationError) as ctx:
            self.client.callbacks.create(fresh_number(), team="no-such-team")
        self.assertEqual((ctx.exception.code, ctx.exception.field), ("unknown-team", "team"))
        with self.assertRaises(callbackd.BadRequest) as ctx2:
            self.client.request("POST", "/v1/callbacks", json={"customer": {"number": fresh_number()}, "bogus": 1})
        self.assertEqual((ctx2.exception.status, ctx2.exception.code, ctx2.exception.field),
                         (400, "unknown-field", "bogus"))
        with self.assertRaises(callbackd.ValidationError) as ctx3:
            self.client.callbacks.list(status="bogus")
        self.assertEqual(ctx3.exception.field, "status")

    def test_not_found_and_method(self) -> None:
        with self.assertRaises(callbackd.NotFound) as ctx:
            self.client.callbacks.get("cb_00000000000000000000000000")
        self.assertEqual(ctx.exception.status, 404)
        with self.assertRaises(callbackd.NotFound):
            self.client.teams.get("no-such-team")
        with self.assertRaises(callbackd.MethodNotAllowed) as ctx2:
            self.client.request("PUT", "/v1/callbacks")
        self.assertIn("GET", ctx2.exception.headers.get("Allow", ""))

    def test_unauthorized_and_forbidden(self) -> None:
        bad = callbackd.Client(self.info["url"], "cbk_not_a_key")
        with self.assertRaises(callbackd.Unauthorized) as ctx:
            bad.teams.list()
        self.assertEqual(ctx.exception.code, "unauthenticated")
        key = self.client.api_keys.create("python read-only", ["callbacks:read"])
        ro = callbackd.Client(self.info["url"], key.secret)
        self.assertIsInstance(ro.teams.list(), callbackd.Page)
        with self.assertRaises(callbackd.Forbidden) as ctx2:
            ro.teams.create([self.numbers["echo"]])
        self.assertEqual((ctx2.exception.status, ctx2.exception.code), (403, "forbidden"))
        self.assertNotIsInstance(ctx2.exception, callbackd.DestinationNotAllowed)

    def test_all_api_errors_are_callbackd_errors(self) -> None:
        with self.assertRaises(callbackd.CallbackdError):
            self.client.callbacks.get("cb_00000000000000000000000000")


class TestTeams(ServerTest):
    def test_crud(self) -> None:
        tid = "py-" + uuid.uuid4().hex[:12]
        team = self.client.teams.create(
            [self.numbers["echo"], {"number": self.numbers["tone"], "name": "Bob"}],
            id=tid, name="Sales", strategy="round_robin",
            window={"time_zone": "Europe/London", "hours": {"mon-fri": ["09:00-17:00"]}, "closed": ["2030-12-25"]},
            retry={"max_attempts": 4, "intervals": ["5m", "30m"]},
            rep_ring_timeout="20s",
        )
        self.assertEqual(team.id, tid)
        self.assertEqual(team.name, "Sales")
        self.assertEqual([r.number for r in team.reps], [self.numbers["echo"], self.numbers["tone"]])
        self.assertEqual(team.reps[1].name, "Bob")
        self.assertEqual(team.strategy, "round_robin")
        self.assertEqual(team.window.time_zone, "Europe/London")
        self.assertEqual(team.window.hours["mon"], ["09:00-17:00"])
        self.assertNotIn("sat", team.window.hours)
        self.assertEqual(team.window.closed, ["2030-12-25"])
        self.assertEqual(team.retry.max_attempts, 4)
        self.assertEqual(team.rep_ring_timeout, "20s")

        self.assertEqual(self.client.teams.get(tid), team)
        self.assertIn(tid, [t.id for t in self.client.teams.list()])

        with self.assertRaises(callbackd.Conflict):
            self.client.teams.create([self.numbers["echo"]], id=tid)

        updated = self.client.teams.update(tid, name="Sales EU", window=None)
        self.assertEqual(updated.name, "Sales EU")
        self.assertIsNone(updated.window)
        self.assertEqual(updated.strategy, "round_robin")
        self.assertEqual(len(updated.reps), 2)
        with self.assertRaises(callbackd.ValidationError):
            self.client.teams.update(tid, strategy="random")

        # A team that a pending callback names cannot go.
        cb = self.client.callbacks.create(fresh_number(), team=tid, scheduled_at=later())
        self.assertEqual(cb.team, tid)
        with self.assertRaises(callbackd.Conflict):
            self.client.teams.delete(tid)
        self.client.callbacks.cancel(cb.id)
        self.assertIsNone(self.client.teams.delete(tid))
        with self.assertRaises(callbackd.NotFound):
            self.client.teams.get(tid)

    def test_generated_id(self) -> None:
        team = self.client.teams.create([self.numbers["echo"]])
        self.assertTrue(team.id.startswith("team_"))
        self.assertEqual(team.strategy, "sequential")
        self.client.teams.delete(team.id)


class TestAPIKeys(ServerTest):
    def test_create_list_revoke(self) -> None:
        key = self.client.api_keys.create("python writer", ["callbacks:write", "callbacks:read"])
        self.assertTrue(key.id.startswith("key_"))
        self.assertTrue(key.secret.startswith("cbk_"))
        self.assertEqual(key.prefix, key.secret[:12])
        self.assertFalse(key.revoked)
        writer = callbackd.Client(self.info["url"], key.secret)
        cb = writer.callbacks.create(fresh_number(), rep_number=self.numbers["echo"], scheduled_at=later())
        writer.callbacks.cancel(cb.id)

        listed = {k.id: k for k in self.client.api_keys.list()}
        self.assertIn(key.id, listed)
        self.assertIsNone(listed[key.id].secret)
        self.assertEqual(sorted(listed[key.id].scopes), ["callbacks:read", "callbacks:write"])

        revoked = self.client.api_keys.revoke(key.id)
        self.assertTrue(revoked.revoked)
        self.assertIsNotNone(revoked.revoked_at)
        with self.assertRaises(callbackd.Unauthorized):
            writer.callbacks.list()
        with self.assertRaises(callbackd.ValidationError) as ctx:
            self.client.api_keys.create("bad", ["root"])
        self.assertTrue(ctx.exception.field.startswith("scopes"))


class TestWebhookEndpoints(ServerTest):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.receiver = Receiver()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.receiver.close()

    def pings(self, path: str) -> list:
        return [r for r in self.receiver.on(path) if json.loads(r.body).get("type") == "ping"]

    def test_crud_secret_rotation_ping_and_retry(self) -> None:
        w = self.client.webhooks
        ep = w.create(self.receiver.url("/crud"), event_types=["callback.completed", "callback.failed"],
                      description="crud")
        self.assertTrue(ep.id.startswith("we_"))
        self.assertTrue(ep.secret.startswith("whsec_"))
        self.assertEqual(ep.event_types, ["callback.completed", "callback.failed"])
        self.assertTrue(ep.enabled)
        self.assertEqual(w.get(ep.id).url, ep.url)
        self.assertIsNone(w.get(ep.id).secret)
        self.assertIn(ep.id, [x.id for x in w.list()])
        self.assertEqual(w.secret(ep.id), ep.secret)

        up = w.update(ep.id, description="renamed", event_types=None)
        self.assertEqual(up.description, "renamed")
        self.assertEqual(up.event_types, [])
        self.assertFalse(w.update(ep.id, enabled=False).enabled)
        self.assertTrue(w.update(ep.id, enabled=True).enabled)
        with self.assertRaises(callbackd.ValidationError) as ctx:
            w.update(ep.id, url="ftp://example.com/")
        self.assertEqual(ctx.exception.field, "url")

        # Rotate with an overlap: a ping carries both signatures, and each
        # secret alone verifies it.
        old = ep.secret
        new = w.rotate_secret(ep.id, overlap="1h")
        self.assertNotEqual(new, old)
        self.assertEqual(w.secret(ep.id), new)
        delivery = w.test(ep.id)
        self.assertEqual(delivery.event_type, "ping")
        self.assertIn(delivery.status, ("pending", "succeeded"))
        got = self.receiver.wait_for(lambda _: self.pings("/crud"))[0]
        self.assertEqual(len(got.headers["Webhook-Signature"].split()), 2)
        body = callbackd.verify(got.body, got.headers, new)
        self.assertEqual(body["type"], "ping")
        self.assertEqual(body["data"]["details"]["webhook_id"], ep.id)
        self.assertEqual(callbackd.verify(got.body, got.headers, old), body)

        # Deliveries, and a retry of the ping: the same event ID again.
        def done() -> list:
            return [d for d in w.deliveries(ep.id) if d.id == delivery.id and d.status == "succeeded"]

        deadline = time.monotonic() + 10
        while not done() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertTrue(done())
        again = w.retry_delivery(ep.id, delivery.id)
        self.assertEqual(again.id, delivery.id)
        self.assertEqual(again.status, "pending")
        twice = self.receiver.wait_for(lambda _: len(self.pings("/crud")) >= 2 and self.pings("/crud"))
        self.assertEqual(twice[0].headers["Webhook-Id"], twice[1].headers["Webhook-Id"])

        # Rotate with no overlap: only the new secret signs.
        newest = w.rotate_secret(ep.id, overlap="0s")
        w.test(ep.id)
        third = self.receiver.wait_for(lambda _: len(self.pings("/crud")) >= 3 and self.pings("/crud"))[2]
        callbackd.verify(third.body, third.headers, newest)
        with self.assertRaises(callbackd.WebhookVerificationError):
            callbackd.verify(third.body, third.headers, new)

        self.assertIsNone(w.delete(ep.id))
        with self.assertRaises(callbackd.NotFound):
            w.get(ep.id)

    def test_rest_hooks_subscription(self) -> None:
        sub = self.client.hooks.subscribe(self.receiver.url("/zap"), "callback.scheduled")
        self.assertTrue(sub.id.startswith("we_"))
        self.assertEqual(sub.event, "callback.scheduled")
        self.assertEqual(self.client.webhooks.get(sub.id).source, "rest_hook")
        cb = self.client.callbacks.create(fresh_number(), rep_number=self.numbers["echo"], scheduled_at=later())

        def mine(reqs: list) -> list:
            return [r for r in reqs if r.path == "/zap" and json.loads(r.body)["data"]["callback"]["id"] == cb.id]

        got = self.receiver.wait_for(mine)[0]
        body = callbackd.verify(got.body, got.headers, sub.secret)
        self.assertEqual((body["type"], body["sequence"]), ("callback.scheduled", 1))
        self.client.hooks.unsubscribe(sub.id)
        with self.assertRaises(callbackd.NotFound):
            self.client.webhooks.get(sub.id)
        self.client.callbacks.cancel(cb.id)


class TestCallbackDeliveries(ServerTest):
    """``/v1/callbacks/{id}/deliveries`` and their retry: what went to a
    callback's own ``webhook_url``, not to endpoints."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.receiver = Receiver()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.receiver.close()

    @staticmethod
    def webhook_id(r: Received) -> str:
        return next(v for k, v in r.headers.items() if k.lower() == "webhook-id")

    def test_list_and_retry(self) -> None:
        c = self.client
        secret = c.webhooks.callback_secret()
        own = self.receiver.url("/own-deliveries")
        # An endpoint gets the same events: its deliveries are not the callback's.
        ep = c.webhooks.create(self.receiver.url("/endpoint-deliveries"), event_types=["callback.failed"])
        self.addCleanup(c.webhooks.delete, ep.id)
        # The customer declines: the callback fails at once, not retried.
        cb = c.callbacks.create(self.numbers["reject"], rep_number=self.numbers["echo"], webhook_url=own)
        self.receiver.wait_for(lambda _: self.receiver.on("/own-deliveries"))
        self.assertEqual(c.callbacks.wait(cb.id, timeout=30, interval=0.2).status, "failed", server_log())
        events = list(c.callbacks.iter_events(cb.id))
        self.receiver.wait_for(
            lambda _: len({self.webhook_id(r) for r in self.receiver.on("/own-deliveries")}) >= len(events))

        # Listed once each has been answered (the receiver's 204 is recorded
        # just after it got the request).
        def all_succeeded() -> list:
            ds = list(c.callbacks.deliveries(cb.id, limit=100))
            return ds if len(ds) == len(events) and all(d.status == "succeeded" for d in ds) else []

        deadline = time.monotonic() + 10
        ds = all_succeeded()
        while not ds and time.monotonic() < deadline:
            time.sleep(0.2)
            ds = all_succeeded()
        self.assertTrue(ds, "the callback's deliveries did not all succeed: %r" % (
            list(c.callbacks.deliveries(cb.id, limit=100)),))
        for d in ds:
            self.assertIsInstance(d, callbackd.Delivery)
            self.assertTrue(d.id)
            self.assertEqual((d.callback_id, d.url), (cb.id, own))
            self.assertFalse(d.webhook_id)
            self.assertTrue(d.attempts)
            self.assertTrue(200 <= d.attempts[-1].status_code < 300, d.attempts)
        # Newest first; one delivery per event of the log.
        self.assertEqual([d.sequence for d in ds], [e.sequence for e in reversed(events)])
        self.assertEqual([(d.event_id, d.event_type) for d in ds], [(e.id, e.type) for e in reversed(events)])
        self.assertEqual({d.event_id for d in ds}, {self.webhook_id(r) for r in self.receiver.on("/own-deliveries")})

        # Page by page, and from a cursor.
        page = c.callbacks.deliveries(cb.id, limit=2)
        self.assertEqual(len(page), 2)
        self.assertTrue(page.has_more)
        self.assertEqual([d.id for d in page.iter_all()], [d.id for d in ds])
        self.assertEqual(sum(1 for _ in page.pages()), (len(ds) + 1) // 2)
        rest = c.callbacks.deliveries(cb.id, starting_after=ds[0].id, limit=100)
        self.assertEqual([d.id for d in rest], [d.id for d in ds[1:]])
        self.assertFalse(rest.has_more)

        # Sent again: the same event, the same webhook-id, signed as before.
        last = ds[0]
        self.assertEqual(last.event_type, "callback.failed")
        before = len(self.receiver.on("/own-deliveries"))
        again = c.callbacks.retry_delivery(cb.id, last.id)
        self.assertIsInstance(again, callbackd.Delivery)
        self.assertEqual((again.id, again.event_id, again.callback_id, again.url),
                         (last.id, last.event_id, cb.id, own))
        self.assertEqual(again.status, "pending")
        got = self.receiver.wait_for(
            lambda _: [r for r in self.receiver.on("/own-deliveries")[before:] if self.webhook_id(r) == last.event_id])
        body = callbackd.verify(got[0].body, got[0].headers, secret)
        self.assertEqual((body["id"], body["type"]), (last.event_id, "callback.failed"))

        def resent() -> bool:
            d = next(d for d in c.callbacks.deliveries(cb.id, limit=100) if d.id == last.id)
            return d.status == "succeeded" and len(d.attempts) == len(last.attempts) + 1

        deadline = time.monotonic() + 10
        while not resent() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertTrue(resent(), "the retry's attempt is not listed")

        # Another callback's delivery, or an endpoint's, is not this one's.
        ep_ds = [d for d in c.webhooks.deliveries(ep.id).iter_all() if d.callback_id == cb.id]
        self.assertEqual([d.event_type for d in ep_ds], ["callback.failed"])
        self.assertNotIn(ep_ds[0].id, [d.id for d in c.callbacks.deliveries(cb.id, limit=100)])
        with self.assertRaises(callbackd.NotFound):
            c.callbacks.retry_delivery(cb.id, ep_ds[0].id)
        other = c.callbacks.create(fresh_number(), rep_number=self.numbers["echo"], scheduled_at=later())
        self.addCleanup(c.callbacks.cancel, other.id)
        none = c.callbacks.deliveries(other.id)
        self.assertEqual((len(none), none.has_more), (0, False))
        with self.assertRaises(callbackd.NotFound):
            c.callbacks.retry_delivery(other.id, last.id)

        # A key that may read callbacks lists them; retrying needs callbacks:write.
        key = c.api_keys.create("python deliveries reader", ["callbacks:read"])
        reader = callbackd.Client(self.info["url"], key.secret)
        self.assertEqual(len(reader.callbacks.deliveries(cb.id, limit=100)), len(ds))
        with self.assertRaises(callbackd.Forbidden):
            reader.callbacks.retry_delivery(cb.id, last.id)
        c.api_keys.revoke(key.id)

    def test_unknown_callback(self) -> None:
        with self.assertRaises(callbackd.NotFound) as ctx:
            self.client.callbacks.deliveries("cb_00000000000000000000000000")
        self.assertEqual((ctx.exception.status, ctx.exception.code), (404, "not-found"))
        with self.assertRaises(callbackd.NotFound):
            self.client.callbacks.retry_delivery("cb_00000000000000000000000000", "dlv_00000000000000000000000000")


class TestTriggers(ServerTest):
    """/v1/triggers and events sent to /v1/hooks/{trigger_id}; the mapped
    callbacks are due an hour on, so nothing is dialled."""

    def mapping(self) -> dict:
        return {"customer_number": "payload.phone", "customer_name": "payload.?name.orValue('')",
                "rep_number": "'%s'" % self.numbers["echo"], "delay": "'1h'",
                "metadata": {"source": "'python tests'"}}

    def test_crud_and_fire(self) -> None:
        t = self.client.triggers
        trg = t.create("hot leads", self.mapping(), condition="payload.score >= 80", dedup="1h")
        self.assertTrue(trg.id.startswith("trg_"))
        self.assertTrue(trg.secret.startswith("tsec_"))
        self.assertEqual(trg.url, "/v1/hooks/" + trg.id)
        self.assertEqual(trg.auth_mode, "token_header")
        self.assertTrue(trg.enabled)
        self.assertEqual(trg.mapping["customer_number"], "payload.phone")
        self.assertIsNone(t.get(trg.id).secret)
        self.assertIn(trg.id, [x.id for x in t.list()])

        phone = fresh_number()
        res = t.fire(trg, {"score": 91, "phone": phone, "name": "Ada"})
        self.assertTrue(res.matched)
        self.assertTrue(res.created)
        self.assertFalse(res.duplicate)
        self.assertEqual(res.callback.customer.number, phone)
        self.assertEqual(res.callback.customer.name, "Ada")
        self.assertEqual(res.callback.metadata, {"source": "python tests"})
        self.assertEqual(res.callback.status, "scheduled")
        self.assertEqual(res.callback_id, res.callback.id)
        first = self.client.callbacks.events(res.callback.id)[0]
        self.assertEqual((first.type, first.data.get("trigger_id")), ("callback.scheduled", trg.id))

        dup = t.fire(trg.id, {"score": 95, "phone": phone}, trg.secret)
        self.assertTrue(dup.matched and dup.duplicate)
        self.assertEqual(dup.callback_id, res.callback.id)
        self.assertIsNone(dup.callback)

        miss = t.fire(trg, {"score": 10, "phone": fresh_number()})
        self.assertFalse(miss.matched)
        self.assertEqual(miss.reason, "condition is false")

        with self.assertRaises(callbackd.ValidationError) as ctx:
            t.fire(trg, {"score": 99})
        self.assertEqual((ctx.exception.field, ctx.exception.reason), ("mapping.customer_number", "missing_field"))
        with self.assertRaises(callbackd.Unauthorized):
            t.fire(trg.id, {"score": 99, "phone": fresh_number()}, "tsec_wrong")

        # Disabled, then enabled again.
        self.assertFalse(t.update(trg.id, enabled=False).enabled)
        with self.assertRaises(callbackd.TriggerDisabled) as ctx2:
            t.fire(trg, {"score": 99, "phone": fresh_number()})
        self.assertIsInstance(ctx2.exception, callbackd.Conflict)
        up = t.update(trg.id, enabled=None, condition=None, name="all leads")
        self.assertTrue(up.enabled)
        self.assertIsNone(up.condition)
        self.assertEqual(up.name, "all leads")
        self.assertTrue(t.fire(trg, {"score": 1, "phone": fresh_number()}).created)

        # A new secret; the old one stops at once.
        new = t.rotate_secret(trg.id)
        self.assertNotEqual(new, trg.secret)
        with self.assertRaises(callbackd.Unauthorized):
            t.fire(trg, {"phone": fresh_number()})
        self.assertTrue(t.fire(trg.id, {"phone": fresh_number()}, new).created)

        # With an overlap the secret just replaced works on beside the new
        # one; the one before it does not.
        newer = t.rotate_secret(trg.id, overlap="1h")
        self.assertTrue(newer.startswith("tsec_"))
        self.assertNotEqual(newer, new)
        phone = fresh_number()
        self.assertTrue(t.fire(trg.id, {"phone": phone}, new).matched)
        self.assertTrue(t.fire(trg.id, {"phone": phone}, newer).matched)  # a duplicate, but let in
        with self.assertRaises(callbackd.Unauthorized):
            t.fire(trg.id, {"phone": fresh_number()}, trg.secret)

        # With none the one replaced stops at once, and the one the overlap
        # kept goes too.
        newest = t.rotate_secret(trg.id)
        for old in (newer, new):
            with self.assertRaises(callbackd.Unauthorized):
                t.fire(trg.id, {"phone": fresh_number()}, old)
        self.assertTrue(t.fire(trg.id, {"phone": fresh_number()}, newest).created)
        with self.assertRaises(callbackd.ValidationError) as ctx3:
            t.rotate_secret(trg.id, overlap="200h")
        self.assertEqual((ctx3.exception.status, ctx3.exception.field), (422, "overlap"))
        self.assertTrue(t.fire(trg.id, {"phone": fresh_number()}, newest).created)
        new = newest

        self.assertIsNone(t.delete(trg.id))
        with self.assertRaises(callbackd.NotFound):
            t.get(trg.id)
        with self.assertRaises(callbackd.NotFound):
            t.fire(trg.id, {"phone": fresh_number()}, new)

    def test_auth_modes(self) -> None:
        for mode in ("hmac_sha256", "token_query"):
            trg = self.client.triggers.create("mode " + mode, self.mapping(), auth_mode=mode)
            self.assertEqual(trg.auth_mode, mode)
            res = self.client.triggers.fire(trg, {"phone": fresh_number()})
            self.assertTrue(res.created, mode)
            with self.assertRaises(callbackd.Unauthorized):
                self.client.triggers.fire(trg.id, {"phone": fresh_number()}, "tsec_wrong", auth_mode=mode)
            # The raw bytes are what is signed and sent.
            raw = json.dumps({"phone": fresh_number(), "name": "Raw"}).encode()
            self.assertEqual(self.client.triggers.fire(trg, raw).callback.customer.name, "Raw")
            self.client.triggers.delete(trg.id)
        trg = self.client.triggers.create("header", self.mapping())
        # A client without an API key can send events.
        app = callbackd.Client(self.info["url"], api_key="")
        self.assertTrue(app.triggers.fire(trg.id, {"phone": fresh_number()}, trg.secret).created)
        with self.assertRaises(callbackd.Unauthorized):
            app.triggers.list()
        self.client.triggers.delete(trg.id)

    def test_invalid_expression(self) -> None:
        with self.assertRaises(callbackd.ValidationError) as ctx:
            self.client.triggers.create("bad", {"customer_number": "payload.phone +", "team": "'sales'"})
        e = ctx.exception
        self.assertEqual(e.reason, "invalid_expression")
        self.assertTrue(e.field.startswith("mapping.customer_number"), e.field)
        self.assertIn("line 1", e.detail)


class TestMisc(ServerTest):
    def test_health_ready_openapi(self) -> None:
        self.assertEqual(self.client.health()["status"], "ok")
        self.assertEqual(self.client.ready()["status"], "ok")
        doc = self.client.openapi()
        self.assertTrue(doc["openapi"].startswith("3.1"))
        self.assertIn("/v1/callbacks", doc["paths"])

    def test_backup(self) -> None:
        import io

        buf = io.BytesIO()
        n = self.client.backup(buf)
        self.assertGreater(n, 0)
        self.assertEqual(len(buf.getvalue()), n)


if __name__ == "__main__":
    unittest.main()
