"""``RedisGameListStore`` under real Redis trouble: many agents on one store, stalls that lose
answers, a fence counter that vanishes, least-privilege ACL users, permanent misconfiguration
and clocks that disagree. Every case runs against a real redis-server."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator

import aiohttp
import pytest

from gameapi_async import GameApiClient, RedisGameListStore, RetryPolicy
from gameapi_async.fleet._shared_list import namespace_for
from gameapi_async.fleet._store import StoreUnavailable
from gameapi_async.testing import FakePlatform

from .conftest import FLEET_AGENT, FLEET_TOKEN, list_requests
from .redis_server import RedisServer
from .support import DEADLINE, eventually

MakeClient = Callable[..., GameApiClient]
MakeStore = Callable[..., RedisGameListStore]
NS = "trouble-namespace"
LOCK = f"gameapi:{{{NS}}}:lock"

# The least a store's Redis user needs (docs/caching.md lists the same): its keys, its
# channel, the commands it sends and those its scripts run.
STORE_ACL = (
    "resetkeys", "~gameapi:*", "resetchannels", "&gameapi:*", "-@all",
    "+evalsha", "+script|load", "+mget", "+set", "+pttl", "+subscribe", "+unsubscribe",
    "+get", "+del", "+exists", "+incr", "+pexpire", "+time", "+publish",
)


def store_messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage() for r in caplog.records
        if r.name == "gameapi_async.store" and r.levelno == level
    ]


def add_user(server: RedisServer, name: str, *rules: str) -> str:
    """An ACL user on ``server`` (password ``pw-<name>``); the store's URL for it."""
    with server.client() as admin:
        admin.execute_command("ACL", "SETUSER", name, "reset", "on", f">pw-{name}", *rules)
    return f"unix://{name}:pw-{name}@{server.socket}"


# -- item 2: the store owns its connection budget ---------------------------------------------

AGENTS = 1000  # the contract: enough for 1,000 agents on one store


@pytest.fixture
async def many_agents() -> AsyncIterator[FakePlatform]:
    agents = {n: f"agent-{n}-SECRET" for n in range(1, AGENTS + 1)}
    async with FakePlatform(agent_id=None, agents=agents) as fake:
        yield fake


async def test_a_thousand_agents_on_one_store_share_every_list_from_a_cold_start(
    many_agents: FakePlatform, make_store: MakeStore, caplog: pytest.LogCaptureFixture
) -> None:
    """redis-py's default pool does not block: a cold start of many agents ran out of
    connections, took that for an outage and shared nothing. The store's own budget makes
    the surplus wait its turn (the command timeout only starts with a connection)."""
    agents = AGENTS
    caplog.set_level(logging.INFO, "gameapi_async.store")
    async with aiohttp.ClientSession() as session:

        async def every_agent(store: RedisGameListStore) -> list[GameApiClient]:
            clients = [
                GameApiClient(base_url=many_agents.base_url, agent_id=n,
                              api_token=f"agent-{n}-SECRET", games_store=store,
                              session=session, retry=RetryPolicy.disabled(), timeout=60)
                for n in range(1, agents + 1)
            ]
            results = await asyncio.gather(*(c.list_games() for c in clients))
            assert all(len(r.games) == len(many_agents.games) for r in results)
            return clients

        # The default budget; a long command timeout, as a thousand clients starting at
        # once on a loaded machine delay the loop itself (pick-ups are not measured here).
        slow_machine = {"timeout": 10.0, "poll_interval": 600.0}
        first = await every_agent(make_store(**slow_machine))
        assert list_requests(many_agents) == agents
        assert sum(c.cache_stats().store_errors for c in first) == 0
        second = await every_agent(make_store(**slow_machine))  # another process
        assert list_requests(many_agents) == agents  # none fetched upstream again
        assert sum(c.cache_stats().shared_hits for c in second) == agents
        for client in (*first, *second):
            await client.close()
    assert store_messages(caplog, logging.WARNING) == []


