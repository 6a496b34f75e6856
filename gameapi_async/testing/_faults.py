"""Fault injection for the fake platform: what goes wrong, how often, decided by a seeded RNG."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import attrs

__all__ = ["ERRORS", "INJECTED_ERRORS", "Faults", "ScriptedResponse"]

#: Every error code the platform's API reference documents: ``code -> (HTTP status, message)``.
#: The messages follow the reference's descriptions.
ERRORS: Final[Mapping[str, tuple[int, str]]] = {
    "signature_required": (401, "Missing X-Signature header"),
    "invalid_signature": (403, "Invalid request signature"),
    "agent_not_found": (404, "Agent not found"),
    "api_token_not_found": (404, "The agent has no API token configured"),
    "game_not_found": (404, "Game not found"),
    "game_not_available": (403, "Game is not available for this agent"),
    "game_provider_not_found": (404, "No provider with demo support for this game"),
    "method_not_allowed": (405, "Unsupported HTTP method used"),
    "validation_error": (422, "Validation error"),
    "request_expired": (400, "Request expired"),
}

#: What the fake answers for an injected (or scripted) infrastructure failure, by status.
#: The reference documents no codes for these; they are plausible stand-ins, and the SDK
#: raises them as the base ``ApiError`` with ``code`` and ``http_status`` kept.
INJECTED_ERRORS: Final[Mapping[int, tuple[str, str]]] = {
    429: ("rate_limited", "Too many requests, slow down"),
    500: ("internal_error", "Internal server error"),
    502: ("bad_gateway", "Bad gateway"),
    503: ("service_unavailable", "Service temporarily unavailable"),
    504: ("gateway_timeout", "Gateway timeout"),
}

_CODE_STATUS: Final = {code: status for code, (status, _) in ERRORS.items()} | {
    code: status for status, (code, _) in INJECTED_ERRORS.items()
}


def injected_error(status: int) -> tuple[str, str]:
    """The ``(code, message)`` the fake sends with an injected error of this status."""
    if status in INJECTED_ERRORS:
        return INJECTED_ERRORS[status]
    if status >= 500:
        return "internal_error", "Internal server error"
    return "error", "Request failed"


def error_message(code: str) -> str:
    """The default message for an error code (a generic one for a code the fake does not know)."""
    if code in ERRORS:
        return ERRORS[code][1]
    return next((m for c, m in INJECTED_ERRORS.values() if c == code), "Request failed")


@attrs.define
class Faults:
    """Faults applied to requests; change the fields at any time on a running fake.

    Rates are shares of requests (0.0 to 1.0), drawn from the fake's seeded RNG in arrival
    order, so the same seed and the same request order give the same faults.

    Attributes:
        latency: seconds added before every answer.
        error_rate: share of requests answered with an injected error.
        error_statuses: the HTTP statuses (4xx or 5xx) injected errors are chosen among.
        error_html: injected errors as an HTML page instead of a JSON envelope (what a proxy
            in front of the platform tends to send).
        retry_after: a ``Retry-After`` header value for injected errors, sent verbatim.
        drop_rate: share of requests whose connection is closed with no answer.
        stall_rate: share of requests that hang for ``stall_seconds`` before answering.
        stall_seconds: how long a stalled request hangs.
        clock_offset: seconds the fake's clock runs ahead (+) or behind (-).
    """

    latency: float = 0.0  # seconds added before every answer
    error_rate: float = 0.0  # share answered with an injected error
    error_statuses: tuple[int, ...] = (500, 502, 503)  # chosen among for injected errors
    error_html: bool = False  # injected errors as an HTML page instead of a JSON envelope
    retry_after: str | None = None  # Retry-After header on injected errors, verbatim
    drop_rate: float = 0.0  # share whose connection is closed with no answer
    stall_rate: float = 0.0  # share that hang for ``stall_seconds`` before answering
    stall_seconds: float = 30.0
    clock_offset: float = 0.0  # seconds the fake's clock runs ahead (+) or behind (-)

    def validate(self) -> None:
        """Raise ``ValueError`` for rates outside 0-1, negative or NaN times, or bad statuses.

        The fake calls it when built; call it yourself after changing fields by hand.
        """
        for name in ("error_rate", "drop_rate", "stall_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if not (self.latency >= 0 and self.stall_seconds >= 0):  # NaN too
            raise ValueError("latency and stall_seconds must not be negative or NaN")
        if not self.error_statuses:
            raise ValueError("error_statuses must not be empty")
        if any(not 400 <= status <= 599 for status in self.error_statuses):
            raise ValueError(f"error_statuses must be 4xx or 5xx, got {self.error_statuses}")


@attrs.frozen(kw_only=True)
class ScriptedResponse:
    """One canned answer for the next matching request, served instead of the real logic.

    Keyword-only. Give at most one of:

    - ``error``: an error code (``"game_not_found"``, ``"rate_limited"``...); the fake sends
      its usual error envelope with a fresh timestamp and request id, the status the API
      reference gives for that code and its usual message (``status`` and ``message``
      override them; a code the fake does not know needs ``status``);
    - ``json``: a value serialised as the body, as is;
    - ``body``: raw bytes.

    With none of them the body is ``null``. ``drop=True`` closes the connection instead of
    answering; ``delay`` waits first; ``path`` limits it to one endpoint.

    Attributes:
        error: a platform error code to answer with, as an error envelope.
        message: the envelope's message, instead of the code's usual one.
        status: the HTTP status; default 200, or the code's status with ``error``.
        json: a value serialised as the body.
        body: raw body bytes, sent as is.
        headers: extra response headers.
        delay: seconds to wait before answering (or dropping).
        drop: close the connection instead of answering.
        path: answer only a request to this path; ``None`` for any.
    """

    error: str | None = None
    message: str | None = None
    status: int | None = None  # default: 200, or the code's status with ``error``
    json: object = None
    body: bytes | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    delay: float = 0.0
    drop: bool = False
    path: str | None = None

    def __attrs_post_init__(self) -> None:
        given = [name for name in ("error", "json", "body") if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"give only one of error, json and body, not {' and '.join(given)}")
        if self.message is not None and self.error is None:
            raise ValueError("message goes with error")
        if self.status is None:
            if self.error is not None and self.error not in _CODE_STATUS:
                raise ValueError(f"give a status for the unknown error code {self.error!r}")
            status = 200 if self.error is None else _CODE_STATUS[self.error]
            object.__setattr__(self, "status", status)
