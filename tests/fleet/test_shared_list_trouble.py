"""The fleet logic under Redis trouble and races (issue 19, items 1, 4 and 8), each against a
real redis-server; clients on separate stores stand for processes, as in test_shared_list.py.
Every wait is on a condition with a generous deadline, never on time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import redis

from gameapi_async import GameApiClient, GameList, RedisGameListStore
from gameapi_async._pipeline import Call, Handler, Reply
from gameapi_async.fleet._store import Lease
from gameapi_async.testing import FakePlatform

from ..support import FakeClock
from .conftest import list_requests
from .redis_server import RedisServer
from .support import eventually, namespace_keys

MakeClient = Callable[..., GameApiClient]
MakeStore = Callable[..., RedisGameListStore]

TTL = 600.0


def stored_version(server: redis.Redis) -> str | None:
    keys = [k for k in namespace_keys(server) if k.endswith(":version")]
    value = server.get(keys[0]) if keys else None
    return None if value is None else value.decode()


def locked(server: redis.Redis) -> bool:
    return any(k.endswith(":lock") for k in namespace_keys(server))


async def pause_redis_until_a_command_fails(
    server: redis.Redis, client: GameApiClient, act: Callable[[], object]
) -> None:
    """Redis stalls (``CLIENT PAUSE``) while ``act()`` runs on ``client``, long enough for the
    client's store to give up on a command; then Redis answers again."""
    errors = client.cache_stats().store_errors
    server.client_pause(3000)  # far past the store's 0.5 s command timeout
    act()
    await eventually(lambda: client.cache_stats().store_errors > errors, "a store timeout")


# -- item 1: nothing a caller asked for is lost to a transient Redis failure ---------------


async def test_an_invalidation_during_a_redis_stall_is_written_when_redis_answers_again(
    platform: FakePlatform, redis_server: RedisServer, make_store: MakeStore,
    make_fleet_client: MakeClient,
) -> None:
    server = redis_server.client()
    caller = make_fleet_client(games_store=make_store())
    other = make_fleet_client(games_store=make_store())
    first = await caller.list_games()
    assert (await other.list_games()).request_id == first.request_id
    platform.games.pop(next(iter(platform.games)))  # the platform's list changes

    await pause_redis_until_a_command_fails(server, caller, caller.invalidate_games)

    # Redis answers again: the drop the caller asked for reaches the fleet.
    await eventually(lambda: (stored_version(server) or "").startswith("x"), "the tombstone")
    await eventually(lambda: other.cache_stats().age is None, "the other process to forget")
    again = await caller.list_games()
    assert again.request_id != first.request_id  # never the list it dropped
    assert len(again.games) == len(platform.games)


async def test_a_forced_refresh_during_a_redis_stall_reaches_the_fleet_when_redis_answers(
    platform: FakePlatform, redis_server: RedisServer, make_store: MakeStore,
    make_fleet_client: MakeClient,
) -> None:
    server = redis_server.client()
    caller = make_fleet_client(games_store=make_store())
    other = make_fleet_client(games_store=make_store())
    first = await caller.list_games()
    assert (await other.list_games()).request_id == first.request_id
    platform.games.pop(next(iter(platform.games)))
    refreshed: list[asyncio.Task[GameList]] = []

    def refresh() -> None:
        refreshed.append(asyncio.ensure_future(caller.list_games(refresh=True)))

    await pause_redis_until_a_command_fails(server, caller, refresh)
    new = await refreshed[0]
    assert list_requests(platform) == 2

    async def others_list() -> str:
        return (await other.list_games()).request_id

    # Redis answers again: the list the caller fetched becomes the fleet's.
    deadline = time.monotonic() + 60
    while await others_list() != new.request_id:
        assert time.monotonic() < deadline, "the refreshed list never reached the fleet"
        await asyncio.sleep(0.05)
    assert list_requests(platform) == 2  # shared, not fetched again