async def test_pub_sub_has_a_connection_of_its_own_beside_the_budget(
    redis_server: RedisServer, make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    store = make_store(max_connections=1)
    client = make_fleet_client(games_store=store)
    await client.list_games()
    server = redis_server.client()

    # one for commands (the budget), one subscribed: the subscriber never takes the first
    await eventually(
        lambda: any(int(c["sub"]) > 0 for c in server.client_list()), "the subscription"
    )
    assert len(server.client_list()) == 2 + 1  # and this look's own
    await client.list_games(refresh=True)  # commands still run beside the subscription


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "10"])
def test_max_connections_is_checked_naming_the_field(bad: object) -> None:
    from gameapi_async import InvalidParameterError

    with pytest.raises(InvalidParameterError) as caught:
        RedisGameListStore("redis://127.0.0.1:6379/0", max_connections=bad)  # type: ignore[arg-type]
    assert caught.value.field == "max_connections"


# -- item 3: no orphan locks ------------------------------------------------------------------

async def test_a_lock_taken_late_after_a_stall_is_given_back_when_redis_answers(
    platform: FakePlatform, redis_server: RedisServer, make_store: MakeStore,
    make_fleet_client: MakeClient,
) -> None:
    """A lock request that timed out in a stall still runs when Redis wakes; the store that
    sent it gives that lock back at once, so the fleet's next fetch does not wait a lease."""
    lease = 20.0
    stalled = make_store(lease=lease, timeout=0.3)
    other = make_fleet_client(games_store=make_store(lease=lease))
    namespace = namespace_for(platform.base_url, FLEET_AGENT)
    warm = await stalled.acquire(namespace, "warm-up")  # the script is loaded: only the
    assert warm is not None                             # stall stands in the way
    await stalled.release(namespace, warm)
    sleeper = redis_server.stall(1.2)  # commands sent now run when it ends
    with pytest.raises(StoreUnavailable):
        await stalled.acquire(namespace, "timed-out")
    await asyncio.to_thread(sleeper.join)
    answered = time.monotonic()
    await other.list_games(refresh=True)  # a healthy Redis: must not wait for a lease
    took = time.monotonic() - answered
    assert list_requests(platform) == 1
    assert took < lease / 2, f"the next fleet fetch waited {took:.1f} s after the stall"


async def test_a_write_that_fails_on_the_connection_gives_the_lock_back_when_redis_answers(
    redis_server: RedisServer, make_store: MakeStore
) -> None:
    lease = 20.0
    store = make_store(lease=lease, timeout=0.3)
    holder = await store.acquire(NS, "holder-token")
    assert holder is not None
    redis_server.pause()
    try:
        with pytest.raises(StoreUnavailable):
            await store.peek(NS)  # Redis is down: the breaker rests
        with pytest.raises(StoreUnavailable):  # refused unsent: the lock stays ours
            await store.write(NS, holder, b"fetched", 60)
    finally:
        redis_server.resume()
    answered = time.monotonic()
    server = redis_server.client()
    await eventually(lambda: not server.exists(LOCK), "the lock to be given back", lease / 2)
    assert time.monotonic() - answered < lease / 2
    other = await make_store(lease=lease).acquire(NS, "next-holder")
    assert other is not None


async def test_asking_for_the_lock_again_with_the_same_token_gets_the_same_lease(
    make_store: MakeStore,
) -> None:
    """A retried lock request (its first answer lost) finds the lock its own."""
    store = make_store(lease=60)
    first = await store.acquire(NS, "same-token")
    again = await store.acquire(NS, "same-token")
    assert first is not None
    assert again == first
    assert await store.acquire(NS, "someone-else") is None
    assert await store.write(NS, again, b"fetched", 60) is not None


# -- item 5: the fence counter vanishes mid-fetch ---------------------------------------------

async def test_a_fence_counter_deleted_mid_fetch_refuses_the_write_and_gives_the_lock_back(
    redis_server: RedisServer, make_store: MakeStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "gameapi_async.store")
    store = make_store(lease=60)
    holder = await store.acquire(NS, "holder-token")
    assert holder is not None
    server = redis_server.client()
    server.delete(f"gameapi:{{{NS}}}:fence")  # evicted, or deleted by hand
    assert await store.write(NS, holder, b"fetched", 60) is None
    assert not server.exists(LOCK)  # the others need not wait a lease
    assert store_messages(caplog, logging.INFO) == [
        "not storing this fetch's game list: the fence counter vanished from Redis "
        "(deleted or evicted) during the fetch"
    ]


