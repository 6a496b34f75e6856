"""``CircuitBreaker``: once the platform is known to be down, fail at once instead of piling on.

After ``failure_threshold`` transient failures in a row (no answer between them) the circuit
opens: every attempt fails at once with ``CircuitOpenError`` and nothing is sent. After
``cool_down`` seconds the circuit is half open: one probe attempt goes through, the others are
still refused; the probe's outcome closes the circuit or opens it for another cool-down. Any
answer from the platform, a definite error included (bad signature, game not found), is proof
that it is up: it closes the circuit and never counts towards opening it.

The breaker sits between the retry middleware and the attempt, so it counts attempts, not calls,
and a call refused by it is not retried (``CircuitOpenError`` is never retried, though it is
transient: a cached game list is still served through it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final

import attrs

from ._clock import Clock
from ._errors import CircuitOpenError, GameApiError, InvalidParameterError, is_transient
from ._events import CircuitChanged, EventHook, emit
from ._pipeline import Call, ChainedMiddleware, Handler, Reply

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "Circuit", "CircuitBreaker", "CircuitBreakerMiddleware"]

logger = logging.getLogger("gameapi_async")

CLOSED: Final = "closed"
OPEN: Final = "open"
HALF_OPEN: Final = "half_open"


def _check_threshold(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameterError(
            "breaker.failure_threshold", f"must be an int >= 1, got {value!r}"
        )


def _check_cool_down(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
        raise InvalidParameterError(
            "breaker.cool_down", f"must be seconds in (0, 3600], got {value!r}"
        )


@attrs.frozen
class CircuitBreaker:
    """When to stop sending to a platform that keeps failing, and when to try it again.

    Give it as ``GameApiClient(breaker=CircuitBreaker())``; with a ``games_store`` the circuit
    is shared by every process of the fleet for the same agent and base URL.

    Attributes:
        failure_threshold: transient failures in a row (timeouts, dropped connections,
            429/5xx) that open the circuit. A run of 20 is all but impossible while a quarter
            of attempts fail at random, and takes milliseconds in an outage.
        cool_down: seconds the circuit stays open before one probe goes through: at most one
            request per cool-down per process (per fleet, shared) while the platform is down,
            and at most a cool-down of fast failures once it is back.
    """

    failure_threshold: int = attrs.field(default=20, validator=_check_threshold)
    cool_down: float = attrs.field(default=2.0, validator=_check_cool_down)


class Circuit:
    """The state of one client's circuit, in this process.

    Every change of state is logged once and given to the hooks as ``CircuitChanged``; the
    fleet-shared circuit (``fleet/_circuit.py``) builds on this one.
    """

    def __init__(
        self, breaker: CircuitBreaker, *, clock: Clock, hooks: Sequence[EventHook] = ()
    ) -> None:
        self.breaker = breaker
        self.clock = clock
        self.hooks = tuple(hooks)
        self.state: str = CLOSED
        self.failures = 0  # transient failures in a row
        self.open_until = 0.0  # monotonic time of the next probe, while open
        self.probing = False  # a probe attempt is on its way (half open)
        self.clear = True  # closed, with nothing to learn from the fleet: attempts just go
        self.resync = False  # the fleet announced a change this process has not read yet

    # -- the decisions -------------------------------------------------------------------

    async def admit(self) -> bool:
        """Before an attempt while the circuit is not closed: ``True`` if this attempt is the
        probe; raises ``CircuitOpenError`` if it may not go."""
        now = self.clock.monotonic()
        if self.state == OPEN and now >= self.open_until and await self.claim_probe():
            self.probing = True
            self.change(HALF_OPEN, "cool_down")
            return True
        if self.state == CLOSED:  # closed while we waited (a fleet message)
            return False
        raise self.refusal(now)

    async def claim_probe(self) -> bool:
        """Whether this process sends the probe (always, alone)."""
        return True

    def refusal(self, now: float) -> CircuitOpenError:
        """The error for an attempt the circuit refuses."""
        wait = max(self.open_until - now, 0.0)  # half open: the cool-down is over, 0
        return CircuitOpenError(
            f"circuit open after {self.breaker.failure_threshold} transient failures in a row; "
            f"next probe in {wait:.1f} s",
            next_probe_in=wait,
        )

    async def succeeded(self, probe: bool) -> None:
        """An attempt got an answer (a definite error included): the platform is up."""
        self.failures = 0
        if self.state != CLOSED:
            self.probing = False
            self.change(CLOSED, "probe_succeeded" if probe else "success")
            await self.closed_by_us()

    async def failed(self, probe: bool) -> None:
        """An attempt failed transiently."""
        if probe:
            self.probing = False
            self.open(self.breaker.cool_down, "probe_failed")
            await self.opened_by_us()
            return
        self.failures += 1
        if self.state == CLOSED and self.failures >= self.breaker.failure_threshold:
            self.open(self.breaker.cool_down, "failures")
            await self.opened_by_us()

    def abandoned(self, probe: bool) -> None:
        """The attempt was cancelled: a probe's turn passes to the next attempt."""
        if probe and self.state == HALF_OPEN:
            self.probing = False
            self.state = OPEN
            self.open_until = self.clock.monotonic()

    # -- transitions, and what the fleet-shared circuit adds to them ----------------------

    def open(self, seconds: float, reason: str) -> None:
        """Open (again) for ``seconds``."""
        self.open_until = self.clock.monotonic() + seconds
        self.failures = 0
        if self.state != OPEN:
            self.change(OPEN, reason)

    def change(self, state: str, reason: str) -> None:
        """Enter ``state``: one log line and one event."""
        previous, self.state = self.state, state
        self.clear = state == CLOSED and not self.resync
        if state == OPEN:
            logger.warning(
                "circuit open (%s): calls fail at once with CircuitOpenError for %.1f s, "
                "then one probe", reason, max(self.open_until - self.clock.monotonic(), 0.0),
            )
        else:
            logger.info("circuit %s (%s)", state.replace("_", " "), reason)
        if self.hooks:
            emit(self.hooks, CircuitChanged(state, previous, reason))

    async def opened_by_us(self) -> None:
        """This process opened the circuit (nothing to tell in process)."""

    async def closed_by_us(self) -> None:
        """This process closed the circuit (nothing to tell in process)."""


class CircuitBreakerMiddleware(ChainedMiddleware):
    """Between the retry middleware and the attempt: refuses attempts while the circuit is
    open and tells the circuit how each attempt ended. Costs one attribute read per attempt
    while the circuit is closed and calls succeed."""

    __slots__ = ("_circuit",)

    def __init__(self, circuit: Circuit) -> None:
        self._circuit = circuit

    async def _handle(self, call_next: Handler, call: Call) -> Reply:
        circuit = self._circuit
        probe = False if circuit.clear else await circuit.admit()
        try:
            reply = await call_next(call)
        except GameApiError as error:
            if is_transient(error):
                await circuit.failed(probe)
            else:
                await circuit.succeeded(probe)
            raise
        except BaseException:
            circuit.abandoned(probe)
            raise
        if probe or circuit.failures or circuit.state != CLOSED:
            await circuit.succeeded(probe)
        return reply
