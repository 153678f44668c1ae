"""HTTP, retries and error mapping: the part of the client every resource
uses. Standard library only (urllib)."""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import random
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Mapping, Optional, Union

from .errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    DailyLimitReached,
    IdempotencyInFlight,
    make_api_error,
)

log = logging.getLogger("callbackd")

#: Methods that may be sent again without harm. PATCH is one here: the
#: API's updates replace the fields given, so a repeat changes nothing.
IDEMPOTENT_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"))

_NO_BODY = object()


def new_idempotency_key() -> str:
    """A fresh Idempotency-Key (a random UUID)."""
    return str(uuid.uuid4())


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP
    date. None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        secs = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        ref = now if now is not None else time.time()
        secs = when.timestamp() - ref
    if secs != secs:  # NaN
        return None
    return max(0.0, secs)


def header(headers: Mapping[str, str], name: str) -> Optional[str]:
    """A header's value, looked up without regard to case."""
    v = headers.get(name)
    if v is not None:
        return v
    lname = name.lower()
    for k, v in headers.items():
        if k.lower() == lname:
            return v
    return None


class Response:
    """A decoded response: ``status``, ``headers`` (a dict), ``body``
    (bytes) and ``data`` (the decoded JSON, or None)."""

    def __init__(self, status: int, headers: Dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.data: Any = _decode(headers, body)

    def header(self, name: str) -> Optional[str]:
        return header(self.headers, name)

    @property
    def replayed(self) -> bool:
        """Whether the server answered from an earlier request with the
        same Idempotency-Key (``Idempotent-Replayed: true``)."""
        return (self.header("Idempotent-Replayed") or "").lower() == "true"


def _decode(headers: Mapping[str, str], body: bytes) -> Any:
    if not body:
        return None
    ctype = (header(headers, "Content-Type") or "").lower()
    text = body.decode("utf-8", "replace")
    if "json" in ctype or text.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


class Transport:
    """Sends requests with authentication, an Idempotency-Key on POSTs,
    and retries with exponential backoff and jitter.

    Retried: connection failures and timeouts (for idempotent methods and
    POSTs with an Idempotency-Key; a refused connection, which sent
    nothing, always), 429 (waiting as Retry-After says, unless that is
    longer than ``max_retry_after`` or the limit is the daily one), 409
    ``idempotency-in-flight``, and 5xx but 501 and 505 (for idempotent
    methods and POSTs with an Idempotency-Key).
    """

    def __init__(
        self,
        base_url: str,
        api_key: Optional[str],
        timeout: float = 30.0,
        max_retries: int = 2,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        max_retry_after: float = 60.0,
        user_agent: Optional[str] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required, such as http://127.0.0.1:8080")
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("base_url must be an absolute http or https URL, got %r" % (base_url,))
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.user_agent = user_agent
        self._sleep = sleep
        handlers = []
        if ssl_context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=ssl_context))
        self._opener = urllib.request.build_opener(*handlers)

    # -- the request -------------------------------------------------------

    def url(self, path: str, params: Optional[Mapping[str, Any]] = None) -> str:
        url = self.base_url + path
        if params:
            pairs = []
            for k, v in params.items():
                if v is None:
                    continue
                if isinstance(v, bool):
                    v = "true" if v else "false"
                elif isinstance(v, datetime):
                    from .models import format_time

                    v = format_time(v)
                pairs.append((k, str(v)))
            if pairs:
                url += "?" + urllib.parse.urlencode(pairs)
        return url

    def request(
        self,
        method: str,
        path: str,
        params: Optional[Mapping[str, Any]] = None,
        body: Any = _NO_BODY,
        idempotency_key: Union[str, bool, None] = None,
        headers: Optional[Mapping[str, str]] = None,
        stream: bool = False,
        auth: bool = True,
    ) -> Any:
        """Sends a request and returns a :class:`Response` (or, with
        ``stream``, the open urllib response, to read and close). Raises
        an :class:`APIError` subclass for an error status and
        :class:`APIConnectionError` when no response came.

        ``idempotency_key``: None makes one up for a POST; a string is
        used as it is; False sends none."""
        method = method.upper()
        url = self.url(path, params)
        data: Optional[bytes] = None
        hdrs: Dict[str, str] = {"Accept": "application/json"}
        if self.user_agent:
            hdrs["User-Agent"] = self.user_agent
        if auth and self.api_key:
            hdrs["Authorization"] = "Bearer " + self.api_key
        if body is not _NO_BODY:
            if isinstance(body, (bytes, bytearray)):
                data = bytes(body)
            else:
                data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        key: Optional[str] = None
        if method == "POST":
            if idempotency_key is None:
                key = new_idempotency_key()
            elif isinstance(idempotency_key, str):
                key = idempotency_key
            if key is not None:
                hdrs["Idempotency-Key"] = key
        if headers:
            hdrs.update(headers)
        safe = method in IDEMPOTENT_METHODS or key is not None

        attempt = 0
        while True:
            delay: Optional[float]
            try:
                result = self._send(method, url, data, hdrs, stream)
            except _ConnectionFailure as failure:
                retryable = safe or failure.refused
                if retryable and attempt < self.max_retries:
                    delay = self._backoff(attempt)
                    log.info("callbackd: %s %s: %s; retry %d in %.2fs", method, url, failure.message,
                             attempt + 1, delay)
                    self._sleep(delay)
                    attempt += 1
                    continue
                cls = APITimeoutError if failure.timeout else APIConnectionError
                raise cls("%s %s: %s" % (method, url, failure.message), method=method, url=url) \
                    from failure.cause
            if not isinstance(result, Response) or result.status < 400:
                return result
            err = make_api_error(result.status, result.data, result.headers, method=method, url=url)
            delay = self._retry_delay(err, safe, attempt)
            if delay is not None and attempt < self.max_retries:
                log.info("callbackd: %s %s: %s; retry %d in %.2fs", method, url, err.status, attempt + 1, delay)
                self._sleep(delay)
                attempt += 1
                continue
            raise err

    def _send(self, method: str, url: str, data: Optional[bytes], hdrs: Dict[str, str], stream: bool) -> Any:
        req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
        try:
            resp = self._opener.open(req, timeout=self.timeout)
        except urllib.error.HTTPError as e:
            try:
                body = e.read()
            except (OSError, http.client.HTTPException):
                body = b""
            finally:
                e.close()
            return Response(e.code, dict(e.headers.items()) if e.headers else {}, body)
        except urllib.error.URLError as e:
            raise _ConnectionFailure(e.reason if isinstance(e.reason, BaseException) else e)
        except (OSError, http.client.HTTPException) as e:
            raise _ConnectionFailure(e)
        if stream:
            return resp
        try:
            with resp:
                body = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise _ConnectionFailure(e)
        return Response(resp.status, dict(resp.headers.items()), body)

    # -- retry policy ------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: a random wait between half and
        all of base × 2^attempt, at most backoff_max."""
        delay = min(self.backoff_max, self.backoff_base * (2 ** attempt))
        return delay * random.uniform(0.5, 1.0)

    def _retry_delay(self, err: APIError, safe: bool, attempt: int) -> Optional[float]:
        """How long to wait before retrying after err, or None not to."""
        retry_after = parse_retry_after(header(err.headers, "Retry-After"))
        if err.status == 429:
            if isinstance(err, DailyLimitReached):
                return None
            if retry_after is not None:
                return retry_after if retry_after <= self.max_retry_after else None
            return self._backoff(attempt)
        if isinstance(err, IdempotencyInFlight):
            return self._backoff(attempt)
        if err.status >= 500 and err.status not in (501, 505) and safe:
            if retry_after is not None and retry_after <= self.max_retry_after:
                return max(retry_after, 0.0)
            return self._backoff(attempt)
        return None


class _ConnectionFailure(Exception):
    """A request that got no HTTP response."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.timeout = isinstance(cause, (socket.timeout, TimeoutError))
        self.refused = isinstance(cause, ConnectionRefusedError)
        self.message = str(cause) or type(cause).__name__
        if self.timeout and not str(cause):
            self.message = "timed out"