async def test_each_refused_write_says_what_happened(
    redis_server: RedisServer, make_store: MakeStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "gameapi_async.store")
    store = make_store(lease=60)
    dropped = await store.acquire(NS, "dropped-holder")
    assert dropped is not None
    await store.drop(NS, 60)
    assert await store.write(NS, dropped, b"older", 60) is None
    assert not redis_server.client().exists(LOCK)
    assert "dropped fleet-wide" in store_messages(caplog, logging.INFO)[-1]


# -- item 6: a least-privilege ACL user -------------------------------------------------------

async def test_the_documented_acl_is_enough_for_the_whole_protocol(
    platform: FakePlatform, redis_server: RedisServer, make_store: MakeStore,
    make_fleet_client: MakeClient, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "gameapi_async.store")
    url = add_user(redis_server, "fleet", *STORE_ACL)
    # a long poll interval: a pick-up within it comes from pub/sub
    one = make_fleet_client(games_store=make_store(url=url, poll_interval=600))
    two = make_fleet_client(games_store=make_store(url=url, poll_interval=600))
    await one.list_games()
    await two.list_games()
    assert list_requests(platform) == 1
    await eventually(lambda: _subscribers(redis_server) == 2, "both stores to subscribe")
    new = await one.list_games(refresh=True)
    await eventually(lambda: two.cache_stats().shared_hits >= 2, "the pub/sub pick-up")
    assert (await two.list_games()).request_id == new.request_id
    one.invalidate_games()
    await one.list_games()
    assert store_messages(caplog, logging.WARNING) == []
    refused = {entry["object"] for entry in redis_server.acl_log()}
    # nothing the store needs; redis-py's optional CLIENT SETINFO (Redis 7.2+) may be
    assert refused <= {"client", "client|setinfo"}  # how Redis 7 and 8 name it


