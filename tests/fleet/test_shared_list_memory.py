"""The fleet logic on the in-memory store (``fleet/_memory.py``), no Redis: clients given one
``MemoryGameListStore`` stand for processes sharing a store, a ``ManualClock`` moves only
when a test says (leases, back-offs, ages, polls), and the upstream is a counting transport.
What only Redis does stays tested on a real redis-server (test_shared_list*.py)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import gameapi_async as ga
from gameapi_async import GameApiClient, RetryPolicy
from gameapi_async._cache import OUTAGE_BACKOFF
from gameapi_async._protocol import RawResponse, SignedRequest
from gameapi_async.fleet._memory import MemoryGameListStore
from gameapi_async.fleet._shared_list import SharedGameList, namespace_for
from gameapi_async.fleet._store import StoreUnavailable

from ..support import AGENT_ID, API_TOKEN, BASE_URL, closing_clients, failure, game_list_body
from ..test_cache import Extreme
from .support import DEADLINE, eventually

TTL = 600.0
LEASE = 10.0
NAMESPACE = namespace_for(BASE_URL, AGENT_ID)


class ManualClock:
    """Wall and monotonic time that move only through :meth:`advance`; a sleep waits until
    the clock has moved past its end (no sleep ever ends by itself)."""

    def __init__(self) -> None:
        self.wall, self.mono = 1_700_000_000.0, 1_000.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        entry = (self.mono + seconds, asyncio.get_running_loop().create_future())
        self._sleepers.append(entry)
        try:
            await entry[1]
        finally:
            self._sleepers.remove(entry)

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds
        for until, woken in self._sleepers:
            if until <= self.mono and not woken.done():
                woken.set_result(None)


class Upstream:
    """The platform behind a transport: counts list requests, answers a fresh request id
    each time, can hold answers at a gate or fail them with an HTTP status."""

    def __init__(self) -> None:
        self.requests = 0
        self.gate: asyncio.Event | None = None
        self.status = 200
        self.ids = list(range(1, 6))

    async def send(self, request: SignedRequest, timeouts: object) -> RawResponse:
        self.requests += 1
        number = self.requests
        if self.gate is not None:
            await self.gate.wait()
        if self.status == 503:
            return RawResponse(503, json.dumps(failure("service_unavailable")).encode())
        if self.status == 403:
            return RawResponse(403, json.dumps(failure("invalid_signature")).encode())
        return RawResponse(200, game_list_body(self.ids, f"rid-{number}"))

    async def aclose(self) -> None:
        pass


MakeClient = Callable[..., GameApiClient]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture
def store(clock: ManualClock) -> MemoryGameListStore:
    return MemoryGameListStore(clock=clock, lease=LEASE, poll_interval=5.0, lock_wait=40.0)


@pytest.fixture
async def process(
    clock: ManualClock, upstream: Upstream, store: MemoryGameListStore
) -> AsyncIterator[MakeClient]:
    """One client per call, each standing for a process of the fleet."""
    async with closing_clients(
        base_url=BASE_URL, agent_id=AGENT_ID, api_token=API_TOKEN, transport=upstream,
        retry=RetryPolicy.disabled(), clock=clock, games_store=store, games_ttl=TTL,
    ) as factory:
        yield factory


def total(clients: list[GameApiClient], counter: str) -> int:
    return sum(getattr(c.cache_stats(), counter) for c in clients)


async def test_a_fleet_stampede_makes_one_upstream_request(
    process: MakeClient, upstream: Upstream
) -> None:
    upstream.gate = asyncio.Event()
    clients = [process() for _ in range(4)]
    calls = [asyncio.ensure_future(c.list_games()) for c in clients for _ in range(50)]
    await eventually(lambda: total(clients, "lock_waits") == 3, "three processes to wait")
    upstream.gate.set()
    results = await asyncio.gather(*calls)
    assert upstream.requests == 1
    assert {r.request_id for r in results} == {"rid-1"}
    assert total(clients, "shared_hits") >= 3  # taken by the waiters (the watchers may too)


async def test_a_list_written_elsewhere_is_pushed_into_the_near_cache(
    process: MakeClient, upstream: Upstream
) -> None:
    first, second = process(), process()
    await first.list_games()
    await second.list_games()  # taken from the store
    await second.list_games(refresh=True)  # a new list, written for the fleet
    await eventually(lambda: first.cache_stats().shared_hits == 1, "the pick-up")
    assert (await first.list_games()).request_id == "rid-2"
    assert upstream.requests == 2


async def test_past_the_ttl_the_stale_list_is_served_and_one_process_refreshes(
    process: MakeClient, upstream: Upstream, clock: ManualClock
) -> None:
    clients = [process() for _ in range(3)]
    for client in clients:
        assert (await client.list_games()).request_id == "rid-1"
    clock.advance(TTL + 1)
    for client in clients:
        assert (await client.list_games()).request_id == "rid-1"  # stale, at once
    await eventually(
        lambda: all(c.cache_stats().age == 0 for c in clients), "the refreshed list everywhere"
    )
    assert upstream.requests == 2
    assert {(await c.list_games()).request_id for c in clients} == {"rid-2"}


async def test_a_holder_that_vanished_is_taken_over_after_its_lease(
    process: MakeClient, upstream: Upstream, store: MemoryGameListStore, clock: ManualClock
) -> None:
    assert await store.acquire(NAMESPACE, "a-process-that-died") is not None
    waiter = process()
    call = asyncio.ensure_future(waiter.list_games())
    await eventually(lambda: waiter.cache_stats().lock_waits == 1, "the wait")
    assert upstream.requests == 0  # nobody fetches while the lease lives
    clock.advance(LEASE + 0.2)
    assert (await call).request_id == "rid-1"
    assert (waiter.cache_stats().takeovers, upstream.requests) == (1, 1)


async def test_a_waiter_fetches_itself_after_lock_wait_rather_than_hang(
    process: MakeClient, upstream: Upstream, store: MemoryGameListStore, clock: ManualClock
) -> None:
    lease = await store.acquire(NAMESPACE, "a-process-stuck-for-ever")
    assert lease is not None
    waiter = process()
    call = asyncio.ensure_future(waiter.list_games())
    await eventually(lambda: waiter.cache_stats().lock_waits == 1, "the wait")
    for _ in range(5):  # the stuck holder keeps renewing; the waiter gives up at lock_wait
        clock.advance(LEASE / 2)
        assert await store.renew(NAMESPACE, lease)
        await asyncio.sleep(0)
    assert not call.done()
    while not call.done():
        clock.advance(LEASE / 2)
        await store.renew(NAMESPACE, lease)
        await asyncio.sleep(0.01)
    assert (await call).request_id == "rid-1"
    assert waiter.cache_stats().takeovers == 0


async def test_invalidate_is_fleet_wide_and_fences_out_a_fetch_in_flight(
    process: MakeClient, upstream: Upstream
) -> None:
    holder, other = process(), process()
    await holder.list_games()
    await other.list_games()
    upstream.gate = asyncio.Event()
    refreshing = asyncio.ensure_future(holder.list_games(refresh=True))
    await eventually(lambda: upstream.requests == 2, "the refresh to be in flight")
    other.invalidate_games()
    await eventually(lambda: holder.cache_stats().age is None, "the holder to forget")
    upstream.gate.set()
    assert (await refreshing).request_id == "rid-2"  # its caller gets it...
    assert (await other.list_games()).request_id == "rid-3"  # ...the fleet does not keep it
    assert upstream.requests == 3


async def test_a_definite_failure_drops_the_list_fleet_wide(
    process: MakeClient, upstream: Upstream, clock: ManualClock
) -> None:
    refresher, other = process(), process()
    await refresher.list_games()
    await other.list_games()
    upstream.status = 403
    clock.advance(TTL + 1)
    await refresher.list_games()  # stale: its background refresh is refused
    await eventually(
        lambda: other.cache_stats().age is None and refresher.cache_stats().age is None,
        "every process to forget the list",
    )


async def test_the_waiters_of_a_failed_background_refresh_keep_the_fleet_back_off(
    process: MakeClient, upstream: Upstream, clock: ManualClock
) -> None:
    clients = [process() for _ in range(4)]
    for client in clients:
        await client.list_games()
    upstream.status, upstream.gate = 503, asyncio.Event()
    clock.advance(TTL + 1)
    for client in clients:
        assert (await client.list_games()).request_id == "rid-1"
    await eventually(lambda: total(clients, "lock_waits") == 3, "three processes to wait")
    upstream.gate.set()
    await eventually(lambda: total(clients, "errors") == 1, "the failed refresh")
    clock.advance(1)  # the waiters look again: back-off, not a fetch each
    await eventually(lambda: not any(_refreshing(c) for c in clients), "the refreshes to end")
    assert upstream.requests == 2
    for client in clients:
        assert (await client.list_games()).request_id == "rid-1"  # still served, stale
    assert upstream.requests == 2


async def test_an_invalidation_the_store_missed_is_written_when_it_answers(
    process: MakeClient, upstream: Upstream, store: MemoryGameListStore, clock: ManualClock
) -> None:
    caller, other = process(), process()
    await caller.list_games()
    await other.list_games()
    store.available = False
    caller.invalidate_games()
    await eventually(lambda: caller.cache_stats().store_errors >= 1, "the failed drop")
    assert (await caller.list_games()).request_id == "rid-2"  # alone, never the dropped one
    store.available = True
    clock.advance(1)  # the watcher's catch-up
    await eventually(lambda: other.cache_stats().age is None, "the other process to forget")
    peek = await store.peek(NAMESPACE)
    assert (peek.version or "").startswith("x")  # the tombstone


async def test_a_memory_store_checks_its_settings() -> None:
    from gameapi_async import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="lease"):
        MemoryGameListStore(lease=0)


def _refreshing(client: GameApiClient) -> bool:
    """Whether the client's cache still runs a fetch (read off its task set: the only
    observable end of a refresh that raised nothing)."""
    games: Any = client._parts.games
    return bool(games.cache._running)


async def test_a_refresh_invalidated_while_the_store_failed_is_never_shared(
    process: MakeClient, upstream: Upstream, store: MemoryGameListStore, clock: ManualClock
) -> None:
    caller = process()
    await caller.list_games()
    store.available = False
    upstream.gate = asyncio.Event()
    refreshing = asyncio.ensure_future(caller.list_games(refresh=True))
    await eventually(lambda: upstream.requests == 2, "the refresh, fetched alone")
    caller.invalidate_games()  # while that fetch runs: its list must reach nobody
    upstream.gate.set()
    assert (await refreshing).request_id == "rid-2"
    store.available = True
    clock.advance(1)
    await eventually(lambda: caller.cache_stats().store_errors >= 1, "the failed drop")

    async def tombstone() -> bool:
        peek = await store.peek(NAMESPACE)
        return (peek.version or "").startswith("x")

    for _ in range(3):  # the catch-up writes the drop, and nothing after it
        clock.advance(1)
        await asyncio.sleep(0.01)
    assert await tombstone()


async def test_a_list_taken_from_the_store_keeps_its_age_and_goes_stale_on_time(
    process: MakeClient, upstream: Upstream, clock: ManualClock
) -> None:
    writer, reader = process(), process()
    await writer.list_games()
    clock.advance(TTL / 2)
    assert (await reader.list_games()).request_id == "rid-1"  # from the store, half its TTL old
    assert reader.cache_stats().age == TTL / 2
    clock.advance(TTL / 2 + 1)  # past the TTL counted from the fetch, not from the read
    await reader.list_games()
    assert reader.cache_stats().refreshes == 1


async def test_a_slow_holder_renews_its_lease_so_nobody_fetches_twice(
    process: MakeClient, upstream: Upstream, store: MemoryGameListStore, clock: ManualClock
) -> None:
    upstream.gate = asyncio.Event()
    holder, waiter = process(), process()
    fetching = asyncio.ensure_future(holder.list_games())
    await eventually(lambda: upstream.requests == 1, "the holder's fetch")
    waiting = asyncio.ensure_future(waiter.list_games())
    await eventually(lambda: waiter.cache_stats().lock_waits == 1, "the wait")
    for _ in range(12):  # four leases: the holder renews every third of one
        clock.advance(LEASE / 4)
        await asyncio.sleep(0.01)
        assert (await store.peek(NAMESPACE)).locked
    upstream.gate.set()
    assert (await fetching).request_id == (await waiting).request_id == "rid-1"
    assert (upstream.requests, waiter.cache_stats().takeovers) == (1, 0)


async def test_a_holder_closed_mid_fetch_gives_the_lock_back_at_once(
    process: MakeClient, upstream: Upstream, store: MemoryGameListStore
) -> None:
    upstream.gate = asyncio.Event()
    holder = process()
    fetching = asyncio.ensure_future(holder.list_games())
    await eventually(lambda: upstream.requests == 1, "the holder's fetch")
    assert (await store.peek(NAMESPACE)).locked
    await holder.close()
    with pytest.raises(ga.ClientClosedError):
        await fetching
    assert not (await store.peek(NAMESPACE)).locked  # no lease to wait out


async def test_a_refresh_fetched_while_the_store_failed_becomes_the_fleets_list(
    process: MakeClient, upstream: Upstream, store: MemoryGameListStore, clock: ManualClock
) -> None:
    caller, other = process(), process()
    await caller.list_games()
    await other.list_games()
    store.available = False
    assert (await caller.list_games(refresh=True)).request_id == "rid-2"
    store.available = True
    clock.advance(1)  # the catch-up writes it; the other process picks it up
    await eventually(lambda: other.cache_stats().shared_hits == 2, "the pick-up")
    assert (await other.list_games()).request_id == "rid-2"
    assert upstream.requests == 2


async def test_closing_with_an_invalidation_the_store_never_took_says_so(
    process: MakeClient, store: MemoryGameListStore, caplog: pytest.LogCaptureFixture
) -> None:
    caller = process()
    await caller.list_games()
    store.available = False
    caller.invalidate_games()
    await eventually(lambda: caller.cache_stats().store_errors >= 1, "the failed drop")
    with caplog.at_level(logging.WARNING, "gameapi_async.store"):
        await caller.close()
    assert [r.getMessage() for r in caplog.records] == [
        "closing before the shared game-list store answered again: an invalidation never "
        "reached the other processes"
    ]


# -- written from mutation testing (mutmut over fleet/_shared_list.py, docs/testing.md) -------


async def test_invalidating_a_closed_client_leaves_the_fleets_list_alone(
    process: MakeClient, upstream: Upstream
) -> None:
    closed, other = process(), process()
    await closed.list_games()
    await closed.close()
    closed.invalidate_games()  # forgets its own list only: it speaks to the store no more
    await asyncio.sleep(0)  # a drop it started would run now
    assert (await other.list_games()).request_id == "rid-1"  # from the store
    assert upstream.requests == 1


async def test_a_refresh_the_store_missed_is_not_read_back_as_another_processs(
    process: MakeClient, upstream: Upstream, store: MemoryGameListStore, clock: ManualClock
) -> None:
    """Once written by the catch-up it is this process's own version: its watcher does not
    take it from the store as a list picked up."""
    caller, other = process(), process()
    await caller.list_games()
    await other.list_games()
    store.available = False
    assert (await caller.list_games(refresh=True)).request_id == "rid-2"
    store.available = True
    clock.advance(1)  # the catch-up writes it
    await eventually(lambda: other.cache_stats().shared_hits == 2, "the other's pick-up")
    assert caller.cache_stats().shared_hits == 0


async def test_store_errors_count_each_failed_store_operation_once(
    process: MakeClient, upstream: Upstream, store: MemoryGameListStore
) -> None:
    """A holder whose fetch fails while the store is down: the fleet back-off and the lock
    give-back both fail, two store errors."""
    holder = process()
    upstream.gate = asyncio.Event()
    fetching = asyncio.ensure_future(holder.list_games())
    await eventually(lambda: upstream.requests == 1, "the holder's fetch")
    store.available, upstream.status = False, 503
    upstream.gate.set()
    with pytest.raises(ga.GameApiError):
        await fetching
    assert holder.cache_stats().store_errors == 2


async def test_each_invalidation_the_store_misses_counts_once(
    process: MakeClient, store: MemoryGameListStore
) -> None:
    """Each failed drop is one store error, and so is the watcher's catch-up it prompts."""
    caller = process()
    await caller.list_games()
    store.available = False
    caller.invalidate_games()
    await eventually(lambda: caller.cache_stats().store_errors == 2, "drop and catch-up")
    caller.invalidate_games()
    await eventually(lambda: caller.cache_stats().store_errors == 4, "both again")


