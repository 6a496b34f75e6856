"""The seam below the game-list cache: a store the processes of a fleet share.

The in-process cache (``_cache.py``) stays in front as the near cache; ``_shared_list.py`` runs
the fleet protocol (read, fetch-or-wait under a lock, fenced write, drop, back-off, watch) on top
of the few primitives below. A store only moves bytes and keeps the lock honest; it knows
nothing of ``GameList`` or the platform. ``_redis.py`` is the one implementation, and the
only module that imports redis.

Every primitive either answers or raises :class:`StoreUnavailable` quickly: a store's failure
must never become a caller's failure while the platform answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import attrs

from .._clock import Clock, SystemClock

__all__ = [
    "GameListStore",
    "Lease",
    "Peek",
    "StoreSettings",
    "StoreUnavailable",
    "Stored",
    "raise_if_cancelling",
]


class StoreUnavailable(Exception):
    """The store could not answer (down, slow, or resting after a failure); fetch alone."""


def raise_if_cancelling() -> None:
    """Called where a store error is caught: when the current task is being cancelled, raise
    the cancellation instead. redis-py can turn a cancellation (a ``close()``) into a
    connection error; taking that for the store failing would start work nobody wants (a
    fetch of its own, a lease renewed for ever, a WARNING about an outage)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@attrs.frozen
class Lease:
    """A held fetch lock: ``fence`` grows with every acquisition, so a write carrying an
    older fence (a holder paused past its lease) is refused; ``generation`` is the fleet's
    invalidation count when the lock was taken."""

    token: str
    fence: int
    generation: int
    version: str | None = None  # the stored version when the lock was taken


@attrs.frozen
class Peek:
    """One cheap look: the current version tag (``None``: nothing stored) and whether some
    process holds the fetch lock."""

    version: str | None
    locked: bool


@attrs.frozen
class Stored:
    """A stored list: its version tag, its encoded value, and its age in seconds by the
    store's own clock (one clock for the whole fleet, so a process whose clock is off
    still ages a list as every other process does)."""

    version: str
    value: bytes
    age: float


@attrs.frozen
class StoreSettings:
    """Timings every client of one store follows."""

    lease: float  # seconds a fetch lock lives unless its holder renews it
    poll_interval: float  # seconds between version checks of a process holding a list
    lock_wait: float  # the longest a caller waits for another process's fetch
    wait_step: float  # seconds between looks while waiting for another process's fetch
    # What leases run on: the fleet logic times its waits, renewals and lock-wait deadline
    # with it (real time for Redis, whose leases expire in real time; injectable for tests).
    clock: Clock = attrs.field(factory=SystemClock)


TOMBSTONE_PREFIX = "x"  # a version starting with this marks a list dropped fleet-wide


@runtime_checkable
class GameListStore(Protocol):
    """What ``GameApiClient(games_store=...)`` needs from a shared store.

    ``namespace`` is an opaque per-(platform, agent) string the client derives; keys of one
    namespace never meet another's. Versions are opaque tags; one starting with ``"x"`` is a
    tombstone (the list was dropped on purpose).
    """

    settings: StoreSettings

    async def peek(self, namespace: str) -> Peek:
        """The version tag and whether the fetch lock is held, in one round trip."""
        ...

    async def read(self, namespace: str) -> Stored | None:
        """The stored list with its age by the store's clock, or ``None`` when there is
        none (or it is dated in the future)."""
        ...

    async def acquire(self, namespace: str, token: str) -> Lease | None:
        """Take the fetch lock for ``settings.lease`` seconds, or ``None`` if it is held."""
        ...

    async def renew(self, namespace: str, lease: Lease) -> bool:
        """Extend a held lock; ``False`` when it was lost (expired and maybe taken)."""
        ...

    async def release(self, namespace: str, lease: Lease) -> None:
        """Give the lock up if still held by ``lease`` (never someone else's)."""
        ...

    async def write(
        self, namespace: str, lease: Lease, value: bytes, keep_for: float
    ) -> str | None:
        """Store ``value`` for ``keep_for`` seconds, atomically checking that no later lock
        holder exists and no drop happened since ``lease``; release the lock (on every
        path) and notify. The new version, or ``None`` when fenced out (nothing written;
        the store logs why)."""
        ...

    async def drop(self, namespace: str, keep_for: float) -> str:
        """Forget the list fleet-wide: a new generation (fencing out fetches in flight) and
        a tombstone version (returned), announced to watchers."""
        ...

    async def back_off(self, namespace: str, seconds: float) -> None:
        """Ask the fleet not to refresh for ``seconds`` (a refresh just failed transiently)."""
        ...

    async def backing_off(self, namespace: str) -> float:
        """Seconds left of a fleet-wide back-off; ``0.0`` when there is none."""
        ...

    def watch(self, namespace: str, nudge: Callable[[], None]) -> Callable[[], None]:
        """Call ``nudge`` (best effort; messages may be lost) when the namespace changes.
        Returns the function that stops watching."""
        ...
