"""The game-list cache: TTL, single flight, stale-while-revalidate, stale-if-error.

The platform recommends caching the game list for hours; agents' services ask for it from
thousands of coroutines at once. So:

- a fresh list is served from process memory on the client's monotonic clock (one
  comparison: no lock, no I/O, with or without a shared store);
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

With a shared store (``games_store=``) this cache is the near cache: whatever it would have
fetched it asks ``fleet._shared_list.SharedGameList`` for instead, which takes the fleet's list
or fetches once for the fleet; a list another process wrote (or dropped) arrives through
``_adopt``. A list's age then counts from when the fleet fetched it, not from when this process
read it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Final

import attrs

from ._clock import Clock
from ._errors import ClientClosedError, GameApiError, is_transient
from ._models import GameList
from .fleet._shared_list import FleetBackingOff, Loaded, SharedGameList

__all__ = ["CacheStats", "GameListCache"]

logger = logging.getLogger("gameapi_async.cache")

TTL_JITTER: Final = 0.05  # the TTL is shortened by up to this share, once per cache
ERROR_BACKOFF: Final = (30.0, 60.0)  # seconds before a failed background refresh is retried

Fetch = Callable[[], Awaitable[GameList]]


@attrs.frozen
class CacheStats:
    """Counters a service can export; ``age`` is seconds since the last good list arrived.

    Attributes:
        hits: calls served a fresh list from the cache.
        misses: calls that started a fetch and waited for it.
        joins: calls that waited for a fetch another caller had started.
        refreshes: background refreshes started while serving a stale list.
        stale_served: calls answered with a list older than the TTL.
        errors: fetches that failed, foreground or background.
        age: seconds since the last good list arrived; ``None`` before the first.
        shared_hits: lists taken from the shared store instead of the platform (0 without
            ``games_store``, like the three below).
        lock_waits: loads that waited for another process's fetch.
        takeovers: fetches started after a lock holder vanished without writing.
        store_errors: store operations that failed or were skipped while the store was down.
    """

    hits: int  # served fresh from the cache
    misses: int  # started a fetch and waited for it
    joins: int  # waited for a fetch another caller had started
    refreshes: int  # background refreshes started while serving a stale list
    stale_served: int  # answered with a list older than the TTL
    errors: int  # fetches that failed
    age: float | None  # None before the first good list
    # The shared store's (all 0 without ``games_store``):
    shared_hits: int = 0  # lists taken from the store instead of the platform
    lock_waits: int = 0  # loads that waited for another process's fetch
    takeovers: int = 0  # fetches started after a lock holder vanished without writing
    store_errors: int = 0  # store operations that failed or were skipped (store down)


@attrs.frozen
class _Entry:
    value: GameList
    fetched_at: float  # monotonic
    fresh_until: float  # monotonic; served as fresh until then
    stale_until: float  # monotonic; served stale until then
    version: str | None = None  # the shared store's tag for this list


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
        ttl: float | None,
        max_stale: float,
        clock: Clock,
        rng: random.Random | None = None,
        shared: SharedGameList | None = None,
    ) -> None:
        self._rng = rng if rng is not None else random.Random()
        self._ttl = ttl * (1 - self._rng.uniform(0, TTL_JITTER)) if ttl else None
        self._max_stale = max_stale
        self._clock = clock
        # Without a TTL nothing is kept, so a shared store has nothing to share either.
        self._shared = shared if self._ttl else None
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
        last = self._last
        if not refresh and last is not None:
            now = self._clock.monotonic()
            if now < last.fresh_until:
                self._counters.hits += 1
                if self.observer is not None:
                    self.observer("hit")
                return last.value
            if now < last.stale_until:
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
            flight = self._start(fetch, background=False, refresh=refresh)
        else:
            self._counters.joins += 1
            if self.observer is not None:
                self.observer("join")
        return await self._wait(flight)

    def invalidate(self) -> None:
        """Forget the list; a fetch already running will not write its result. With a
        shared store, the whole fleet forgets it (and no fetch in flight anywhere writes)."""
        self._forget_list()
        if self._shared is not None and not self._closed:
            self._shared.drop_soon()

    def stats(self) -> CacheStats:
        last = self._last
        age = None if last is None else self._clock.monotonic() - last.fetched_at
        shared = {} if self._shared is None else self._shared.counts()
        return CacheStats(**attrs.asdict(self._counters), age=age, **shared)

    async def aclose(self) -> None:
        """Cancel every fetch still running (invalidated ones too) and refuse further use."""
        self._closed = True
        self._flight = None
        running = list(self._running)
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
        if self._shared is not None:
            await self._shared.aclose()

    # -- internals ------------------------------------------------------------------------

    def _refresh_in_background(self, fetch: Fetch) -> None:
        if self._flight is None and self._clock.monotonic() >= self._retry_not_before:
            self._counters.refreshes += 1
            self._start(fetch, background=True, refresh=False)

    def _start(self, fetch: Fetch, *, background: bool, refresh: bool) -> asyncio.Task[GameList]:
        # Called with no await since the caller saw no flight: exactly one task per flight.
        generation = self._generation
        if self._shared is not None:
            self._shared.start(self._adopt)
        task = asyncio.get_running_loop().create_task(
            self._run(fetch, generation, background, refresh)
        )
        self._flight = task
        self._running.add(task)
        task.add_done_callback(self._forget)
        return task

    async def _run(
        self, fetch: Fetch, generation: int, background: bool, refresh: bool
    ) -> GameList:
        shared = self._shared
        try:
            if shared is None:
                value = await fetch()
                age, version = 0.0, None
            else:
                have = self._last.version if self._last is not None else None
                loaded = await shared.load(
                    fetch, have=have, background=background, force=refresh
                )
                value, age, version = loaded.value, shared.age(loaded), loaded.version
        except FleetBackingOff as pause:  # only a background refresh: a stale list exists
            self._retry_not_before = self._clock.monotonic() + pause.seconds
            if self._last is None:
                raise
            return self._last.value
        except Exception as error:  # not only GameApiError: a bug in a middleware counts too
            self._counters.errors += 1
            if generation == self._generation:
                self._after_failure(error, background)
            raise
        if generation == self._generation:
            self._store(value, age=age, version=version)
        return value

    def _store(self, value: GameList, *, age: float = 0.0, version: str | None = None) -> None:
        now = self._clock.monotonic()
        born = now - age
        ttl = self._ttl or 0.0
        # Without a TTL the entry only dates the list (``age``); it is never served.
        stale_until = born + max(self._max_stale, ttl) if ttl else born
        self._last = _Entry(value, born, born + ttl, stale_until, version)
        if age < ttl:
            self._retry_not_before = float("-inf")

    def _adopt(self, loaded: Loaded | None) -> None:
        """A list another process wrote (``None``: the fleet dropped the list)."""
        if self._closed:
            return
        if loaded is None:
            self._forget_list()
        elif self._shared is not None:
            self._store(loaded.value, age=self._shared.age(loaded), version=loaded.version)

    def _forget_list(self) -> None:
        self._generation += 1
        self._last = None
        self._flight = None

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
