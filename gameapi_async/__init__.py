"""gameapi_async: the asyncio SDK for the games aggregation platform.

>>> async with GameApiClient(base_url=..., agent_id=1, api_token=...) as client:
...     games = await client.list_games()
"""

from ._cache import CacheStats
from ._canonical import encode_object as encode_body
from ._client import GameApiClient
from ._clock import Clock, SystemClock
from ._errors import (
    AgentNotFoundError,
    ApiError,
    ApiTokenNotFoundError,
    ClientClosedError,
    GameApiError,
    GameNotAvailableError,
    GameNotFoundError,
    GameProviderNotFoundError,
    InvalidParameterError,
    InvalidSignatureError,
    MalformedResponseError,
    MethodNotAllowedError,
    NetworkError,
    RequestExpiredError,
    RequestTimeoutError,
    ResponseError,
    ResponseTooLargeError,
    SignatureRequiredError,
    TransportError,
    ValidationError,
)
from ._events import AttemptFinished, ClockResynced, Event, EventHook, RetryScheduled
from ._models import Game, GameLink, GameList
from ._pipeline import Call, CallOptions, Handler, Middleware, Reply
from ._policy import RetryPolicy
from ._signing import sign, verify
from ._transport import Transport

__version__ = "0.1.0.dev0"

__all__ = [
    "AgentNotFoundError",
    "ApiError",
    "ApiTokenNotFoundError",
    "AttemptFinished",
    "CacheStats",
    "Call",
    "CallOptions",
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
    "NetworkError",
    "Reply",
    "RequestExpiredError",
    "RequestTimeoutError",
    "ResponseError",
    "ResponseTooLargeError",
    "RetryPolicy",
    "RetryScheduled",
    "SignatureRequiredError",
    "SystemClock",
    "Transport",
    "TransportError",
    "ValidationError",
    "__version__",
    "encode_body",
    "sign",
    "verify",
]
