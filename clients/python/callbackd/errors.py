"""Exceptions raised by the callbackd client.

Every error the server answers is an RFC 9457 ``application/problem+json``
document; :class:`APIError` carries its fields (``type``, ``title``,
``status``, ``detail``, ``field``, ``reason``) and its subclasses name the
common cases, so callers can write ``except callbackd.NotFound``.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Type

__all__ = [
    "CallbackdError",
    "APIError",
    "BadRequest",
    "ValidationError",
    "IdempotencyMismatch",
    "Unauthorized",
    "Forbidden",
    "DestinationNotAllowed",
    "NotFound",
    "MethodNotAllowed",
    "Conflict",
    "IdempotencyInFlight",
    "TriggerDisabled",
    "RateLimited",
    "DailyLimitReached",
    "ServerError",
    "ServiceUnavailable",
    "APIConnectionError",
    "APITimeoutError",
    "WaitTimeout",
    "WebhookVerificationError",
    "PROBLEM_PREFIX",
]

#: Every problem type the server sends starts with this; the rest is the code.
PROBLEM_PREFIX = "urn:callbackd:problem:"


class CallbackdError(Exception):
    """The base of every exception this package raises."""


class APIError(CallbackdError):
    """The server answered with an error status.

    Attributes mirror the problem document: ``type`` (stable; what to
    switch on), ``title``, ``status`` (the HTTP status), ``detail`` (what
    happened this time), ``field`` (the offending input, such as
    ``customer.number`` or ``Idempotency-Key``) and ``reason`` (the
    engine's finer code, such as ``invalid_number``). ``raw`` is the whole
    problem document as a dict (extra members included) and ``headers`` the
    response headers.
    """

    def __init__(
        self,
        status: int,
        type: str = "about:blank",
        title: str = "",
        detail: str = "",
        field: Optional[str] = None,
        reason: Optional[str] = None,
        raw: Optional[Dict[str, Any]] = None,
        headers: Optional[Mapping[str, str]] = None,
        method: Optional[str] = None,
        url: Optional[str] = None,
    ) -> None:
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.field = field
        self.reason = reason
        self.raw: Dict[str, Any] = dict(raw or {})
        self.headers: Dict[str, str] = dict(headers or {})
        self.method = method
        self.url = url
        super().__init__(self._message())

    @property
    def code(self) -> str:
        """The problem's code: its type without ``urn:callbackd:problem:``
        (``validation``, ``not-found``, ...)."""
        if self.type.startswith(PROBLEM_PREFIX):
            return self.type[len(PROBLEM_PREFIX):]
        return self.type

    def _message(self) -> str:
        parts = [str(self.status), self.code]
        if self.field:
            parts.append(self.field)
        text = ": ".join(parts)
        detail = self.detail or self.title
        if detail:
            text += ": " + detail
        if self.reason:
            text += " (" + self.reason + ")"
        return text

    def __repr__(self) -> str:
        return "%s(status=%r, type=%r, detail=%r, field=%r, reason=%r)" % (
            type(self).__name__, self.status, self.type, self.detail, self.field, self.reason)


class BadRequest(APIError):
    """400, 413 or 415: the request could not be read (malformed JSON, an
    unknown field, a wrong type, a body too large)."""


class ValidationError(BadRequest):
    """422: a value was refused; ``field`` names it, ``reason`` says why."""


class IdempotencyMismatch(ValidationError):
    """422 ``idempotency-mismatch``: the Idempotency-Key was used with
    another request in the last 24 hours."""


class Unauthorized(APIError):
    """401: no API key, or an unknown or revoked one."""


class Forbidden(APIError):
    """403: the API key lacks the scope, or a guardrail refused the
    destination (see :class:`DestinationNotAllowed`)."""


class DestinationNotAllowed(Forbidden):
    """403 ``destination-not-allowed`` or ``premium-rate``: the guardrails
    refuse to call this number."""


class NotFound(APIError):
    """404: no such resource (or route)."""


class MethodNotAllowed(APIError):
    """405: the path has no such method."""


class Conflict(APIError):
    """409: the resource's state forbids it (a callback already final, an
    ID taken, a team still in use)."""


class IdempotencyInFlight(Conflict):
    """409 ``idempotency-in-flight``: a request with the same
    Idempotency-Key is still running."""


class TriggerDisabled(Conflict):
    """409 ``trigger-disabled``: the trigger is disabled."""


class RateLimited(APIError):
    """429: too many requests. ``retry_after`` is the server's
    ``Retry-After`` in seconds, when it sent one."""

    @property
    def retry_after(self) -> Optional[float]:
        from ._transport import parse_retry_after

        return parse_retry_after(self.headers.get("Retry-After") or self.headers.get("retry-after"))


class DailyLimitReached(RateLimited):
    """429 ``daily-limit``: the customer's number had its allowed callbacks
    in the last 24 hours. Retrying soon will not help."""


class ServerError(APIError):
    """5xx: the server failed."""


class ServiceUnavailable(ServerError):
    """503: the server is shutting down (``draining``) or unavailable."""


class APIConnectionError(CallbackdError, ConnectionError):
    """No HTTP response: the connection was refused or dropped, or DNS or
    TLS failed. The original exception is ``__cause__``."""

    def __init__(self, message: str, method: Optional[str] = None, url: Optional[str] = None) -> None:
        super().__init__(message)
        self.method = method
        self.url = url

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class APITimeoutError(APIConnectionError, TimeoutError):
    """The server did not answer within the client's timeout."""


