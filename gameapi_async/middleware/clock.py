"""``ClockSkewMiddleware``: sign on the platform's clock, whatever the local clock says.

The platform refuses a ``timestamp`` more than 300 s from its own clock. This middleware
learns the offset between the two clocks from the platform's answers and stamps every request
with ``local time + offset``:

- from every success: the envelope ``timestamp`` (ms) or the ``Date`` header (s), against the
  midpoint of sending and receiving. A sample within 5 s of the current offset is noise (the
  ``Date`` header alone is truncated to the second) and is ignored; one further than
  300 s + the round trip is impossible for an answer that accepted our timestamp, so a bogus
  clock on the way (a proxy's ``Date``) cannot move the offset;
- on ``request_expired``: from the error's server time, then the call is sent once more at
  once, on the corrected clock. This sits outside the retry middleware, so the re-send gets a
  full retry budget of its own and happens at most once per call.

A WARNING is logged once when the offset first exceeds 30 s: the host's clock needs NTP.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

import attrs

from .._clock import Clock
from .._errors import RequestExpiredError
from .._events import ClockResynced, EventHook, emit
from .._pipeline import Call, Handler, Reply

__all__ = ["ClockSkewMiddleware"]

logger = logging.getLogger("gameapi_async")

NOISE: Final = 5.0  # seconds of disagreement not worth acting on
PLATFORM_WINDOW: Final = 300.0  # the platform's accepted skew
WARN_ABOVE: Final = 30.0


class ClockSkewMiddleware:
    """Holds the learned offset (platform clock minus local clock) for one client."""

    __slots__ = ("_clock", "_hooks", "_warned", "offset")

    def __init__(self, *, clock: Clock, hooks: Sequence[EventHook] = ()) -> None:
        self._clock = clock
        self._hooks = tuple(hooks)
        self._warned = False
        self.offset = 0.0

    async def __call__(self, call: Call, call_next: Handler) -> Reply:
        offset = self.offset
        if offset != call.clock_offset:
            call = _with_offset(call, offset)
        try:
            reply = await call_next(call)
        except RequestExpiredError as error:
            server_time = error.server_time
            if server_time is None:
                raise
            self._adopt(server_time - self._clock.time(), "request_expired")
            return await call_next(_with_offset(call, self.offset))
        server_time = reply.envelope.server_time
        if server_time is not None:
            sample = server_time - (reply.sent_at + reply.received_at) / 2
            drift = abs(sample - offset)
            if NOISE < drift <= PLATFORM_WINDOW + (reply.received_at - reply.sent_at):
                self._adopt(sample, "observed")
        return reply

    def _adopt(self, offset: float, reason: str) -> None:
        previous, self.offset = self.offset, offset
        if abs(offset) > WARN_ABOVE and not self._warned:
            self._warned = True
            logger.warning(
                "the local clock is %.0f s %s the platform's; signing on the platform's clock "
                "(fix the host's time sync)",
                abs(offset), "behind" if offset > 0 else "ahead of",
            )
        if self._hooks:
            emit(self._hooks, ClockResynced(offset, previous, reason))


def _with_offset(call: Call, offset: float) -> Call:
    # Once the clock has drifted this runs for every call: the constructor is several times
    # cheaper than attrs.evolve, which is kept for subclasses of Call.
    if type(call) is Call:
        return Call(call.endpoint, call.params, call.options, call.attempt, offset)
    return attrs.evolve(call, clock_offset=offset)