# -- item 4: the fleet back-off holds for the waiters of a background refresh -------------


async def test_waiters_of_a_failed_background_refresh_keep_the_fleet_back_off(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient,
) -> None:
    clock = FakeClock(wall=time.time())
    processes = 5
    clients: list[GameApiClient] = []
    refreshing = asyncio.Event()

    async def the_holder_waits_for_the_others(call: Call, call_next: Handler) -> Reply:
        # The process that won the lock refreshes only once every other process waits for it.
        if refreshing.is_set():
            await eventually(
                lambda: sum(c.cache_stats().lock_waits for c in clients) >= processes - 1,
                "every other process to wait for the holder",
            )
        return await call_next(call)

    clients.extend(
        make_fleet_client(games_store=make_store(), clock=clock, games_ttl=TTL,
                          middlewares=[the_holder_waits_for_the_others])
        for _ in range(processes)
    )
    first = await clients[0].list_games()
    for client in clients[1:]:
        assert (await client.list_games()).request_id == first.request_id
    assert list_requests(platform) == 1
    clock.advance(TTL + 100)  # past the TTL, within max-stale
    platform.faults.clock_offset = clock.wall - time.time()
    platform.faults.error_rate, platform.faults.error_statuses = 1.0, (503,)
    refreshing.set()
    served = await asyncio.gather(*(c.list_games() for c in clients))  # stale: all refresh
    assert {s.request_id for s in served} == {first.request_id}
    await eventually(
        lambda: all(c.cache_stats().refreshes == 1 for c in clients)
        and sum(c.cache_stats().errors for c in clients) >= 1
        and all(c._parts.games.cache._flight is None for c in clients),  # type: ignore[union-attr]
        "every background refresh to end",
    )
    assert list_requests(platform) == 2  # one attempt for the whole fleet, not one each
    for client in clients:  # and the stale list is still served everywhere
        assert (await client.list_games()).request_id == first.request_id
    assert list_requests(platform) == 2


# -- item 8: a write landing between a waiter's failed lock request and its first look ----


class _WriteLandsAfterTheFailedLockRequest:
    """The real store; when a lock request fails, the holder is let go and its write lands
    before the answer reaches the caller (the rare interleaving, made certain)."""

    def __init__(self, store: RedisGameListStore, server: redis.Redis,
                 holder_may_fetch: asyncio.Event) -> None:
        self._store = store
        self._server = server
        self._holder_may_fetch = holder_may_fetch
        self.settings = store.settings

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def acquire(self, namespace: str, token: str) -> Lease | None:
        lease = await self._store.acquire(namespace, token)
        if lease is None and not self._holder_may_fetch.is_set():
            self._holder_may_fetch.set()
            await eventually(
                lambda: stored_version(self._server) is not None and not locked(self._server),
                "the holder's write",
            )
        return lease


async def test_a_waiter_takes_a_list_written_between_its_failed_lock_request_and_its_look(
    platform: FakePlatform, redis_server: RedisServer, make_store: MakeStore,
    make_fleet_client: MakeClient,
) -> None:
    server = redis_server.client()
    holder_may_fetch = asyncio.Event()

    async def gated(call: Call, call_next: Handler) -> Reply:
        await holder_may_fetch.wait()
        return await call_next(call)

    holder = make_fleet_client(games_store=make_store(), middlewares=[gated])
    fetching = asyncio.ensure_future(holder.list_games())
    await eventually(lambda: locked(server), "the holder's lock")
    waiter = make_fleet_client(
        games_store=_WriteLandsAfterTheFailedLockRequest(make_store(), server, holder_may_fetch)
    )
    got = await waiter.list_games()
    assert got.request_id == (await fetching).request_id
    assert list_requests(platform) == 1  # no second fetch
    stats = waiter.cache_stats()
    assert (stats.takeovers, stats.lock_waits) == (0, 1)  # no takeover that never happened
    assert stats.shared_hits >= 1  # the watcher may pick the same write up as well
