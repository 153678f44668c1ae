"""Typed results of the callbackd API.

Every model is a dataclass built from the server's JSON by ``from_dict``.
Fields the server may leave out are ``None`` (or empty); fields this
version of the client does not know are ignored, never an error, and the
whole JSON object is kept on each model as ``.raw``. Times are
timezone-aware :class:`datetime.datetime` objects (UTC as the server sends
them); durations stay Go duration strings such as ``"2m"``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import (
    Any,
    Callable,
    Dict,
    Generic,
    Iterator,
    List,
    Optional,
    Type,
    TypeVar,
    overload,
)

__all__ = [
    "Model",
    "Party",
    "CallerID",
    "Window",
    "Backoff",
    "RetryPolicy",
    "Leg",
    "Attempt",
    "Callback",
    "Event",
    "Team",
    "Webhook",
    "DeliveryAttempt",
    "Delivery",
    "WebhookEvent",
    "APIKey",
    "Subscription",
    "Trigger",
    "HookResult",
    "Page",
    "parse_time",
    "format_time",
    "CALLBACK_STATUSES",
    "FINAL_STATUSES",
    "EVENT_TYPES",
]

#: A callback's states.
CALLBACK_STATUSES = ("scheduled", "in_progress", "completed", "failed", "canceled")
#: The states a callback never leaves.
FINAL_STATUSES = frozenset(("completed", "failed", "canceled"))
#: The event types of a callback's log (and of webhooks; ``ping`` aside).
EVENT_TYPES = (
    "callback.scheduled",
    "callback.attempt_started",
    "callback.retry_scheduled",
    "callback.completed",
    "callback.failed",
    "callback.canceled",
    "call.initiated",
    "call.ringing",
    "call.connected",
    "call.completed",
    "call.missed",
)

_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_time(value: str) -> datetime:
    """Parses an RFC 3339 time (any number of fractional digits, ``Z`` or
    an offset) into an aware datetime; fractions beyond microseconds are
    cut."""
    m = _TIME_RE.match(value.strip())
    if not m:
        raise ValueError("not an RFC 3339 time: %r" % (value,))
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7) or ""
    micro = int((frac + "000000")[:6]) if frac else 0
    off = m.group(8)
    if off in ("Z", "z"):
        tz = timezone.utc
    else:
        sign = 1 if off[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(off[1:3]), minutes=int(off[4:6])))
    if second == 60:  # a leap second: the datetime type has none
        second = 59
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)


def format_time(value: Any) -> str:
    """Formats a datetime as RFC 3339 (a naive one is taken as UTC); a
    string is passed through."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        text = value.isoformat()
        if text.endswith("+00:00"):
            text = text[:-6] + "Z"
        return text
    raise TypeError("expected a datetime or an RFC 3339 string, got %s" % type(value).__name__)


def _time(v: Any) -> Optional[datetime]:
    return parse_time(v) if isinstance(v, str) and v else None


def _list_of(conv: Callable[[Any], Any]) -> Callable[[Any], List[Any]]:
    def convert(v: Any) -> List[Any]:
        return [conv(x) for x in v] if isinstance(v, list) else []

    return convert


def _f(conv: Optional[Callable[[Any], Any]] = None, default: Any = None, factory: Any = None) -> Any:
    meta = {"conv": conv} if conv else {}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


M = TypeVar("M", bound="Model")


@dataclass
class Model:
    """The base of every model: ``raw`` is the JSON object it was built
    from, unknown fields included."""

    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls: Type[M], data: Any) -> M:
        if not isinstance(data, dict):
            raise TypeError("%s.from_dict expects a JSON object, got %s" % (cls.__name__, type(data).__name__))
        kwargs: Dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "raw" or not f.init or f.name not in data:
                continue
            value = data[f.name]
            conv = f.metadata.get("conv")
            if conv is not None and value is not None:
                try:
                    value = conv(value)
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass  # keep what the server sent rather than fail
            kwargs[f.name] = value
        obj = cls(**kwargs)
        obj.raw = data
        return obj

    def to_dict(self) -> Dict[str, Any]:
        """The JSON object the model was built from."""
        return self.raw


