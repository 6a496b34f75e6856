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

__all__ = [
    "AttemptFinished",
    "CircuitChanged",
    "ClockResynced",
    "Event",
    "EventHook",
    "RetryRefused",
    "RetryScheduled",
    "emit",
]

logger = logging.getLogger("gameapi_async")


@attrs.frozen
class AttemptFinished:
    """One attempt ended, with an answer or an error.

    Attributes:
        endpoint: the platform path the attempt was sent to.
        attempt: the attempt's number in its call, from 1.
        elapsed: seconds from sending to the answer or the error.
        http_status: the answer's HTTP status; ``None`` when none came back.
        request_id: the platform's id for the answer, when it gave one.
        error: the error the attempt ended with; ``None`` on success.
    """

    endpoint: str
    attempt: int
    elapsed: float  # seconds, from sending to the answer or the error
    http_status: int | None
    request_id: str | None
    error: GameApiError | None  # None on success


@attrs.frozen
class RetryScheduled:
    """An attempt failed transiently and another will follow after ``wait`` seconds.

    Attributes:
        endpoint: the platform path of the call.
        attempt: the number of the attempt that failed.
        wait: seconds until the next attempt (backoff or the platform's ``Retry-After``).
        error: the transient error the attempt failed with.
    """

    endpoint: str
    attempt: int  # the attempt that failed
    wait: float
    error: GameApiError


@attrs.frozen
class ClockResynced:
    """The client changed the offset it adds to its clock when signing.

    Attributes:
        offset: the new offset in seconds, platform clock minus local clock.
        previous: the offset before the change.
        reason: ``"observed"`` (learned from a success) or ``"request_expired"`` (a re-send
            stamped on the platform's clock was accepted).
    """

    offset: float  # seconds, platform clock minus local clock
    previous: float
    reason: str  # "request_expired" or "observed"


@attrs.frozen
class RetryRefused:
    """A transient failure would have been retried, but the retry budget was spent: the call
    raises ``error`` now.

    Attributes:
        endpoint: the platform path of the call.
        attempt: the number of the attempt that failed.
        error: the transient error the call raises.
    """

    endpoint: str
    attempt: int
    error: GameApiError


@attrs.frozen
class CircuitChanged:
    """The circuit breaker changed state (in this process, or told by the fleet).

    Attributes:
        state: ``"closed"``, ``"open"`` or ``"half_open"`` (one probe call is let through).
        previous: the state before.
        reason: what moved it: ``"failures"``, ``"probe_failed"``, ``"probe_succeeded"``,
            ``"cool_down"`` or ``"fleet"`` (another process of the fleet).
    """

    state: str
    previous: str
    reason: str


Event = AttemptFinished | RetryScheduled | ClockResynced | RetryRefused | CircuitChanged
"""Any event an ``on_event`` hook may receive; match on its class."""
EventHook = Callable[[Event], None]
"""A callable given every event, synchronously, in the task that made the call.

It should be quick (count, log, record a metric); an exception it raises is logged and
ignored, so instrumentation never breaks a call.
"""


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