class WaitTimeout(CallbackdError, TimeoutError):
    """A wait (such as :meth:`Callbacks.wait`) ran out of time."""


class WebhookVerificationError(CallbackdError, ValueError):
    """A received webhook failed verification: headers missing, timestamp
    outside the tolerance, no matching signature, or an invalid secret."""


_BY_TYPE: Dict[str, Type[APIError]] = {
    "idempotency-mismatch": IdempotencyMismatch,
    "idempotency-in-flight": IdempotencyInFlight,
    "trigger-disabled": TriggerDisabled,
    "destination-not-allowed": DestinationNotAllowed,
    "premium-rate": DestinationNotAllowed,
    "daily-limit": DailyLimitReached,
    "draining": ServiceUnavailable,
}

_BY_STATUS: Dict[int, Type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    413: BadRequest,
    415: BadRequest,
    422: ValidationError,
    429: RateLimited,
    503: ServiceUnavailable,
}


def error_class(status: int, problem_type: str) -> Type[APIError]:
    """The exception class for a status and problem type."""
    code = problem_type[len(PROBLEM_PREFIX):] if problem_type.startswith(PROBLEM_PREFIX) else ""
    cls = _BY_TYPE.get(code)
    if cls is not None:
        return cls
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    if status >= 500:
        return ServerError
    return APIError


def make_api_error(
    status: int,
    body: Any,
    headers: Optional[Mapping[str, str]] = None,
    method: Optional[str] = None,
    url: Optional[str] = None,
) -> APIError:
    """Builds the exception for an error response; ``body`` is the decoded
    JSON (a problem document, normally) or the response text."""
    raw: Dict[str, Any] = body if isinstance(body, dict) else {}
    ptype = raw.get("type") if isinstance(raw.get("type"), str) else "about:blank"
    title = raw.get("title") if isinstance(raw.get("title"), str) else ""
    detail = raw.get("detail") if isinstance(raw.get("detail"), str) else ""
    if not raw and isinstance(body, str):
        detail = body.strip()[:500]
    field = raw.get("field") if isinstance(raw.get("field"), str) else None
    reason = raw.get("reason") if isinstance(raw.get("reason"), str) else None
    cls = error_class(status, ptype)
    return cls(status=status, type=ptype, title=title, detail=detail,
               field=field, reason=reason, raw=raw, headers=headers, method=method, url=url)