def _model(cls: Type[M]) -> Callable[[Any], Optional[M]]:
    return lambda v: cls.from_dict(v) if isinstance(v, dict) else None


@dataclass
class Party(Model):
    """A phone number and an optional name (a customer, a rep)."""

    number: str = ""
    name: Optional[str] = None


@dataclass
class CallerID(Model):
    """The number and name a team's customers see; an empty number leaves
    the trunk's."""

    number: str = ""
    name: Optional[str] = None


@dataclass
class Window(Model):
    """Business hours: weekly ranges (``{"mon": ["09:00-17:00"]}``) in an
    IANA time zone, minus closed dates."""

    time_zone: str = ""
    hours: Dict[str, List[str]] = _f(factory=dict)
    closed: List[str] = _f(factory=list)


@dataclass
class Backoff(Model):
    """Exponential backoff of a retry policy."""

    base: str = ""
    factor: Optional[float] = None
    max: Optional[str] = None
    jitter: Optional[float] = None


@dataclass
class RetryPolicy(Model):
    """A callback's (effective) or a team's retry policy."""

    max_attempts: Optional[int] = None
    intervals: List[str] = _f(factory=list)
    backoff: Optional[Backoff] = _f(_model(Backoff))
    deadline: Optional[datetime] = _f(_time)
    deadline_after: Optional[str] = None
    retry_customer_rejected: bool = False


@dataclass
class Leg(Model):
    """One SIP call of an attempt."""

    role: str = ""
    number: str = ""
    call_id: Optional[str] = None
    outcome: Optional[str] = None
    sip_code: Optional[int] = None
    sip_reason: Optional[str] = None
    invited_at: Optional[datetime] = _f(_time)
    ringing_at: Optional[datetime] = _f(_time)
    answered_at: Optional[datetime] = _f(_time)
    ended_at: Optional[datetime] = _f(_time)


@dataclass
class Attempt(Model):
    """One try at a callback; ``finished_at`` and ``outcome`` are None
    while it runs."""

    callback_id: str = ""
    number: int = 0
    started_at: Optional[datetime] = _f(_time)
    finished_at: Optional[datetime] = _f(_time)
    outcome: Optional[str] = None
    cause: Optional[str] = None
    sip_code: Optional[int] = None
    sip_reason: Optional[str] = None
    trunk: Optional[str] = None
    reps: List[Leg] = _f(_list_of(Leg.from_dict), factory=list)
    customer: Optional[Leg] = _f(_model(Leg))
    connected_at: Optional[datetime] = _f(_time)
    talk_seconds: Optional[float] = None
    hung_up_by: Optional[str] = None


@dataclass
class Callback(Model):
    """A callback. ``attempts`` is filled by :meth:`Callbacks.get` (the
    detail view) and empty in lists and in create and cancel answers."""

    id: str = ""
    status: str = ""
    team: Optional[str] = None
    rep_number: Optional[str] = None
    customer: Optional[Party] = _f(_model(Party))
    scheduled_at: Optional[datetime] = _f(_time)
    next_attempt_at: Optional[datetime] = _f(_time)
    window: Optional[Window] = _f(_model(Window))
    retry: Optional[RetryPolicy] = _f(_model(RetryPolicy))
    webhook_url: Optional[str] = None
    metadata: Dict[str, str] = _f(factory=dict)
    attempt_count: int = 0
    outcome: Optional[str] = None
    reason: Optional[str] = None
    created_at: Optional[datetime] = _f(_time)
    updated_at: Optional[datetime] = _f(_time)
    attempts: List[Attempt] = _f(_list_of(Attempt.from_dict), factory=list)

    @property
    def is_final(self) -> bool:
        """Whether the callback is completed, failed or canceled."""
        return self.status in FINAL_STATUSES


