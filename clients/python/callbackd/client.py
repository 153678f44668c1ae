"""The callbackd API client."""

from __future__ import annotations

import dataclasses
import json as _json
import os
import platform
import ssl
import time
import urllib.parse
from datetime import datetime
from typing import Any, BinaryIO, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, TypeVar, Union

from . import __version__
from ._transport import _NO_BODY, Response, Transport
from .errors import WaitTimeout
from .models import (
    APIKey,
    Callback,
    Delivery,
    Event,
    HookResult,
    Model,
    Page,
    Party,
    RetryPolicy,
    Subscription,
    Team,
    Trigger,
    Webhook,
    WebhookEvent,
    Window,
    format_time,
)
from .webhooks import trigger_signature

__all__ = ["Client", "Callbacks", "Teams", "Webhooks", "APIKeys", "Hooks", "Triggers"]

M = TypeVar("M", bound=Model)

#: The Idempotency-Key argument every POST method takes: None makes one up
#: (a UUID, reused on the request's retries), a string is used as it is.
IdempotencyKey = Optional[str]

PartyLike = Union[str, Party, Mapping[str, Any]]
RetryLike = Union[RetryPolicy, Mapping[str, Any]]
WindowLike = Union[Window, Mapping[str, Any]]


def _seg(value: str) -> str:
    """A path segment, escaped."""
    if not isinstance(value, str) or not value:
        raise ValueError("an ID must be a non-empty string, got %r" % (value,))
    return urllib.parse.quote(value, safe="")


def _party(value: PartyLike, name: Optional[str] = None) -> Dict[str, Any]:
    if isinstance(value, str):
        out: Dict[str, Any] = {"number": value}
    elif isinstance(value, Party):
        out = {"number": value.number}
        if value.name:
            out["name"] = value.name
    elif isinstance(value, Mapping):
        out = dict(value)
    else:
        raise TypeError("expected a phone number, a Party or a dict, got %s" % type(value).__name__)
    if name is not None:
        out["name"] = name
    return out


def _plain(value: Any) -> Any:
    """A JSON-ready copy of an input: models become their raw dicts,
    datetimes RFC 3339 strings."""
    if isinstance(value, Model):
        if value.raw:
            return value.raw
        # A model made by hand: its fields that are set.
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name != "raw" and getattr(value, f.name) not in (None, [], {})}
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _drop_none(d: Dict[str, Any]) -> Dict[str, Any]:
    return {k: _plain(v) for k, v in d.items() if v is not None}


class _Resource:
    def __init__(self, client: "Client") -> None:
        self._client = client
        self._t = client._transport

    def _page(self, cls: Callable[[Any], M], resp: Response,
              fetch_next: Optional[Callable[[Page[M]], Optional[Page[M]]]] = None) -> Page[M]:
        body = resp.data if isinstance(resp.data, dict) else {}
        items = body.get("data") or []
        return Page([cls(x) for x in items if isinstance(x, dict)], bool(body.get("has_more")), body, fetch_next)


