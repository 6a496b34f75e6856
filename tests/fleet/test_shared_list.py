"""Fleet behaviour of ``games_store=``, several clients (each standing for one process) on one
real redis-server; the real-process versions are in test_processes.py. The near cache with a
shared store at its edges closes the file."""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import time
import zlib
from collections.abc import Callable

import pytest

from gameapi_async import (
    ClientClosedError,
    GameApiClient,
    GameApiError,
    InvalidParameterError,
    InvalidSignatureError,
    RedisGameListStore,
)
from gameapi_async._pipeline import Call, Handler, Reply
from gameapi_async.fleet._store import Lease, Peek, Stored, StoreUnavailable
from gameapi_async.testing import FakePlatform

from ..support import FakeClock
from .conftest import FLEET_TOKEN, list_requests
from .redis_server import RedisServer
from .support import (
    DEADLINE,
    age_stored_lists,
    command_calls,
    commands_processed,
    eventually,
    namespace_keys,
)

MakeClient = Callable[..., GameApiClient]
MakeStore = Callable[..., RedisGameListStore]


def version(server: RedisServer) -> str | None:
    keys = [k for k in namespace_keys(server.client()) if k.endswith(":version")]
    if not keys:
        return None
    value = server.client().get(keys[0])
    return None if value is None else value.decode()


