"""The near cache with a shared store at its edges: each case pins a line of ``_cache.py``
that mutation testing (docs/testing.md) showed the broader fleet tests leave free. Clients
stand for processes on one real redis-server, as in test_shared_list.py."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import zlib
from collections.abc import Callable

import pytest

from gameapi_async import GameApiClient, GameApiError, RedisGameListStore
from gameapi_async.fleet._store import Lease, Peek, Stored
from gameapi_async.testing import FakePlatform

from ..support import FakeClock
from .conftest import list_requests
from .redis_server import RedisServer
from .support import eventually, namespace_keys

MakeClient = Callable[..., GameApiClient]
MakeStore = Callable[..., RedisGameListStore]

SKEW = 500.0  # seconds the reader's wall clock runs ahead of the writer's (and Redis')
TTL = 600.0  # games_ttl of the clients whose lists go stale here (jitter: 570-600 s)


class CountingStore:
    """The real store, counting version checks, full reads of the stored list and back-off
    checks."""

    def __init__(self, store: RedisGameListStore) -> None:
        self._store = store
        self.settings = store.settings
        self.peeks = 0
        self.reads = 0
        self.backoff_checks = 0
        self.checked_backoff = asyncio.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def peek(self, namespace: str) -> Peek:
        self.peeks += 1
        return await self._store.peek(namespace)

    async def read(self, namespace: str) -> Stored | None:
        self.reads += 1
        return await self._store.read(namespace)

    async def backing_off(self, namespace: str) -> float:
        left = await self._store.backing_off(namespace)
        self.backoff_checks += 1
        self.checked_backoff.set()
        return left


async def settle() -> None:
    """Let finished tasks run their done callbacks (no time passes)."""
    for _ in range(5):
        await asyncio.sleep(0)


def stale_by(clock: FakeClock, platform: FakePlatform, seconds: float) -> None:
    clock.advance(seconds)
    platform.faults.clock_offset = clock.wall - time.time()  # the platform's clock follows


async def test_a_list_picked_up_from_the_fleet_keeps_the_age_it_had_when_fetched(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    # A list's age counts from when the fleet fetched it, by the store's clock (one for the
    # fleet: the reader's clock SKEW ahead changes nothing), not from when this process
    # picked it up: otherwise every pick-up would renew its TTL. Once stale, the refresh
    # only checks the version of the picked-up list, never reads it again.
    now = time.time()
    writer = make_fleet_client(games_store=make_store(), clock=FakeClock(wall=now))
    reader_clock = FakeClock(wall=now + SKEW)
    store = CountingStore(make_store())
    reader = make_fleet_client(games_store=store, clock=reader_clock, games_ttl=TTL)
    await writer.list_games()
    await reader.list_games()  # starts the reader's watcher
    new = await writer.list_games(refresh=True)
    await eventually(
        lambda: reader.cache_stats().shared_hits >= 2, "the reader to pick up the new list"
    )
    age = reader.cache_stats().age  # held, not merely forgotten, and not SKEW old
    assert age is not None
    assert age < SKEW / 10
    assert (await reader.list_games()).request_id == new.request_id
    reads = store.reads
    stale_by(reader_clock, platform, TTL + 100)
    assert (await reader.list_games()).request_id == new.request_id  # stale, refreshing
    await eventually(lambda: list_requests(platform) == 3, "the reader's refresh")
    assert store.reads == reads


async def test_a_stale_refresh_checks_the_version_it_holds_without_reading_the_list(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    clock = FakeClock(wall=time.time())
    store = CountingStore(make_store())
    client = make_fleet_client(games_store=store, clock=clock, games_ttl=TTL)
    first = await client.list_games()
    assert store.reads == 1  # the first look: nothing stored yet
    stale_by(clock, platform, TTL + 100)
    assert (await client.list_games()).request_id == first.request_id
    await eventually(lambda: list_requests(platform) == 2, "the refresh")
    await eventually(lambda: (client.cache_stats().age or 0.0) < TTL, "the refreshed list")
    assert store.reads == 1  # its own list, unchanged in the store: only the version looked at


async def test_refresh_fetches_even_when_the_store_holds_a_newer_list(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    writer = make_fleet_client(games_store=make_store())
    reader = make_fleet_client(games_store=make_store(poll_interval=3600))  # picks up nothing
    await writer.list_games()
    await reader.list_games()
    written = await writer.list_games(refresh=True)
    fetched = await reader.list_games(refresh=True)
    assert list_requests(platform) == 3
    assert fetched.request_id != written.request_id  # from the platform, not the store


async def test_while_the_fleet_backs_off_the_stale_list_is_served_and_not_rechecked(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    clock = FakeClock(wall=time.time())
    failing = make_fleet_client(games_store=make_store(), clock=clock, games_ttl=TTL)
    store = CountingStore(make_store())
    client = make_fleet_client(games_store=store, clock=clock, games_ttl=TTL)
    first = await failing.list_games()
    assert (await client.list_games()).request_id == first.request_id
    stale_by(clock, platform, TTL + 100)
    platform.faults.error_rate, platform.faults.error_statuses = 1.0, (503,)
    await failing.list_games()  # stale: its refresh fails and backs the fleet off
    await eventually(lambda: failing.cache_stats().errors == 1, "the failed refresh")
    # Stale, so a background refresh starts; it finds the fleet backing off. A caller asking
    # for a refresh meanwhile joins it and is answered with the stale list, not an error.
    served = await asyncio.gather(client.list_games(), client.list_games(refresh=True))
    assert [s.request_id for s in served] == [first.request_id] * 2
    assert client.cache_stats().joins == 1
    await asyncio.wait_for(store.checked_backoff.wait(), 60)
    await settle()
    for _ in range(3):  # within the back-off: no new refresh, not even a look at Redis
        assert (await client.list_games()).request_id == first.request_id
        await settle()
    assert store.backoff_checks == 1
    assert client.cache_stats().refreshes == 1
    assert list_requests(platform) == 2


def _document(**fields: object) -> bytes:
    document: dict[str, object] = {
        "format": 1, "fetched_at": time.time(),
        "content": {"games": [], "total": 0, "request_id": "planted"},
    }
    document.update(fields)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        (zlib.compress(_document())[:-6], "not a complete zlib stream within the size limit"),
        (zlib.compress(_document(format=2)), "not a game list of a known format"),
        (zlib.compress(b"[1, 2]"), "not a game list of a known format"),
        (zlib.compress(_document(fetched_at="yesterday")), "fetched_at is not a finite number"),
        (zlib.compress(_document(fetched_at=True)), "fetched_at is not a finite number"),
        (zlib.compress(_document(content=[])), "content is not an object"),
        (zlib.compress(b"{not json"), "JSONDecodeError: "),
    ],
    ids=["truncated", "other-format", "not-an-object", "fetched-at-text", "fetched-at-bool",
         "content-list", "bad-json"],
)
async def test_a_refused_stored_value_is_logged_with_its_reason_and_never_served(
    stored: bytes, reason: str, platform: FakePlatform, redis_server: RedisServer,
    make_store: MakeStore, make_fleet_client: MakeClient, caplog: pytest.LogCaptureFixture,
) -> None:
    await make_fleet_client(games_store=make_store()).list_games()
    server = redis_server.client()
    value_key = next(k for k in namespace_keys(server) if k.endswith(":value"))
    server.set(value_key, stored)
    caplog.set_level(logging.WARNING, "gameapi_async.store")
    games = await make_fleet_client(games_store=make_store()).list_games()
    assert games.request_id != "planted"
    assert len(games.games) == len(platform.games)
    assert list_requests(platform) == 2
    assert "ignoring a game list in the shared store that is not valid (" in caplog.text
    assert f"({reason}" in caplog.text
    assert "; it will be overwritten" in caplog.text


@pytest.mark.parametrize("status", [503, None], ids=["transient", "definite"])
async def test_a_holder_whose_fetch_fails_gives_the_lock_back(
    status: int | None, platform: FakePlatform, redis_server: RedisServer,
    make_store: MakeStore, make_fleet_client: MakeClient,
) -> None:
    client = make_fleet_client(games_store=make_store())
    await client.list_games()
    if status is None:
        platform.agents[1] = "a-rotated-token"  # a definite error: invalid signature
    else:
        platform.faults.error_rate, platform.faults.error_statuses = 1.0, (status,)
    with pytest.raises(GameApiError):
        await client.list_games(refresh=True)
    server = redis_server.client()
    assert not [k for k in namespace_keys(server) if k.endswith(":lock")]


class LateLocker:
    """The real store, except that taking the fetch lock waits until the test allows it: the
    process has looked at the store, found nothing, and is about to lock."""

    def __init__(self, store: RedisGameListStore) -> None:
        self._store = store
        self.settings = store.settings
        self.locking = asyncio.Event()
        self.may_lock = asyncio.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def acquire(self, namespace: str, token: str) -> Lease | None:
        self.locking.set()
        await self.may_lock.wait()
        return await self._store.acquire(namespace, token)


async def test_a_list_written_between_the_look_and_the_lock_is_taken_not_fetched_again(
    platform: FakePlatform, redis_server: RedisServer, make_store: MakeStore,
    make_fleet_client: MakeClient,
) -> None:
    late = LateLocker(make_store())
    slow = make_fleet_client(games_store=late)
    fast = make_fleet_client(games_store=make_store())
    slow_call = asyncio.ensure_future(slow.list_games())
    await asyncio.wait_for(late.locking.wait(), 60)
    written = await fast.list_games()  # locks, fetches, writes and unlocks meanwhile
    late.may_lock.set()
    taken = await asyncio.wait_for(slow_call, 60)
    assert taken.request_id == written.request_id
    assert list_requests(platform) == 1
    # Taken once by the load; the watcher, nudged by the write, may also have picked it up.
    assert 1 <= slow.cache_stats().shared_hits <= 2
    server = redis_server.client()
    assert not [k for k in namespace_keys(server) if k.endswith(":lock")]  # given back


async def test_a_list_taken_from_the_store_is_not_read_again_by_the_watcher(
    make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    await make_fleet_client(games_store=make_store()).list_games()
    store = CountingStore(make_store(poll_interval=0.05))
    reader = make_fleet_client(games_store=store)
    await reader.list_games()
    assert (store.reads, reader.cache_stats().shared_hits) == (1, 1)
    peeks = store.peeks
    await eventually(lambda: store.peeks >= peeks + 10, "ten version checks")
    assert (store.reads, reader.cache_stats().shared_hits) == (1, 1)  # the version it holds
