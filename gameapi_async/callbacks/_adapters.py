"""What the framework adapters share: the endpoint they serve, and how they treat slow and
vanished clients.

An adapter gets bytes in under two limits, size (``max_body``) and time (``body_timeout``),
calls ``handle()`` (or ``_answer()``, its tuple form) and writes the answer out. The adapters
depend on this module and on the answers only; :class:`~gameapi_async.callbacks.CallbackHandler`
depends on the adapters, never the other way round.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from ._answers import Answer, CallbackResponse
    from ._verify import Headers

__all__ = ["Endpoint", "log_hang_up"]

logger: Final = logging.getLogger("gameapi_async.callbacks")


class Endpoint(Protocol):
    """What an adapter serves: ``CallbackHandler`` is one."""

    @property
    def max_body(self) -> int:
        """The largest body accepted, in bytes."""

    @property
    def body_timeout(self) -> float:
        """Seconds a client has to send the whole body, from the start of the request."""

    async def handle(self, body: bytes, headers: Headers) -> CallbackResponse:
        """The answer to a received body."""

    async def _answer(self, body: bytes, headers: Headers) -> Answer:
        """The same answer as a ``(status, body, headers)`` tuple, for an adapter to write out
        without the ``CallbackResponse`` built in between."""

    def too_large(self) -> CallbackResponse:
        """The answer to a body over ``max_body``, sent without reading it."""

    def timed_out(self) -> CallbackResponse:
        """The answer to a body not received within ``body_timeout``."""


def log_hang_up() -> None:
    """One short line per client that left mid-body: it is unauthenticated, so a traceback
    each time would let anyone flood the log."""
    logger.info("callback body not received: the client hung up")