class FailingWrites(MemoryGameListStore):
    """A store that answers everything but the next ``refusals`` writes of a list (giving
    the lock back, as the Redis store does once Redis answers)."""

    refusals = 0

    async def write(self, namespace: str, lease: Any, value: bytes, keep_for: float) -> Any:
        if self.refusals:
            self.refusals -= 1
            await self.release(namespace, lease)
            raise StoreUnavailable("the write failed")
        return await super().write(namespace, lease, value, keep_for)


async def test_a_refresh_whose_write_failed_becomes_the_fleets_list_when_the_store_answers(
    upstream: Upstream, clock: ManualClock
) -> None:
    store = FailingWrites(clock=clock, lease=LEASE, poll_interval=5.0, lock_wait=40.0)
    async with closing_clients(
        base_url=BASE_URL, agent_id=AGENT_ID, api_token=API_TOKEN, transport=upstream,
        retry=RetryPolicy.disabled(), clock=clock, games_store=store, games_ttl=TTL,
    ) as process:
        caller, other = process(), process()
        await caller.list_games()
        await other.list_games()
        store.refusals = 1
        assert (await caller.list_games(refresh=True)).request_id == "rid-2"
        clock.advance(1)  # the catch-up writes it; the other process picks it up
        await eventually(lambda: other.cache_stats().shared_hits == 2, "the pick-up")
        assert (await other.list_games()).request_id == "rid-2"
        assert upstream.requests == 2
        assert caller.cache_stats().store_errors == 1  # the one write refused


