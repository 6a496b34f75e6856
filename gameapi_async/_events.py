"""Instrumentation events: frozen facts about attempts, retries and clock resyncs.

Pass a callable, or a sequence of them, as ``GameApiClient(on_event=...)`` to feed metrics or
tracing; each receives every event. A hook that raises is logged and ignored: instrumentation
never breaks a call.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence

import attrs

from ._errors import GameApiError

__all__ = ["AttemptFinished", "ClockResynced", "Event", "EventHook", "RetryScheduled", "emit"]

logger = logging.getLogger("gameapi_async")


@attrs.frozen
class AttemptFinished:
    """One attempt ended, with an answer or an error."""

    endpoint: str
    attempt: int
    elapsed: float  # seconds, from sending to the answer or the error
    http_status: int | None
    request_id: str | None
    error: GameApiError | None  # None on success


@attrs.frozen
class RetryScheduled:
    """An attempt failed transiently and another will follow after ``wait`` seconds."""

    endpoint: str
    attempt: int  # the attempt that failed
    wait: float
    error: GameApiError


@attrs.frozen
class ClockResynced:
    """The client changed the offset it adds to its clock when signing."""

    offset: float  # seconds, platform clock minus local clock
    previous: float
    reason: str  # "request_expired" or "observed"


Event = AttemptFinished | RetryScheduled | ClockResynced
EventHook = Callable[[Event], None]


def emit(hooks: Sequence[EventHook], event: Event) -> None:
    """Give ``event`` to every hook; a failing hook is logged, never raised."""
    for hook in hooks:
        try:
            result: object = hook(event)
        except Exception:
            logger.exception("event hook %r failed on %s", hook, type(event).__name__)
            continue
        if inspect.iscoroutine(result):  # an object with an async __call__: never awaited here
            result.close()
            logger.error(
                "event hook %r returned a coroutine; hooks are called, not awaited: make it a "
                "plain function", hook,
            )
