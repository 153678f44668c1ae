"""A webhook receiver for the tests: a local HTTP server that records every
request (path, headers, raw body) and answers 204."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List


class Received:
    def __init__(self, path: str, headers: Dict[str, str], body: bytes) -> None:
        self.path = path
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return "Received(%r, %r)" % (self.path, self.body[:80])


class Receiver:
    def __init__(self) -> None:
        self.requests: List[Received] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with receiver._cond:
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
                    receiver._cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return "http://127.0.0.1:%d%s" % (self._server.server_address[1], path)

    def wait_for(self, predicate: Callable[[List[Received]], Any], timeout: float = 15.0) -> Any:
        """Waits until predicate(requests so far) is truthy and returns it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate(list(self.requests))
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("receiver: condition not met in %.0fs; got %d requests: %r"
                                         % (timeout, len(self.requests), self.requests[-10:]))
                self._cond.wait(left)

    def on(self, path: str) -> List[Received]:
        with self._cond:
            return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

