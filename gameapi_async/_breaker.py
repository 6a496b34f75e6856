"""``CircuitBreaker``: once the platform is known to be down, fail at once instead of piling on.

After ``failure_threshold`` transient failures in a row (no answer between them) the circuit
opens: nothing is sent. After ``cool_down`` seconds the circuit is half open: one probe attempt
goes through; the probe's outcome closes the circuit or opens it for another cool-down. Any
answer from the platform, a definite error included (bad signature, game not found), is proof
that it is up: it closes the circuit and never counts towards opening it.

An attempt the open circuit refuses waits for the next probe when it is due within ``hold``
seconds (or is on its way), and goes on if that probe is answered; otherwise it fails with
``CircuitOpenError``. Failing at once (``hold=0``) would refuse every call made between the
platform coming back and the next probe: calls that retries alone would have got through.

The breaker sits between the retry middleware and the attempt, so it counts attempts, not calls.
A call refused by it is not retried (``CircuitOpenError`` is never retried, though it is
transient: a cached game list is still served through it), nor is a probe that failed: the
circuit has just reopened, and a retry could only wait for the next probe. So a call waits
for one probe at most.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from typing import Any, Final

import attrs

from ._clock import Clock
from ._errors import (
    CircuitOpenError,
    ClientClosedError,
    GameApiError,
    InvalidParameterError,
    is_transient,
)
from ._events import CircuitChanged, EventHook, emit
from ._pipeline import Call, Handler, Reply

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


def _check_hold(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 3600:
        raise InvalidParameterError("breaker.hold", f"must be seconds in [0, 3600], got {value!r}")


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
            request per cool-down per process (per fleet, shared) while the platform is down.
        hold: how long before the next probe a refused call may arrive and still wait for it
            (default: the cool-down, so every call waits for the next probe's outcome, never
            longer than its own timeout). If the probe is answered the call goes on; if not it
            fails with ``CircuitOpenError``. ``0`` fails at once, at the price of refusing the
            calls made between the platform's return and the next probe.
    """

    failure_threshold: int = attrs.field(default=20, validator=_check_threshold)
    cool_down: float = attrs.field(default=2.0, validator=_check_cool_down)
    hold: float = attrs.field(
        default=attrs.Factory(lambda breaker: breaker.cool_down, takes_self=True),
        validator=_check_hold,
    )


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
        self.claiming = False  # asking the fleet whether this process sends the probe
        self.probe_elsewhere = False  # another process of the fleet sends the probe
        self.clear = True  # closed, with nothing to learn from the fleet: attempts just go
        self.resync = False  # the fleet announced a change this process has not read yet
        self._changed: asyncio.Event | None = None  # set (and replaced) at every change
        self.stopped = False  # the client is closing: no attempt waits any more

    # -- the decisions -------------------------------------------------------------------

    async def admit(self, limit: float | None) -> bool:
        """Before an attempt while the circuit is not closed: ``True`` if this attempt is the
        probe, ``False`` if the circuit closed meanwhile; raises ``CircuitOpenError`` if it
        may not go.

        While the next probe is due within ``hold`` seconds of this attempt's arrival, or a
        probe is on its way, the attempt waits for the outcome, at most ``limit`` seconds (its
        timeout; ``None``: no limit).
        """
        clock = self.clock
        start = clock.monotonic()
        hold = self.breaker.hold
        send_by = start + hold
        give_up = math.inf if limit is None else start + limit
        while True:
            if self.stopped:
                raise ClientClosedError("the client was closed while the call waited for a probe")
            await self.refresh()
            now = clock.monotonic()
            if self.state == CLOSED:
                return False
            if self.state == OPEN and now >= self.open_until and not self.claiming:
                if await self._claim():
                    return True
                continue
            on_its_way = self.state == HALF_OPEN or self.claiming or self.probe_elsewhere
            if now >= give_up or not hold or (not on_its_way and self.open_until >= send_by):
                raise self.refusal(now)
            wake_at = give_up
            if self.state == OPEN and not self.claiming:  # look again when the probe is due
                wake_at = min(wake_at, self.open_until)
            await self._until_changed(wake_at - now)

    async def _claim(self) -> bool:
        """Try to become the probe; the attempts waiting meanwhile look again after."""
        self.claiming = True
        try:
            won = await self.claim_probe()
        finally:
            self.claiming = False
            self.wake()
        if won and self.state == OPEN:
            self.probing = True
            self.change(HALF_OPEN, "cool_down")
            return True
        return False

    async def refresh(self) -> None:
        """Before each look at the state: catch up with the fleet (nothing in process)."""

    async def claim_probe(self) -> bool:
        """Whether this process sends the probe (always, alone)."""
        return True

    async def _until_changed(self, seconds: float) -> None:
        """Wait until the circuit changes (here or in the fleet) or ``seconds`` pass, on the
        client's clock."""
        changed = self._changed
        if changed is None:
            changed = self._changed = asyncio.Event()
        if seconds == math.inf:
            await changed.wait()
            return
        waits = (asyncio.ensure_future(changed.wait()),
                 asyncio.ensure_future(self.clock.sleep(max(seconds, 0.0))))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    def wake(self) -> None:
        """Let the attempts waiting on the circuit look at it again."""
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    def stop(self) -> None:
        """The client is closing: the attempts waiting for a probe raise ``ClientClosedError``
        now rather than when their wait ends."""
        self.stopped = True
        self.wake()

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
            self.wake()

    # -- transitions, and what the fleet-shared circuit adds to them ----------------------

    def open(self, seconds: float, reason: str) -> None:
        """Open (again) for ``seconds``."""
        self.open_until = self.clock.monotonic() + seconds
        self.failures = 0
        self.probe_elsewhere = False
        if self.state != OPEN:
            self.change(OPEN, reason)
        else:
            self.wake()  # a later probe: the attempts waiting see whether they can wait for it

    def change(self, state: str, reason: str) -> None:
        """Enter ``state``: one log line and one event."""
        previous, self.state = self.state, state
        self.clear = state == CLOSED and not self.resync
        self.probe_elsewhere = False
        self.wake()
        if state == OPEN:
            logger.warning(
                "circuit open (%s): nothing is sent for %.1f s, then one probe; calls wait "
                "for it (up to %.1f s before it) or fail with CircuitOpenError", reason,
                max(self.open_until - self.clock.monotonic(), 0.0), self.breaker.hold,
            )
        else:
            logger.info("circuit %s (%s)", state.replace("_", " "), reason)
        if self.hooks:
            emit(self.hooks, CircuitChanged(state, previous, reason))

    async def opened_by_us(self) -> None:
        """This process opened the circuit (nothing to tell in process)."""

    async def closed_by_us(self) -> None:
        """This process closed the circuit (nothing to tell in process)."""


class CircuitBreakerMiddleware:
    """Between the retry middleware and the attempt: holds or refuses attempts while the
    circuit is open and tells the circuit how each attempt ended. Costs one attribute read
    per attempt while the circuit is closed and calls succeed."""

    __slots__ = ("_circuit",)

    def __init__(self, circuit: Circuit) -> None:
        self._circuit = circuit

    async def __call__(self, call: Call, call_next: Handler) -> Reply:
        circuit = self._circuit
        probe = False if circuit.clear else await circuit.admit(call.options.timeout)
        try:
            reply = await call_next(call)
        except GameApiError as error:
            if is_transient(error):
                error._failed_probe = probe
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