async def test_each_failed_renewal_counts_once(upstream: Upstream, clock: ManualClock) -> None:
    # Polls far apart: the watcher's looks (which fail too) stay out of the count.
    store = MemoryGameListStore(clock=clock, lease=LEASE, poll_interval=1000.0)
    async with closing_clients(
        base_url=BASE_URL, agent_id=AGENT_ID, api_token=API_TOKEN, transport=upstream,
        retry=RetryPolicy.disabled(), clock=clock, games_store=store, games_ttl=TTL,
    ) as process:
        holder = process()
        upstream.gate = asyncio.Event()
        fetching = asyncio.ensure_future(holder.list_games())
        await eventually(lambda: upstream.requests == 1, "the holder's fetch")
        store.available = False
        clock.advance(LEASE / 2)  # a renewal every third of a lease: one each time, refused
        await eventually(lambda: holder.cache_stats().store_errors == 1, "the first renewal")
        clock.advance(LEASE / 2)
        await eventually(lambda: holder.cache_stats().store_errors == 2, "the second renewal")
        store.available = True
        upstream.gate.set()
        assert (await fetching).request_id == "rid-1"


async def test_the_store_keeps_a_list_as_long_as_it_may_be_served_stale(
    upstream: Upstream, store: MemoryGameListStore, clock: ManualClock
) -> None:
    async with closing_clients(
        base_url=BASE_URL, agent_id=AGENT_ID, api_token=API_TOKEN, transport=upstream,
        retry=RetryPolicy.disabled(), clock=clock, games_store=store, games_ttl=TTL,
        games_max_stale=1000.0,
    ) as process:
        await process().list_games()
        clock.advance(990)  # past its TTL, not past the 1000 s it may be served stale
        assert (await process().list_games()).request_id == "rid-1"  # from the store


# Third pass (issue 19): waiting for another process's fetch, and the watcher after a drop.

class CountingPeeks(MemoryGameListStore):
    """Counts the looks at the stored version (one per wait step of a waiter)."""

    peeks = 0

    async def peek(self, namespace: str) -> Any:
        self.peeks += 1
        return await super().peek(namespace)


async def test_a_forced_refresh_waiting_for_another_fetch_gets_that_fetchs_list(
    upstream: Upstream, clock: ManualClock
) -> None:
    """Not the list stored before it asked, and one look per wait step meanwhile (never a
    loop of looks while the clock stands still)."""
    store = CountingPeeks(clock=clock, lease=LEASE, poll_interval=1000.0, lock_wait=40.0)
    async with closing_clients(
        base_url=BASE_URL, agent_id=AGENT_ID, api_token=API_TOKEN, transport=upstream,
        retry=RetryPolicy.disabled(), clock=clock, games_store=store, games_ttl=TTL,
    ) as process:
        holder, waiter = process(), process()
        await holder.list_games()
        await waiter.list_games()
        upstream.gate = asyncio.Event()
        refreshing = asyncio.ensure_future(holder.list_games(refresh=True))
        await eventually(lambda: upstream.requests == 2, "the holder's refresh")
        waiting = asyncio.ensure_future(waiter.list_games(refresh=True))
        await eventually(lambda: waiter.cache_stats().lock_waits == 1, "the wait")
        await asyncio.sleep(0.01)
        peeks = store.peeks
        for _ in range(50):
            await asyncio.sleep(0)
        assert store.peeks == peeks  # the clock stands still: so does the waiter
        for _ in range(3):  # three wait steps: it looks, and keeps waiting
            clock.advance(0.1)
            await eventually(lambda n=store.peeks: store.peeks > n, "a look")
        assert not waiting.done()
        upstream.gate.set()
        assert (await refreshing).request_id == "rid-2"
        while not waiting.done():
            clock.advance(0.1)
            await asyncio.sleep(0.01)
        assert (await waiting).request_id == "rid-2"
        assert upstream.requests == 2


