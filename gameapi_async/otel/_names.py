"""Names of spans, events, metrics and attributes, and the pure functions that fill them.

Attribute names follow OpenTelemetry's semantic conventions for HTTP clients where one exists
(``http.request.method``, ``server.address``...); the SDK's own live under ``gameapi.``. No
attribute ever carries the API token, a signature, a player's data (id, name, IP) or a launch
link: only what identifies the platform, the endpoint and the outcome.
"""

from __future__ import annotations

import asyncio
import re
from typing import Final
from urllib.parse import urlsplit

from .._errors import ApiError, GameApiError

# OpenTelemetry semantic conventions (HTTP client spans and metrics).
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
URL_FULL: Final = "url.full"
URL_TEMPLATE: Final = "url.template"
ERROR_TYPE: Final = "error.type"

# The SDK's own attributes.
ENDPOINT: Final = "gameapi.endpoint"
AGENT_ID: Final = "gameapi.agent_id"
ATTEMPTS: Final = "gameapi.attempts"
REQUEST_ID: Final = "gameapi.request_id"
OUTCOME: Final = "gameapi.outcome"  # metrics: "success", "error" or "cancelled"
CLOCK_OFFSET: Final = "gameapi.clock.offset"  # seconds added to the local clock when signing
CLOCK_PREVIOUS_OFFSET: Final = "gameapi.clock.previous_offset"
CLOCK_RESYNC_REASON: Final = "gameapi.clock.resync_reason"
ATTEMPT_NUMBER: Final = "gameapi.attempt.number"
ATTEMPT_DURATION: Final = "gameapi.attempt.duration"
RETRY_WAIT: Final = "gameapi.retry.wait"
CACHE_OUTCOME: Final = "gameapi.cache.outcome"  # "hit", "stale", "join" or "miss"

# Span names (the platform call's follows the HTTP convention "{method} {url.template}") and
# span event names.
LOOKUP_SPAN: Final = "list_games"
ATTEMPT_EVENT: Final = "gameapi.attempt"
RETRY_EVENT: Final = "gameapi.retry"
CLOCK_RESYNC_EVENT: Final = "gameapi.clock_resync"

# Metric names.
CALL_DURATION_METRIC: Final = "gameapi.client.call.duration"
ATTEMPTS_METRIC: Final = "gameapi.client.attempts"
RETRIES_METRIC: Final = "gameapi.client.retries"
CACHE_LOOKUPS_METRIC: Final = "gameapi.client.cache.lookups"
CLOCK_OFFSET_METRIC: Final = "gameapi.client.clock.offset"
RETRIES_REFUSED_METRIC: Final = "gameapi.client.retries.refused"
CIRCUIT_STATE_METRIC: Final = "gameapi.client.circuit.state"
CIRCUIT_CHANGES_METRIC: Final = "gameapi.client.circuit.changes"
CIRCUIT_STATE: Final = "gameapi.circuit.state"
CIRCUIT_REASON: Final = "gameapi.circuit.reason"
#: The circuit state gauge's values.
CIRCUIT_STATE_VALUES: Final = {"closed": 0, "half_open": 1, "open": 2}

SUCCESS: Final = "success"
ERROR: Final = "error"
CANCELLED: Final = "cancelled"

# A platform error code is used as error.type only when it looks like one: the code comes from
# the answer, and error.type is a metric dimension that must stay low-cardinality and clean.
_CODE: Final = re.compile(r"[a-z][a-z0-9_.]{0,63}")


def server_of(base_url: str) -> tuple[str, int]:
    """``server.address`` and ``server.port`` of a checked base URL (default port filled in)."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    return host, port


def full_url(base_url: str, path: str) -> str:
    """``url.full`` of an endpoint: the API address the transport posts to (no secret in it:
    the base URL carries no credentials or query, the body and signature are not part of it)."""
    return base_url.rstrip("/") + path


def error_type(error: BaseException) -> str:
    """``error.type``: the platform's error code, else the SDK's exception class name, else the
    exception's qualified class name; ``"cancelled"`` for a cancelled call."""
    if isinstance(error, ApiError) and _CODE.fullmatch(error.code):
        return error.code
    if isinstance(error, asyncio.CancelledError):
        return CANCELLED
    cls = type(error)
    if isinstance(error, GameApiError) or cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def describe(error: BaseException) -> str:
    """The span status description: the class and the HTTP status, never the message (an
    error's text may quote the answer's body, which can hold a launch link or player data)."""
    status = getattr(error, "http_status", None)
    name = type(error).__name__
    return f"{name} (HTTP {status})" if isinstance(status, int) else name
