"""The official Python client of callbackd, a self-hosted
programmable-callback server.

    import callbackd

    client = callbackd.Client("http://127.0.0.1:8080", "cbk_...")
    cb = client.callbacks.create("+15550000005", rep_number="+15550000002")
    print(client.callbacks.wait(cb.id).status)

Standard library only; Python 3.9 or later.
"""

__version__ = "0.1.0"

from .client import APIKeys, Callbacks, Client, Hooks, Teams, Triggers, Webhooks  # noqa: E402
from .errors import (  # noqa: E402
    APIConnectionError,
    APIError,
    APITimeoutError,
    BadRequest,
    CallbackdError,
    Conflict,
    DailyLimitReached,
    DestinationNotAllowed,
    Forbidden,
    IdempotencyInFlight,
    IdempotencyMismatch,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    TriggerDisabled,
    Unauthorized,
    ValidationError,
    WaitTimeout,
    WebhookVerificationError,
)
from .models import (  # noqa: E402
    APIKey,
    Attempt,
    Backoff,
    Callback,
    CallerID,
    Delivery,
    DeliveryAttempt,
    Event,
    HookResult,
    Leg,
    Page,
    Party,
    RetryPolicy,
    Subscription,
    Team,
    Trigger,
    Webhook,
    WebhookEvent,
    Window,
)
from .webhooks import sign, trigger_signature, verify  # noqa: E402

__all__ = [
    "__version__",
    "Client",
    "Callbacks",
    "Teams",
    "Webhooks",
    "APIKeys",
    "Hooks",
    "Triggers",
    "verify",
    "sign",
    "trigger_signature",
    # errors
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
    # models
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
]