async def test_a_waiter_that_sees_the_holders_list_dropped_fetches_itself_no_takeover(
    process: MakeClient, upstream: Upstream
) -> None:
    """The holder's fetch failed for good and dropped the list: the waiter sees the error
    for itself, and it is no takeover of a holder that vanished."""
    holder, waiter = process(), process()
    upstream.gate, upstream.status = asyncio.Event(), 403
    fetching = asyncio.ensure_future(holder.list_games())
    await eventually(lambda: upstream.requests == 1, "the holder's fetch")
    waiting = asyncio.ensure_future(waiter.list_games())
    await eventually(lambda: waiter.cache_stats().lock_waits == 1, "the wait")
    upstream.gate.set()
    for call in (fetching, waiting):
        with pytest.raises(ga.GameApiError):
            await call
    assert upstream.requests == 2
    assert waiter.cache_stats().takeovers == 0


async def test_after_a_drop_the_watcher_still_picks_up_the_next_list(
    process: MakeClient, upstream: Upstream
) -> None:
    writer, reader = process(), process()
    await writer.list_games()
    await reader.list_games()
    writer.invalidate_games()
    await eventually(lambda: reader.cache_stats().age is None, "the reader to forget")
    assert (await writer.list_games()).request_id == "rid-2"
    await eventually(lambda: reader.cache_stats().shared_hits == 2, "the pick-up")
    assert (await reader.list_games()).request_id == "rid-2"
    assert upstream.requests == 2


# Second pass (issue 19), the survivors that had no test: the catch-up over a store that moved
# on, loads beside an invalidation, the TTL's and the back-off's edges, the counters, writes
# whose answers overlap, the lease's renewal and the back-off's jitter.