async def test_without_the_channel_the_store_polls_and_says_so_once(
    platform: FakePlatform, redis_server: RedisServer, make_store: MakeStore,
    make_fleet_client: MakeClient, caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis 7 gives a new user no channel: the write script must not stop half-way at
    PUBLISH (no outage), and the listener must not reconnect every second."""
    caplog.set_level(logging.INFO, "gameapi_async.store")
    no_channel = tuple(rule for rule in STORE_ACL if not rule.startswith("&"))
    url = add_user(redis_server, "nochannel", *no_channel)
    store = make_store(url=url, poll_interval=0.2)
    one = make_fleet_client(games_store=store)
    two = make_fleet_client(games_store=make_store(url=url, poll_interval=0.2))
    await one.list_games()
    await two.list_games()
    await eventually(lambda: len(store_messages(caplog, logging.WARNING)) >= 1, "the warning")
    for n in range(2, 5):
        await one.list_games(refresh=True)
        await eventually(lambda n=n: two.cache_stats().shared_hits >= n, "the polled pick-up")
    assert list_requests(platform) == 4  # every refresh written and shared
    warnings = store_messages(caplog, logging.WARNING)
    assert len(warnings) == 2  # once per store (per process), nothing else
    assert all("polling every" in w and "&gameapi:*" in w for w in warnings)
    assert not any("unavailable" in m for m in store_messages(caplog, logging.INFO))
    assert one.cache_stats().store_errors == two.cache_stats().store_errors == 0
    refusals = sum(
        int(entry["count"]) for entry in redis_server.acl_log() if entry["reason"] == "channel"
    )
    assert 1 <= refusals <= 4  # a subscribe and at most one publish per store; no loop


def _subscribers(server: RedisServer) -> int:
    with server.client() as look:
        channels = look.pubsub_channels("gameapi:*")
        return sum(count for _, count in look.pubsub_numsub(*channels)) if channels else 0


# -- item 7: permanent misconfiguration is said once, as what it is ---------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def primary() -> Iterator[RedisServer]:
    server = RedisServer(port=_free_port()).start()
    try:
        yield server
    finally:
        server.close()


def _as_replica(replica: RedisServer, primary: RedisServer) -> str:
    with replica.client() as admin:
        admin.execute_command("REPLICAOF", "127.0.0.1", str(primary.port))
        give_up = time.monotonic() + DEADLINE
        while admin.info("replication").get("master_link_status") != "up":
            assert time.monotonic() < give_up, "the replica never synchronised"
            time.sleep(0.05)
    return replica.url


def _full(server: RedisServer) -> str:
    with server.client() as admin:
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", "1")
    return server.url


def _no_scripts(server: RedisServer) -> str:
    return add_user(server, "noscripts", *STORE_ACL, "-evalsha", "-script")


MISCONFIGURATIONS = {
    "a read-only replica": (_as_replica, "primary's URL"),
    "Redis full (maxmemory, noeviction)": (lambda server, _: _full(server), "maxmemory"),
    "scripts not permitted": (lambda server, _: _no_scripts(server), "grant the ACL"),
}


@pytest.mark.parametrize("kind", list(MISCONFIGURATIONS))
async def test_a_permanent_misconfiguration_is_reported_once_with_its_fix(
    kind: str, platform: FakePlatform, redis_server: RedisServer, primary: RedisServer,
    make_store: MakeStore, make_fleet_client: MakeClient, caplog: pytest.LogCaptureFixture,
) -> None:
    misconfigure, fix = MISCONFIGURATIONS[kind]
    url = misconfigure(redis_server, primary)
    caplog.set_level(logging.INFO, "gameapi_async.store")
    client = make_fleet_client(games_store=make_store(url=url))
    for _ in range(4):  # every call answered from the platform, none failed
        games = await client.list_games(refresh=True)
        assert len(games.games) == len(platform.games)
    warnings = store_messages(caplog, logging.WARNING)
    assert len(warnings) == 1, warnings
    assert fix in warnings[0]
    assert "cannot work with this Redis" in warnings[0]
    assert not any("again" in m for m in store_messages(caplog, logging.INFO))


# -- item 9: one clock for the fleet ----------------------------------------------------------

class OffClock:
    """The real clock, with a wall clock ``offset`` seconds off (a process's bad NTP)."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@pytest.mark.parametrize(("writer_off", "reader_off"), [(-60, 0), (0, 60), (60, 0), (0, -60)])
async def test_clocks_off_by_a_minute_change_no_lists_age(
    writer_off: float, reader_off: float, platform: FakePlatform, make_store: MakeStore,
) -> None:
    """A list's age comes from Redis' clock: a writer or reader a minute off neither makes a
    fresh list stale (a second upstream fetch) nor an old one fresh."""
    ttl, waited = 30.0, 0.5

    def client(offset: float) -> GameApiClient:
        return GameApiClient(
            base_url=platform.base_url, agent_id=FLEET_AGENT, api_token=FLEET_TOKEN,
            games_store=make_store(), games_ttl=ttl, clock=OffClock(offset),
            retry=RetryPolicy.disabled(),
        )

    async with client(writer_off) as writer, client(reader_off) as reader:
        await writer.list_games()
        await asyncio.sleep(waited)  # real time passes: the list is at least this old
        await reader.list_games()
        assert list_requests(platform) == 1
        age = reader.cache_stats().age
        assert age is not None
        assert waited - 0.05 <= age < ttl  # neither made fresh nor made a minute old


async def test_a_list_dated_in_the_future_is_refused_not_taken_as_new(
    redis_server: RedisServer, make_store: MakeStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "gameapi_async.store")
    store = make_store(lease=60)
    holder = await store.acquire(NS, "holder-token")
    assert holder is not None
    version = await store.write(NS, holder, b"fetched", 60)
    assert version is not None
    stored = await store.read(NS)
    assert stored is not None
    assert 0 <= stored.age < 60
    head, _, stamp = version.rpartition("-")
    future = f"{head}-{int(stamp) + 3_600_000}"  # as if Redis' clock had stepped back an hour
    redis_server.client().set(f"gameapi:{{{NS}}}:version", future, keepttl=True)
    assert await store.read(NS) is None
    assert "in the future" in store_messages(caplog, logging.WARNING)[0]
