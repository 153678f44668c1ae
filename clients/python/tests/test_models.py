"""Models and errors built from JSON: typed fields, unknown fields kept in
.raw and never an error, problem documents mapped to exceptions."""

from __future__ import annotations

import unittest
from datetime import datetime, timedelta, timezone

import server_fixture  # noqa: F401  (puts the package on sys.path)

import callbackd
from callbackd.errors import make_api_error
from callbackd.models import format_time, parse_time


class TestTimes(unittest.TestCase):
    def test_parse(self) -> None:
        utc = timezone.utc
        self.assertEqual(parse_time("2026-11-29T01:54:55.600024739Z"),
                         datetime(2026, 11, 29, 1, 54, 55, 600024, tzinfo=utc))
        self.assertEqual(parse_time("2026-11-29T01:54:55Z"), datetime(2026, 11, 29, 1, 54, 55, tzinfo=utc))
        self.assertEqual(parse_time("2026-11-29T01:54:55.5+02:00"),
                         datetime(2026, 11, 28, 23, 54, 55, 500000, tzinfo=utc))
        with self.assertRaises(ValueError):
            parse_time("yesterday")

    def test_format(self) -> None:
        self.assertEqual(format_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)), "2026-01-02T03:04:05Z")
        self.assertEqual(format_time(datetime(2026, 1, 2, 3, 4, 5)), "2026-01-02T03:04:05Z")  # naive: UTC
        self.assertEqual(format_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=1)))),
                         "2026-01-02T03:04:05+01:00")
        self.assertEqual(format_time("2026-01-02T03:04:05Z"), "2026-01-02T03:04:05Z")


CALLBACK = {
    "id": "cb_01m8jg6bzg5hby9h5jtx44b9a5",
    "status": "completed",
    "rep_number": "+15550000002",
    "customer": {"number": "+15550000005", "name": "Ann", "new_customer_field": 1},
    "window": None,
    "retry": {"max_attempts": 6, "intervals": ["2m"], "backoff": {"base": "1m", "factor": 2}},
    "attempt_count": 1,
    "outcome": "connected",
    "created_at": "2026-11-29T01:54:55.600024739Z",
    "updated_at": "2026-11-29T01:55:04.338Z",
    "attempts": [{
        "callback_id": "cb_01m8jg6bzg5hby9h5jtx44b9a5", "number": 1, "started_at": "2026-11-29T01:54:55.6Z",
        "reps": [{"role": "rep", "number": "+15550000002", "sip_code": 200}],
        "customer": {"role": "customer", "number": "+15550000005"},
        "talk_seconds": 5.0, "some_future_field": {"x": 1},
    }],
    "a_field_from_the_future": [1, 2, 3],
}


class TestModels(unittest.TestCase):
    def test_callback(self) -> None:
        cb = callbackd.Callback.from_dict(CALLBACK)
        self.assertEqual(cb.id, CALLBACK["id"])
        self.assertTrue(cb.is_final)
        self.assertEqual(cb.customer, callbackd.Party(number="+15550000005", name="Ann"))
        self.assertEqual(cb.customer.raw["new_customer_field"], 1)
        self.assertIsNone(cb.window)
        self.assertEqual(cb.retry.backoff.base, "1m")
        self.assertEqual(cb.created_at.microsecond, 600024)
        self.assertEqual(cb.attempts[0].reps[0].sip_code, 200)
        self.assertEqual(cb.attempts[0].customer.role, "customer")
        self.assertIsNone(cb.attempts[0].finished_at)
        self.assertEqual(cb.raw["a_field_from_the_future"], [1, 2, 3])
        self.assertEqual(cb.attempts[0].raw["some_future_field"], {"x": 1})
        self.assertIs(cb.to_dict(), CALLBACK)
        self.assertNotIn("raw", repr(cb))

    def test_sparse_and_odd_values(self) -> None:
        cb = callbackd.Callback.from_dict({"id": "cb_x"})
        self.assertEqual((cb.status, cb.attempts, cb.metadata, cb.customer), ("", [], {}, None))
        odd = callbackd.Callback.from_dict({"id": "cb_y", "created_at": "not a time", "attempts": "nope",
                                            "customer": "+15550000005"})
        self.assertEqual(odd.created_at, "not a time")  # kept as sent, not an error
        self.assertEqual(odd.attempts, [])
        self.assertIsNone(odd.customer)
        with self.assertRaises(TypeError):
            callbackd.Callback.from_dict(["not", "an", "object"])

    def test_other_models(self) -> None:
        ev = callbackd.Event.from_dict({"id": "evt_1", "callback_id": "cb_1", "sequence": 3, "type": "call.connected",
                                        "created_at": "2026-11-29T01:54:55Z", "data": {"leg": "rep"}})
        self.assertEqual((ev.sequence, ev.type, ev.data["leg"]), (3, "call.connected", "rep"))
        team = callbackd.Team.from_dict({"id": "sales", "name": "Sales", "reps": [{"number": "+15550000002"}],
                                         "strategy": "sequential", "caller_id": {"number": ""},
                                         "window": {"time_zone": "Europe/London", "hours": {"mon": ["09:00-17:00"]}},
                                         "retry": {}})
        self.assertEqual(team.reps[0].number, "+15550000002")
        self.assertEqual(team.window.closed, [])
        self.assertEqual(team.caller_id.number, "")
        d = callbackd.Delivery.from_dict({"id": "dlv_1", "event_id": "evt_1", "event_type": "ping",
                                          "status": "failed", "attempts": [{"at": "2026-11-29T01:54:55Z",
                                                                            "latency_ms": 3.5, "error": "boom"}]})
        self.assertEqual(d.attempts[0].latency_ms, 3.5)
        self.assertIsNone(d.attempts[0].status_code)
        we = callbackd.WebhookEvent.from_dict({"id": "evt_1", "type": "callback.completed", "sequence": 9,
                                               "created_at": "2026-11-29T01:54:55Z",
                                               "data": {"callback": CALLBACK, "details": {"outcome": "connected"}}})
        self.assertEqual(we.callback.id, CALLBACK["id"])
        self.assertEqual(we.details, {"outcome": "connected"})
        self.assertIsNone(we.attempt)
        self.assertIsNone(we.call)

    def test_page(self) -> None:
        pages = {None: ([1, 2], True), 2: ([3, 4], True), 4: ([5], False)}

        def fetch(after: object) -> callbackd.Page:
            data, more = pages[after]  # type: ignore[index]
            return callbackd.Page(data, more, {}, lambda p: fetch(p.data[-1]))

        first = fetch(None)
        self.assertEqual(list(first), [1, 2])
        self.assertEqual(len(first), 2)
        self.assertEqual(first[-1], 2)
        self.assertEqual(list(first.iter_all()), [1, 2, 3, 4, 5])
        self.assertEqual([p.data for p in first.pages()], [[1, 2], [3, 4], [5]])
        self.assertIsNone(fetch(4).next_page())
        self.assertIsNone(callbackd.Page([], True).next_page())


