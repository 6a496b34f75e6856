"""The game-list cache: TTL, single flight, stale-while-revalidate, stale-if-error.

The platform recommends caching the game list for hours; agents' services ask for it from
thousands of coroutines at once. So:

- a fresh list is served from a cachetools ``TTLCache`` on the client's monotonic clock;
- concurrent misses share one fetch (single flight): the task is created with no ``await``
  between the check and the creation, owned by the cache, and awaited through
  ``asyncio.shield`` so a cancelled waiter cancels neither the fetch nor the other waiters;
- once the TTL has passed, the last good list is served at once while one background task
  refreshes it (stale-while-revalidate);
- when that refresh fails transiently (5xx, 429, network, timeout), the last good list keeps
  being served until it is ``max_stale`` seconds old, with a WARNING and a short back-off
  before the next attempt (stale-if-error); past that age, callers fetch and get the error;
- a definite failure (signature, agent, token...) means misconfiguration, not an outage: the
  stale list is dropped, so the next caller fetches and sees the error. So does any other
  exception (a bug in a user middleware, say), which is also logged with its traceback;
- ``invalidate()`` bumps a generation counter; a fetch that started before it never writes.

The TTL starts when a fetch finishes, and each cache draws its TTL once with up to 5% jitter so
a fleet of workers started together drifts apart instead of refreshing in lockstep.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Hashable
from typing import Final

import attrs
from cachetools import TTLCache

from ._clock import Clock
from ._errors import ClientClosedError, GameApiError, is_transient
from ._models import GameList

__all__ = ["CacheStats", "GameListCache"]

logger = logging.getLogger("gameapi_async.cache")

TTL_JITTER: Final = 0.05  # the TTL is shortened by up to this share, once per cache
ERROR_BACKOFF: Final = (30.0, 60.0)  # seconds before a failed background refresh is retried

Fetch = Callable[[], Awaitable[GameList]]


@attrs.frozen
class CacheStats:
    """Counters a service can export; ``age`` is seconds since the last good list arrived."""

    hits: int  # served fresh from the cache
    misses: int  # started a fetch and waited for it
    joins: int  # waited for a fetch another caller had started
    refreshes: int  # background refreshes started while serving a stale list
    stale_served: int  # answered with a list older than the TTL
    errors: int  # fetches that failed
    age: float | None  # None before the first good list


@attrs.frozen
class _Entry:
    value: GameList
    fetched_at: float  # monotonic
    stale_until: float  # monotonic; served stale until then


@attrs.define
class _Counters:
    hits: int = 0
    misses: int = 0
    joins: int = 0
    refreshes: int = 0
    stale_served: int = 0
    errors: int = 0


class GameListCache:
    """One agent's game list. Create with ``ttl=None`` to fetch on every call (still one
    request for concurrent callers)."""

    def __init__(
        self,
        *,
        key: Hashable,
        ttl: float | None,
        max_stale: float,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self._rng = rng if rng is not None else random.Random()
        self._key = key
        self._ttl = ttl * (1 - self._rng.uniform(0, TTL_JITTER)) if ttl else None
        self._max_stale = max_stale
        self._clock = clock
        self._fresh: TTLCache[Hashable, GameList] | None = (
            TTLCache(maxsize=1, ttl=self._ttl, timer=clock.monotonic) if self._ttl else None
        )
        self._last: _Entry | None = None
        self._flight: asyncio.Task[GameList] | None = None
        self._running: set[asyncio.Task[GameList]] = set()  # the flight, and any invalidated
        self._generation = 0
        self._retry_not_before = float("-inf")
        self._counters = _Counters()
        self._closed = False
        # Told how each get() is answered ("hit", "stale", "join" or "miss"), synchronously in
        # the caller's task; set by the client when telemetry is on, else None (no cost).
        self.observer: Callable[[str], None] | None = None

    @property
    def ttl(self) -> float | None:
        """The TTL in force, jitter applied; ``None`` when caching is off."""
        return self._ttl

    async def get(self, fetch: Fetch, *, refresh: bool = False) -> GameList:
        """The game list: fresh from the cache, stale while refreshing, or fetched now."""
        if self._closed:
            raise ClientClosedError("the client is closed")
        if not refresh and self._fresh is not None:
            value = self._fresh.get(self._key)
            if value is not None:
                self._counters.hits += 1
                if self.observer is not None:
                    self.observer("hit")
                return value
            last = self._last
            if last is not None and self._clock.monotonic() < last.stale_until:
                self._counters.stale_served += 1
                if self.observer is not None:
                    self.observer("stale")
                self._refresh_in_background(fetch)
                return last.value
        flight = self._flight
        if flight is None:
            self._counters.misses += 1
            if self.observer is not None:
                self.observer("miss")
            flight = self._start(fetch, background=False)
        else:
            self._counters.joins += 1
            if self.observer is not None:
                self.observer("join")
        return await self._wait(flight)

    def invalidate(self) -> None:
        """Forget the list; a fetch already running will not write its result."""
        self._generation += 1
        self._last = None
        self._flight = None
        if self._fresh is not None:
            self._fresh.clear()

    def stats(self) -> CacheStats:
        last = self._last
        age = None if last is None else self._clock.monotonic() - last.fetched_at
        return CacheStats(**attrs.asdict(self._counters), age=age)

    async def aclose(self) -> None:
        """Cancel every fetch still running (invalidated ones too) and refuse further use."""
        self._closed = True
        self._flight = None
        running = list(self._running)
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)

    # -- internals ------------------------------------------------------------------------

    def _refresh_in_background(self, fetch: Fetch) -> None:
        if self._flight is None and self._clock.monotonic() >= self._retry_not_before:
            self._counters.refreshes += 1
            self._start(fetch, background=True)

    def _start(self, fetch: Fetch, *, background: bool) -> asyncio.Task[GameList]:
        # Called with no await since the caller saw no flight: exactly one task per flight.
        generation = self._generation
        task = asyncio.get_running_loop().create_task(self._run(fetch, generation, background))
        self._flight = task
        self._running.add(task)
        task.add_done_callback(self._forget)
        return task

    async def _run(self, fetch: Fetch, generation: int, background: bool) -> GameList:
        try:
            value = await fetch()
        except Exception as error:  # not only GameApiError: a bug in a middleware counts too
            self._counters.errors += 1
            if generation == self._generation:
                self._after_failure(error, background)
            raise
        if generation == self._generation:
            self._store(value)
        return value

    def _store(self, value: GameList) -> None:
        now = self._clock.monotonic()
        self._last = _Entry(value, now, now + max(self._max_stale, self._ttl or 0.0))
        self._retry_not_before = float("-inf")
        if self._fresh is not None:
            self._fresh[self._key] = value

    def _after_failure(self, error: Exception, background: bool) -> None:
        if not background:
            return  # the waiters get the error
        if not isinstance(error, GameApiError):
            # A bug (in a user middleware, say): nobody awaits a background refresh, so log
            # it with its traceback, and treat it as not transient.
            self._last = None
            logger.error(
                "refreshing the game list failed with an unexpected %s; dropping the cached "
                "list", type(error).__name__, exc_info=error,
            )
        elif is_transient(error):
            self._retry_not_before = self._clock.monotonic() + self._rng.uniform(*ERROR_BACKOFF)
            logger.warning(
                "refreshing the game list failed (%s); serving the cached list, %.0f s old",
                error, self.stats().age or 0.0,
            )
        else:
            # Misconfiguration, not an outage: stop hiding it behind the stale list.
            self._last = None
            logger.error("refreshing the game list failed (%s); dropping the cached list", error)

    def _forget(self, task: asyncio.Task[GameList]) -> None:
        self._running.discard(task)
        if self._flight is task:
            self._flight = None
        if not task.cancelled():
            task.exception()  # retrieved here, so a background failure is never "unretrieved"

    async def _wait(self, flight: asyncio.Task[GameList]) -> GameList:
        try:
            return await asyncio.shield(flight)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if flight.cancelled() and self._closed and current is not None and (
                current.cancelling() == 0
            ):
                raise ClientClosedError(
                    "the client was closed while the game list was being fetched"
                ) from None
            raise
