"""``ClockSkewMiddleware``: sign on the platform's clock, whatever the local clock says.

The platform refuses a ``timestamp`` more than 300 s from its own clock. This middleware
learns the offset between the two clocks from the platform's answers and stamps every request
with ``local time + offset``:

- from every success: the envelope ``timestamp`` (ms) or the ``Date`` header (s), against the
  midpoint of sending and receiving. A sample within 5 s of the current offset is noise (the
  ``Date`` header alone is truncated to the second) and is ignored; one further than
  300 s + the round trip is impossible for an answer that accepted our timestamp, so a bogus
  clock on the way (a proxy's ``Date``) cannot move the offset;
- on ``request_expired``: the call is sent once more at once, stamped on the clock the error's
  server time implies, at most once per call. The re-send continues the same call: it shares
  its deadline and numbers its attempts after those already made, and the expired attempt
  does not count against the retry budget. That clock is adopted only when the re-send is
  accepted, so one odd answer (a hostile or absurd ``Date``) cannot poison later requests;
  an expiry whose server time agrees with the clock used is raised, not re-sent.

A server time outside 2020-2100 (a broken or hostile ``Date`` or envelope ``timestamp``) is
never adopted, from either source: a ``request_expired`` carrying one is raised as it is.

A WARNING is logged once when the offset first exceeds 30 s: the host's clock needs NTP.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final

import attrs

from .._clock import Clock
from .._errors import GameApiError, RequestExpiredError
from .._events import ClockResynced, EventHook, emit
from .._pipeline import Call, Handler, Reply

__all__ = ["ClockSkewMiddleware"]

logger = logging.getLogger("gameapi_async")

NOISE: Final = 5.0  # seconds of disagreement not worth acting on
PLATFORM_WINDOW: Final = 300.0  # the platform's accepted skew
WARN_ABOVE: Final = 30.0
PLAUSIBLE: Final = (1_577_836_800.0, 4_102_444_800.0)  # 2020-01-01 .. 2100-01-01 UTC


class ClockSkewMiddleware:
    """Holds the learned offset (platform clock minus local clock) for one client.

    Each client makes its own. How the offset is learned (and when it is not) is described in
    this module's docstring and in the resilience guide.

    Attributes:
        offset: seconds added to the local clock when stamping a request (platform clock
            minus local clock); ``client.clock_offset`` reads it.
    """

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
        if call.deadline is None and call.options.retry.deadline is not None:
            # A call made by hand, without the client: its deadline starts here, so a re-send
            # stays within it.
            call = attrs.evolve(
                call, deadline=self._clock.monotonic() + call.options.retry.deadline
            )
        try:
            reply = await call_next(call)
        except RequestExpiredError as error:
            resend = self._resend(call, error)
            if resend is None:
                raise
            try:
                reply = await call_next(resend)
            except GameApiError as later:
                # Retry disabled on the re-send: it did not count, so count it here.
                later.attempts = max(later.attempts, resend.attempt)
                raise
            # The platform accepted a timestamp on this clock: now it is safe to keep.
            offset = resend.clock_offset
            if offset != self.offset:
                self._adopt(offset, "request_expired")
        server_time = reply.envelope.server_time
        if server_time is not None and PLAUSIBLE[0] <= server_time <= PLAUSIBLE[1]:
            sample = server_time - (reply.sent_at + reply.received_at) / 2
            drift = abs(sample - offset)
            if NOISE < drift <= PLATFORM_WINDOW + (reply.received_at - reply.sent_at):
                self._adopt(sample, "observed")
        return reply

    def _resend(self, call: Call, error: RequestExpiredError) -> Call | None:
        """The re-send of an expired call, or ``None`` when it would not help or no time is
        left; it continues the call's deadline and attempt count."""
        server_time = error.server_time
        if server_time is None or not PLAUSIBLE[0] <= server_time <= PLAUSIBLE[1]:
            return None
        offset = server_time - self._clock.time()
        if not abs(offset - call.clock_offset) > NOISE:
            return None  # the answer's clock agrees with the one we used: re-sending won't do
        options = call.options
        policy = options.retry
        made = error.attempts
        # The expired attempt is free: the re-send gets the budget the others left.
        changes: dict[str, Any] = {"attempts": max(1, policy.attempts - (made - 1))}
        deadline = call.deadline  # the re-send continues the call: the same deadline
        if deadline is not None:
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                return None  # no new attempt starts past the deadline
            if options.timeout is None or remaining < options.timeout:
                options = attrs.evolve(options, timeout=remaining)
        options = attrs.evolve(options, retry=attrs.evolve(policy, **changes))
        return attrs.evolve(call, attempt=made + 1, clock_offset=offset, options=options)

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
        return Call(call.endpoint, call.params, call.options, call.attempt, offset, call.deadline)
    return attrs.evolve(call, clock_offset=offset)
