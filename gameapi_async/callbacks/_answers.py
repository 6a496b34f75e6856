"""Answer bytes in the documented shapes. Pure.

Success: ``{"content":{"balance":1000.50}}``; failure: ``{"error":"<code>","message":"<text>"}``
with an HTTP status. The balance is written from the ``Decimal`` text, never through ``float``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import attrs

from ._money import format_amount

__all__ = [
    "CLOSE_HEADERS",
    "JSON_HEADERS",
    "Answer",
    "CallbackResponse",
    "balance_answer",
    "error_answer",
]

JSON_HEADERS: Final[Mapping[str, str]] = MappingProxyType(
    {"Content-Type": "application/json"}
)
#: For an answer sent before the body was read: the connection cannot be reused.
CLOSE_HEADERS: Final[Mapping[str, str]] = MappingProxyType(
    {"Content-Type": "application/json", "Connection": "close"}
)


@attrs.frozen
class CallbackResponse:
    """What to send back: ``status``, ``body`` bytes and ``headers``. Framework-neutral.

    The adapters turn it into an aiohttp or ASGI response; with ``handle()`` directly, send it
    with your framework as it is.

    Attributes:
        status: the HTTP status: 200 with a balance, 4xx/5xx with an error.
        body: the JSON answer, byte for byte (``{"content":{"balance":...}}`` or
            ``{"error":...,"message":...}``).
        headers: the response headers: ``Content-Type``, and ``Connection: close`` when the
            request body was left unread.
    """

    status: int
    body: bytes
    headers: Mapping[str, str] = JSON_HEADERS


#: An answer inside the package: ``(status, body, headers)``, what a ``CallbackResponse`` holds.
#: The adapters write it out as it is; only ``handle()`` wraps it in a ``CallbackResponse``
#: (building the frozen class cost more than the whole answer's bytes, on every request).
Answer = tuple[int, bytes, Mapping[str, str]]


def balance_answer(balance: object) -> Answer:
    """200 with the balance; ``TypeError``/``ValueError`` for a float, NaN or non-number."""
    return 200, b'{"content":{"balance":%s}}' % format_amount(balance).encode("ascii"), JSON_HEADERS


def error_answer(code: str, message: str, status: int,
                 headers: Mapping[str, str] = JSON_HEADERS) -> Answer:
    body = json.dumps({"error": code, "message": message}, separators=(",", ":"))
    return status, body.encode("ascii"), headers
