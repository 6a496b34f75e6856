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

Where a list comes from is the loader's business, the one thing this cache is given besides
its settings: by default the fetch itself. With a shared store (``games_store=``) the fleet
logic (``fleet/_shared_list.py``) supplies a loader that takes the fleet's list or fetches once
for the fleet, and pushes a list another process wrote (or dropped) in through :meth:`put` and
:meth:`forget`. A list's age then counts from when the fleet fetched it (the loader says how
old it is), not from when this process read it. Nothing here knows there is a fleet.

The one entry lives in a ``cachetools.TLRUCache`` whose per-entry time-to-use is the entry's
stale deadline: past it the list is gone, whatever age it arrived with.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

import attrs
import cachetools

from ._clock import Clock
from ._errors import ClientClosedError, GameApiError, is_transient
from ._models import GameList

__all__ = ["CacheStats", "GameListCache", "Load", "LoadDeferred", "Loaded", "is_outage"]

logger = logging.getLogger("gameapi_async.cache")

TTL_JITTER: Final = 0.05  # the TTL is shortened by up to this share, once per cache
OUTAGE_BACKOFF: Final = (30.0, 60.0)  # seconds before a refresh that failed in an outage is retried
_KEY: Final = "games"  # the cache's one entry

Fetch = Callable[[], Awaitable[GameList]]


def is_outage(error: BaseException) -> bool:
    """The one rule for a failed refresh: ``True`` when the platform fails transiently (the
    retry rule: network, timeout, 429, 5xx), so the stale list keeps being served for
    :data:`OUTAGE_BACKOFF`; ``False`` for a definite answer (misconfiguration) or a bug, so the
    list is dropped and the next caller sees the error."""
    return isinstance(error, GameApiError) and is_transient(error)


def outage_backoff(rng: random.Random) -> float:
    """Seconds to wait before retrying a refresh that failed in an outage."""
    return rng.uniform(*OUTAGE_BACKOFF)


@attrs.frozen
class Loaded:
    """A list as a loader delivers it: how old it already is, and the loader's tag for it."""

    value: GameList
    age: float = 0.0  # seconds since it was fetched (by whichever process fetched it)
    version: str | None = None  # the loader's tag (a shared store's version), echoed as ``have``


