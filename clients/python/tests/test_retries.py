"""Retries, backoff and the Idempotency-Key on retries.

The retry decisions are checked against a small local stub server that
answers as scripted (503s, 429s with Retry-After, dropped connections,
slow answers); the idempotency of a retried POST against the real server,
behind a stub proxy that forwards the request and then loses the answer.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import unittest
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

from server_fixture import server

import callbackd


def problem(status: int, code: str, **extra: Any) -> Tuple[int, Dict[str, str], bytes]:
    body = {"type": "urn:callbackd:problem:" + code, "title": code, "status": status, "detail": code}
    body.update(extra)
    return status, {"Content-Type": "application/problem+json"}, json.dumps(body).encode()


def ok(body: Any = None, status: int = 200) -> Tuple[int, Dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body if body is not None else {"ok": True}).encode()


class Stub:
    """A local HTTP server answering from a script, one action a request:
    ("respond", (status, headers, body)), ("close",), ("sleep", seconds),
    ("proxy",) or ("proxy_then", (status, headers, body)) — forward to
    ``upstream`` and answer that instead. Records every request, and every
    upstream answer."""

    def __init__(self, script: List[Tuple[Any, ...]], upstream: Optional[str] = None) -> None:
        self.script = list(script)
        self.upstream = upstream
        self.requests: List[Dict[str, Any]] = []
        self.upstream_answers: List[Tuple[int, Dict[str, str], bytes]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def handle_any(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                stub.requests.append({"method": self.command, "path": self.path,
                                      "headers": dict(self.headers.items()), "body": body})
                action = stub.script.pop(0) if stub.script else ("respond", ok())
                kind = action[0]
                if kind == "close":
                    self.close_connection = True
                    return
                if kind == "sleep":
                    time.sleep(action[1])
                    self.answer(ok())
                    return
                if kind in ("proxy", "proxy_then"):
                    answer = stub.forward(self.command, self.path, dict(self.headers.items()), body)
                    stub.upstream_answers.append(answer)
                    self.answer(answer if kind == "proxy" else action[1])
                    return
                self.answer(action[1])

            def answer(self, a: Tuple[int, Dict[str, str], bytes]) -> None:
                status, headers, body = a
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = handle_any  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self._server.server_address[1]

    def forward(self, method: str, path: str, headers: Dict[str, str], body: bytes) -> Tuple[int, Dict[str, str], bytes]:
        keep = {k: v for k, v in headers.items() if k.lower() in ("authorization", "content-type", "idempotency-key")}
        req = urllib.request.Request(self.upstream + path, data=body or None, headers=keep, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers.items()), e.read()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class RetryTest(unittest.TestCase):
    def stub(self, *script: Tuple[Any, ...], upstream: Optional[str] = None) -> Stub:
        s = Stub(list(script), upstream)
        self.addCleanup(s.close)
        return s

    def client(self, stub: Stub, **kw: Any) -> callbackd.Client:
        kw.setdefault("backoff_base", 0.01)
        kw.setdefault("max_retries", 2)
        return callbackd.Client(stub.url, kw.pop("api_key", "cbk_test"), **kw)


class TestRetries(RetryTest):
    def test_get_503_then_ok(self) -> None:
        s = self.stub(("respond", problem(503, "draining")), ("respond", ok({"id": "sales", "reps": []})))
        team = self.client(s).teams.get("sales")
        self.assertEqual(team.id, "sales")
        self.assertEqual(len(s.requests), 2)
        self.assertEqual(s.requests[0]["headers"]["Authorization"], "Bearer cbk_test")

    def test_gives_up_after_max_retries(self) -> None:
        s = self.stub(*[("respond", problem(500, "internal"))] * 5)
        with self.assertRaises(callbackd.ServerError) as ctx:
            self.client(s, max_retries=2).teams.list()
        self.assertEqual((ctx.exception.status, ctx.exception.code), (500, "internal"))
        self.assertEqual(len(s.requests), 3)
        s2 = self.stub(("respond", problem(502, "internal")))
        with self.assertRaises(callbackd.ServerError):
            self.client(s2, max_retries=0).teams.list()
        self.assertEqual(len(s2.requests), 1)

    def test_429_honours_retry_after(self) -> None:
        status, headers, body = problem(429, "rate-limited")
        s = self.stub(("respond", (status, dict(headers, **{"Retry-After": "1"}), body)), ("respond", ok()))
        t0 = time.monotonic()
        self.client(s).request("GET", "/v1/anything")
        self.assertGreaterEqual(time.monotonic() - t0, 0.95)
        self.assertEqual(len(s.requests), 2)

    def test_429_retry_after_http_date(self) -> None:
        status, headers, body = problem(429, "rate-limited")
        when = (datetime.now(timezone.utc) + timedelta(seconds=2)).strftime("%a, %d %b %Y %H:%M:%S GMT")
        s = self.stub(("respond", (status, dict(headers, **{"Retry-After": when}), body)), ("respond", ok()))
        t0 = time.monotonic()
        self.client(s).request("GET", "/v1/anything")
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        self.assertEqual(len(s.requests), 2)

    def test_429_too_long_or_daily_is_not_retried(self) -> None:
        status, headers, body = problem(429, "rate-limited")
        s = self.stub(("respond", (status, dict(headers, **{"Retry-After": "3600"}), body)))
        with self.assertRaises(callbackd.RateLimited) as ctx:
            self.client(s).request("GET", "/v1/anything")
        self.assertEqual(ctx.exception.retry_after, 3600)
        self.assertEqual(len(s.requests), 1)
        s2 = self.stub(("respond", problem(429, "daily-limit", field="customer.number")))
        with self.assertRaises(callbackd.DailyLimitReached) as ctx2:
            self.client(s2).callbacks.create("+12025550100", rep_number="+15550000002")
        self.assertEqual(ctx2.exception.field, "customer.number")
        self.assertEqual(len(s2.requests), 1)

    def test_post_retries_reuse_the_idempotency_key(self) -> None:
        created = ok({"id": "cb_x", "status": "scheduled"}, 201)
        s = self.stub(("respond", problem(503, "draining")), ("close",), ("respond", created))
        cb = self.client(s).callbacks.create("+12025550100", rep_number="+15550000002")
        self.assertEqual(cb.id, "cb_x")
        self.assertEqual(len(s.requests), 3)
        keys = {r["headers"].get("Idempotency-Key") for r in s.requests}
        self.assertEqual(len(keys), 1)
        key = keys.pop()
        self.assertEqual(str(uuid.UUID(key)), key)
        self.assertEqual(len({r["body"] for r in s.requests}), 1)

        # A new call, a new key; a caller's own key is sent as given.
        s2 = self.stub(("respond", created), ("respond", problem(500, "internal")), ("respond", created))
        c = self.client(s2)
        c.callbacks.create("+12025550100", rep_number="+15550000002")
        c.callbacks.create("+12025550100", rep_number="+15550000002", idempotency_key="order-42")
        sent = [r["headers"].get("Idempotency-Key") for r in s2.requests]
        self.assertNotEqual(sent[0], sent[1])
        self.assertEqual(sent[1:], ["order-42", "order-42"])

    def test_every_post_has_a_key(self) -> None:
        s = self.stub(*[("respond", ok({"id": "x", "secret": "whsec_x"}))] * 7)
        c = self.client(s)
        c.callbacks.cancel("cb_x")
        c.api_keys.revoke("key_x")
        c.webhooks.test("we_x")
        c.webhooks.rotate_secret("we_x")
        c.triggers.rotate_secret("trg/x")
        c.triggers.rotate_secret("trg_x", overlap="1h")
        c.triggers.rotate_secret("trg_x", overlap="0s", idempotency_key="rot-1")
        self.assertTrue(all(r["headers"].get("Idempotency-Key") for r in s.requests))
        self.assertEqual(s.requests[3]["body"], b"")
        # A trigger's rotation sends an overlap only when given.
        self.assertEqual([(r["method"], r["path"], r["body"]) for r in s.requests[4:]],
                         [("POST", "/v1/triggers/trg%2Fx/rotate-secret", b""),
                          ("POST", "/v1/triggers/trg_x/rotate-secret", b'{"overlap":"1h"}'),
                          ("POST", "/v1/triggers/trg_x/rotate-secret", b'{"overlap":"0s"}')])
        self.assertIsNone(s.requests[4]["headers"].get("Content-Type"))
        self.assertEqual(s.requests[5]["headers"].get("Content-Type"), "application/json")
        self.assertEqual(s.requests[6]["headers"].get("Idempotency-Key"), "rot-1")

    def test_callback_delivery_routes(self) -> None:
        """A callback's own deliveries: the page's query and cursor, and a
        retry that is a POST with a key, the same on its retry."""
        page1 = ok({"data": [{"id": "dlv_2", "status": "succeeded"}, {"id": "dlv_1", "status": "failed"}],
                    "has_more": True})
        page2 = ok({"data": [{"id": "dlv_0", "status": "succeeded"}], "has_more": False})
        s = self.stub(("respond", page1), ("respond", page2), ("respond", problem(503, "draining")),
                      ("respond", ok({"id": "dlv_1", "callback_id": "cb/x", "status": "pending", "attempts": []})))
        c = self.client(s)
        ids = [d.id for d in c.callbacks.deliveries("cb/x", limit=2).iter_all()]
        self.assertEqual(ids, ["dlv_2", "dlv_1", "dlv_0"])
        self.assertEqual([r["path"] for r in s.requests],
                         ["/v1/callbacks/cb%2Fx/deliveries?limit=2",
                          "/v1/callbacks/cb%2Fx/deliveries?limit=2&starting_after=dlv_1"])
        d = c.callbacks.retry_delivery("cb/x", "dlv_1")
        self.assertIsInstance(d, callbackd.Delivery)
        self.assertEqual((d.id, d.status, d.callback_id), ("dlv_1", "pending", "cb/x"))
        retries = s.requests[2:]
        self.assertEqual([(r["method"], r["path"], r["body"]) for r in retries],
                         [("POST", "/v1/callbacks/cb%2Fx/deliveries/dlv_1/retry", b"")] * 2)
        keys = {r["headers"].get("Idempotency-Key") for r in retries}
        self.assertEqual(len(keys), 1)
        self.assertTrue(keys.pop())
        with self.assertRaises(ValueError):
            c.callbacks.retry_delivery("cb_x", "")

    def test_post_without_key_is_not_retried_on_5xx(self) -> None:
        s = self.stub(("respond", problem(503, "draining")), ("respond", ok()))
        with self.assertRaises(callbackd.ServiceUnavailable):
            self.client(s).request("POST", "/v1/callbacks", json={}, idempotency_key=False)
        self.assertEqual(len(s.requests), 1)
        self.assertNotIn("Idempotency-Key", s.requests[0]["headers"])
        s2 = self.stub(("close",), ("respond", ok()))
        with self.assertRaises(callbackd.APIConnectionError):
            self.client(s2).request("POST", "/v1/callbacks", json={}, idempotency_key=False)
        self.assertEqual(len(s2.requests), 1)

    def test_client_errors_are_not_retried(self) -> None:
        for code, status in (("validation", 422), ("not-found", 404), ("conflict", 409), ("unauthenticated", 401)):
            s = self.stub(("respond", problem(status, code)), ("respond", ok()))
            with self.assertRaises(callbackd.APIError):
                self.client(s).request("GET", "/v1/x")
            self.assertEqual(len(s.requests), 1, code)

    def test_idempotency_in_flight_is_retried(self) -> None:
        s = self.stub(("respond", problem(409, "idempotency-in-flight")), ("respond", ok({"id": "we_x"}, 201)))
        self.assertEqual(self.client(s).webhooks.create("http://example.com/").id, "we_x")
        self.assertEqual(len(s.requests), 2)
        self.assertEqual(s.requests[0]["headers"]["Idempotency-Key"], s.requests[1]["headers"]["Idempotency-Key"])

    def test_dropped_connection_get_is_retried(self) -> None:
        s = self.stub(("close",), ("close",), ("respond", ok({"data": [], "has_more": False})))
        self.assertEqual(len(self.client(s).teams.list()), 0)
        self.assertEqual(len(s.requests), 3)
        s2 = self.stub(*[("close",)] * 3)
        with self.assertRaises(callbackd.APIConnectionError) as ctx:
            self.client(s2).teams.list()
        self.assertIsInstance(ctx.exception, ConnectionError)
        self.assertIsNotNone(ctx.exception.__cause__)
        self.assertEqual(len(s2.requests), 3)

    def test_timeout(self) -> None:
        s = self.stub(("sleep", 1.0), ("sleep", 1.0), ("respond", ok()))
        with self.assertRaises(callbackd.APITimeoutError):
            self.client(s, timeout=0.2, max_retries=1).request("GET", "/v1/x")
        self.assertEqual(len(s.requests), 2)

    def test_connection_refused(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        c = callbackd.Client("http://127.0.0.1:%d" % port, "k", backoff_base=0.01, max_retries=2)
        with self.assertRaises(callbackd.APIConnectionError) as ctx:
            c.request("POST", "/v1/callbacks", json={}, idempotency_key=False)  # nothing was sent: retried
        self.assertNotIsInstance(ctx.exception, callbackd.APITimeoutError)
        self.assertIn("127.0.0.1:%d" % port, str(ctx.exception))

    def test_bad_base_url(self) -> None:
        for url in ("", "localhost:8080", "ftp://x"):
            with self.assertRaises(ValueError):
                callbackd.Client(url, "k")


class TestLostAnswerAgainstRealServer(RetryTest):
    """The first POST reaches callbackd and creates the callback, but its
    answer is lost (the proxy answers 502); the retry, with the same
    Idempotency-Key, gets the stored answer and nothing is created twice."""

    def test_retry_after_lost_answer_creates_once(self) -> None:
        info = server()
        real = callbackd.Client(info["url"], info["admin_key"])
        s = self.stub(("proxy_then", problem(502, "internal")), ("proxy",), upstream=info["url"])
        c = self.client(s, api_key=info["admin_key"])
        customer = "+12025550299"
        when = datetime.now(timezone.utc) + timedelta(days=3)
        cb = c.callbacks.create(customer, rep_number=info["numbers"]["echo"], scheduled_at=when)
        self.assertEqual(len(s.requests), 2)
        first, second = s.upstream_answers
        self.assertEqual(first[0], 201)
        self.assertEqual(second[0], 201)
        self.assertEqual({k.lower(): v for k, v in second[1].items()}.get("idempotent-replayed"), "true")
        self.assertEqual(json.loads(first[2])["id"], cb.id)
        self.assertEqual([x.id for x in real.callbacks.list(customer=customer)], [cb.id])
        real.callbacks.cancel(cb.id)


if __name__ == "__main__":
    unittest.main()
