"""``AttemptObserver``: a DEBUG line and an ``AttemptFinished`` event for every attempt."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence

from .._clock import Clock
from .._errors import GameApiError
from .._events import AttemptFinished, EventHook, emit
from .._pipeline import Call, Handler, Reply

__all__ = ["AttemptObserver"]

logger = logging.getLogger("gameapi_async")


class AttemptObserver:
    """Times each attempt; costs one level check when DEBUG is off and no hook is set."""

    __slots__ = ("_clock", "_hooks")

    def __init__(self, *, clock: Clock, hooks: Sequence[EventHook]) -> None:
        self._clock = clock
        self._hooks = tuple(hooks)

    def __call__(self, call: Call, call_next: Handler) -> Awaitable[Reply]:
        # Nobody listening: hand the attempt straight through, without a frame of our own.
        if not self._hooks and not logger.isEnabledFor(logging.DEBUG):
            return call_next(call)
        return self._observed(call_next, call)

    async def _observed(self, call_next: Handler, call: Call) -> Reply:
        started = self._clock.monotonic()
        try:
            reply = await call_next(call)
        except GameApiError as error:
            self._report(call, started, error.http_status, error.request_id, error)
            raise
        envelope = reply.envelope
        self._report(call, started, envelope.http_status, envelope.request_id, None)
        return reply

    def _report(
        self,
        call: Call,
        started: float,
        http_status: int | None,
        request_id: str | None,
        error: GameApiError | None,
    ) -> None:
        debug = logger.isEnabledFor(logging.DEBUG)
        if not (debug or self._hooks):
            return
        elapsed = self._clock.monotonic() - started
        if debug:
            outcome = f"HTTP {http_status}" if http_status is not None else "no answer"
            if error is not None:
                outcome += f", {type(error).__name__}"
            logger.debug(
                "%s attempt %d: %s in %.1f ms (request_id=%s)",
                call.endpoint.name, call.attempt, outcome, elapsed * 1000, request_id,
            )
        if self._hooks:
            emit(self._hooks, AttemptFinished(
                call.endpoint.name, call.attempt, elapsed, http_status, request_id, error
            ))
