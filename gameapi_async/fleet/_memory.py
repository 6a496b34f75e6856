"""``MemoryGameListStore``: the store seam kept in one process's memory, on an injectable clock.

Private, for tests of the fleet logic (``_shared_list.py``) without Redis: several clients
given one instance behave as processes sharing one store, and a test moves the clock to
expire leases, back-offs and stored lists, or sets ``available = False`` to stand for Redis
failing. It is not offered as a store for applications: processes cannot share it, and in one
process the client's own cache already shares the list. What only Redis does (scripts,
timeouts, pub/sub, ACLs, a cluster) stays tested on a real redis-server.

It follows the contract of :class:`~._store.GameListStore` as ``_redis.py`` does: a lock
with a lease and a fence, writes fenced by lock and generation (and giving the lock back on
every path), tombstones on a drop, a fleet back-off, and nudges on every change.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

import attrs

from .._clock import Clock, SystemClock
from .._config import check_seconds
from ._store import TOMBSTONE_PREFIX, Lease, Peek, Stored, StoreSettings, StoreUnavailable

__all__ = ["MemoryGameListStore"]


@attrs.define
class _Space:
    """One namespace's keys."""

    value: bytes | None = None
    version: str | None = None
    written_at: float = 0.0  # the store's monotonic clock
    expires_at: float = math.inf  # the value and version are gone from then on
    lock: str | None = None
    lock_until: float = -math.inf
    fence: int = 0
    generation: int = 0
    backoff_until: float = -math.inf
    nudges: set[Callable[[], None]] = attrs.field(factory=set)


class MemoryGameListStore:
    """A :class:`~._store.GameListStore` in memory (see the module docstring)."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        lease: float = 10.0,
        poll_interval: float = 10.0,
        lock_wait: float = 40.0,
    ) -> None:
        self._clock = clock if clock is not None else SystemClock()
        lease = check_seconds("lease", lease, allow_none=False)
        self.settings = StoreSettings(
            lease=lease,
            poll_interval=check_seconds("poll_interval", poll_interval, allow_none=False),
            lock_wait=check_seconds("lock_wait", lock_wait, allow_none=False),
            wait_step=min(0.1, lease / 4),
            clock=self._clock,
        )
        self.available = True  # False: every primitive raises StoreUnavailable
        self._spaces: dict[str, _Space] = {}

    def __repr__(self) -> str:
        return f"<MemoryGameListStore lease={self.settings.lease}>"

    def _space(self, namespace: str) -> _Space:
        if not self.available:
            raise StoreUnavailable("the memory store is set unavailable")
        space = self._spaces.setdefault(namespace, _Space())
        now = self._clock.monotonic()
        if now >= space.expires_at:
            space.value = space.version = None
            space.expires_at = math.inf
        if now >= space.lock_until:
            space.lock = None
        return space

    async def peek(self, namespace: str) -> Peek:
        space = self._space(namespace)
        return Peek(space.version, space.lock is not None)

    async def read(self, namespace: str) -> Stored | None:
        space = self._space(namespace)
        if space.version is None:
            return None
        age = self._clock.monotonic() - space.written_at
        return Stored(space.version, space.value or b"", age)

    async def acquire(self, namespace: str, token: str) -> Lease | None:
        space = self._space(namespace)
        if space.lock is not None:
            return None
        space.lock = token
        space.lock_until = self._clock.monotonic() + self.settings.lease
        space.fence += 1
        return Lease(token, space.fence, space.generation, space.version)

    async def renew(self, namespace: str, lease: Lease) -> bool:
        space = self._space(namespace)
        if space.lock != lease.token:
            return False
        space.lock_until = self._clock.monotonic() + self.settings.lease
        return True

    async def release(self, namespace: str, lease: Lease) -> None:
        space = self._space(namespace)
        if space.lock == lease.token:
            space.lock = None

    async def write(
        self, namespace: str, lease: Lease, value: bytes, keep_for: float
    ) -> str | None:
        space = self._space(namespace)
        if space.lock == lease.token:
            space.lock = None
        if space.fence != lease.fence or space.generation != lease.generation:
            return None  # a later lock holder, or a drop, came first
        now = self._clock.monotonic()
        space.value, space.version = value, f"{lease.fence}-{lease.token[:8]}"
        space.written_at, space.expires_at = now, now + keep_for
        space.backoff_until = -math.inf
        self._announce(space)
        return space.version

    async def drop(self, namespace: str, keep_for: float) -> str:
        space = self._space(namespace)
        space.generation += 1
        space.value = None
        space.version = f"{TOMBSTONE_PREFIX}{space.generation}"
        space.written_at = now = self._clock.monotonic()
        space.expires_at = now + keep_for
        self._announce(space)
        return space.version

    async def back_off(self, namespace: str, seconds: float) -> None:
        self._space(namespace).backoff_until = self._clock.monotonic() + seconds

    async def backing_off(self, namespace: str) -> float:
        left = self._space(namespace).backoff_until - self._clock.monotonic()
        return max(0.0, left)

    def watch(self, namespace: str, nudge: Callable[[], None]) -> Callable[[], None]:
        nudges = self._spaces.setdefault(namespace, _Space()).nudges
        nudges.add(nudge)
        return lambda: nudges.discard(nudge)

    def _announce(self, space: _Space) -> None:
        # Soon, not now: a notification arrives after the change, as over pub/sub.
        loop = asyncio.get_running_loop()
        for nudge in tuple(space.nudges):
            loop.call_soon(nudge)