class Callbacks(_Resource):
    """``/v1/callbacks``: create, read, list, cancel, the event log, and
    the deliveries to a callback's own ``webhook_url``."""

    def create(
        self,
        customer: PartyLike,
        *,
        team: Optional[str] = None,
        rep_number: Optional[str] = None,
        customer_name: Optional[str] = None,
        country: Optional[str] = None,
        scheduled_at: Union[datetime, str, None] = None,
        retry: Optional[RetryLike] = None,
        webhook_url: Optional[str] = None,
        metadata: Optional[Mapping[str, str]] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Callback:
        """Asks for a callback to ``customer`` (a number in E.164, or a
        national one with ``country``; or a dict or :class:`Party`) by
        ``team`` or by the one ``rep_number``, now or at ``scheduled_at``.
        The answer is ``scheduled``, or ``in_progress`` when it was due now
        and dialled at once."""
        cust = _party(customer, customer_name)
        if country is not None:
            cust["country"] = country
        body = _drop_none({
            "customer": cust,
            "team": team,
            "rep_number": rep_number,
            "scheduled_at": scheduled_at,
            "retry": retry,
            "webhook_url": webhook_url,
            "metadata": metadata,
        })
        resp = self._t.request("POST", "/v1/callbacks", body=body, idempotency_key=idempotency_key)
        return Callback.from_dict(resp.data)

    def get(self, callback_id: str) -> Callback:
        """One callback with its attempts (oldest first)."""
        return Callback.from_dict(self._t.request("GET", "/v1/callbacks/" + _seg(callback_id)).data)

    def list(
        self,
        *,
        status: Optional[str] = None,
        team: Optional[str] = None,
        customer: Optional[str] = None,
        created_gte: Union[datetime, str, None] = None,
        created_lt: Union[datetime, str, None] = None,
        limit: Optional[int] = None,
        starting_after: Optional[str] = None,
    ) -> Page[Callback]:
        """A page of callbacks, newest first. ``page.iter_all()`` goes on
        through the following pages (``starting_after`` the last ID while
        ``has_more``); so does :meth:`iter`."""
        params = {"status": status, "team": team, "customer": customer, "created_gte": created_gte,
                  "created_lt": created_lt, "limit": limit}

        def fetch(after: Optional[str]) -> Page[Callback]:
            resp = self._t.request("GET", "/v1/callbacks", params=dict(params, starting_after=after))
            return self._page(Callback.from_dict, resp, lambda p: fetch(p.data[-1].id))

        return fetch(starting_after)

    def iter(self, **filters: Any) -> Iterator[Callback]:
        """Every callback matching the filters of :meth:`list`, newest
        first, fetching page after page."""
        return self.list(**filters).iter_all()

    def cancel(self, callback_id: str, *, idempotency_key: IdempotencyKey = None) -> Callback:
        """Cancels a callback; a call in progress is hung up first. A final
        callback raises :class:`Conflict`."""
        resp = self._t.request("POST", "/v1/callbacks/%s/cancel" % _seg(callback_id),
                               idempotency_key=idempotency_key)
        return Callback.from_dict(resp.data)

    def events(self, callback_id: str, *, after: Optional[int] = None, limit: Optional[int] = None) -> Page[Event]:
        """A page of the callback's event log, by sequence number, after
        the sequence number ``after``; ``iter_all()`` reads the rest."""
        path = "/v1/callbacks/%s/events" % _seg(callback_id)

        def fetch(after_seq: Optional[int]) -> Page[Event]:
            resp = self._t.request("GET", path, params={"after": after_seq, "limit": limit})
            return self._page(Event.from_dict, resp, lambda p: fetch(p.data[-1].sequence))

        return fetch(after)

    def iter_events(self, callback_id: str, *, after: Optional[int] = None) -> Iterator[Event]:
        """Every event of the callback's log (after ``after``), in order."""
        return self.events(callback_id, after=after, limit=1000).iter_all()

    def deliveries(self, callback_id: str, *, limit: Optional[int] = None,
                   starting_after: Optional[str] = None) -> Page[Delivery]:
        """A page of the deliveries of the callback's events to its own
        ``webhook_url``, newest first, each with its attempts (no
        ``webhook_id``: there is no endpoint); ``iter_all()`` reads on.
        An endpoint's deliveries are :meth:`Webhooks.deliveries`."""
        path = "/v1/callbacks/%s/deliveries" % _seg(callback_id)

        def fetch(after: Optional[str]) -> Page[Delivery]:
            resp = self._t.request("GET", path, params={"limit": limit, "starting_after": after})
            return self._page(Delivery.from_dict, resp, lambda p: fetch(p.data[-1].id))

        return fetch(starting_after)

    def retry_delivery(self, callback_id: str, delivery_id: str, *,
                       idempotency_key: IdempotencyKey = None) -> Delivery:
        """Sends one of the callback's ``webhook_url`` deliveries again, due
        at once, with the same event ID; returns it (``pending`` until
        sent). One that is not this callback's raises :class:`NotFound`."""
        resp = self._t.request("POST", "/v1/callbacks/%s/deliveries/%s/retry" % (_seg(callback_id), _seg(delivery_id)),
                               idempotency_key=idempotency_key)
        return Delivery.from_dict(resp.data)

    def wait(
        self,
        callback_id: str,
        *,
        status: Union[str, Iterable[str], None] = None,
        timeout: float = 120.0,
        interval: float = 0.5,
    ) -> Callback:
        """Polls the callback until it is final (or in one of ``status``)
        and returns it; raises :class:`WaitTimeout` after ``timeout``
        seconds."""
        wanted = None
        if status is not None:
            wanted = {status} if isinstance(status, str) else set(status)
        deadline = time.monotonic() + timeout
        while True:
            cb = self.get(callback_id)
            if (cb.status in wanted) if wanted is not None else cb.is_final:
                return cb
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout("callback %s is still %s after %.1fs" % (callback_id, cb.status, timeout))
            time.sleep(min(interval, left))


class Teams(_Resource):
    """``/v1/teams``: reps, strategy, business hours, retry policy."""

    def create(
        self,
        reps: Sequence[PartyLike],
        *,
        id: Optional[str] = None,
        name: Optional[str] = None,
        strategy: Optional[str] = None,
        window: Optional[WindowLike] = None,
        retry: Optional[RetryLike] = None,
        rep_ring_timeout: Optional[str] = None,
        customer_ring_timeout: Optional[str] = None,
        whisper: Optional[str] = None,
        caller_id: Union[PartyLike, None] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Team:
        """Creates a team; ``reps`` are numbers, dicts or :class:`Party`
        objects, in the order they are tried. Without ``id`` the server
        makes one (``team_...``)."""
        if isinstance(reps, (str, bytes)):
            raise TypeError("reps must be a list")
        body = _drop_none({
            "id": id,
            "name": name,
            "reps": [_party(r) for r in reps],
            "strategy": strategy,
            "window": window,
            "retry": retry,
            "rep_ring_timeout": rep_ring_timeout,
            "customer_ring_timeout": customer_ring_timeout,
            "whisper": whisper,
            "caller_id": _party(caller_id) if caller_id is not None else None,
        })
        resp = self._t.request("POST", "/v1/teams", body=body, idempotency_key=idempotency_key)
        return Team.from_dict(resp.data)

    def get(self, team_id: str) -> Team:
        return Team.from_dict(self._t.request("GET", "/v1/teams/" + _seg(team_id)).data)

    def list(self) -> Page[Team]:
        """Every team, by ID (one page)."""
        return self._page(Team.from_dict, self._t.request("GET", "/v1/teams"))

    def update(self, team_id: str, **changes: Any) -> Team:
        """Replaces the fields given (a window or retry policy whole); a
        field given as None is reset to its default (sent as null)::

            client.teams.update("sales", name="Sales EU", window=None)
        """
        if "reps" in changes and changes["reps"] is not None:
            changes["reps"] = [_party(r) for r in changes["reps"]]
        if "caller_id" in changes and changes["caller_id"] is not None:
            changes["caller_id"] = _party(changes["caller_id"])
        resp = self._t.request("PATCH", "/v1/teams/" + _seg(team_id), body=_plain(changes))
        return Team.from_dict(resp.data)

    def delete(self, team_id: str) -> None:
        """Deletes a team; one that pending callbacks name raises
        :class:`Conflict`."""
        self._t.request("DELETE", "/v1/teams/" + _seg(team_id))


class Webhooks(_Resource):
    """``/v1/webhooks``: endpoints, their secrets and deliveries."""

    def create(
        self,
        url: str,
        *,
        event_types: Optional[Sequence[str]] = None,
        description: Optional[str] = None,
        enabled: Optional[bool] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Webhook:
        """Subscribes ``url`` to callback events (``event_types``, or every
        type). The answer's ``secret`` verifies the deliveries."""
        body = _drop_none({"url": url, "event_types": list(event_types) if event_types is not None else None,
                           "description": description, "enabled": enabled})
        resp = self._t.request("POST", "/v1/webhooks", body=body, idempotency_key=idempotency_key)
        return Webhook.from_dict(resp.data)

    def get(self, webhook_id: str) -> Webhook:
        return Webhook.from_dict(self._t.request("GET", "/v1/webhooks/" + _seg(webhook_id)).data)

    def list(self) -> Page[Webhook]:
        """Every endpoint, oldest first (one page), without secrets."""
        return self._page(Webhook.from_dict, self._t.request("GET", "/v1/webhooks"))

    def update(self, webhook_id: str, **changes: Any) -> Webhook:
        """Replaces the fields given (``url``, ``event_types``,
        ``description``, ``enabled``); None resets one to its default."""
        resp = self._t.request("PATCH", "/v1/webhooks/" + _seg(webhook_id), body=_plain(changes))
        return Webhook.from_dict(resp.data)

    def delete(self, webhook_id: str) -> None:
        """Deletes an endpoint; its pending deliveries are given up."""
        self._t.request("DELETE", "/v1/webhooks/" + _seg(webhook_id))

    def secret(self, webhook_id: str) -> str:
        """The endpoint's current signing secret (``whsec_...``)."""
        return self._t.request("GET", "/v1/webhooks/%s/secret" % _seg(webhook_id)).data["secret"]

    def rotate_secret(self, webhook_id: str, *, overlap: Optional[str] = None,
                      idempotency_key: IdempotencyKey = None) -> str:
        """Makes a new current secret and returns it; the old ones go on
        signing beside it for ``overlap`` (a duration such as ``"1h"``;
        the server's default is 24h)."""
        body: Any = {"overlap": overlap} if overlap is not None else _NO_BODY
        resp = self._t.request("POST", "/v1/webhooks/%s/rotate-secret" % _seg(webhook_id), body=body,
                               idempotency_key=idempotency_key)
        return resp.data["secret"]

    def deliveries(self, webhook_id: str, *, limit: Optional[int] = None,
                   starting_after: Optional[str] = None) -> Page[Delivery]:
        """A page of the endpoint's deliveries, newest first, each with its
        attempts; ``iter_all()`` reads on."""
        path = "/v1/webhooks/%s/deliveries" % _seg(webhook_id)

        def fetch(after: Optional[str]) -> Page[Delivery]:
            resp = self._t.request("GET", path, params={"limit": limit, "starting_after": after})
            return self._page(Delivery.from_dict, resp, lambda p: fetch(p.data[-1].id))

        return fetch(starting_after)

    def retry_delivery(self, webhook_id: str, delivery_id: str, *,
                       idempotency_key: IdempotencyKey = None) -> Delivery:
        """Makes a succeeded or failed delivery pending again, due at once."""
        resp = self._t.request("POST", "/v1/webhooks/%s/deliveries/%s/retry" % (_seg(webhook_id), _seg(delivery_id)),
                               idempotency_key=idempotency_key)
        return Delivery.from_dict(resp.data)

    def test(self, webhook_id: str, *, idempotency_key: IdempotencyKey = None) -> Delivery:
        """Queues a ``ping`` event to the endpoint; returns its delivery."""
        resp = self._t.request("POST", "/v1/webhooks/%s/test" % _seg(webhook_id), idempotency_key=idempotency_key)
        return Delivery.from_dict(resp.data)

    def callback_secret(self) -> str:
        """The server's secret that signs deliveries to callbacks' own
        ``webhook_url`` (endpoints have their own)."""
        return self._t.request("GET", "/v1/webhook-secret").data["secret"]


class APIKeys(_Resource):
    """``/v1/api-keys`` (admin)."""

    def create(self, name: str, scopes: Sequence[str], *, idempotency_key: IdempotencyKey = None) -> APIKey:
        """Creates a key with ``scopes`` (``callbacks:write``,
        ``callbacks:read``, ``admin``); its ``secret`` is shown this once."""
        if isinstance(scopes, str):
            scopes = [scopes]
        resp = self._t.request("POST", "/v1/api-keys", body={"name": name, "scopes": list(scopes)},
                               idempotency_key=idempotency_key)
        return APIKey.from_dict(resp.data)

    def list(self) -> Page[APIKey]:
        """Every key, revoked ones included, without secrets (one page)."""
        return self._page(APIKey.from_dict, self._t.request("GET", "/v1/api-keys"))

    def revoke(self, key_id: str, *, idempotency_key: IdempotencyKey = None) -> APIKey:
        """Revokes a key (revoking a revoked key changes nothing)."""
        resp = self._t.request("POST", "/v1/api-keys/%s/revoke" % _seg(key_id), idempotency_key=idempotency_key)
        return APIKey.from_dict(resp.data)


class Hooks(_Resource):
    """REST Hooks (``/v1/hooks/...``) for Zapier, n8n and Make."""

    def subscribe(self, target_url: str, event: str, *, idempotency_key: IdempotencyKey = None) -> Subscription:
        """Sends every ``event`` from now on to ``target_url``."""
        resp = self._t.request("POST", "/v1/hooks/subscriptions", body={"target_url": target_url, "event": event},
                               idempotency_key=idempotency_key)
        return Subscription.from_dict(resp.data)

    def unsubscribe(self, subscription_id: str) -> None:
        self._t.request("DELETE", "/v1/hooks/subscriptions/" + _seg(subscription_id))

    def samples(self, event: str, *, limit: Optional[int] = None) -> List[WebhookEvent]:
        """The most recent events of a type as webhook bodies, newest first."""
        resp = self._t.request("GET", "/v1/hooks/samples", params={"event": event, "limit": limit})
        body = resp.data if isinstance(resp.data, dict) else {}
        return [WebhookEvent.from_dict(x) for x in body.get("data") or [] if isinstance(x, dict)]


class Triggers(_Resource):
    """``/v1/triggers`` (admin), and sending events to a trigger's inbound
    URL (``/v1/hooks/{trigger_id}``), which needs the trigger's secret, not
    an API key."""

    def create(
        self,
        name: str,
        mapping: Mapping[str, Any],
        *,
        condition: Optional[str] = None,
        dedup: Optional[str] = None,
        rate_limit: Optional[int] = None,
        auth_mode: Optional[str] = None,
        enabled: Optional[bool] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Trigger:
        """Creates a trigger. ``condition`` and the values of ``mapping``
        (``customer_number`` required; ``team`` or ``rep_number``;
        ``customer_name``, ``customer_country``, ``scheduled_at`` or
        ``delay``, ``metadata``) are CEL expressions over ``payload`` —
        a constant is a quoted literal such as ``"'sales'"``. ``auth_mode``:
        ``token_header`` (the default), ``token_query`` or ``hmac_sha256``.
        The answer's ``secret`` is shown this once."""
        body = _drop_none({
            "name": name,
            "condition": condition,
            "mapping": dict(mapping),
            "dedup": dedup,
            "rate_limit": rate_limit,
            "auth": {"mode": auth_mode} if auth_mode is not None else None,
            "enabled": enabled,
        })
        resp = self._t.request("POST", "/v1/triggers", body=body, idempotency_key=idempotency_key)
        return Trigger.from_dict(resp.data)

    def get(self, trigger_id: str) -> Trigger:
        return Trigger.from_dict(self._t.request("GET", "/v1/triggers/" + _seg(trigger_id)).data)

    def list(self) -> Page[Trigger]:
        """Every trigger, oldest first (one page), without secrets."""
        return self._page(Trigger.from_dict, self._t.request("GET", "/v1/triggers"))

    def update(self, trigger_id: str, **changes: Any) -> Trigger:
        """Replaces the fields given, whole (``name``, ``condition``,
        ``mapping``, ``dedup``, ``rate_limit``, ``auth``, ``enabled``); None
        resets one to its default. ``auth_mode="..."`` is short for
        ``auth={"mode": "..."}``."""
        if "auth_mode" in changes:
            mode = changes.pop("auth_mode")
            changes["auth"] = {"mode": mode} if mode is not None else None
        resp = self._t.request("PATCH", "/v1/triggers/" + _seg(trigger_id), body=_plain(changes))
        return Trigger.from_dict(resp.data)

    def delete(self, trigger_id: str) -> None:
        """Deletes the trigger; its URL answers 404 from then on."""
        self._t.request("DELETE", "/v1/triggers/" + _seg(trigger_id))

    def rotate_secret(self, trigger_id: str, *, overlap: Optional[str] = None,
                      idempotency_key: IdempotencyKey = None) -> str:
        """Gives the trigger a new secret and returns it. By default the
        secret it replaces stops working at once; with ``overlap`` (a
        duration such as ``"1h"``, at most ``"168h"``) it goes on
        authenticating events beside the new one for that long. Only the
        secret just replaced is kept: a second rotation drops the one kept
        by the first."""
        body: Any = {"overlap": overlap} if overlap is not None else _NO_BODY
        resp = self._t.request("POST", "/v1/triggers/%s/rotate-secret" % _seg(trigger_id), body=body,
                               idempotency_key=idempotency_key)
        return resp.data["secret"]

    def fire(
        self,
        trigger: Union[str, Trigger],
        payload: Union[Mapping[str, Any], bytes],
        secret: Optional[str] = None,
        *,
        auth_mode: Optional[str] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> HookResult:
        """Sends an event to a trigger, as the application would:
        ``payload`` (a dict, sent as JSON, or the raw JSON bytes) is
        authenticated with the trigger's ``secret`` in the way ``auth_mode``
        says (``token_header``: the ``X-Callbackd-Token`` header;
        ``token_query``: ``?token=``; ``hmac_sha256``: an
        ``X-Callbackd-Signature``). Given a :class:`Trigger`, its ID, mode
        and (when it has it) secret are used. No API key is sent.

        Returns a :class:`HookResult`: a new ``callback``, a ``duplicate``,
        or ``matched`` False with the ``reason``. Refusals raise as usual
        (:class:`ValidationError` for an event that does not fit,
        :class:`TriggerDisabled`, :class:`RateLimited`, ...)."""
        if isinstance(trigger, Trigger):
            trigger_id = trigger.id
            auth_mode = auth_mode or trigger.auth_mode
            secret = secret or trigger.secret
        else:
            trigger_id = trigger
        if not secret:
            raise ValueError("the trigger's secret is required")
        mode = auth_mode or "token_header"
        body = payload if isinstance(payload, (bytes, bytearray)) else _json.dumps(
            _plain(payload), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        body = bytes(body)
        headers: Dict[str, str] = {}
        params: Optional[Dict[str, str]] = None
        if mode == "token_header":
            headers["X-Callbackd-Token"] = secret
        elif mode == "token_query":
            params = {"token": secret}
        elif mode == "hmac_sha256":
            headers["X-Callbackd-Signature"] = trigger_signature(secret, body)
        else:
            raise ValueError("unknown auth_mode %r: token_header, token_query or hmac_sha256" % (mode,))
        resp = self._t.request("POST", "/v1/hooks/" + _seg(trigger_id), params=params, body=body,
                               idempotency_key=idempotency_key, headers=headers, auth=False)
        return HookResult.from_dict(resp.data)


class Client:
    """A client of one callbackd server.

    ``base_url`` is the API's address (``http://127.0.0.1:8080``);
    ``api_key`` an API key secret (None: ``$CALLBACKD_API_KEY``).
    ``timeout`` bounds each HTTP request in seconds; ``max_retries`` is how
    often a failed request is tried again (see :class:`Transport` for
    which), waiting ``backoff_base`` × 2^n seconds (at most
    ``backoff_max``, less random jitter) or as the server's Retry-After
    says (up to ``max_retry_after``).

    The API's parts are attributes: :attr:`callbacks`, :attr:`teams`,
    :attr:`webhooks`, :attr:`api_keys`, :attr:`hooks`, :attr:`triggers`. A client holds no
    connection open and may be shared between threads.
    """

    def __init__(
        self,
        base_url: str,
        api_key: Optional[str] = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 2,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        max_retry_after: float = 60.0,
        user_agent: Optional[str] = None,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        if api_key is None:
            api_key = os.environ.get("CALLBACKD_API_KEY") or None
        ua = "callbackd-python/%s Python/%s" % (__version__, platform.python_version())
        if user_agent:
            ua = user_agent + " " + ua
        self._transport = Transport(base_url, api_key, timeout=timeout, max_retries=max_retries,
                                    backoff_base=backoff_base, backoff_max=backoff_max,
                                    max_retry_after=max_retry_after, user_agent=ua, ssl_context=ssl_context)
        self.callbacks = Callbacks(self)
        self.teams = Teams(self)
        self.webhooks = Webhooks(self)
        self.api_keys = APIKeys(self)
        self.hooks = Hooks(self)
        self.triggers = Triggers(self)

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    def __repr__(self) -> str:
        return "Client(%r)" % (self.base_url,)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release today; here so a client can be used in a
        ``with`` block."""

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Optional[Mapping[str, Any]] = None,
        json: Any = _NO_BODY,
        idempotency_key: Union[str, bool, None] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> Any:
        """Sends any request to the API, with the client's authentication,
        retries and error mapping, and returns the decoded JSON (None for
        an empty body). For routes this client has no method for yet.
        A POST gets a fresh Idempotency-Key unless ``idempotency_key`` is
        given (False: none)."""
        body = _plain(json) if json is not _NO_BODY else _NO_BODY
        return self._transport.request(method, path, params=params, body=body, idempotency_key=idempotency_key,
                                       headers=headers).data

    def health(self) -> Dict[str, Any]:
        """``GET /healthz``."""
        return self._transport.request("GET", "/healthz", auth=False).data

    def ready(self) -> Dict[str, Any]:
        """``GET /readyz``: the readiness checks; a 503 raises
        :class:`ServiceUnavailable` (retried first, like any 503)."""
        return self._transport.request("GET", "/readyz", auth=False).data

    def openapi(self) -> Dict[str, Any]:
        """The server's OpenAPI document."""
        return self._transport.request("GET", "/v1/openapi.json", auth=False).data

    def backup(self, dest: BinaryIO, chunk_size: int = 1 << 16) -> int:
        """Writes a consistent copy of the server's store to ``dest`` (a
        binary file) and returns the number of bytes written (admin)."""
        resp = self._transport.request("GET", "/v1/backup", stream=True, headers={"Accept": "application/octet-stream"})
        n = 0
        with resp:
            while True:
                chunk = resp.read(chunk_size)
                if not chunk:
                    break
                dest.write(chunk)
                n += len(chunk)
        return n