class TestErrors(unittest.TestCase):
    def problem(self, status: int, code: str, **extra: object) -> callbackd.APIError:
        body = {"type": "urn:callbackd:problem:" + code, "title": "T", "status": status, "detail": "D"}
        body.update(extra)
        return make_api_error(status, body, {"Retry-After": "7"})

    def test_mapping(self) -> None:
        cases = [
            (400, "invalid-json", callbackd.BadRequest),
            (413, "body-too-large", callbackd.BadRequest),
            (401, "unauthenticated", callbackd.Unauthorized),
            (403, "forbidden", callbackd.Forbidden),
            (403, "premium-rate", callbackd.DestinationNotAllowed),
            (403, "destination-not-allowed", callbackd.DestinationNotAllowed),
            (404, "not-found", callbackd.NotFound),
            (405, "method-not-allowed", callbackd.MethodNotAllowed),
            (409, "conflict", callbackd.Conflict),
            (409, "idempotency-in-flight", callbackd.IdempotencyInFlight),
            (422, "validation", callbackd.ValidationError),
            (422, "idempotency-mismatch", callbackd.IdempotencyMismatch),
            (429, "daily-limit", callbackd.DailyLimitReached),
            (429, "rate-limited", callbackd.RateLimited),
            (500, "internal", callbackd.ServerError),
            (503, "draining", callbackd.ServiceUnavailable),
            (418, "teapot", callbackd.APIError),
        ]
        for status, code, cls in cases:
            e = self.problem(status, code)
            self.assertIs(type(e), cls, code)
            self.assertEqual((e.status, e.code, e.title, e.detail), (status, code, "T", "D"))

    def test_fields(self) -> None:
        e = self.problem(422, "validation", field="customer.number", reason="invalid_number", extra="kept")
        self.assertEqual((e.field, e.reason, e.raw["extra"]), ("customer.number", "invalid_number", "kept"))
        self.assertEqual(str(e), "422: validation: customer.number: D (invalid_number)")
        self.assertEqual(self.problem(429, "rate-limited").retry_after, 7.0)

    def test_not_a_problem(self) -> None:
        e = make_api_error(502, "<html>bad gateway</html>")
        self.assertIsInstance(e, callbackd.ServerError)
        self.assertEqual((e.type, e.detail, e.field), ("about:blank", "<html>bad gateway</html>", None))

    def test_hierarchy(self) -> None:
        self.assertTrue(issubclass(callbackd.APIConnectionError, ConnectionError))
        self.assertTrue(issubclass(callbackd.APITimeoutError, callbackd.APIConnectionError))
        self.assertTrue(issubclass(callbackd.APITimeoutError, TimeoutError))
        self.assertTrue(issubclass(callbackd.ValidationError, callbackd.BadRequest))
        for cls in (callbackd.APIError, callbackd.APIConnectionError, callbackd.WaitTimeout):
            self.assertTrue(issubclass(cls, callbackd.CallbackdError))


if __name__ == "__main__":
    unittest.main()