@dataclass
class Event(Model):
    """One entry of a callback's ordered event log. ``data`` is the
    event's own data (a dict whose fields depend on ``type``)."""

    id: str = ""
    callback_id: str = ""
    sequence: int = 0
    type: str = ""
    created_at: Optional[datetime] = _f(_time)
    data: Dict[str, Any] = _f(factory=dict)


@dataclass
class Team(Model):
    """A team of reps with its window, retry policy and call settings."""

    id: str = ""
    name: Optional[str] = None
    reps: List[Party] = _f(_list_of(Party.from_dict), factory=list)
    strategy: Optional[str] = None
    window: Optional[Window] = _f(_model(Window))
    retry: Optional[RetryPolicy] = _f(_model(RetryPolicy))
    rep_ring_timeout: Optional[str] = None
    customer_ring_timeout: Optional[str] = None
    whisper: Optional[str] = None
    caller_id: Optional[CallerID] = _f(_model(CallerID))
    created_at: Optional[datetime] = _f(_time)
    updated_at: Optional[datetime] = _f(_time)


@dataclass
class Webhook(Model):
    """A webhook endpoint. ``secret`` is set only on the answer to
    :meth:`Webhooks.create`; read it later with :meth:`Webhooks.secret`."""

    id: str = ""
    url: str = ""
    event_types: List[str] = _f(factory=list)
    description: Optional[str] = None
    enabled: bool = True
    disabled_reason: Optional[str] = None
    failing_since: Optional[datetime] = _f(_time)
    created_at: Optional[datetime] = _f(_time)
    updated_at: Optional[datetime] = _f(_time)
    source: Optional[str] = None
    secret: Optional[str] = None


@dataclass
class DeliveryAttempt(Model):
    """One try at sending a delivery."""

    at: Optional[datetime] = _f(_time)
    status_code: Optional[int] = None
    latency_ms: Optional[float] = None
    error: Optional[str] = None


@dataclass
class Delivery(Model):
    """One event on its way to one endpoint (``webhook_id``) or to a
    callback's own ``webhook_url`` (no ``webhook_id``): ``pending``,
    ``succeeded`` or ``failed``."""

    id: str = ""
    webhook_id: Optional[str] = None
    url: Optional[str] = None
    event_id: str = ""
    event_type: str = ""
    callback_id: Optional[str] = None
    sequence: Optional[int] = None
    status: str = ""
    attempts: List[DeliveryAttempt] = _f(_list_of(DeliveryAttempt.from_dict), factory=list)
    next_attempt_at: Optional[datetime] = _f(_time)
    error: Optional[str] = None
    created_at: Optional[datetime] = _f(_time)
    updated_at: Optional[datetime] = _f(_time)


@dataclass
class WebhookEvent(Model):
    """The body of a webhook request (and of a REST Hooks sample).

    ``data`` is the body's ``data`` object as sent; ``callback``,
    ``attempt``, ``call`` and ``details`` are its parts, parsed."""

    id: str = ""
    type: str = ""
    created_at: Optional[datetime] = _f(_time)
    sequence: Optional[int] = None
    data: Dict[str, Any] = _f(factory=dict)

    @property
    def callback(self) -> Optional[Callback]:
        """The callback as it stood just after the event (None for a ping)."""
        v = self.data.get("callback") if isinstance(self.data, dict) else None
        return Callback.from_dict(v) if isinstance(v, dict) else None

    @property
    def attempt(self) -> Optional[Attempt]:
        """The attempt the event belongs to, as it stood then."""
        v = self.data.get("attempt") if isinstance(self.data, dict) else None
        return Attempt.from_dict(v) if isinstance(v, dict) else None

    @property
    def call(self) -> Optional[Dict[str, Any]]:
        """For ``call.*`` events: the leg's step (attempt, leg, number,
        call_id, sip_code, at)."""
        v = self.data.get("call") if isinstance(self.data, dict) else None
        return v if isinstance(v, dict) else None

    @property
    def details(self) -> Optional[Dict[str, Any]]:
        """For the other events: the event's data as in the callback's log."""
        v = self.data.get("details") if isinstance(self.data, dict) else None
        return v if isinstance(v, dict) else None