class Stalling(MemoryGameListStore):
    """A store that stalls, until the test sets the event in ``stalls``: the next ``acquire``
    or ``drop`` before it runs, the next ``write``'s answer after the write was taken (as a
    stalled Redis, or a slow network, would). ``stalled`` names what is stalled or was."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.stalls: dict[str, asyncio.Event] = {}
        self.stalled: set[str] = set()

    async def _stall(self, operation: str) -> None:
        gate = self.stalls.pop(operation, None)
        if gate is not None:
            self.stalled.add(operation)
            await gate.wait()

    async def acquire(self, namespace: str, token: str) -> Any:
        await self._stall("acquire")
        return await super().acquire(namespace, token)

    async def drop(self, namespace: str, keep_for: float) -> str:
        await self._stall("drop")
        return await super().drop(namespace, keep_for)

    async def write(self, namespace: str, lease: Any, value: bytes, keep_for: float) -> Any:
        version = await super().write(namespace, lease, value, keep_for)
        await self._stall("write")
        return version


def fleet_of(store: MemoryGameListStore, upstream: Upstream, clock: ManualClock,
             **settings: Any) -> Any:
    """Clients on ``store`` as the ``process`` fixture makes them (``settings`` win)."""
    return closing_clients(
        base_url=BASE_URL, agent_id=AGENT_ID, api_token=API_TOKEN, transport=upstream,
        retry=RetryPolicy.disabled(), clock=clock, games_store=store, games_ttl=TTL,
        **settings,
    )


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """:func:`eventually` for a condition the test must await (a look at the store)."""
    give_up = time.monotonic() + DEADLINE
    while not await condition():
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out after {DEADLINE} s waiting for {what}")
        await asyncio.sleep(0.02)


async def tombstone(store: MemoryGameListStore) -> bool:
    return ((await store.peek(NAMESPACE)).version or "").startswith("x")


def sleeping_until(clock: ManualClock, instant: float) -> bool:
    """Whether a task waits on ``clock`` until ``instant`` (the test clock's own record)."""
    return any(math.isclose(until, instant, abs_tol=1e-6) for until, _ in clock._sleepers)


class Highest(random.Random):
    """Every draw at the top of its range: the near cache's TTL is shortened by the whole
    jitter (5 %), a back-off lasts its longest."""

    def uniform(self, a: float, b: float) -> float:
        return b


async def test_a_refresh_the_store_missed_is_shared_over_an_older_list_written_meanwhile(
    process: MakeClient, upstream: Upstream, store: MemoryGameListStore, clock: ManualClock
) -> None:
    """The store moved on while the refresh was fetched alone, to a list fetched before it:
    the refresh is newer, and the catch-up shares it."""
    caller, other = process(), process()
    await caller.list_games()
    await other.list_games()
    store.available = False
    upstream.gate = held = asyncio.Event()
    refreshing = asyncio.ensure_future(caller.list_games(refresh=True))
    await eventually(lambda: upstream.requests == 2, "the refresh, fetched alone")
    store.available, upstream.gate = True, None
    assert (await other.list_games(refresh=True)).request_id == "rid-3"  # written meanwhile
    clock.advance(1)  # the caller's refresh arrives a second later
    held.set()
    assert (await refreshing).request_id == "rid-2"
    await caller.close()  # its last catch-up, unless its watcher's came first
    assert (await process().list_games()).request_id == "rid-2"  # from the store
    assert upstream.requests == 3


async def test_a_refresh_the_store_missed_yields_to_a_newer_list_and_frees_the_lock(
    process: MakeClient, upstream: Upstream, store: MemoryGameListStore, clock: ManualClock
) -> None:
    """The store moved on to a list fetched after the refresh: the catch-up leaves it, and
    gives back the lock it took to check (nobody waits out its lease)."""
    caller, other = process(), process()
    await caller.list_games()
    await other.list_games()
    store.available = False
    assert (await caller.list_games(refresh=True)).request_id == "rid-2"
    await eventually(lambda: caller.cache_stats().store_errors == 2, "the failed catch-up")
    clock.advance(0.5)  # within the catch-up's second
    store.available = True
    assert (await other.list_games(refresh=True)).request_id == "rid-3"  # newer
    await caller.close()  # its last catch-up, unless its watcher's came first
    assert not (await store.peek(NAMESPACE)).locked
    assert (await process().list_games()).request_id == "rid-3"  # from the store
    assert upstream.requests == 3


async def test_a_load_waits_for_an_invalidations_drop_in_flight(
    upstream: Upstream, clock: ManualClock
) -> None:
    """It never reads the dropped list back from a store that has not taken the drop yet."""
    store = Stalling(clock=clock, lease=LEASE, poll_interval=5.0)
    async with fleet_of(store, upstream, clock) as process:
        caller = process()
        await caller.list_games()
        store.stalls["drop"] = dropping = asyncio.Event()
        caller.invalidate_games()
        loading = asyncio.ensure_future(caller.list_games())
        await eventually(lambda: "drop" in store.stalled, "the drop in flight")
        dropping.set()
        assert (await loading).request_id == "rid-2"
        assert upstream.requests == 2


async def test_a_stored_list_exactly_max_stale_old_is_not_served(
    process: MakeClient, upstream: Upstream, clock: ManualClock
) -> None:
    await process().list_games()
    clock.advance(24 * 3600)  # the default games_max_stale, to the instant
    assert (await process().list_games()).request_id == "rid-2"
    assert upstream.requests == 2


async def test_a_background_refresh_never_takes_a_stored_list_past_the_ttl(
    upstream: Upstream, clock: ManualClock
) -> None:
    """The stored list may still be served stale by whoever holds it, but a refresh is there
    to get a fresh one: it fetches."""
    store = MemoryGameListStore(clock=clock, lease=LEASE, poll_interval=1000.0)
    async with fleet_of(store, upstream, clock) as process:
        writer, reader = process(), process()
        await writer.list_games()
        store.available = False
        assert (await reader.list_games()).request_id == "rid-2"  # alone: not the store's
        store.available = True
        clock.advance(TTL + 1)  # both lists stale; no poll yet
        assert (await reader.list_games()).request_id == "rid-2"  # stale, while it refreshes
        await eventually(lambda: not _refreshing(reader), "the refresh to end")
        assert (await reader.list_games()).request_id == "rid-3"
        assert upstream.requests == 3


async def test_a_cold_load_fetches_while_the_fleet_backs_off(
    process: MakeClient, upstream: Upstream
) -> None:
    """The back-off holds refreshes of a list still served; a process with nothing to serve
    fetches."""
    upstream.status = 503
    with pytest.raises(ga.GameApiError):
        await process().list_games()  # its failure backs the fleet off
    upstream.status = 200
    assert (await process().list_games()).request_id == "rid-2"


async def test_a_background_refresh_waits_out_the_back_offs_last_second(
    process: MakeClient, upstream: Upstream, store: MemoryGameListStore, clock: ManualClock
) -> None:
    failing, other = process(), process()
    await failing.list_games()
    await other.list_games()
    clock.advance(TTL + 1)
    upstream.status = 503
    await failing.list_games()  # stale: its refresh fails and backs the fleet off
    await eventually(lambda: failing.cache_stats().errors == 1, "the failed refresh")
    upstream.status = 200
    clock.advance(await store.backing_off(NAMESPACE) - 0.5)
    assert (await other.list_games()).request_id == "rid-1"  # stale; its refresh deferred
    await eventually(lambda: not _refreshing(other), "the deferred refresh to end")
    assert upstream.requests == 2
    clock.advance(1)  # the back-off is over
    await other.list_games()
    await eventually(lambda: upstream.requests == 3, "the refresh")


async def test_each_list_taken_from_the_store_counts_one_shared_hit(
    process: MakeClient, upstream: Upstream, clock: ManualClock
) -> None:
    """Served without stale (max-stale 0), a list leaves the near cache at its TTL shortened
    by jitter and is taken again from the store, where it is fresh a little longer."""
    await process().list_games()
    reader = process(games_max_stale=0, rng=Highest())
    assert (await reader.list_games()).request_id == "rid-1"
    clock.advance(TTL * 0.97)  # past the near cache's TTL (95 %), within the fleet's
    assert (await reader.list_games()).request_id == "rid-1"
    assert reader.cache_stats().shared_hits == 2
    assert upstream.requests == 1


async def test_each_load_that_finds_the_store_down_counts_one_store_error(
    upstream: Upstream, clock: ManualClock
) -> None:
    store = MemoryGameListStore(clock=clock, lease=LEASE, poll_interval=1000.0)
    async with fleet_of(store, upstream, clock) as process:
        caller = process()
        store.available = False
        assert (await caller.list_games()).request_id == "rid-1"  # alone
        clock.advance(TTL + 1)  # no poll yet: only loads look at the store
        await caller.list_games()  # stale: its refresh, alone too
        await eventually(lambda: not _refreshing(caller), "the refresh to end")
        assert upstream.requests == 2
        assert caller.cache_stats().store_errors == 2


async def test_a_list_written_while_a_lock_request_stalled_is_taken_and_counted_once(
    upstream: Upstream, clock: ManualClock
) -> None:
    store = Stalling(clock=clock, lease=LEASE, poll_interval=5.0)
    async with fleet_of(store, upstream, clock) as process:
        writer, reader = process(), process()
        store.stalls["acquire"] = stalled = asyncio.Event()
        reading = asyncio.ensure_future(reader.list_games())  # looks: nothing stored
        await eventually(lambda: "acquire" in store.stalled, "the reader's lock request")
        await writer.list_games()
        clock.advance(5.0)  # the reader's watcher polls, if its nudge came too early
        await eventually(lambda: reader.cache_stats().shared_hits == 1, "the pick-up")
        stalled.set()
        assert (await reading).request_id == "rid-1"
        assert reader.cache_stats().shared_hits == 2
        assert upstream.requests == 1


async def test_a_list_written_while_a_lock_request_stalled_is_not_taken_at_its_ttl(
    upstream: Upstream, clock: ManualClock
) -> None:
    store = Stalling(clock=clock, lease=LEASE, poll_interval=5.0)
    async with fleet_of(store, upstream, clock) as process:
        writer, reader = process(), process()
        store.stalls["acquire"] = stalled = asyncio.Event()
        reading = asyncio.ensure_future(reader.list_games())  # looks: nothing stored
        await eventually(lambda: "acquire" in store.stalled, "the reader's lock request")
        await writer.list_games()
        clock.advance(TTL)  # the written list is exactly TTL old when the lock comes
        stalled.set()
        assert (await reading).request_id == "rid-2"  # fetched under that lock
        assert upstream.requests == 2


async def test_a_drop_the_store_took_is_never_written_again(
    process: MakeClient, upstream: Upstream, store: MemoryGameListStore, clock: ManualClock
) -> None:
    """Written again by the invalidating process's next load, it would fence out the list
    another process fetched since."""
    invalidating, fetching = process(), process()
    invalidating.invalidate_games()
    await until(lambda: tombstone(store), "the drop")
    upstream.gate = held = asyncio.Event()
    fetched = asyncio.ensure_future(fetching.list_games())
    await eventually(lambda: upstream.requests == 1, "the other process's fetch")
    loading = asyncio.ensure_future(invalidating.list_games())
    await eventually(lambda: invalidating.cache_stats().lock_waits == 1, "the wait")
    held.set()
    assert (await fetched).request_id == "rid-1"
    while not loading.done():  # the waiter looks every wait step
        clock.advance(0.1)
        await asyncio.sleep(0.01)
    assert (await loading).request_id == "rid-1"  # the other's list, from the store
    assert upstream.requests == 1


async def test_a_second_invalidation_keeps_a_refresh_fetched_before_it_from_the_fleet(
    process: MakeClient, upstream: Upstream, store: MemoryGameListStore
) -> None:
    """Told apart from the first invalidation: the refresh, fetched alone while the store
    failed, is never shared after the second."""
    caller = process()
    await caller.list_games()
    caller.invalidate_games()  # the first: the store takes it
    assert (await caller.list_games()).request_id == "rid-2"
    store.available = False
    upstream.gate = held = asyncio.Event()
    refreshing = asyncio.ensure_future(caller.list_games(refresh=True))
    await eventually(lambda: upstream.requests == 3, "the refresh, fetched alone")
    caller.invalidate_games()  # the second, while that refresh is fetched
    held.set()
    assert (await refreshing).request_id == "rid-3"
    store.available = True
    await caller.close()  # its last catch-up: the drop, unless its watcher's came first
    assert (await process().list_games()).request_id == "rid-4"
    assert upstream.requests == 4


async def test_writes_of_one_process_answered_out_of_turn_leave_its_watcher_working(
    upstream: Upstream, clock: ManualClock
) -> None:
    """A write whose answer stalls, an invalidation, and the next load's write answered
    first: once both answers are in, the watcher picks up lists again."""
    store = Stalling(clock=clock, lease=LEASE, poll_interval=5.0)
    async with fleet_of(store, upstream, clock) as process:
        caller, other = process(), process()
        store.stalls["write"] = stalled = asyncio.Event()
        first = asyncio.ensure_future(caller.list_games())
        await eventually(lambda: "write" in store.stalled, "the first write's answer")
        caller.invalidate_games()
        assert (await caller.list_games()).request_id == "rid-2"  # written and answered
        stalled.set()
        assert (await first).request_id == "rid-1"
        assert (await other.list_games(refresh=True)).request_id == "rid-3"
        await eventually(lambda: caller.cache_stats().shared_hits == 1, "the pick-up")
        assert (await caller.list_games()).request_id == "rid-3"


async def test_each_refused_write_counts_one_store_error(
    upstream: Upstream, clock: ManualClock
) -> None:
    store = FailingWrites(clock=clock, lease=LEASE, poll_interval=5.0)
    async with fleet_of(store, upstream, clock) as process:
        caller = process()
        store.refusals = 2
        assert (await caller.list_games()).request_id == "rid-1"
        assert (await caller.list_games(refresh=True)).request_id == "rid-2"
        assert caller.cache_stats().store_errors == 2


async def test_a_plain_fetch_whose_write_failed_is_not_written_later(
    upstream: Upstream, clock: ManualClock
) -> None:
    """Only a forced refresh is kept for the catch-up: a plain fetch is the fleet's to
    repeat, not to be written over what the store holds by then."""
    store = FailingWrites(clock=clock, lease=LEASE, poll_interval=5.0)
    async with fleet_of(store, upstream, clock) as process:
        caller = process()
        store.refusals = 1
        assert (await caller.list_games()).request_id == "rid-1"
        await caller.close()  # a catch-up would run here at the latest
        assert (await process().list_games()).request_id == "rid-2"
        assert upstream.requests == 2


async def test_a_holder_renews_its_lease_every_third_of_a_lease(
    process: MakeClient, upstream: Upstream, clock: ManualClock
) -> None:
    upstream.gate = asyncio.Event()
    holder = process()
    fetching = asyncio.ensure_future(holder.list_games())
    await eventually(lambda: upstream.requests == 1, "the holder's fetch")
    start = clock.monotonic()
    await eventually(lambda: sleeping_until(clock, start + LEASE / 3), "the first renewal")
    clock.advance(LEASE / 3)
    await eventually(lambda: sleeping_until(clock, start + 2 * LEASE / 3), "the second one")
    upstream.gate.set()
    assert (await fetching).request_id == "rid-1"


async def test_the_fleets_back_off_is_drawn_from_the_rng_it_is_given(
    store: MemoryGameListStore, clock: ManualClock
) -> None:
    """A seeded ``rng`` makes the back-off after an outage reproducible."""
    shared = SharedGameList(store, namespace=NAMESPACE, ttl=TTL, max_stale=TTL, clock=clock,
                            max_response_bytes=1 << 20, rng=random.Random(2026))

    async def outage() -> Any:
        raise ga.NetworkError("connection refused")

    with pytest.raises(ga.NetworkError):
        await shared.load(outage, have=None, background=False, refresh=False)
    await shared.aclose()
    expected = random.Random(2026).uniform(*OUTAGE_BACKOFF)
    assert await store.backing_off(NAMESPACE) == pytest.approx(expected, abs=1e-6)


# Third pass, the survivors left without a test: counters of waits and takeovers, the fleet's
# back-off seen by a waiter, the watcher's bookkeeping, the catch-up, the client's rng.

class Observed(FailingWrites):
    """A memory store that counts the looks at the version and the lock requests it refused,
    may leave its changes unannounced (a store polled only, as for a Redis user without the
    channel), and may hold the answer of a write it has already stored and announced (a slow
    reply from Redis)."""

    def __init__(self, clock: ManualClock, *, announce: bool = True,
                 poll_interval: float = 5.0) -> None:
        super().__init__(clock=clock, lease=LEASE, poll_interval=poll_interval, lock_wait=40.0)
        self.announce = announce
        self.peeks = self.refused = 0
        self.hold: asyncio.Event | None = None  # set: the writes' answers are held until then
        self.held = asyncio.Event()
        self.peeks_when_held = 0

    async def peek(self, namespace: str) -> Any:
        self.peeks += 1
        return await super().peek(namespace)

    async def acquire(self, namespace: str, token: str) -> Any:
        lease = await super().acquire(namespace, token)
        self.refused += lease is None
        return lease

    async def write(self, namespace: str, lease: Any, value: bytes, keep_for: float) -> Any:
        version = await super().write(namespace, lease, value, keep_for)
        if self.hold is not None:
            self.peeks_when_held = self.peeks
            self.held.set()
            await self.hold.wait()
        return version

    def watch(self, namespace: str, nudge: Callable[[], None]) -> Callable[[], None]:
        return super().watch(namespace, nudge) if self.announce else lambda: None


@pytest.fixture
def on_store(
    upstream: Upstream, clock: ManualClock
) -> Callable[..., contextlib.AbstractAsyncContextManager[MakeClient]]:
    """``async with on_store(store) as process``: clients (processes) sharing ``store``."""

    def clients(store: MemoryGameListStore, **settings: Any) -> Any:
        return closing_clients(**({
            "base_url": BASE_URL, "agent_id": AGENT_ID, "api_token": API_TOKEN,
            "transport": upstream, "retry": RetryPolicy.disabled(), "clock": clock,
            "games_store": store, "games_ttl": TTL,
        } | settings))

    return clients


OnStore = Callable[..., contextlib.AbstractAsyncContextManager[MakeClient]]


async def a_poll(store: Observed, clock: ManualClock) -> None:
    """Move the clock on by the poll interval and wait for a watcher's look at the store."""
    await asyncio.sleep(0)  # a watcher that has just looked starts its next sleep meanwhile
    looked = store.peeks
    clock.advance(store.settings.poll_interval)
    await eventually(lambda: store.peeks > looked, "a watcher's poll")


async def refused(store: Observed, count: int, what: str) -> None:
    await eventually(lambda: store.refused == count, what)


async def test_each_wait_for_another_fetch_and_each_takeover_counts(
    upstream: Upstream, clock: ManualClock, on_store: OnStore
) -> None:
    """A client that waits twice for a holder that died, and takes over twice (a load, then
    a forced refresh), counts two waits and two takeovers."""
    store = Observed(clock)
    async with on_store(store) as process:
        waiter = process()
        for round_, refresh in enumerate((False, True), start=1):
            assert await store.acquire(NAMESPACE, f"died-{round_}") is not None
            call = asyncio.ensure_future(waiter.list_games(refresh=refresh))
            await refused(store, round_, "the waiter's lock request")
            while not call.done():  # until the dead holder's lease ends
                clock.advance(LEASE / 20)
                await asyncio.sleep(0.01)
            assert (await call).request_id == f"rid-{round_}"
        stats = waiter.cache_stats()
        assert (stats.lock_waits, stats.takeovers, upstream.requests) == (2, 2, 2)


async def test_a_waiter_refused_the_lock_again_after_a_drop_counts_one_wait(
    upstream: Upstream, clock: ManualClock, on_store: OnStore
) -> None:
    """The holder's fetch fails for good (the list is dropped): of its two waiters one takes
    the lock and fetches, the other is refused it again and waits for that fetch. One wait
    per load, however many times the lock is asked for."""
    store = Observed(clock)
    async with on_store(store) as process:
        holder, first, second = process(), process(), process()
        failing = asyncio.Event()
        upstream.gate, upstream.status = failing, 403
        fetching = asyncio.ensure_future(holder.list_games())
        await eventually(lambda: upstream.requests == 1, "the holder's fetch")
        waiting = [asyncio.ensure_future(c.list_games()) for c in (first, second)]
        await refused(store, 2, "both to wait")
        upstream.gate = asyncio.Event()  # the next fetch is held
        failing.set()
        with pytest.raises(ga.GameApiError):
            await fetching
        await refused(store, 3, "one waiter refused the lock again")
        await eventually(lambda: upstream.requests == 2, "the other one's fetch")
        assert total([first, second], "lock_waits") == 2
        upstream.status = 200
        upstream.gate.set()
        assert {(await call).request_id for call in waiting} == {"rid-2"}
        assert (upstream.requests, total([first, second], "lock_waits")) == (2, 2)


async def test_a_waiter_taking_the_holders_list_counts_one_shared_hit(
    upstream: Upstream, clock: ManualClock, on_store: OnStore
) -> None:
    """Polled only (no announcement): the waiter of a background refresh takes the holder's
    list at its next wait step, one shared hit more than the one it had."""
    store = Observed(clock, announce=False)
    async with on_store(store) as process:
        holder, waiter = process(), process()
        await holder.list_games()
        await waiter.list_games()  # from the store: one shared hit
        clock.advance(TTL + 1)
        upstream.gate = asyncio.Event()
        assert (await holder.list_games()).request_id == "rid-1"  # stale; it refreshes
        await eventually(lambda: upstream.requests == 2, "the holder's refresh")
        assert (await waiter.list_games()).request_id == "rid-1"  # stale; it waits
        await eventually(lambda: waiter.cache_stats().lock_waits == 1, "the wait")
        upstream.gate.set()
        await eventually(lambda: not _refreshing(holder), "the holder's write")
        while _refreshing(waiter):
            clock.advance(0.1)
            await asyncio.sleep(0.01)
        assert waiter.cache_stats().shared_hits == 2
        assert (await waiter.list_games()).request_id == "rid-2"
        assert upstream.requests == 2


async def test_a_waiter_whose_holder_failed_fetches_itself_under_a_back_off_ending_within_a_second(
    upstream: Upstream, store: MemoryGameListStore, clock: ManualClock, process: MakeClient
) -> None:
    """The holder gave the lock back with the fleet backing off for one more second: the
    waiter has nothing to serve, so it fetches for itself (and sees any error itself), never
    taking over as from a holder that vanished, and shares nothing."""
    lease = await store.acquire(NAMESPACE, "a-process-whose-fetch-failed")
    assert lease is not None
    waiter = process()
    call = asyncio.ensure_future(waiter.list_games())
    await eventually(lambda: waiter.cache_stats().lock_waits == 1, "the wait")
    await store.back_off(NAMESPACE, 1.0)
    await store.release(NAMESPACE, lease)
    while upstream.requests == 0:  # the waiter's next look, within that second
        clock.advance(0.02)
        await asyncio.sleep(0.01)
    assert (await call).request_id == "rid-1"
    assert waiter.cache_stats().takeovers == 0
    assert (await store.peek(NAMESPACE)).version is None


async def test_the_waiter_of_a_failed_background_refresh_keeps_its_list_without_an_error(
    upstream: Upstream, clock: ManualClock, on_store: OnStore
) -> None:
    """The holder's refresh fails in an outage: the waiter's refresh is deferred for the
    fleet's back-off, its stale list kept, and no error counted (the holder's is the one)."""
    store = Observed(clock)
    async with on_store(store) as process:
        holder, waiter = process(), process()
        await holder.list_games()
        await waiter.list_games()
        clock.advance(TTL + 1)
        upstream.gate, upstream.status = asyncio.Event(), 503
        await holder.list_games()
        await eventually(lambda: upstream.requests == 2, "the holder's refresh")
        await waiter.list_games()
        await eventually(lambda: waiter.cache_stats().lock_waits == 1, "the wait")
        upstream.gate.set()
        await eventually(lambda: holder.cache_stats().errors == 1, "the failed refresh")
        while _refreshing(waiter):
            clock.advance(0.1)
            await asyncio.sleep(0.01)
        assert waiter.cache_stats().errors == 0
        assert waiter.cache_stats().age is not None  # still held, served stale
        assert (await waiter.list_games()).request_id == "rid-1"
        assert upstream.requests == 2


async def test_a_stale_refresh_takes_the_newer_list_already_stored(
    upstream: Upstream, clock: ManualClock, on_store: OnStore
) -> None:
    """Polled only, and not polled yet: a process whose list went stale finds the newer list
    another process stored meanwhile, instead of fetching one more."""
    store = Observed(clock, announce=False, poll_interval=1000.0)
    async with on_store(store) as process:
        writer, reader = process(), process()
        await writer.list_games()
        await reader.list_games()
        clock.advance(TTL - 70)
        assert (await writer.list_games(refresh=True)).request_id == "rid-2"
        clock.advance(71)  # the reader's list is stale, the writer's is 71 s old
        assert (await reader.list_games()).request_id == "rid-1"  # stale; it refreshes
        await eventually(lambda: not _refreshing(reader), "the reader's refresh")
        assert (await reader.list_games()).request_id == "rid-2"
        assert upstream.requests == 2


async def test_the_watcher_forgets_a_list_once_per_drop(
    upstream: Upstream, clock: ManualClock, on_store: OnStore
) -> None:
    """After the drop it handed over, the list its process fetched while the store still
    holds the tombstone (the write refused) is kept at the next polls."""
    store = Observed(clock)
    async with on_store(store) as process:
        writer, reader = process(), process()
        await writer.list_games()
        await reader.list_games()
        writer.invalidate_games()
        await eventually(lambda: reader.cache_stats().age is None, "the reader to forget")
        await writer.close()  # only the reader's watcher looks from now on
        store.refusals = 1
        assert (await reader.list_games()).request_id == "rid-2"  # its write refused
        assert (await store.peek(NAMESPACE)).version == "x1"  # the tombstone still
        for _ in range(3):
            await a_poll(store, clock)
        assert reader.cache_stats().age is not None
        assert (await reader.list_games()).request_id == "rid-2"
        assert upstream.requests == 2


async def test_the_watcher_keeps_watching_while_a_write_of_its_process_is_answered(
    upstream: Upstream, clock: ManualClock, on_store: OnStore
) -> None:
    """The announcement of a write beats its answer to the watcher of the writing process:
    it skips that look, and picks up the next list another process writes."""
    store = Observed(clock)
    async with on_store(store) as process:
        first, second = process(), process()
        await first.list_games()
        await second.list_games()
        store.hold = asyncio.Event()
        refreshing = asyncio.ensure_future(first.list_games(refresh=True))
        await eventually(store.held.is_set, "the write stored, its answer held")
        await eventually(lambda: store.peeks >= store.peeks_when_held + 2, "both watchers' look")
        hold, store.hold = store.hold, None
        hold.set()
        assert (await refreshing).request_id == "rid-2"
        assert (await second.list_games(refresh=True)).request_id == "rid-3"
        await eventually(lambda: first.cache_stats().shared_hits == 1, "the first's pick-up")
        assert (await first.list_games()).request_id == "rid-3"


async def test_the_watcher_goes_on_after_a_stored_value_it_could_not_read(
    upstream: Upstream, clock: ManualClock, on_store: OnStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A stored value that is not a game list is logged once, not read again at each poll,
    and the next list written is picked up."""
    caplog.set_level(logging.WARNING, "gameapi_async.store")
    store = Observed(clock)
    async with on_store(store) as process:
        writer, reader = process(), process()
        await writer.list_games()
        await reader.list_games()
        await writer.close()  # only the reader's watcher looks from now on
        lease = await store.acquire(NAMESPACE, "a-process-of-another-kind")
        assert lease is not None
        assert await store.write(NAMESPACE, lease, b"not a game list", 60.0) is not None

        def ignored() -> int:
            return len([r for r in caplog.records if "that is not valid" in r.getMessage()])

        await eventually(lambda: ignored() == 1, "the reader's watcher to ignore it")
        for _ in range(3):  # and not to read it again at each poll
            await a_poll(store, clock)
        assert ignored() == 1
        assert (await reader.list_games()).request_id == "rid-1"  # still its own
        assert (await process().list_games(refresh=True)).request_id == "rid-2"
        await eventually(lambda: reader.cache_stats().shared_hits == 2, "the reader's pick-up")
        assert (await reader.list_games()).request_id == "rid-2"


async def test_a_list_picked_up_by_the_watcher_keeps_the_age_it_was_fetched_at(
    upstream: Upstream, clock: ManualClock, on_store: OnStore
) -> None:
    store = Observed(clock, announce=False)
    async with on_store(store) as process:
        writer, reader = process(), process()
        await writer.list_games()
        await reader.list_games()
        clock.advance(4)  # before any poll
        assert (await writer.list_games(refresh=True)).request_id == "rid-2"
        clock.advance(100)  # the reader's next poll finds it, 100 s old
        await eventually(lambda: reader.cache_stats().shared_hits == 2, "the reader's pick-up")
        assert reader.cache_stats().age == pytest.approx(100)


async def test_an_invalidation_the_store_missed_is_written_once(
    upstream: Upstream, store: MemoryGameListStore, clock: ManualClock, process: MakeClient
) -> None:
    """Written when the store answers again, and not again after: the list fetched after
    it is the fleet's, and the caller picks it up."""
    caller, other = process(), process()
    await caller.list_games()
    await other.list_games()
    store.available = False
    caller.invalidate_games()
    await eventually(lambda: caller.cache_stats().store_errors >= 1, "the failed drop")
    store.available = True
    while other.cache_stats().age is not None:  # the watcher's catch-up, every second
        clock.advance(0.5)
        await asyncio.sleep(0.01)
    assert (await other.list_games()).request_id == "rid-2"  # fetched, and stored
    await eventually(lambda: caller.cache_stats().shared_hits == 1, "the caller's pick-up")
    assert not ((await store.peek(NAMESPACE)).version or "x").startswith("x")
    assert (await caller.list_games()).request_id == "rid-2"
    assert (await other.list_games()).request_id == "rid-2"
    assert upstream.requests == 2


async def test_a_refresh_after_an_invalidation_the_store_missed_is_shared_after_the_drop(
    upstream: Upstream, store: MemoryGameListStore, clock: ManualClock, process: MakeClient
) -> None:
    """Both missed: the catch-up writes the drop, then the refresh that came after it, which
    becomes the fleet's list (the drop is the version it was fetched over)."""
    caller, other = process(), process()
    await caller.list_games()
    await other.list_games()
    first = (await store.peek(NAMESPACE)).version
    store.available = False
    caller.invalidate_games()
    assert (await caller.list_games(refresh=True)).request_id == "rid-2"  # alone
    store.available = True
    while (now := (await store.peek(NAMESPACE)).version) == first:  # the watcher's catch-up,
        clock.advance(0.5)  # every second
        await asyncio.sleep(0.01)
    assert now is not None
    assert not now.startswith("x")  # the refresh, written over the drop
    await eventually(lambda: other.cache_stats().shared_hits == 2, "the other's pick-up")
    assert (await other.list_games()).request_id == "rid-2"
    assert upstream.requests == 2


async def test_a_watching_client_keeps_no_more_objects_the_longer_it_watches(
    clock: ManualClock, on_store: OnStore
) -> None:
    """Each poll's wait leaves nothing behind (its waker is let go)."""
    store = Observed(clock)
    async with on_store(store) as process:
        await process().list_games()

        async def polls(count: int) -> None:
            for _ in range(count):
                await a_poll(store, clock)

        def events() -> int:
            gc.collect()
            return sum(type(o) is asyncio.Event for o in gc.get_objects())

        await polls(3)
        before = events()
        await polls(40)
        assert events() - before < 10


@pytest.mark.parametrize(("end", "ttl", "backoff"), [("low", TTL, 30.0),
                                                      ("high", TTL * 0.95, 60.0)])
async def test_a_clients_rng_draws_its_ttl_and_the_fleets_back_off(
    upstream: Upstream, store: MemoryGameListStore, clock: ManualClock, on_store: OnStore,
    end: str, ttl: float, backoff: float,
) -> None:
    """With a store as without one, the ``rng`` given to the client draws how much its TTL
    is shortened and how long the fleet backs off after a refresh failed in an outage (the
    documented ends of each range, as this rng draws them)."""
    async with on_store(store, rng=Extreme(end)) as process:
        client = process()
        await client.list_games()
        clock.advance(ttl - 0.1)
        await client.list_games()
        assert client.cache_stats().stale_served == 0  # fresh until the TTL drawn
        upstream.status = 503
        clock.advance(0.2)
        await client.list_games()
        assert client.cache_stats().stale_served == 1  # stale: it refreshes, and fails
        await eventually(lambda: client.cache_stats().errors == 1, "the failed refresh")
        assert await store.backing_off(NAMESPACE) == pytest.approx(backoff)