async def test_concurrent_clients_share_one_upstream_request(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    platform.faults.latency = 0.5
    store = make_store()
    clients = [make_fleet_client(games_store=store) for _ in range(4)]
    results = await asyncio.gather(*(c.list_games() for c in clients for _ in range(200)))
    assert list_requests(platform) == 1
    assert all(len(r.games) == len(platform.games) for r in results)
    assert len({r.request_id for r in results}) == 1
    stats = [c.cache_stats() for c in clients]
    assert sum(s.lock_waits for s in stats) + sum(s.shared_hits for s in stats) >= 3


async def test_warm_calls_send_nothing_to_redis(
    platform: FakePlatform, redis_server: RedisServer, make_store: MakeStore,
    make_fleet_client: MakeClient,
) -> None:
    client = make_fleet_client(games_store=make_store(poll_interval=3600))
    first = await client.list_games()
    server = redis_server.client()
    before = commands_processed(server)
    for _ in range(1000):
        assert await client.list_games() is first
    after = commands_processed(server)
    assert after - before == 1  # the second INFO itself, nothing else
    assert client.cache_stats().hits == 1000


async def test_a_list_written_elsewhere_is_picked_up_without_fetching(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    writer = make_fleet_client(games_store=make_store())
    reader = make_fleet_client(games_store=make_store())
    old = await writer.list_games()
    assert (await reader.list_games()).request_id == old.request_id
    assert reader.cache_stats().shared_hits == 1
    new = await writer.list_games(refresh=True)
    assert new.request_id != old.request_id
    requests = list_requests(platform)
    await eventually(
        lambda: reader.cache_stats().shared_hits >= 2, "the reader to pick up the new list"
    )
    assert (await reader.list_games()).request_id == new.request_id
    assert list_requests(platform) == requests  # the reader never went upstream


async def test_polls_transfer_only_the_version_not_an_unchanged_list(
    redis_server: RedisServer, make_store: MakeStore, make_fleet_client: MakeClient,
    platform: FakePlatform,
) -> None:
    platform.games = {g.id: g for g in _many_games(3000)}
    client = make_fleet_client(games_store=make_store(poll_interval=0.05))
    await client.list_games()
    server = redis_server.client()
    reads = command_calls(server, "evalsha")  # the value is only ever read by a script
    polls = command_calls(server, "mget")  # the version check
    await eventually(lambda: command_calls(server, "mget") >= polls + 20, "20 version checks")
    assert command_calls(server, "evalsha") == reads  # the unchanged list was not read again

async def test_past_the_ttl_the_stale_list_is_served_and_one_client_refreshes(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    clock = FakeClock(wall=time.time())
    clients = [
        make_fleet_client(games_store=make_store(), clock=clock, games_ttl=600)
        for _ in range(4)
    ]
    first = await clients[0].list_games()
    for c in clients[1:]:
        assert (await c.list_games()).request_id == first.request_id
    assert list_requests(platform) == 1
    clock.advance(700)
    platform.faults.clock_offset = 700  # the platform's clock moves with ours
    platform.faults.latency = 0.3
    served = await asyncio.gather(*(c.list_games() for c in clients for _ in range(50)))
    assert {r.request_id for r in served} == {first.request_id}  # stale, at once

    async def everyone_has_the_new_list() -> bool:
        lists = [await c.list_games() for c in clients]
        return len({r.request_id for r in lists}) == 1 and lists[0] is not first

    done: list[bool] = [False]

    async def watch() -> None:
        while not done[0]:
            done[0] = await everyone_has_the_new_list()
            await asyncio.sleep(0.02)

    await asyncio.wait_for(watch(), 60)
    assert list_requests(platform) == 2


async def test_a_new_client_during_an_outage_gets_the_fleets_list_and_the_fleet_backs_off(
    platform: FakePlatform, redis_server: RedisServer, make_store: MakeStore,
    make_fleet_client: MakeClient, caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(wall=time.time())
    first = await make_fleet_client(games_store=make_store(), clock=clock).list_games()
    age_stored_lists(redis_server.client(), 4 * 3600)  # past the TTL, within max-stale
    clock.advance(4 * 3600)
    platform.faults.clock_offset = 4 * 3600
    platform.faults.error_rate = 1.0
    platform.faults.error_statuses = (503,)
    newcomer = make_fleet_client(games_store=make_store(), clock=clock)
    assert (await newcomer.list_games()).request_id == first.request_id  # no error
    assert list_requests(platform) == 1
    caplog.set_level(logging.WARNING, "gameapi_async")
    await newcomer.list_games()  # stale: refreshes in the background, which fails
    server = redis_server.client()
    await eventually(lambda: list_requests(platform) == 2, "the failed refresh")
    await eventually(
        lambda: any(k.endswith(":backoff") for k in namespace_keys(server)), "the back-off"
    )
    await eventually(lambda: newcomer.cache_stats().errors == 1, "the refresh to finish")
    other = make_fleet_client(games_store=make_store(), clock=clock)
    assert (await other.list_games()).request_id == first.request_id
    looks = command_calls(server, "pttl")
    assert (await other.list_games()).request_id == first.request_id  # starts its refresh
    await eventually(lambda: command_calls(server, "pttl") > looks, "the back-off check")
    for _ in range(3):
        assert (await other.list_games()).request_id == first.request_id
    assert list_requests(platform) == 2  # the fleet backed off: no second failing refresh
    assert other.cache_stats().errors == 0


async def test_a_definite_error_drops_the_list_for_every_client(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    first_client = make_fleet_client(games_store=make_store())
    second_client = make_fleet_client(games_store=make_store())
    await first_client.list_games()
    await second_client.list_games()
    platform.agents[1] = "a-rotated-token"  # our token no longer signs validly
    with pytest.raises(InvalidSignatureError):
        await first_client.list_games(refresh=True)
    await eventually(lambda: second_client.cache_stats().age is None, "the drop to arrive")
    with pytest.raises(InvalidSignatureError):
        await second_client.list_games()
    platform.agents[1] = FLEET_TOKEN


async def test_invalidate_is_fleet_wide_and_fences_out_a_fetch_in_flight(
    platform: FakePlatform, redis_server: RedisServer, make_store: MakeStore,
    make_fleet_client: MakeClient,
) -> None:
    first_client = make_fleet_client(games_store=make_store())
    second_client = make_fleet_client(games_store=make_store())
    await first_client.list_games()
    await second_client.list_games()
    server = redis_server.client()
    platform.faults.latency = 1.0
    refreshing = asyncio.ensure_future(second_client.list_games(refresh=True))
    await eventually(
        lambda: any(k.endswith(":lock") for k in namespace_keys(server)), "the fetch lock"
    )
    first_client.invalidate_games()
    await eventually(lambda: (version(redis_server) or "").startswith("x"), "the drop")
    refreshed = await refreshing  # its caller still gets its answer...
    assert len(refreshed.games) == len(platform.games)
    assert (version(redis_server) or "").startswith("x")  # ...but it wrote nothing
    assert not any(k.endswith(":value") for k in namespace_keys(server))
    assert not any(k.endswith(":lock") for k in namespace_keys(server))  # given back
    await eventually(lambda: second_client.cache_stats().age is None, "the drop to arrive")
    platform.faults.latency = 0.0
    requests = list_requests(platform)
    await second_client.list_games()
    assert list_requests(platform) == requests + 1


async def test_two_agents_in_one_redis_never_see_each_others_list(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    async with FakePlatform(agents={1: "token-one-SECRET", 2: "token-two-SECRET"}) as fake:
        fake.set_unavailable(2, {next(iter(fake.games))})
        store = make_store()
        one = GameApiClient(base_url=fake.base_url, agent_id=1, api_token="token-one-SECRET",
                            games_store=store)
        two = GameApiClient(base_url=fake.base_url, agent_id=2, api_token="token-two-SECRET",
                            games_store=store)
        async with one, two:
            games_one = await one.list_games()
            games_two = await two.list_games()
        assert len(games_one.games) == len(games_two.games) + 1
        assert len(fake.requests_to("/api/games/list")) == 2
    keys = namespace_keys(redis_server.client())
    tags = {key.split("{")[1].split("}")[0] for key in keys}
    assert len(tags) == 2
    for key in keys:
        assert "SECRET" not in key
        assert "127.0.0.1" not in key
        assert key.startswith("gameapi:{")
        assert key.count("{") == 1


async def test_the_stored_value_is_compressed_json_never_pickle(
    redis_server: RedisServer, make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    import json

    games = await make_fleet_client(games_store=make_store()).list_games()
    server = redis_server.client()
    value_key = next(k for k in namespace_keys(server) if k.endswith(":value"))
    document = json.loads(zlib.decompress(server.get(value_key) or b""))
    assert document["content"]["total"] == games.total
    assert [g["id"] for g in document["content"]["games"]] == [g.id for g in games.games]


@pytest.mark.parametrize(
    "stored",
    [
        b"not zlib at all",
        zlib.compress(b"{not json"),
        zlib.compress(b'{"format": 1, "fetched_at": 1, "content": {"games": "x"}}'),
        pickle.dumps({"games": []}),
    ],
    ids=["garbage", "bad-json", "wrong-shape", "pickle"],
)
async def test_a_corrupt_or_foreign_value_is_a_logged_miss_and_is_overwritten(
    stored: bytes, platform: FakePlatform, redis_server: RedisServer, make_store: MakeStore,
    make_fleet_client: MakeClient, caplog: pytest.LogCaptureFixture,
) -> None:
    seeding = make_fleet_client(games_store=make_store())
    await seeding.list_games()
    server = redis_server.client()
    value_key = next(k for k in namespace_keys(server) if k.endswith(":value"))
    server.set(value_key, stored)
    caplog.set_level(logging.WARNING, "gameapi_async.store")
    fresh = make_fleet_client(games_store=make_store())
    games = await fresh.list_games()
    assert len(games.games) == len(platform.games)
    assert list_requests(platform) == 2
    assert "not valid" in caplog.text
    assert zlib.decompress(server.get(value_key) or b"").startswith(b"{")


async def test_a_value_inflating_past_the_response_cap_is_refused_not_inflated(
    platform: FakePlatform, redis_server: RedisServer, make_store: MakeStore,
    make_fleet_client: MakeClient, caplog: pytest.LogCaptureFixture,
) -> None:
    cap = 64 * 1024  # the platform's list is a few KiB: well within it
    await make_fleet_client(games_store=make_store(), max_response_bytes=cap).list_games()
    server = redis_server.client()
    value_key = next(k for k in namespace_keys(server) if k.endswith(":value"))
    # A valid document, padded to 3x the cap: small on the wire, too big once inflated.
    padding = " " * (3 * cap)
    bomb = zlib.compress(
        b'{"format": 1, "fetched_at": %d, ' % time.time() + padding.encode()
        + b'"content": {"games": [], "total": 0, "request_id": "bomb"}}', 9
    )
    assert len(bomb) < cap // 8
    server.set(value_key, bomb)
    caplog.set_level(logging.WARNING, "gameapi_async.store")
    fresh = make_fleet_client(games_store=make_store(), max_response_bytes=cap)
    games = await fresh.list_games()
    assert len(games.games) == len(platform.games)  # fetched, not the bomb's empty list
    assert list_requests(platform) == 2
    assert "not valid" in caplog.text


async def test_games_store_must_be_a_store(make_fleet_client: MakeClient) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        make_fleet_client(games_store="redis://localhost")
    assert caught.value.field == "games_store"


@pytest.mark.parametrize("setting", ["lease", "poll_interval", "lock_wait", "timeout"])
@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), True, "1"])
async def test_store_settings_are_checked_naming_the_field(setting: str, bad: object) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        RedisGameListStore("redis://127.0.0.1:1/0", **{setting: bad})
    assert caught.value.field == setting


async def test_a_url_that_is_not_redis_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        RedisGameListStore("http://127.0.0.1:6379/0")
    assert caught.value.field == "redis"


def _many_games(count: int) -> list[object]:
    from gameapi_async import Game

    return [
        Game(id=i, title=f"Game {i}", brand=f"Brand {i % 40}",
             image_url=f"https://cdn.example.test/games/{i}.png", demo=i % 3 == 0)
        for i in range(1, count + 1)
    ]


class _RenewalSwallowsItsCancellation:
    """The real store, except that the first renewal hangs (a frozen Redis) and turns its
    cancellation into ``StoreUnavailable``, as redis-py can turn a cancellation into a
    connection error. Later renewals reach the real store."""

    def __init__(self, store: RedisGameListStore) -> None:
        self._store = store
        self.settings = store.settings
        self.renewing = asyncio.Event()
        self.renewals = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def renew(self, namespace: str, lease: Lease) -> bool:
        self.renewals += 1
        if self.renewals > 1:
            return await self._store.renew(namespace, lease)
        self.renewing.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise StoreUnavailable("connection lost while reading the answer") from None
        raise AssertionError("unreachable")


async def test_lease_renewal_stops_with_the_fetch_even_when_its_cancellation_is_swallowed(
    redis_server: RedisServer, make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    store = _RenewalSwallowsItsCancellation(make_store(lease=0.3))

    async def fetch_while_a_renewal_hangs(call: Call, call_next: Handler) -> Reply:
        await store.renewing.wait()
        return await call_next(call)

    client = make_fleet_client(games_store=store, middlewares=[fetch_while_a_renewal_hangs])
    # The fetch ends while the renewal hangs; the renewer is then cancelled inside it. A
    # renewer that carries on renews the lock forever and list_games() never returns.
    games = await asyncio.wait_for(client.list_games(), DEADLINE)
    assert games.games
    server = redis_server.client()
    assert not [k for k in namespace_keys(server) if k.endswith(":lock")]  # written, released


async def test_a_holder_closed_mid_fetch_gives_the_lock_back_at_once(
    platform: FakePlatform, redis_server: RedisServer, make_store: MakeStore,
    make_fleet_client: MakeClient,
) -> None:
    platform.faults.stall_rate, platform.faults.stall_seconds = 1.0, 600.0
    store = make_store(lease=600)  # an orphaned lock would outlive the test
    holder = make_fleet_client(games_store=store)
    fetching = asyncio.ensure_future(holder.list_games())
    server = redis_server.client()

    def locks() -> list[str]:
        return [k for k in namespace_keys(server) if k.endswith(":lock")]

    await eventually(lambda: bool(locks()), "the holder's lock")
    await holder.close()  # a worker shutting down while it fetches for the fleet
    with pytest.raises(ClientClosedError):
        await fetching
    assert locks() == []  # given back: the fleet need not wait out the lease


async def test_invalidate_right_before_close_still_drops_the_list_fleet_wide(
    redis_server: RedisServer, make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    await make_fleet_client(games_store=make_store()).list_games()
    assert version(redis_server) is not None
    admin = make_fleet_client(games_store=make_store())  # say, a one-shot admin script
    admin.invalidate_games()
    await admin.close()
    dropped = version(redis_server)
    assert dropped is not None
    assert dropped.startswith("x")  # the fleet forgets the list


# -- the near cache with a shared store at its edges ----------------------------------------
# Each case pins a line of ``_cache.py`` that mutation testing (docs/testing.md) showed the
# broader fleet tests above leave free.

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
