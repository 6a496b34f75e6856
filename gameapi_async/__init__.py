"""gameapi_async: the asyncio SDK for the games aggregation platform.

>>> async with GameApiClient(base_url=..., agent_id=1, api_token=...) as client:
...     games = await client.list_games()

Names are imported on first use, not when the package is imported: the SDK's pytest plugin
lives in this package and loads in every pytest session where the SDK is installed, so
``import gameapi_async`` must not pull in aiohttp. Type checkers read the imports below.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._breaker import CircuitBreaker
    from ._budget import RetryBudget
    from ._cache import CacheStats
    from ._canonical import encode_object as encode_body
    from ._client import GameApiClient
    from ._clock import Clock, SystemClock
    from ._errors import (
        AgentNotFoundError,
        ApiError,
        ApiTokenNotFoundError,
        CircuitOpenError,
        ClientClosedError,
        GameApiError,
        GameNotAvailableError,
        GameNotFoundError,
        GameProviderNotFoundError,
        InvalidParameterError,
        InvalidSignatureError,
        MalformedResponseError,
        MethodNotAllowedError,
        MiddlewareError,
        NetworkError,
        RequestExpiredError,
        RequestTimeoutError,
        ResponseError,
        ResponseTooLargeError,
        SignatureRequiredError,
        TransportError,
        ValidationError,
        WrongEventLoopError,
    )
    from ._events import (
        AttemptFinished,
        CircuitChanged,
        ClockResynced,
        Event,
        EventHook,
        RetryRefused,
        RetryScheduled,
    )
    from ._models import Game, GameLink, GameList
    from ._pipeline import Call, CallOptions, Handler, Middleware, Reply
    from ._policy import RetryPolicy
    from ._protocol import RawResponse, SignedRequest
    from ._signing import sign, verify
    from ._transport import Transport
    from .fleet._redis import RedisGameListStore

from ._version import __version__

# The library convention: with no logging configured by the application, the SDK's records
# (retry warnings, cache errors) reach no handler at all, instead of Python's last-resort
# handler printing them on the application's stderr. Configure logging to see them.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "AgentNotFoundError",
    "ApiError",
    "ApiTokenNotFoundError",
    "AttemptFinished",
    "CacheStats",
    "Call",
    "CallOptions",
    "CircuitBreaker",
    "CircuitChanged",
    "CircuitOpenError",
    "ClientClosedError",
    "Clock",
    "ClockResynced",
    "Event",
    "EventHook",
    "Game",
    "GameApiClient",
    "GameApiError",
    "GameLink",
    "GameList",
    "GameNotAvailableError",
    "GameNotFoundError",
    "GameProviderNotFoundError",
    "Handler",
    "InvalidParameterError",
    "InvalidSignatureError",
    "MalformedResponseError",
    "MethodNotAllowedError",
    "Middleware",
    "MiddlewareError",
    "NetworkError",
    "RawResponse",
    "RedisGameListStore",
    "Reply",
    "RequestExpiredError",
    "RequestTimeoutError",
    "ResponseError",
    "ResponseTooLargeError",
    "RetryBudget",
    "RetryPolicy",
    "RetryRefused",
    "RetryScheduled",
    "SignatureRequiredError",
    "SignedRequest",
    "SystemClock",
    "Transport",
    "TransportError",
    "ValidationError",
    "WrongEventLoopError",
    "__version__",
    "encode_body",
    "sign",
    "verify",
]

# name -> (module, name in that module); keep in step with the imports above and __all__.
_LAZY: dict[str, tuple[str, str]] = {
    "AgentNotFoundError": ("._errors", "AgentNotFoundError"),
    "ApiError": ("._errors", "ApiError"),
    "ApiTokenNotFoundError": ("._errors", "ApiTokenNotFoundError"),
    "AttemptFinished": ("._events", "AttemptFinished"),
    "CacheStats": ("._cache", "CacheStats"),
    "Call": ("._pipeline", "Call"),
    "CallOptions": ("._pipeline", "CallOptions"),
    "CircuitBreaker": ("._breaker", "CircuitBreaker"),
    "CircuitChanged": ("._events", "CircuitChanged"),
    "CircuitOpenError": ("._errors", "CircuitOpenError"),
    "ClientClosedError": ("._errors", "ClientClosedError"),
    "Clock": ("._clock", "Clock"),
    "ClockResynced": ("._events", "ClockResynced"),
    "Event": ("._events", "Event"),
    "EventHook": ("._events", "EventHook"),
    "Game": ("._models", "Game"),
    "GameApiClient": ("._client", "GameApiClient"),
    "GameApiError": ("._errors", "GameApiError"),
    "GameLink": ("._models", "GameLink"),
    "GameList": ("._models", "GameList"),
    "GameNotAvailableError": ("._errors", "GameNotAvailableError"),
    "GameNotFoundError": ("._errors", "GameNotFoundError"),
    "GameProviderNotFoundError": ("._errors", "GameProviderNotFoundError"),
    "Handler": ("._pipeline", "Handler"),
    "InvalidParameterError": ("._errors", "InvalidParameterError"),
    "InvalidSignatureError": ("._errors", "InvalidSignatureError"),
    "MalformedResponseError": ("._errors", "MalformedResponseError"),
    "MethodNotAllowedError": ("._errors", "MethodNotAllowedError"),
    "Middleware": ("._pipeline", "Middleware"),
    "MiddlewareError": ("._errors", "MiddlewareError"),
    "NetworkError": ("._errors", "NetworkError"),
    "RawResponse": ("._protocol", "RawResponse"),
    "RedisGameListStore": (".fleet._redis", "RedisGameListStore"),
    "Reply": ("._pipeline", "Reply"),
    "RequestExpiredError": ("._errors", "RequestExpiredError"),
    "RequestTimeoutError": ("._errors", "RequestTimeoutError"),
    "ResponseError": ("._errors", "ResponseError"),
    "ResponseTooLargeError": ("._errors", "ResponseTooLargeError"),
    "RetryBudget": ("._budget", "RetryBudget"),
    "RetryPolicy": ("._policy", "RetryPolicy"),
    "RetryRefused": ("._events", "RetryRefused"),
    "RetryScheduled": ("._events", "RetryScheduled"),
    "SignatureRequiredError": ("._errors", "SignatureRequiredError"),
    "SignedRequest": ("._protocol", "SignedRequest"),
    "SystemClock": ("._clock", "SystemClock"),
    "Transport": ("._transport", "Transport"),
    "TransportError": ("._errors", "TransportError"),
    "ValidationError": ("._errors", "ValidationError"),
    "WrongEventLoopError": ("._errors", "WrongEventLoopError"),
    "encode_body": ("._canonical", "encode_object"),
    "sign": ("._signing", "sign"),
    "verify": ("._signing", "verify"),
}


def __getattr__(name: str) -> object:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module, __name__), attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
