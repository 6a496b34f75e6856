"""``RedisGameListStore`` itself: the lock, fencing, ownership, the lazy import, outages."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import pytest
import redis
import redis.asyncio as aioredis

from gameapi_async import GameApiClient, RedisGameListStore
from gameapi_async.fleet import _redis
from gameapi_async.fleet._store import Lease, Peek, StoreUnavailable
from gameapi_async.testing import FakePlatform

from .conftest import list_requests
from .redis_server import RedisServer
from .support import DEADLINE, age_stored_lists, eventually, namespace_keys
from .test_redis_trouble import STORE_ACL, add_user

MakeClient = Callable[..., GameApiClient]
MakeStore = Callable[..., RedisGameListStore]
NS = "test-namespace"


async def test_a_holder_paused_past_its_lease_cannot_overwrite_the_newer_list(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    store = make_store(lease=2.0)  # long enough not to lapse between two commands under load
    paused = await store.acquire(NS, "paused-holder-token")
    assert paused is not None
    assert await store.acquire(NS, "someone-else") is None  # held
    server = redis_server.client()
    await eventually(lambda: not server.exists(f"gameapi:{{{NS}}}:lock"), "the lease to lapse")
    taker = await store.acquire(NS, "taker-token")
    assert taker is not None
    assert taker.fence > paused.fence
    assert await store.write(NS, taker, b"newer", 60) is not None
    assert await store.write(NS, paused, b"older", 60) is None  # fenced out, atomically
    assert not await store.renew(NS, paused)
    stored = await store.read(NS)
    assert stored is not None
    assert stored.value == b"newer"


async def test_a_write_after_a_drop_is_refused(make_store: MakeStore) -> None:
    store = make_store()
    lease = await store.acquire(NS, "holder-token")
    assert lease is not None
    tombstone = await store.drop(NS, 60)
    assert tombstone.startswith("x")
    assert await store.write(NS, lease, b"from before the drop", 60) is None
    assert (await store.peek(NS)).version == tombstone


async def test_release_never_frees_someone_elses_lock(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    store = make_store(lease=2.0)  # the second lock must outlive the release and peek below
    first = await store.acquire(NS, "first-token")
    assert first is not None
    server = redis_server.client()
    await eventually(lambda: not server.exists(f"gameapi:{{{NS}}}:lock"), "the lease to lapse")
    second = await store.acquire(NS, "second-token")
    assert second is not None
    await store.release(NS, first)
    assert (await store.peek(NS)).locked


async def test_a_live_holder_renews_its_lease_so_a_slow_platform_is_fetched_once(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    platform.faults.latency = 6.0  # several leases long
    store = make_store(lease=1.5)  # renewed every 0.5 s: a loaded machine still keeps it
    clients = [make_fleet_client(games_store=store, timeout=60) for _ in range(3)]
    results = await asyncio.gather(*(c.list_games() for c in clients))
    assert list_requests(platform) == 1
    assert len({r.request_id for r in results}) == 1
    assert sum(c.cache_stats().takeovers for c in clients) == 0
    assert sum(c.cache_stats().lock_waits for c in clients) == 2


async def test_a_store_built_from_a_url_owns_its_pool_and_a_given_client_is_left_open(
    redis_server: RedisServer,
) -> None:
    given = aioredis.Redis(unix_socket_path=str(redis_server.socket))
    async with RedisGameListStore(given) as store:
        assert (await store.peek(NS)).version is None
    assert await given.ping()  # not closed by the store
    await given.aclose()
    server = redis_server.client()
    baseline = len(server.client_list())
    owned = RedisGameListStore(redis_server.url)
    await owned.peek(NS)
    assert len(server.client_list()) == baseline + 1
    await owned.aclose()
    await eventually(lambda: len(server.client_list()) == baseline, "the pool to disconnect")
    assert "SECRET" not in repr(owned)


async def test_a_client_never_closes_the_store_it_was_given(
    make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    store = make_store()
    async with make_fleet_client(games_store=store) as one:
        await one.list_games()
    async with make_fleet_client(games_store=store) as two:  # the same store, still open
        await two.list_games()
        assert two.cache_stats().shared_hits == 1


def test_decode_responses_clients_are_refused() -> None:
    from gameapi_async import InvalidParameterError

    with pytest.raises(InvalidParameterError) as caught:
        RedisGameListStore(aioredis.Redis(decode_responses=True))
    assert caught.value.field == "redis"


def test_a_url_asking_for_decode_responses_is_refused() -> None:
    """``?decode_responses=true`` in the URL would make redis-py decode the compressed value
    as UTF-8: a UnicodeDecodeError in ``list_games()`` instead of a shared list."""
    from gameapi_async import InvalidParameterError

    urls = ("redis://127.0.0.1:6379/0?decode_responses=True", "unix:///tmp/r?decode_responses=yes")
    for url in urls:
        with pytest.raises(InvalidParameterError) as caught:
            RedisGameListStore(url)
        assert caught.value.field == "redis"
        assert "decode_responses" in str(caught.value)


def test_importing_the_package_does_not_import_redis_and_a_missing_extra_says_what_to_install(
) -> None:
    script = (
        "import sys\n"
        "import gameapi_async\n"
        "assert 'redis' not in sys.modules, 'redis imported eagerly'\n"
        "sys.modules['redis'] = None  # as if the extra were not installed\n"
        "try:\n"
        "    gameapi_async.RedisGameListStore\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert "pip install 'gameapi-async[redis]'" in done.stdout


# -- Redis failures are never caller failures -------------------------------------------------


async def test_redis_down_at_start_then_back_sharing_resumes_with_one_warning(
    platform: FakePlatform, make_fleet_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer()  # not started: nothing listens on its socket yet
    caplog.set_level(logging.INFO, "gameapi_async.store")
    try:
        store = RedisGameListStore(server.url, poll_interval=0.2)
        async with store:
            client = make_fleet_client(games_store=store)
            for _ in range(5):
                games = await client.list_games(refresh=True)
                assert len(games.games) == len(platform.games)
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert len(warnings) == 1
            assert client.cache_stats().store_errors >= 1
            server.start()
            redis = server.client()

            async def refresh_until_shared() -> None:
                while not any(k.endswith(":value") for k in namespace_keys(redis)):
                    await client.list_games(refresh=True)
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(refresh_until_shared(), 60)
            assert "sharing the game list again" in caplog.text
            assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    finally:
        server.close()


@pytest.mark.slow
async def test_redis_flapping_or_frozen_never_fails_a_call_and_warns_once_per_outage(
    platform: FakePlatform, make_fleet_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer().start()
    caplog.set_level(logging.INFO, "gameapi_async.store")
    try:
        async with RedisGameListStore(server.url, poll_interval=0.2, timeout=0.5) as store:
            client = make_fleet_client(games_store=store)
            await client.list_games()
            outages = 0
            for down in ("killed", "frozen", "killed"):
                if down == "killed":
                    server.stop()
                else:
                    server.pause()
                outages += 1
                for _ in range(3):  # each goes to the platform; none fails
                    games = await client.list_games(refresh=True)
                    assert len(games.games) == len(platform.games)
                await eventually(
                    lambda n=outages: _count(caplog, logging.WARNING) >= n, "the warning"
                )
                if down == "killed":
                    server.start()
                else:
                    server.resume()

                async def until_resumed(n: int = outages) -> None:
                    while _count(caplog, logging.INFO, "again") < n:
                        await client.list_games(refresh=True)
                        await asyncio.sleep(0.05)

                await asyncio.wait_for(until_resumed(), 60)
            assert _count(caplog, logging.WARNING) == outages  # one per outage, not per call
            assert client.cache_stats().errors == 0
    finally:
        server.close()


def _count(caplog: pytest.LogCaptureFixture, level: int, text: str = "") -> int:
    return len([
        r for r in caplog.records
        if r.levelno == level and r.name == "gameapi_async.store" and text in r.getMessage()
    ])


def test_invalidate_outside_a_loop_drops_this_processs_list_and_says_so(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def prepare() -> tuple[FakePlatform, RedisGameListStore, GameApiClient]:
        fake = await FakePlatform(agent_id=1, api_token="fleet-SECRET-token-42").start()
        store = RedisGameListStore(redis_server.url)
        client = GameApiClient(base_url=fake.base_url, agent_id=1,
                               api_token="fleet-SECRET-token-42", games_store=store)
        await client.list_games()
        return fake, store, client

    loop = asyncio.new_event_loop()
    try:
        fake, store, client = loop.run_until_complete(prepare())
        caplog.set_level(logging.WARNING, "gameapi_async.store")
        client.invalidate_games()  # no running loop here
        assert client.cache_stats().age is None
        assert "this process's game list only" in caplog.text
        loop.run_until_complete(client.close())
        loop.run_until_complete(store.aclose())
        loop.run_until_complete(fake.stop())
    finally:
        loop.close()


async def test_every_key_expires(
    redis_server: RedisServer, make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    client = make_fleet_client(games_store=make_store())
    await client.list_games()
    client.invalidate_games()
    await client.list_games()  # waits for the drop, then fetches and writes again
    server = redis_server.client()
    keys = namespace_keys(server)
    assert {k.rsplit(":", 1)[1] for k in keys} >= {"value", "version", "fence", "gen"}
    assert {k: server.pttl(k) > 0 for k in keys} == dict.fromkeys(keys, True)


async def test_a_fence_counter_that_expired_never_repeats_a_paused_holders_fence(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    store = make_store(lease=60)
    server = redis_server.client()
    for n in range(3):
        lease = await store.acquire(NS, f"holder-{n}")
        assert lease is not None
        await store.release(NS, lease)
    paused = await store.acquire(NS, "paused-holder")
    assert paused is not None
    server.delete(f"gameapi:{{{NS}}}:fence", f"gameapi:{{{NS}}}:lock")  # expired, lease lapsed
    for n in range(4):
        lease = await store.acquire(NS, f"later-{n}")
        assert lease is not None
        assert lease.fence > paused.fence
        await store.release(NS, lease)
    assert await store.write(NS, paused, b"older", 60) is None


async def test_a_generation_counter_that_expired_still_fences_out_a_fetch_in_flight(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    store = make_store(lease=60)
    server = redis_server.client()
    await store.drop(NS, 60)
    in_flight = await store.acquire(NS, "fetching")
    assert in_flight is not None
    server.delete(f"gameapi:{{{NS}}}:gen")  # expired meanwhile
    await store.drop(NS, 60)  # an invalidation during the fetch
    assert await store.write(NS, in_flight, b"older", 60) is None


async def test_the_last_client_closing_ends_the_stores_subscription(
    redis_server: RedisServer, make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    store = make_store()  # lives on, as a store shared by clients that come and go does
    client = make_fleet_client(games_store=store)
    await client.list_games()
    server = redis_server.client()

    def subscribers() -> int:
        channels = server.pubsub_channels("gameapi:*")
        return sum(count for _, count in server.pubsub_numsub(*channels)) if channels else 0

    await eventually(lambda: subscribers() == 1, "the store to subscribe")
    await client.close()
    # Left subscribed, the store's connection would pile up every announcement unread.
    await eventually(lambda: subscribers() == 0, "the subscription to end")


def test_a_store_used_on_a_second_event_loop_listens_there_too(redis_server: RedisServer) -> None:
    """A script's ``asyncio.run()`` ends with the listener cancelled; the store, made outside
    any loop, must listen again on the next loop rather than keep the dead task."""
    store = RedisGameListStore(redis_server.url)
    channel = f"gameapi:{{{NS}}}:changed"

    async def nudged_by_an_announcement() -> None:
        nudged = asyncio.Event()
        stop = store.watch(NS, nudged.set)
        give_up = time.monotonic() + DEADLINE
        async with aioredis.Redis.from_url(redis_server.url) as announcer:
            while not nudged.is_set():  # announce until heard: the subscription is async
                assert time.monotonic() < give_up, "the store never heard the announcement"
                await announcer.publish(channel, b"a-version")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await nudged.wait()
        stop()

    asyncio.run(nudged_by_an_announcement())
    asyncio.run(nudged_by_an_announcement())
    asyncio.run(store.aclose())


async def test_closing_waits_for_a_command_still_running_in_another_task(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    """A command still running in another task (a refresh, say) when the store closes is
    answered, and its connection closed: given back to a pool already closed, it stayed open."""
    server = redis_server.client()
    known = {c["id"] for c in server.client_list()}  # this connection and any of other tests
    store = make_store(timeout=DEADLINE)
    await store.peek(NS)

    def write_held() -> bool:  # Redis 7 counts a paused command as blocked; 6.2 leaves it unread
        clients = server.client_list()
        return int(server.info("clients")["blocked_clients"]) > 0 or any(
            int(c.get("qbuf", 0)) > 0 for c in clients)

    server.client_pause(int(DEADLINE * 1000), all=False)  # writes wait, reads are answered
    try:
        writing = asyncio.create_task(store.back_off(NS, 60))
        await eventually(write_held, "the write to be held by the pause")
        closing = asyncio.create_task(store.aclose())
        while True:  # until the store refuses new commands: aclose() has begun
            try:
                await store.peek(NS)
            except StoreUnavailable:
                break
        assert not closing.done()  # still waiting for the write
    finally:
        server.client_unpause()
    await asyncio.wait_for(closing, DEADLINE)
    await writing  # answered, not cut off by the closing pool
    assert server.pttl(f"gameapi:{{{NS}}}:backoff") > 0
    await eventually(lambda: not [c for c in server.client_list() if c["id"] not in known],
                     "the store's connections to be closed")


class _CancellationBecomesConnectionError(aioredis.Redis):
    """A client whose MGET hangs and, when cancelled, raises a connection error instead,
    as redis-py can when a cancellation lands while it reads an answer."""

    hanging: asyncio.Event  # set by the test

    async def mget(self, *args: object, **kwargs: object) -> list[bytes | None]:
        self.hanging.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise aioredis.ConnectionError("Connection closed by server.") from None
        raise AssertionError("unreachable")


async def test_a_cancelled_command_is_no_outage(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A cancellation (a client closing) is not Redis failing: no WARNING, no resting that
    would make every other client of the store fetch alone for a second."""
    async with _CancellationBecomesConnectionError.from_url(redis_server.url) as redis:
        store = RedisGameListStore(redis, timeout=DEADLINE)
        caplog.set_level(logging.INFO, "gameapi_async.store")
        redis.hanging = asyncio.Event()
        peeking = asyncio.ensure_future(store.peek(NS))
        await asyncio.wait_for(redis.hanging.wait(), DEADLINE)
        peeking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await peeking
        assert "unavailable" not in caplog.text
        assert await store.read(NS) is None  # answered: the store is not resting
        await store.aclose()


