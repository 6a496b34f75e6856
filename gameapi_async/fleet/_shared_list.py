"""The fleet protocol on top of a :class:`~._store.GameListStore`, for one client's cache.

The near cache (``_cache.py``) calls :meth:`SharedGameList.load` (its loader) only when its
own list is missing, past its TTL, or refreshed on demand; the warm path never reaches here.
This layer pushes lists other processes wrote (or dropped) into the near cache through its
``put``/``forget``; :class:`FleetGames` pairs the two for the client. Here:

- a miss first reads the fleet's list; one younger than ``max_stale`` is served (fresh or
  stale: the near cache then refreshes in the background);
- otherwise one process fetches under the store's lock (lease renewed while it fetches,
  write fenced) and the others wait for its version, then take over if the lock vanishes
  without one (the holder died), or fetch alone after ``lock_wait`` rather than hang;
- a failed refresh backs the fleet off (transient) or drops the list fleet-wide (definite);
- a watcher task polls the version every ``poll_interval`` (sooner on a pub/sub nudge) and
  hands a changed list, or a drop, to the near cache;
- any store failure means "fetch alone": the caller never sees it.

The value is JSON (zlib-compressed) of the platform's content plus ``fetched_at`` (wall
clock, so every process agrees on a list's age); never pickle. A value that does not decode
into a valid ``GameList`` is logged, treated as a miss, and overwritten by the next write.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import random
import secrets
import zlib
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

import attrs

from .._cache import (
    CacheStats,
    Fetch,
    GameListCache,
    LoadDeferred,
    Loaded,
    is_outage,
    outage_backoff,
)
from .._clock import Clock
from .._errors import GameApiError
from .._models import GameList, structure
from ._store import (
    TOMBSTONE_PREFIX,
    GameListStore,
    Lease,
    StoreUnavailable,
    raise_if_cancelling,
)

__all__ = ["FleetGames", "FleetList", "SharedGameList", "namespace_for"]

logger = logging.getLogger("gameapi_async.store")

FORMAT: Final = 1
KEEP_MARGIN: Final = 60.0  # seconds a stored list outlives its max-stale age
DECODED_MARGIN: Final = 2  # a stored list may inflate to this many times the response cap
CATCH_UP_EVERY: Final = 1.0  # seconds between tries to write what the store missed


def namespace_for(base_url: str, agent_id: int) -> str:
    """A short, stable name for one (platform, agent): hashed, so keys reveal neither."""
    digest = hashlib.sha256(f"{base_url}\n{agent_id}".encode()).hexdigest()
    return digest[:24]


class CorruptValue(ValueError):
    """A stored value that is not one of ours (or was damaged)."""


class NearCache(Protocol):
    """What the fleet logic tells the near cache (``GameListCache``)."""

    def put(self, value: GameList, *, age: float, version: str | None) -> None: ...

    def forget(self) -> None: ...


@attrs.frozen
class FleetList:
    """A list and what the fleet knows of it."""

    value: GameList
    fetched_at: float  # wall clock
    version: str | None  # None: not (or not yet) in the store


def encode(value: GameList, fetched_at: float) -> bytes:
    games = [
        {"id": g.id, "title": g.title, "brand": g.brand, "image_url": g.image_url, "demo": g.demo}
        for g in value.games
    ]
    document = {
        "format": FORMAT,
        "fetched_at": fetched_at,
        "content": {"games": games, "total": value.total, "request_id": value.request_id},
    }
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 1)


def decode(blob: bytes, max_decoded: int) -> tuple[GameList, float]:
    """``(list, fetched_at)`` or :class:`CorruptValue`; strict: only a valid list passes.

    Inflating stops at ``max_decoded`` bytes: a value the platform could never have sent
    within the client's response cap is refused, never inflated in memory (a zlib bomb).
    """
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(blob, max_decoded)
        if inflater.unconsumed_tail or not inflater.eof:
            raise CorruptValue("not a complete zlib stream within the size limit")
        document: Any = json.loads(raw)
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise CorruptValue("not a game list of a known format")
        fetched_at: Any = document.get("fetched_at")
        if type(fetched_at) not in (int, float) or not math.isfinite(fetched_at):
            raise CorruptValue("fetched_at is not a finite number")
        content = document.get("content")
        if not isinstance(content, dict):
            raise CorruptValue("content is not an object")
        return structure(content, GameList), float(fetched_at)
    except CorruptValue:
        raise
    except Exception as error:  # zlib.error, JSON, cattrs: all mean "not ours"
        raise CorruptValue(f"{type(error).__name__}: {error}") from None


@attrs.frozen
class Unshared:
    """A list a forced refresh fetched while the store failed, to be written when it answers,
    unless the store moved on meanwhile (``base``: the version this process knew then)."""

    stored: FleetList
    base: str | None


@attrs.define
class SharedCounters:
    shared_hits: int = 0  # lists taken from the store instead of the platform
    lock_waits: int = 0  # loads that waited for another process's fetch
    takeovers: int = 0  # fetches started after a lock holder vanished without writing
    store_errors: int = 0  # store operations that failed or were skipped (store down)


class SharedGameList:
    """One client's view of the fleet's list in ``store`` (see the module docstring): the
    near cache's loader (:meth:`load`), pushing picked-up lists into it."""

    def __init__(
        self,
        store: GameListStore,
        *,
        namespace: str,
        ttl: float,
        max_stale: float,
        clock: Clock,
        max_response_bytes: int,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._max_decoded = max_response_bytes * DECODED_MARGIN
        self._ns = namespace
        self._ttl = ttl
        self._max_stale = max(max_stale, ttl)
        self._keep_for = self._max_stale + KEEP_MARGIN
        self._clock = clock  # the client's: a list's age (wall clock, as the fleet stamps it)
        self._settings = store.settings
        self._waits = store.settings.clock  # the store's: leases, waits, the lock-wait deadline
        self._rng = rng if rng is not None else random.Random()
        self.counters = SharedCounters()
        self._known: str | None = None  # the version this process last took or wrote
        self._writing = 0  # writes of ours sent and not yet answered
        self._seen: str | None = None  # the version the last look at the store found
        self._near: NearCache | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._unwatch: Callable[[], None] | None = None
        self._wakers: set[asyncio.Event] = set()
        self._drops: set[asyncio.Task[None]] = set()
        # What callers asked for that the store has not taken yet (it failed): written when
        # it answers again, before anything is read from it.
        self._drop_pending = False
        self._unshared: Unshared | None = None
        self._drops_asked = 0  # a pick-up read before an invalidation is not handed over
        self._catching_up = asyncio.Lock()

    # -- lifetime -------------------------------------------------------------------------

    def serve(self, near: NearCache) -> None:
        """Push lists picked up from the fleet (and drops) into ``near``."""
        self._near = near

    def _start_watching(self) -> None:
        """Begin watching (idempotent; needs a running loop): on the first load."""
        if self._watcher is not None:
            return
        self._unwatch = self._store.watch(self._ns, self._nudge)
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def aclose(self) -> None:
        """Stop watching and let pending drops finish (each is bounded by the store's
        timeout): ``invalidate_games()`` then ``close()`` must still drop the list
        fleet-wide. Never closes the store."""
        self._near = None
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
        tasks = [t for t in (watcher, *self._drops) if t is not None]
        if tasks:
            await asyncio.wait(tasks)
        if self._drop_pending or self._unshared is not None:
            try:
                await self._catch_up()  # one last try, bounded by the store's timeout
            except StoreUnavailable:
                logger.warning(
                    "closing before the shared game-list store answered again: %s never "
                    "reached the other processes",
                    "an invalidation" if self._drop_pending else "a forced refresh",
                )

    # -- what the near cache calls --------------------------------------------------------

    def drop_soon(self) -> None:
        """Forget the list fleet-wide (``invalidate_games()``); loads wait for it first."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called from synchronous code: no loop to talk to Redis on
            logger.warning("invalidate_games() outside an event loop dropped this process's "
                           "game list only; call it from async code to drop it fleet-wide")
            return
        self._drops_asked += 1
        self._unshared = None  # the near cache forgot it: never share it now
        task = loop.create_task(self._drop())
        self._drops.add(task)
        task.add_done_callback(self._drops.discard)

    async def load(
        self, fetch: Fetch, *, have: str | None, background: bool, refresh: bool
    ) -> Loaded:
        """The fleet's list, or one fetched (once for the fleet) and shared.

        ``have`` is the version the near cache holds; ``background`` means it serves that
        list stale meanwhile (so a fleet back-off applies); ``refresh`` skips reading.
        """
        self._start_watching()
        stored = await self._load(fetch, have=have, background=background, force=refresh)
        return Loaded(stored.value, self._age(stored), stored.version)

    async def _load(
        self, fetch: Fetch, *, have: str | None, background: bool, force: bool
    ) -> FleetList:
        if self._drops:
            await asyncio.wait(set(self._drops))
        base, asked = self._known, self._drops_asked
        try:
            await self._catch_up()  # never read what an invalidation here has not dropped yet
            if not force:
                found = await self._look(skip=have)
                if found is not None and self._age(found) < (
                    self._ttl if background else self._max_stale
                ):
                    self.counters.shared_hits += 1
                    return found
            if background and not force:
                left = await self._store.backing_off(self._ns)
                if left > 0:
                    raise LoadDeferred(left)
            return await self._fetch_or_wait(fetch, force=force, background=background)
        except StoreUnavailable:
            raise_if_cancelling()  # closing must not start a fetch of its own
            self.counters.store_errors += 1
            alone = await self._alone(fetch)
            if force and asked == self._drops_asked:  # not invalidated meanwhile: the
                self._unshared = Unshared(alone, base)  # fleet gets it when the store answers
                self._nudge()
            return alone

    def counts(self) -> dict[str, int]:
        return attrs.asdict(self.counters)

    # -- the lock -------------------------------------------------------------------------

    async def _fetch_or_wait(self, fetch: Fetch, *, force: bool, background: bool) -> FleetList:
        token = secrets.token_hex(16)
        deadline = self._waits.monotonic() + self._settings.lock_wait
        seen = None if force else self._seen  # the version our look found
        check = not force  # may a list written meanwhile answer us?
        orphaned = waited = False
        while True:
            lease = await self._store.acquire(self._ns, token)
            if lease is not None:
                if check:
                    written = await self._written_meanwhile(lease, seen)
                    if written is not None:
                        return written
                if orphaned:
                    self.counters.takeovers += 1
                return await self._as_holder(fetch, lease, force=force)
            if not waited:
                waited = True
                self.counters.lock_waits += 1
            if force:  # only a list written from now on answers a forced refresh
                seen = (await self._store.peek(self._ns)).version
            # Otherwise ``seen`` stays what the look before this lock request found: a write
            # landing between the failed request and the first peek below is taken, not
            # mistaken for a holder that vanished (a second fetch, a takeover counted).
            while True:
                if self._waits.monotonic() > deadline:
                    logger.info("waited %.0f s for another process's fetch; fetching here",
                                self._settings.lock_wait)
                    return await self._alone(fetch)
                await self._sleep(self._settings.wait_step)
                peek = await self._store.peek(self._ns)
                if peek.version != seen and peek.version is not None:
                    if not peek.version.startswith(TOMBSTONE_PREFIX):
                        found = await self._look(skip=None)
                        if found is not None:
                            self.counters.shared_hits += 1
                            return found
                    orphaned, check = False, False  # dropped (a definite error): see it here
                    break
                if not peek.locked:
                    left = await self._store.backing_off(self._ns)
                    if left > 0:  # the holder failed
                        if background:  # a stale list is served: the fleet's back-off holds
                            raise LoadDeferred(left)
                        return await self._alone(fetch)  # nothing to serve: see the error here
                    orphaned = True
                    seen = peek.version
                    break

    async def _written_meanwhile(self, lease: Lease, seen: str | None) -> FleetList | None:
        """A fresh list another process wrote between our look and our lock, if any (then
        the lock is given back): without this check, a process that looked just before the
        previous holder's write would fetch a second time."""
        version = lease.version
        if version is None or version == seen or version.startswith(TOMBSTONE_PREFIX):
            return None
        found = await self._look(skip=None)
        if found is None or self._age(found) >= self._ttl:
            return None
        await self._quietly(self._store.release(self._ns, lease))
        self.counters.shared_hits += 1
        return found

    async def _as_holder(self, fetch: Fetch, lease: Lease, *, force: bool = False) -> FleetList:
        renewer = asyncio.get_running_loop().create_task(self._renew(lease))
        asked = self._drops_asked
        try:
            value = await fetch()
        except Exception as error:
            await self._after_failure(error, lease)
            raise
        except BaseException:  # cancelled (close()): the fleet takes over at once
            await self._quietly(self._store.release(self._ns, lease))
            raise
        finally:
            renewer.cancel()
            await asyncio.wait([renewer])
        fetched_at = self._clock.time()
        version: str | None = None
        self._writing += 1
        try:
            version = await self._store.write(
                self._ns, lease, encode(value, fetched_at), self._keep_for
            )
        except StoreUnavailable:
            raise_if_cancelling()
            self.counters.store_errors += 1
            if force and asked == self._drops_asked:
                self._unshared = Unshared(FleetList(value, fetched_at, None), lease.version)
                self._nudge()
        else:
            if version is not None:  # None: fenced out, and the store said why
                self._known = version
        finally:
            self._writing -= 1
        return FleetList(value, fetched_at, version)

    async def _after_failure(self, error: Exception, lease: Lease) -> None:
        """The near cache's rule (:func:`is_outage`), applied to the fleet: an outage backs
        the fleet off, a definite failure drops the list fleet-wide; a bug (not a platform
        answer) only gives the lock back, as the near cache alone sees it."""
        if is_outage(error):
            await self._quietly(self._store.back_off(self._ns, outage_backoff(self._rng)))
        elif isinstance(error, GameApiError):  # misconfiguration: nobody should keep the list
            await self._drop()
        await self._quietly(self._store.release(self._ns, lease))

    async def _renew(self, lease: Lease) -> None:
        while True:
            await self._waits.sleep(self._settings.lease / 3)
            try:
                if not await self._store.renew(self._ns, lease):
                    return  # lost: our write will be fenced out
            except StoreUnavailable:
                # Cancelled by the fetch's end and turned into a connection error: carrying
                # on would renew the lock for ever, and the holder would wait for us for ever.
                raise_if_cancelling()
                self.counters.store_errors += 1

    async def _alone(self, fetch: Fetch) -> FleetList:
        value = await fetch()
        return FleetList(value, self._clock.time(), None)

    # -- reading and watching -------------------------------------------------------------

    async def _look(self, *, skip: str | None) -> FleetList | None:
        """The stored list, or ``None``; when its version is ``skip`` nothing is fetched."""
        if skip is not None:
            peek = await self._store.peek(self._ns)
            self._seen = peek.version
            if peek.version is None or peek.version == skip:
                return None
        got = await self._store.read(self._ns)
        self._seen = None if got is None else got.version
        if got is None or got.version.startswith(TOMBSTONE_PREFIX):
            return None
        version = got.version
        try:
            # Aged by the store's clock, dated here by ours: another process's clock is
            # never compared with this one's.
            value, _ = decode(got.value, self._max_decoded)
            fetched_at = self._clock.time() - got.age
        except CorruptValue as problem:
            logger.warning("ignoring a game list in the shared store that is not valid (%s); "
                           "it will be overwritten", problem)
            self._known = version
            return None
        self._known = version
        return FleetList(value, fetched_at, version)

    async def _watch(self) -> None:
        while self._watcher is not None:  # cleared by aclose(), whatever redis-py does
            behind = self._drop_pending or self._unshared is not None
            await self._sleep(
                min(CATCH_UP_EVERY, self._settings.poll_interval) if behind
                else self._settings.poll_interval
            )
            asked = self._drops_asked
            try:
                await self._catch_up()
                peek = await self._store.peek(self._ns)
                if peek.version is None or peek.version == self._known:
                    continue
                if self._writing:  # the announcement of our own write may beat its answer:
                    continue  # the next look (a nudge or the poll) tells a newer list apart
                if peek.version.startswith(TOMBSTONE_PREFIX):
                    self._known = peek.version
                    if self._near is not None:
                        self._near.forget()
                    continue
                found = await self._look(skip=None)
            except StoreUnavailable:
                self.counters.store_errors += 1
                continue
            if found is not None and asked == self._drops_asked:  # not read before a drop
                self.counters.shared_hits += 1
                if self._near is not None:
                    self._near.put(found.value, age=self._age(found), version=found.version)

    async def _drop(self) -> None:
        try:
            self._known = await self._store.drop(self._ns, self._keep_for)
        except StoreUnavailable:
            self.counters.store_errors += 1
            self._drop_pending = True  # written when the store answers again:
            self._nudge()  # the watcher retries every second from now on
        else:
            self._drop_pending = False

    async def _catch_up(self) -> None:
        """Write what the store missed while it failed: the drop first, then a forced
        refresh's list (only if the store still holds what this process knew when it
        refreshed, or an older list). Raises :class:`StoreUnavailable` while it still fails."""
        if not self._drop_pending and self._unshared is None:
            return
        async with self._catching_up:
            if self._drop_pending:
                self._known = await self._store.drop(self._ns, self._keep_for)
                self._drop_pending = False
                if self._unshared is not None:  # refreshed after that invalidation
                    self._unshared = Unshared(self._unshared.stored, self._known)
            unshared, self._unshared = self._unshared, None
            if unshared is not None:
                try:
                    await self._share(unshared)
                except StoreUnavailable:
                    self._unshared = unshared
                    raise

    async def _share(self, unshared: Unshared) -> None:
        lease = await self._store.acquire(self._ns, secrets.token_hex(16))
        if lease is None:
            return  # another process is fetching: its list is newer still
        try:
            if lease.version != unshared.base:
                found = await self._look(skip=None)
                if found is None or found.fetched_at >= unshared.stored.fetched_at:
                    return  # dropped or replaced since: the store's state wins
            stored = unshared.stored
            version = await self._store.write(
                self._ns, lease, encode(stored.value, stored.fetched_at), self._keep_for
            )
        finally:
            await self._quietly(self._store.release(self._ns, lease))
        if version is not None:
            self._known = version

    async def _quietly(self, operation: Awaitable[object]) -> None:
        try:
            await operation
        except StoreUnavailable:
            self.counters.store_errors += 1

    def _age(self, stored: FleetList) -> float:
        return max(0.0, self._clock.time() - stored.fetched_at)

    def _nudge(self) -> None:
        for waker in self._wakers:
            waker.set()

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on the store's clock, or less when the store nudges."""
        waker = asyncio.Event()
        self._wakers.add(waker)
        loop = asyncio.get_running_loop()
        waits = {loop.create_task(self._waits.sleep(seconds)), loop.create_task(waker.wait())}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._wakers.discard(waker)
            for wait in waits:
                wait.cancel()
            await asyncio.wait(waits)


class FleetGames:
    """The near cache with the fleet's list below it: what a client given a ``games_store``
    holds in place of a bare :class:`GameListCache` (same calls). The near cache loads
    through the fleet logic and never hears of the store; invalidation, counters and closing
    reach both."""

    __slots__ = ("_shared", "cache", "get")

    def __init__(self, cache: GameListCache, shared: SharedGameList) -> None:
        self.cache = cache
        self._shared = shared
        self.get = cache.get  # the warm path: the near cache's own call, no extra frame
        shared.serve(cache)

    @classmethod
    def build(
        cls,
        store: GameListStore,
        *,
        namespace: str,
        ttl: float,
        max_stale: float,
        clock: Clock,
        rng: random.Random | None,
        max_response_bytes: int,
    ) -> FleetGames:
        shared = SharedGameList(
            store, namespace=namespace, ttl=ttl, max_stale=max_stale, clock=clock,
            max_response_bytes=max_response_bytes, rng=rng,
        )
        cache = GameListCache(ttl=ttl, max_stale=max_stale, clock=clock, rng=rng,
                              load=shared.load)
        return cls(cache, shared)

    @property
    def ttl(self) -> float | None:
        return self.cache.ttl

    @property
    def observer(self) -> Callable[[str], None] | None:
        return self.cache.observer

    @observer.setter
    def observer(self, observer: Callable[[str], None] | None) -> None:
        self.cache.observer = observer

    def invalidate(self) -> None:
        """Forget the list here, and fleet-wide (no fetch in flight anywhere writes)."""
        closed = self.cache.closed
        self.cache.forget()
        if not closed:
            self._shared.drop_soon()

    def stats(self) -> CacheStats:
        return attrs.evolve(self.cache.stats(), **self._shared.counts())

    async def aclose(self) -> None:
        await self.cache.aclose()
        await self._shared.aclose()
