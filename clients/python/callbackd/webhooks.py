"""Verifying (and signing) webhooks by the Standard Webhooks scheme
(https://www.standardwebhooks.com), as callbackd sends them.

Each request carries ``webhook-id`` (the event's ID, the same on every
retry), ``webhook-timestamp`` (Unix seconds when this attempt was sent)
and ``webhook-signature``: space-separated ``v1,<base64 HMAC-SHA256>`` of
``{id}.{timestamp}.{raw body}``, keyed with the base64-decoded part of the
``whsec_`` secret, one per active secret during a rotation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from datetime import datetime
from typing import Any, Dict, Mapping, Optional, Union

from .errors import WebhookVerificationError

__all__ = ["verify", "sign", "trigger_signature", "WebhookVerificationError", "DEFAULT_TOLERANCE"]

#: How far (seconds) a webhook-timestamp may be from now, either way.
DEFAULT_TOLERANCE = 300

_SECRET_PREFIX = "whsec_"


def _key(secret: Union[str, bytes]) -> bytes:
    if isinstance(secret, bytes):
        secret = secret.decode("ascii", "replace")
    if not isinstance(secret, str):
        raise WebhookVerificationError("invalid webhook secret: expected a string")
    s = secret.strip()
    if s.startswith(_SECRET_PREFIX):
        s = s[len(_SECRET_PREFIX):]
    if not s:
        raise WebhookVerificationError("invalid webhook secret: empty")
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        # Never echo the secret itself.
        raise WebhookVerificationError("invalid webhook secret: not base64 after %r" % _SECRET_PREFIX) from None


def _mac(key: bytes, msg_id: str, timestamp: int, payload: bytes) -> bytes:
    signed = msg_id.encode("utf-8") + b"." + str(timestamp).encode("ascii") + b"." + payload
    return hmac.new(key, signed, hashlib.sha256).digest()


def _get(headers: Any, name: str) -> Optional[str]:
    """A header's value from a dict (any case), an email.message.Message,
    a WSGI environ (``HTTP_WEBHOOK_ID``) or anything with ``items()``."""
    getter = getattr(headers, "get", None)
    if getter is not None:
        for candidate in (name, name.title(), name.upper()):
            v = getter(candidate)
            if v is not None:
                return v if isinstance(v, str) else (v.decode("latin-1") if isinstance(v, bytes) else str(v))
    lname = name.lower()
    wsgi = "http_" + lname.replace("-", "_")
    items = headers.items() if hasattr(headers, "items") else headers
    for k, v in items:
        if isinstance(k, bytes):
            k = k.decode("latin-1")
        kl = k.lower()
        if kl == lname or kl == wsgi:
            return v.decode("latin-1") if isinstance(v, bytes) else str(v)
    return None


def sign(secret: str, msg_id: str, timestamp: Union[int, float, datetime], payload: Union[bytes, str]) -> str:
    """The ``v1,<base64>`` signature of ``payload`` sent as ``msg_id`` at
    ``timestamp`` (Unix seconds or a datetime) under ``secret``: what the
    server puts in ``webhook-signature``. For tests of a receiver."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    if isinstance(timestamp, datetime):
        timestamp = timestamp.timestamp()
    return "v1," + base64.b64encode(_mac(_key(secret), msg_id, int(timestamp), payload)).decode("ascii")


def verify(
    payload: Union[bytes, bytearray, str],
    headers: Mapping[str, Any],
    secret: str,
    tolerance: float = DEFAULT_TOLERANCE,
    now: Optional[float] = None,
) -> Dict[str, Any]:
    """Verifies a received webhook and returns its decoded JSON body (an
    object: :meth:`WebhookEvent.from_dict` makes it typed).

    ``payload`` is the raw request body, exactly as received (parse it
    only after verifying); ``headers`` the request's headers (a dict in any
    case, an ``email.message.Message``, a WSGI environ...); ``secret`` the
    endpoint's ``whsec_...`` secret (the prefix is optional). The
    ``webhook-timestamp`` must be within ``tolerance`` seconds of ``now``
    (default: the current time), before or after, and one of the
    signatures in ``webhook-signature`` must match (compared in constant
    time). Raises :class:`WebhookVerificationError` otherwise.
    """
    key = _key(secret)
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    elif isinstance(payload, bytearray):
        payload = bytes(payload)
    elif not isinstance(payload, bytes):
        raise TypeError("payload must be the raw body as bytes, got %s" % type(payload).__name__)

    msg_id = _get(headers, "webhook-id")
    ts_text = _get(headers, "webhook-timestamp")
    sigs = _get(headers, "webhook-signature")
    missing = [n for n, v in (("webhook-id", msg_id), ("webhook-timestamp", ts_text), ("webhook-signature", sigs))
               if v is None or not v.strip()]
    if missing:
        raise WebhookVerificationError("missing webhook headers: " + ", ".join(missing))
    assert msg_id is not None and ts_text is not None and sigs is not None

    ts_text = ts_text.strip()
    if not (ts_text.isascii() and ts_text.isdigit()):
        raise WebhookVerificationError("webhook-timestamp %r is not Unix seconds" % ts_text[:32])
    ts = int(ts_text)
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        raise WebhookVerificationError(
            "webhook-timestamp is %ds from now, more than the tolerance of %ds" % (int(current - ts), int(tolerance)))

    expected = _mac(key, msg_id, ts, payload)
    matched = False
    for entry in sigs.split():
        version, sep, value = entry.partition(",")
        if not sep or version != "v1":
            continue
        try:
            got = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        # Check every entry, so the time taken does not tell which matched.
        if hmac.compare_digest(got, expected):
            matched = True
    if not matched:
        raise WebhookVerificationError("no matching webhook signature")
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise WebhookVerificationError("the signed payload is not JSON: %s" % e) from None
    if not isinstance(body, dict):
        raise WebhookVerificationError("the signed payload is not a JSON object")
    return body


def trigger_signature(secret: str, body: Union[bytes, str]) -> str:
    """The ``X-Callbackd-Signature`` value of an event sent to a trigger
    whose ``auth.mode`` is ``hmac_sha256``: ``sha256=`` and the hex
    HMAC-SHA256 of the raw body, keyed with the trigger's ``tsec_`` secret
    as it is (not decoded)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