@dataclass
class APIKey(Model):
    """An API key. ``secret`` is set only on the answer to
    :meth:`APIKeys.create` (and not on an idempotent replay of it)."""

    id: str = ""
    name: str = ""
    prefix: str = ""
    scopes: List[str] = _f(factory=list)
    created_at: Optional[datetime] = _f(_time)
    revoked_at: Optional[datetime] = _f(_time)
    secret: Optional[str] = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None or bool(self.raw.get("revoked_at"))


@dataclass
class Subscription(Model):
    """A REST Hooks subscription; its ``id`` is its webhook endpoint's."""

    id: str = ""
    target_url: str = ""
    event: str = ""
    secret: Optional[str] = None
    created_at: Optional[datetime] = _f(_time)


@dataclass
class Trigger(Model):
    """A trigger: an inbound URL (``url``, a path on the server) that turns
    an application's events into callbacks. ``condition`` and the values of
    ``mapping`` are CEL expressions over ``payload``. ``secret`` is set
    only on the answer to :meth:`Triggers.create`."""

    id: str = ""
    name: str = ""
    condition: Optional[str] = None
    mapping: Dict[str, Any] = _f(factory=dict)
    dedup: Optional[str] = None
    rate_limit: Optional[int] = None
    auth: Dict[str, Any] = _f(factory=dict)
    enabled: bool = True
    url: str = ""
    created_at: Optional[datetime] = _f(_time)
    updated_at: Optional[datetime] = _f(_time)
    secret: Optional[str] = None

    @property
    def auth_mode(self) -> str:
        """``token_header`` (the default), ``token_query`` or ``hmac_sha256``."""
        mode = self.auth.get("mode") if isinstance(self.auth, dict) else None
        return mode or "token_header"


@dataclass
class HookResult(Model):
    """What a trigger made of an event: ``matched`` (and the ``reason``
    when not), ``duplicate`` with the earlier ``callback_id`` inside the
    dedup window, or the ``callback`` it made."""

    matched: bool = False
    reason: Optional[str] = None
    duplicate: bool = False
    callback_id: Optional[str] = None
    callback: Optional[Callback] = _f(_model(Callback))

    @property
    def created(self) -> bool:
        """Whether the event made a new callback."""
        return self.callback is not None


T = TypeVar("T")


class Page(Generic[T]):
    """One page of a list: ``data`` (the items), ``has_more`` and ``raw``
    (the JSON object). Iterating a page yields its own items;
    :meth:`iter_all` yields every item of this page and the following ones,
    fetching them as needed, and :meth:`pages` yields the pages."""

    def __init__(
        self,
        data: List[T],
        has_more: bool,
        raw: Optional[Dict[str, Any]] = None,
        fetch_next: Optional[Callable[["Page[T]"], Optional["Page[T]"]]] = None,
    ) -> None:
        self.data = data
        self.has_more = has_more
        self.raw: Dict[str, Any] = raw if raw is not None else {}
        self._fetch_next = fetch_next

    def __iter__(self) -> Iterator[T]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    @overload
    def __getitem__(self, i: int) -> T: ...

    @overload
    def __getitem__(self, i: slice) -> List[T]: ...

    def __getitem__(self, i: Any) -> Any:
        return self.data[i]

    def __repr__(self) -> str:
        return "Page(data=%r, has_more=%r)" % (self.data, self.has_more)

    def next_page(self) -> Optional["Page[T]"]:
        """The following page, or None when this is the last one."""
        if not self.has_more or not self.data or self._fetch_next is None:
            return None
        return self._fetch_next(self)

    def pages(self) -> Iterator["Page[T]"]:
        """This page and every following one, fetched one by one."""
        page: Optional[Page[T]] = self
        while page is not None:
            yield page
            page = page.next_page()

    def iter_all(self) -> Iterator[T]:
        """Every item of this page and the following ones."""
        for page in self.pages():
            for item in page.data:
                yield item