class LoadDeferred(Exception):
    """A loader's answer to a background refresh: not now (the fleet backs off). The stale
    list keeps being served and the next refresh waits ``seconds``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the refresh is deferred for {seconds:.1f} s")
        self.seconds = seconds


class Load(Protocol):
    """How the cache gets a list: ``fetch`` asks the platform; ``have`` is the tag of the list
    the cache holds; ``background`` means it serves that list meanwhile; ``refresh`` means a
    caller asked for a new one (``refresh=True``)."""

    def __call__(
        self, fetch: Fetch, *, have: str | None, background: bool, refresh: bool
    ) -> Awaitable[Loaded]: ...


async def fetch_now(
    fetch: Fetch, *, have: str | None, background: bool, refresh: bool
) -> Loaded:
    """The loader without a shared store: ask the platform."""
    return Loaded(await fetch())


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
    fresh_until: float  # monotonic; served as fresh until then
    stale_until: float  # monotonic; served stale until then (the entry's time-to-use)
    version: str | None = None  # the loader's tag for this list


def _time_to_use(key: str, entry: _Entry, now: float) -> float:
    return entry.stale_until


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
    request for concurrent callers). ``load`` is where lists come from (default: the fetch
    itself); a loader may also hand lists in through :meth:`put` and :meth:`forget`."""

    def __init__(
        self,
        *,
        ttl: float | None,
        max_stale: float,
        clock: Clock,
        rng: random.Random | None = None,
        load: Load = fetch_now,
    ) -> None:
        self._rng = rng if rng is not None else random.Random()
        self._ttl = ttl * (1 - self._rng.uniform(0, TTL_JITTER)) if ttl else None
        self._max_stale = max_stale
        self._clock = clock
        self._load = load
        # One entry; it leaves by itself once past its stale deadline, whatever age it came with.
        self._entries: cachetools.TLRUCache[str, _Entry] = cachetools.TLRUCache(
            maxsize=1, ttu=_time_to_use, timer=clock.monotonic
        )
        self._born: float | None = None  # monotonic: when the last good list was fetched
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
        if not refresh:
            try:
                last: _Entry | None = self._entries[_KEY]
            except KeyError:  # none yet, or past its stale deadline
                last = None
            if last is not None:
                if self._clock.monotonic() < last.fresh_until:
                    self._counters.hits += 1
                    if self.observer is not None:
                        self.observer("hit")
                    return last.value
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

    def put(self, value: GameList, *, age: float = 0.0, version: str | None = None) -> None:
        """Hold ``value``, a list fetched ``age`` seconds ago (a loader's push: a list another
        process wrote). Served fresh until the TTL from its fetch, stale until max-stale."""
        if not self._closed:
            self._keep(value, age, version)

    def forget(self) -> None:
        """Forget the list; a fetch already running will not write its result (its callers
        still get it)."""
        self._generation += 1
        self._entries.clear()
        self._born = None
        self._flight = None

    invalidate = forget  # what ``invalidate_games()`` calls without a shared store

    @property
    def closed(self) -> bool:
        return self._closed

    def stats(self) -> CacheStats:
        born = self._born
        age = None if born is None else self._clock.monotonic() - born
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
            self._start(fetch, background=True, refresh=False)

    def _start(self, fetch: Fetch, *, background: bool, refresh: bool) -> asyncio.Task[GameList]:
        # Called with no await since the caller saw no flight: exactly one task per flight.
        task = asyncio.get_running_loop().create_task(
            self._run(fetch, self._generation, background, refresh)
        )
        self._flight = task
        self._running.add(task)
        task.add_done_callback(self._forget_task)
        return task

    async def _run(
        self, fetch: Fetch, generation: int, background: bool, refresh: bool
    ) -> GameList:
        held = self._entries.get(_KEY)
        try:
            loaded = await self._load(
                fetch,
                have=None if held is None else held.version,
                background=background,
                refresh=refresh,
            )
        except LoadDeferred as pause:  # only a background refresh: a stale list is served
            self._retry_not_before = self._clock.monotonic() + pause.seconds
            if held is None:
                raise
            return held.value
        except Exception as error:  # not only GameApiError: a bug in a middleware counts too
            self._counters.errors += 1
            if generation == self._generation:
                self._after_failure(error, background)
            raise
        if generation == self._generation:
            self._keep(loaded.value, loaded.age, loaded.version)
        return loaded.value

    def _keep(self, value: GameList, age: float, version: str | None) -> None:
        born = self._clock.monotonic() - age
        self._born = born
        ttl = self._ttl or 0.0
        # Without a TTL nothing is kept (its time-to-use is over at once); ``_born`` still
        # dates the list for ``stats().age``.
        stale_until = born + max(self._max_stale, ttl) if ttl else born
        self._entries[_KEY] = _Entry(value, born + ttl, stale_until, version)
        if age < ttl:
            self._retry_not_before = float("-inf")

    def _after_failure(self, error: Exception, background: bool) -> None:
        if not background:
            return  # the waiters get the error
        if is_outage(error):
            self._retry_not_before = self._clock.monotonic() + outage_backoff(self._rng)
            logger.warning(
                "refreshing the game list failed (%s); serving the cached list, %.0f s old",
                error, self.stats().age or 0.0,
            )
            return
        # Misconfiguration, or a bug (in a user middleware, say): stop hiding it behind the
        # stale list. Nobody awaits a background refresh, so a bug is logged with its traceback.
        self._entries.clear()
        self._born = None
        if isinstance(error, GameApiError):
            logger.error("refreshing the game list failed (%s); dropping the cached list", error)
        else:
            logger.error(
                "refreshing the game list failed with an unexpected %s; dropping the cached "
                "list", type(error).__name__, exc_info=error,
            )

    def _forget_task(self, task: asyncio.Task[GameList]) -> None:
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