async def test_each_tombstone_names_its_own_generation(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    """Generations are large numbers (they start from the server's clock): a tombstone must
    carry them whole, not rounded, so two drops never share a generation in their tag."""
    store = make_store()
    first = await store.drop(NS, 60)
    second = await store.drop(NS, 60)
    generation = (redis_server.client().get(f"gameapi:{{{NS}}}:gen") or b"").decode()
    assert second.startswith(f"x{generation}-")
    assert first.split("-")[0] != second.split("-")[0]


# -- written from mutation testing (mutmut over fleet/_redis.py, docs/testing.md) -------------
# Each pins a behaviour a mutant changed and the tests above did not notice; they read the
# keys and their TTLs straight from the test's redis-server.

DAY_MS = 24 * 3600 * 1000
KEYS = {name: f"gameapi:{{{NS}}}:{name}" for name in ("value", "version", "lock", "fence",
                                                     "gen", "backoff")}


def _lives(server: redis.Redis, key: str, at_most: float, slack: float = 30.0) -> bool:
    """The key expires within ``at_most`` seconds, and no more than ``slack`` sooner: a
    loaded machine is slow between the command and this look, never that slow."""
    left = server.pttl(key)
    return (at_most - slack) * 1000 < left <= at_most * 1000


async def test_the_lock_lives_one_lease_and_a_renewal_gives_it_a_whole_lease_again(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    store = make_store(lease=50.0)
    server = redis_server.client()
    lease = await store.acquire(NS, "holder-token")
    assert lease is not None
    assert _lives(server, KEYS["lock"], 50)
    server.pexpire(KEYS["lock"], 5000)  # most of the lease gone
    assert await store.renew(NS, lease) is True
    assert _lives(server, KEYS["lock"], 50)
    assert await store.renew(NS, Lease("not-the-holder", lease.fence, lease.generation,
                                       lease.version)) is False
    assert _lives(server, KEYS["lock"], 50)  # another token renews nothing


async def test_the_fence_and_generation_counters_are_kept_seven_days_after_each_use(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    store = make_store(lease=60)
    server = redis_server.client()
    await store.drop(NS, 60)
    assert _lives(server, KEYS["gen"], 7 * DAY_MS / 1000)
    server.pexpire(KEYS["gen"], 60_000)
    lease = await store.acquire(NS, "holder-token")  # a lock taken keeps the generation too
    assert lease is not None
    assert _lives(server, KEYS["fence"], 7 * DAY_MS / 1000)
    assert _lives(server, KEYS["gen"], 7 * DAY_MS / 1000)
    server.pexpire(KEYS["fence"], 60_000)
    await store.release(NS, lease)
    assert await store.acquire(NS, "next-holder") is not None
    assert _lives(server, KEYS["fence"], 7 * DAY_MS / 1000)


async def test_a_written_list_lives_as_long_as_asked_ends_the_back_off_and_frees_the_lock(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    store = make_store(lease=60)
    server = redis_server.client()
    await store.back_off(NS, 600)
    lease = await store.acquire(NS, "holder-token")
    assert lease is not None
    version = await store.write(NS, lease, b"fetched", 45)
    assert version is not None
    assert version.startswith(f"{lease.fence}-holder-t")
    assert _lives(server, KEYS["value"], 45)
    assert _lives(server, KEYS["version"], 45)
    assert not server.exists(KEYS["lock"])
    assert not server.exists(KEYS["backoff"])
    assert await store.backing_off(NS) == 0.0
    stored = await store.read(NS)
    assert stored is not None
    assert stored.version == version
    assert stored.value == b"fetched"
    assert 0.0 <= stored.age < 30


async def test_a_tombstone_lives_as_long_as_asked_and_takes_the_list_away(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    store = make_store(lease=60)
    server = redis_server.client()
    lease = await store.acquire(NS, "holder-token")
    assert lease is not None
    assert await store.write(NS, lease, b"fetched", 600) is not None
    tombstone = await store.drop(NS, 40)
    assert tombstone.startswith("x")
    assert server.get(KEYS["version"]) == tombstone.encode()
    assert _lives(server, KEYS["version"], 40)
    assert not server.exists(KEYS["value"])
    assert await store.read(NS) is None
    assert (await store.peek(NS)).version == tombstone


async def test_the_fleets_back_off_lasts_as_long_as_asked(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    store = make_store()
    server = redis_server.client()
    assert await store.backing_off(NS) == 0.0  # none yet
    await store.back_off(NS, 35)
    assert _lives(server, KEYS["backoff"], 35)
    left = await store.backing_off(NS)
    assert 5 < left <= 35
    server.pexpire(KEYS["backoff"], 10**9)  # long enough to tell seconds from a near miss
    assert 10**6 - 30 < await store.backing_off(NS) <= 10**6  # seconds, from milliseconds
    await store.back_off(NS, 0.0001)  # less than a millisecond: still a (short) back-off
    assert server.pttl(KEYS["backoff"]) <= 1


async def test_a_drop_and_a_write_are_announced_to_the_namespaces_watchers(
    make_store: MakeStore,
) -> None:
    """Another process's store hears both on the namespace's channel, at once rather than a
    poll interval later. The subscription starts in the background: announce until heard."""
    watching, announcing = make_store(), make_store(lease=60)
    nudged = asyncio.Event()
    stop = watching.watch(NS, nudged.set)

    async def until_heard(announce: Callable[[], Awaitable[object]]) -> None:
        nudged.clear()
        give_up = time.monotonic() + DEADLINE
        while not nudged.is_set():
            assert time.monotonic() < give_up, "the watcher never heard the announcement"
            await announce()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.05):
                    await nudged.wait()

    await until_heard(lambda: announcing.drop(NS, 60))

    async def write() -> None:
        lease = await announcing.acquire(NS, "writer-token")
        assert lease is not None
        assert await announcing.write(NS, lease, b"fetched", 60) is not None

    await until_heard(write)
    stop()


async def hold_a_lock_through_an_outage(redis_server: RedisServer,
                                        store: RedisGameListStore) -> None:
    """Take the fetch lock, then freeze Redis so that its release is refused unsent: the lock
    stays held, for the store to give back once Redis answers."""
    holder = await store.acquire(NS, "holder-token")
    assert holder is not None
    redis_server.pause()
    try:
        with pytest.raises(StoreUnavailable):
            await store.peek(NS)  # Redis is down: the breaker rests
        with pytest.raises(StoreUnavailable):  # refused unsent: the lock stays ours
            await store.release(NS, holder)
    finally:
        redis_server.resume()


async def test_a_release_that_fails_gives_the_lock_back_when_redis_answers(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    """The fleet's next fetch waits for Redis, not for the rest of a lease."""
    lease = 60.0
    store = make_store(lease=lease, timeout=0.3)
    await hold_a_lock_through_an_outage(redis_server, store)
    server = redis_server.client()
    await eventually(lambda: not server.exists(KEYS["lock"]), "the lock to be given back",
                     lease / 2)
    assert await make_store(lease=lease).acquire(NS, "next-holder") is not None


async def test_a_list_is_aged_in_whole_seconds_by_redis_clock(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    """A list written a million seconds ago (by the server's clock) reads as at least that
    old, and not much older: the version's milliseconds become seconds exactly."""
    store = make_store(lease=60)
    lease = await store.acquire(NS, "holder-token")
    assert lease is not None
    assert await store.write(NS, lease, b"fetched", 600) is not None
    age_stored_lists(redis_server.client(), 10**6)
    stored = await store.read(NS)
    assert stored is not None
    assert stored.value == b"fetched"
    assert 10**6 <= stored.age < 10**6 + 30


@pytest.mark.parametrize("foreign", ["written-by-another-tool", ""], ids=["foreign", "empty"])
async def test_a_version_this_sdk_never_writes_is_ignored_and_named_in_a_warning(
    foreign: str, redis_server: RedisServer, make_store: MakeStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "gameapi_async.store")
    server = redis_server.client()
    server.set(KEYS["value"], b"whatever it holds", px=60_000)
    server.set(KEYS["version"], foreign, px=60_000)
    assert await make_store().read(NS) is None
    warnings = [r.getMessage() for r in caplog.records
                if r.name == "gameapi_async.store" and r.levelno == logging.WARNING]
    assert warnings == [
        f"ignoring a game list in the shared store whose version {foreign!r} is not one "
        "this SDK writes; it will be overwritten"
    ]


async def test_a_list_read_back_at_once_is_never_taken_as_dated_in_the_future(
    make_store: MakeStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis' clock may still read the millisecond of the write: an age of zero is a list
    just written, not one from the future. Many quick write-and-read rounds land some reads
    in the write's own millisecond."""
    caplog.set_level(logging.WARNING, "gameapi_async.store")
    store = make_store(lease=60)
    for round_ in range(200):
        lease = await store.acquire(NS, f"holder-{round_}")
        assert lease is not None
        version = await store.write(NS, lease, b"fetched", 60)
        stored = await store.read(NS)
        assert stored is not None, f"round {round_}: the list just written was refused"
        assert stored.version == version
        assert stored.age >= 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_list_dated_in_the_future_is_refused_with_how_far_ahead_it_is(
    redis_server: RedisServer, make_store: MakeStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "gameapi_async.store")
    store = make_store(lease=60)
    lease = await store.acquire(NS, "holder-token")
    assert lease is not None
    assert await store.write(NS, lease, b"fetched", 600) is not None
    age_stored_lists(redis_server.client(), -3600)  # Redis' clock stepped back an hour
    assert await store.read(NS) is None
    warnings = [r.getMessage() for r in caplog.records
                if r.name == "gameapi_async.store" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    # An hour ahead, less the moments between the write and the read.
    assert re.fullmatch(
        r"ignoring a game list in the shared store dated (3600\.0|359\d\.\d) s in the future "
        r"by Redis' clock; it will be overwritten", warnings[0]
    ), warnings[0]


async def _announce_until_heard(
    nudged: asyncio.Event, announce: Callable[[], Awaitable[object]]
) -> None:
    """Announce (again and again: a subscription starts in the background, and a store just
    back from an outage rests a moment) until the watcher is nudged."""
    nudged.clear()
    give_up = time.monotonic() + DEADLINE
    while not nudged.is_set():
        assert time.monotonic() < give_up, "the watcher never heard the announcement"
        with contextlib.suppress(StoreUnavailable):
            await announce()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.05):
                await nudged.wait()


async def test_the_listener_subscribes_again_after_redis_comes_back(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    """Pub/sub resumes by itself after an outage, without waiting for a new watcher."""
    watching, announcing = make_store(), make_store()
    nudged = asyncio.Event()
    stop = watching.watch(NS, nudged.set)
    await _announce_until_heard(nudged, lambda: announcing.drop(NS, 60))
    redis_server.stop()  # the subscriber's connection breaks
    redis_server.start()
    await _announce_until_heard(nudged, lambda: announcing.drop(NS, 60))
    stop()


async def test_the_listener_follows_the_namespaces_watched(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    """A channel nobody watches any more is left (while another is still watched), and
    joined again when watched again, also when one is left and another joined at once."""
    store = make_store()
    server = redis_server.client()

    def subscribed(namespace: str) -> bool:
        [(_, count)] = server.pubsub_numsub(f"gameapi:{{{namespace}}}:changed")
        return count == 1

    def nothing() -> None:
        pass

    stop_a, _ = store.watch("ns-a", nothing), store.watch("ns-b", nothing)
    await eventually(lambda: subscribed("ns-a") and subscribed("ns-b"), "both subscriptions")
    stop_a()
    await eventually(lambda: not subscribed("ns-a"), "ns-a to be left")
    assert subscribed("ns-b")
    stop_a = store.watch("ns-a", nothing)
    await eventually(lambda: subscribed("ns-a"), "ns-a to be joined again")
    stop_a()  # and at the same moment, a namespace not watched before
    store.watch("ns-c", nothing)
    await eventually(lambda: subscribed("ns-c") and not subscribed("ns-a"), "ns-a for ns-c")
    assert subscribed("ns-b")


async def test_the_lock_comes_with_the_version_stored_when_it_was_taken(
    make_store: MakeStore,
) -> None:
    """The holder tells a list written since its last look (taken, not fetched again)."""
    store = make_store(lease=60)
    first = await store.acquire(NS, "first-holder")
    assert first is not None
    assert first.version is None  # nothing stored yet
    written = await store.write(NS, first, b"fetched", 60)
    assert written is not None
    second = await store.acquire(NS, "second-holder")
    assert second is not None
    assert second.version == written
    await store.release(NS, second)
    tombstone = await store.drop(NS, 60)
    third = await store.acquire(NS, "third-holder")
    assert third is not None
    assert third.version == tombstone


async def test_an_announcement_on_a_channel_just_left_does_not_stop_the_listener(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    """A message still in flight for a namespace nobody watches any more is dropped, and
    the namespaces still watched keep hearing theirs."""
    store, announcing = make_store(), make_store()
    server = redis_server.client()
    nudged = asyncio.Event()
    stop_a = store.watch("ns-a", lambda: None)
    store.watch(NS, nudged.set)
    await eventually(lambda: dict(server.pubsub_numsub("gameapi:{ns-a}:changed"))
                     .get(b"gameapi:{ns-a}:changed") == 1, "the subscription to ns-a")
    stop_a()
    server.publish("gameapi:{ns-a}:changed", b"a-version")  # before the listener leaves it
    await _announce_until_heard(nudged, lambda: announcing.drop(NS, 60))


# Third pass (issue 19): what closing does, the connection budget, a refused announcement.

async def test_a_closed_store_refuses_every_command_and_listens_no_more(
    make_store: MakeStore,
) -> None:
    """Closed, the store answers StoreUnavailable (the client then fetches alone) and never
    reconnects; a release it refuses is not a lock to give back later."""
    store = make_store(lease=60)
    lease = await store.acquire(NS, "holder-token")
    assert lease is not None
    await store.aclose()
    with pytest.raises(StoreUnavailable):
        await store.peek(NS)
    with pytest.raises(StoreUnavailable):
        await store.release(NS, lease)
    stop = store.watch(NS, lambda: None)
    stop()
    await store.aclose()  # again: nothing more to do


async def test_closing_gives_back_a_lock_a_lost_answer_may_have_left_held(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    """A release that failed leaves the lock to give back; closing gives it back (one try,
    and no error when Redis is still down then)."""
    closed_while_down, closed_after = make_store(lease=60), make_store(lease=60)
    first = await closed_while_down.acquire("ns-down", "first-holder")
    second = await closed_after.acquire(NS, "second-holder")
    assert first is not None
    assert second is not None
    redis_server.stop()
    for store, namespace, lease in ((closed_while_down, "ns-down", first),
                                    (closed_after, NS, second)):
        with pytest.raises(StoreUnavailable):
            await store.release(namespace, lease)
    await closed_while_down.aclose()  # its one try fails: closed all the same
    redis_server.start()  # empty: the lock as a command Redis ran late would have left it
    server = redis_server.client()
    server.set(KEYS["lock"], b"second-holder", px=60_000)
    await closed_after.aclose()  # before its give-back task had a turn on the new server
    assert not server.exists(KEYS["lock"])


async def test_a_given_clients_few_connections_serve_any_number_of_commands_at_once(
    redis_server: RedisServer,
) -> None:
    """With ``max_connections`` as large as the given client's pool, the store's budget
    makes the surplus wait: never more commands at once than connections."""
    pool = aioredis.ConnectionPool.from_url(redis_server.url, max_connections=2)
    async with aioredis.Redis(connection_pool=pool) as given:
        store = RedisGameListStore(given, max_connections=2)
        peeks = await asyncio.gather(*(store.peek(NS) for _ in range(40)))
        assert {peek.version for peek in peeks} == {None}
        await store.aclose()
    await pool.disconnect()


@pytest.mark.filterwarnings("ignore::ResourceWarning",
                            "ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_store_used_on_a_second_event_loop_runs_its_commands_there(
    redis_server: RedisServer,
) -> None:
    """Its budget (a semaphore) and its pool's connections belong to the loop they were made
    on: a store that outlives an ``asyncio.run()`` makes new ones on the next loop. Before,
    the first command there raised ``RuntimeError('Event loop is closed')`` to the caller.
    (Each loop ends with the store's connections open, as a script's ``asyncio.run()``
    does: collected here, they warn inside this test and not in the next one.)"""
    store = RedisGameListStore(redis_server.url, max_connections=1)

    async def many_at_once() -> list[object]:
        return await asyncio.gather(*(store.peek(NS) for _ in range(10)),
                                    return_exceptions=True)

    for run in range(2):
        answers = asyncio.run(many_at_once())
        assert [a for a in answers if not isinstance(a, Peek)] == [], f"run {run}: {answers}"
    asyncio.run(store.aclose())
    gc.collect()


async def test_a_refused_announcement_stores_the_list_and_names_redis_refusal_once(
    redis_server: RedisServer, make_store: MakeStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A user without the channel: the write is stored all the same, its version answered,
    and the one WARNING quotes Redis' own refusal; later writes publish no more."""
    caplog.set_level(logging.WARNING, "gameapi_async.store")
    no_channel = tuple(rule for rule in STORE_ACL if not rule.startswith("&"))
    store = make_store(url=add_user(redis_server, "nochannel", *no_channel), lease=60)
    for round_ in range(2):
        lease = await store.acquire(NS, f"holder-{round_}")
        assert lease is not None
        version = await store.write(NS, lease, b"fetched", 60)
        assert version is not None
        assert version.startswith(f"{lease.fence}-holder-")
        stored = await store.read(NS)
        assert stored is not None
        assert stored.version == version
    warnings = [r.getMessage() for r in caplog.records
                if r.name == "gameapi_async.store" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    refusal = re.match(r"Redis refused the store's pub/sub channel \((.+)\); processes now",
                       warnings[0])
    assert refusal is not None, warnings[0]
    assert "channel" in refusal.group(1), refusal.group(1)  # Redis' words, however it puts them
    refusals = [e for e in redis_server.acl_log() if e["reason"] == "channel"]
    assert sum(int(e["count"]) for e in refusals) == 1  # the second write did not publish


async def test_while_redis_is_frozen_the_store_knocks_about_once_a_second(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    """After a command fails, the breaker refuses the next ones at once for a second
    instead of sending each to wait out its timeout. Counted by the connections the frozen
    server finds waiting when it wakes (each try after a timeout is a new one)."""
    store = make_store(timeout=0.2)
    await store.peek(NS)  # connected before the freeze
    server = redis_server.client()

    def connections() -> int:
        return int(server.info("stats")["total_connections_received"])

    before = connections()
    redis_server.pause()
    try:
        started = time.monotonic()
        for _ in range(30):
            with pytest.raises(StoreUnavailable):
                await store.peek(NS)
        elapsed = time.monotonic() - started
    finally:
        redis_server.resume()
    # The first try used the connection it had; then at most one more per second of rest
    # (30 tries that each waited out the timeout would have knocked 29 times).
    assert connections() - before <= 1 + elapsed


async def test_a_given_client_without_timeouts_still_gets_the_stores_timeout(
    redis_server: RedisServer,
) -> None:
    """The client given has no socket timeout: a frozen Redis is found out by the store's
    own ``timeout``, never a hung call."""
    async with aioredis.Redis(unix_socket_path=str(redis_server.socket)) as given:
        store = RedisGameListStore(given, timeout=0.3)
        await store.peek(NS)
        redis_server.pause()
        try:
            with pytest.raises(StoreUnavailable):
                await asyncio.wait_for(store.peek(NS), DEADLINE / 2)
        finally:
            redis_server.resume()
        await store.aclose()


@pytest.mark.parametrize(("settings", "field"), [
    ({"lease": None}, "lease"), ({"lease": 0}, "lease"),
    ({"poll_interval": None}, "poll_interval"), ({"poll_interval": -1}, "poll_interval"),
    ({"lock_wait": None}, "lock_wait"), ({"lock_wait": 0}, "lock_wait"),
    ({"timeout": None}, "timeout"), ({"timeout": 0}, "timeout"),
    ({"cluster": "yes"}, "cluster"), ({"redis": 6379}, "redis"),
    ({"redis": "no-scheme-at-all"}, "redis"),
], ids=lambda value: str(value))
def test_each_setting_is_checked_naming_its_field(settings: dict[str, object], field: str) -> None:
    from gameapi_async import InvalidParameterError

    redis_ = settings.pop("redis", "redis://127.0.0.1:6379/0")
    with pytest.raises(InvalidParameterError) as caught:
        RedisGameListStore(redis_, **settings)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_cluster_applies_to_a_url_only_and_the_defaults_are_the_documented_ones() -> None:
    from gameapi_async import InvalidParameterError

    with pytest.raises(InvalidParameterError) as caught:
        RedisGameListStore(aioredis.Redis(), cluster=True)
    assert caught.value.field == "cluster"
    settings = RedisGameListStore("redis://127.0.0.1:6379/0").settings
    assert (settings.lease, settings.poll_interval, settings.lock_wait) == (10.0, 10.0, 40.0)
    assert settings.wait_step == 0.1  # waiters look ten times a second...
    assert RedisGameListStore("redis://127.0.0.1:6379/0", lease=0.2).settings.wait_step == 0.05
    # ...and at least four times a lease


async def test_closing_a_store_leaves_the_given_clients_connection_open(
    redis_server: RedisServer,
) -> None:
    async with aioredis.Redis(unix_socket_path=str(redis_server.socket)) as given:
        connection = await given.client_id()
        store = RedisGameListStore(given)
        await store.peek(NS)
        await store.aclose()
        assert await given.client_id() == connection  # the same connection, never closed


async def test_a_version_that_is_not_utf8_is_ignored_and_named_in_a_warning(
    redis_server: RedisServer, make_store: MakeStore, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "gameapi_async.store")
    server = redis_server.client()
    server.set(KEYS["value"], b"whatever it holds", px=60_000)
    server.set(KEYS["version"], b"\xff\xfe-x", px=60_000)
    assert await make_store().read(NS) is None
    assert len([r for r in caplog.records if "is not one this SDK writes" in r.getMessage()]) == 1


# Second pass (issue 19), the survivors of the give-back that had no test.

async def test_a_lost_lock_is_given_back_as_soon_as_redis_answers_whatever_the_rest(
    redis_server: RedisServer, make_store: MakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The give-back goes through the breaker's rest (made an hour long here, so that
    waiting it out would show): the lock is free, and the store answers again, at once."""
    monkeypatch.setattr(_redis, "RESTING", 3600.0)
    lease = 60.0
    store = make_store(lease=lease, timeout=0.3)
    await hold_a_lock_through_an_outage(redis_server, store)
    server = redis_server.client()
    await eventually(lambda: not server.exists(KEYS["lock"]), "the lock to be given back",
                     lease / 2)
    assert await store.peek(NS) == Peek(None, False)  # Redis answered: the rest is over


class LateDelivery:
    """A unix-socket hop between a client and Redis that delivers one command late. Armed,
    it holds back the next command sent to it; it delivers that command (and waits for
    Redis to run it) just before it passes on the next script answer Redis sends on
    another connection: as a network that delays one connection would, the held command
    runs after a script sent later, yet before the client sees that script's answer."""

    def __init__(self, server: RedisServer) -> None:
        self.target = str(server.socket)
        self.path = str(server.directory / "late.sock")
        self.armed = False
        self._held: tuple[bytearray, asyncio.StreamWriter] | None = None
        self._ran = asyncio.Event()
        self.late_answer: bytes | None = None  # Redis' answer to the held command
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []  # every connection's, both ways
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> LateDelivery:
        self._server = await asyncio.start_unix_server(self._serve, self.path)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            writer.close()
        await asyncio.gather(*(w.wait_closed() for w in self._writers), return_exceptions=True)
        await self._server.wait_closed()

    def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        task = asyncio.ensure_future(self._hop(reader, writer))
        self._tasks.add(task)

    async def _hop(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        redis_r, redis_w = await asyncio.open_unix_connection(self.target)
        self._writers.append(redis_w)
        sent_script = False
        held: bytearray | None = None

        async def to_redis() -> None:
            nonlocal sent_script, held
            while data := await client_r.read(65536):
                if self.armed:
                    self.armed, held = False, bytearray()
                    self._held = (held, redis_w)
                if held is not None:
                    held += data
                    continue
                sent_script = b"EVALSHA" in data.upper()
                redis_w.write(data)
                await redis_w.drain()
            if held is None:
                redis_w.close()

        async def to_client() -> None:
            while data := await redis_r.read(65536):
                if held is not None:  # the late command's answer: its client is gone
                    self.late_answer = data
                    self._ran.set()
                    break
                if sent_script and self._held is not None:
                    await self._deliver()
                client_w.write(data)
                await client_w.drain()
            client_w.close()
            redis_w.close()

        await asyncio.gather(to_redis(), to_client(), return_exceptions=True)

    async def _deliver(self) -> None:
        assert self._held is not None
        (command, redis_w), self._held = self._held, None
        redis_w.write(bytes(command))
        await redis_w.drain()
        await self._ran.wait()


async def test_a_lock_taken_after_the_first_release_answered_is_given_back_all_the_same(
    redis_server: RedisServer,
) -> None:
    """A lock request whose answer was lost runs late, after the give-back's first release
    found no lock: the next release, a step later, gives that lock back (no lease waited)."""
    lease = 60.0
    async with (
        LateDelivery(redis_server) as late,
        aioredis.Redis(unix_socket_path=late.path) as given,
    ):
        store = RedisGameListStore(given, lease=lease, timeout=0.3)
        warm = await store.acquire(NS, "warm-up")  # the scripts are loaded: only the late
        assert warm is not None                    # delivery stands in the way
        await store.release(NS, warm)
        late.armed = True
        with pytest.raises(StoreUnavailable):
            await store.acquire(NS, "late-holder")
        server = redis_server.client()
        await eventually(lambda: late.late_answer is not None, "the late lock request")
        assert (late.late_answer or b"").startswith(b"*")  # it took the lock
        await eventually(lambda: not server.exists(KEYS["lock"]), "the lock to be given back",
                         lease / 2)
        await store.aclose()


async def test_while_the_breaker_rests_no_command_is_sent(
    redis_server: RedisServer, make_store: MakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a failure the store rests (made an hour long here): a command in the rest is
    refused at once, unsent, though Redis answers again; only a probe (the give-back of a
    lock) may end the rest early."""
    monkeypatch.setattr(_redis, "RESTING", 3600.0)
    store = make_store(timeout=0.3)
    server = redis_server.client()
    redis_server.pause()
    try:
        with pytest.raises(StoreUnavailable):
            await store.peek(NS)  # Redis is down: the breaker rests
    finally:
        redis_server.resume()
    assert server.ping()  # Redis answers again
    calls = server.info("commandstats").get("cmdstat_mget", {}).get("calls", 0)
    with pytest.raises(StoreUnavailable, match="resting"):
        await store.peek(NS)
    assert server.info("commandstats").get("cmdstat_mget", {}).get("calls", 0) == calls
    await store.aclose()


async def test_a_store_from_a_url_holds_as_many_connections_as_its_max_connections(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    """The pool it makes from a URL is as large as ``max_connections``, past redis-py's own
    default of 50: 60 commands Redis holds at once are 60 connections, none of them left
    waiting for a free one inside its command timeout."""
    server = redis_server.client()
    known = {c["id"] for c in server.client_list()}  # this connection and any of other tests
    store = make_store(timeout=DEADLINE, max_connections=60)

    def store_connections() -> int:
        return len([c for c in server.client_list() if c["id"] not in known])

    server.client_pause(int(DEADLINE * 1000), all=False)  # writes wait, reads are answered
    try:
        writes = [asyncio.create_task(store.back_off(f"ns-{n}", 60)) for n in range(60)]
        await eventually(lambda: store_connections() == 60, "60 connections, one per write")
    finally:
        server.client_unpause()
    await asyncio.gather(*writes)
    assert all(server.pttl(f"gameapi:{{ns-{n}}}:backoff") > 0 for n in range(60))
