"""``RedisGameListStore`` on a real three-master Redis Cluster: one slot per agent, scripts run
on the slot's node, pub/sub reaches the fleet, the cluster client stays the caller's."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import redis
import redis.asyncio as aioredis

from gameapi_async import GameApiClient, InvalidParameterError, RedisGameListStore
from gameapi_async.testing import FakePlatform

from .conftest import list_requests
from .redis_cluster import MASTERS, RedisClusterServers
from .support import eventually

MakeClient = Callable[..., GameApiClient]
MakeStore = Callable[..., RedisGameListStore]
NS = "cluster-namespace"
# Generous: the first command of a cluster client also maps the slots (CLUSTER SLOTS, COMMAND)
# and CI is loaded; this file tests the cluster, not the store's outage handling.
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[RedisClusterServers]:
    servers = RedisClusterServers().start()
    try:
        yield servers
    finally:
        servers.close()


@pytest.fixture
def cluster(redis_cluster: RedisClusterServers) -> RedisClusterServers:
    """The module's cluster, emptied for this test."""
    for index in range(MASTERS):
        with redis_cluster.node(index) as node:
            node.flushall()
    return redis_cluster


@pytest.fixture
async def make_cluster_store(
    cluster: RedisClusterServers,
) -> AsyncIterator[MakeStore]:
    """Stores each on a cluster client of their own (one per simulated process), given by the
    test as an application would; stores and clients closed at the end."""
    stores: list[RedisGameListStore] = []
    clients: list[aioredis.RedisCluster] = []

    def factory(**settings: object) -> RedisGameListStore:
        settings.setdefault("poll_interval", 0.2)
        settings.setdefault("timeout", TIMEOUT)
        client = aioredis.RedisCluster.from_url(cluster.url)
        clients.append(client)
        store = RedisGameListStore(client, **settings)  # type: ignore[arg-type]
        stores.append(store)
        return store

    yield factory
    for store in stores:
        await store.aclose()
    for client in clients:
        await client.aclose()


def keys_by_node(cluster: RedisClusterServers) -> dict[int, list[str]]:
    """The store's keys each node holds (nodes holding none left out)."""
    found: dict[int, list[str]] = {}
    for index in range(MASTERS):
        with cluster.node(index) as node:
            keys = sorted(key.decode() for key in node.scan_iter("gameapi:*"))
        if keys:
            found[index] = keys
    return found


def connections(cluster: RedisClusterServers) -> int:
    """Client connections over the whole cluster, not counting the ones making this look."""
    total = 0
    for index in range(MASTERS):
        with cluster.node(index) as node:
            total += len(node.client_list()) - 1
    return total


def subscribers(cluster: RedisClusterServers, channel: str) -> int:
    """Subscribers of ``channel`` over the whole cluster (PUBSUB NUMSUB counts one node's)."""
    total = 0
    for index in range(MASTERS):
        with cluster.node(index) as node:
            total += int(dict(node.pubsub_numsub(channel)).get(channel.encode(), 0))
    return total


async def test_clients_on_a_cluster_share_one_upstream_request(
    platform: FakePlatform, make_cluster_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    platform.faults.latency = 0.5
    clients = [make_fleet_client(games_store=make_cluster_store()) for _ in range(2)]
    results = await asyncio.gather(*(c.list_games() for c in clients for _ in range(50)))
    assert list_requests(platform) == 1
    assert all(len(r.games) == len(platform.games) for r in results)
    assert len({r.request_id for r in results}) == 1
    late = make_fleet_client(games_store=make_cluster_store())  # a process started later
    assert (await late.list_games()).request_id == results[0].request_id
    assert late.cache_stats().shared_hits == 1
    assert list_requests(platform) == 1


async def test_all_keys_of_an_agent_live_in_one_slot_on_one_node(
    cluster: RedisClusterServers, make_cluster_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    client = make_fleet_client(games_store=make_cluster_store())
    await client.list_games()
    client.invalidate_games()  # creates the generation key too
    await eventually(lambda: any(k.endswith(":gen") for ks in keys_by_node(cluster).values()
                                 for k in ks), "the drop to reach the cluster")
    await client.list_games()
    placed = keys_by_node(cluster)
    assert len(placed) == 1, placed  # one node holds them all...
    (keys,) = placed.values()
    assert {k.rsplit(":", 1)[1] for k in keys} >= {"value", "version", "fence", "gen"}
    with cluster.node(0) as node:
        slots = {int(node.cluster("KEYSLOT", key)) for key in keys}
    assert len(slots) == 1  # ...because they hash to one slot


async def test_a_paused_holders_write_is_fenced_out_on_a_cluster(
    cluster: RedisClusterServers, make_cluster_store: MakeStore
) -> None:
    store = make_cluster_store(lease=2.0)  # long enough not to lapse between two commands
    paused = await store.acquire(NS, "paused-holder-token")
    assert paused is not None
    assert await store.acquire(NS, "someone-else") is None  # held
    lock = f"gameapi:{{{NS}}}:lock"
    await eventually(lambda: not any(lock in keys for keys in keys_by_node(cluster).values()),
                     "the lease to lapse")
    taker = await store.acquire(NS, "taker-token")
    assert taker is not None
    assert taker.fence > paused.fence
    assert await store.write(NS, taker, b"newer", 60) is not None
    assert await store.write(NS, paused, b"older", 60) is None  # fenced out, atomically
    assert not await store.renew(NS, paused)
    stored = await store.read(NS)
    assert stored is not None
    assert stored.value == b"newer"


async def test_invalidate_on_a_cluster_drops_the_list_fleet_wide(
    platform: FakePlatform, make_cluster_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    first = make_fleet_client(games_store=make_cluster_store())
    second = make_fleet_client(games_store=make_cluster_store())
    await first.list_games()
    await second.list_games()
    assert list_requests(platform) == 1
    first.invalidate_games()
    await eventually(lambda: second.cache_stats().age is None, "the drop to reach the other")
    await second.list_games()
    assert list_requests(platform) == 2


async def test_pub_sub_carries_a_change_across_the_cluster(
    cluster: RedisClusterServers, platform: FakePlatform, make_cluster_store: MakeStore,
    make_fleet_client: MakeClient,
) -> None:
    """With polling out of the picture (an hour apart) only pub/sub can tell the other."""
    first = make_fleet_client(games_store=make_cluster_store(poll_interval=3600))
    second = make_fleet_client(games_store=make_cluster_store(poll_interval=3600))
    await first.list_games()
    await second.list_games()
    channel = next(
        k for ks in keys_by_node(cluster).values() for k in ks if k.endswith(":value")
    ).rsplit(":", 1)[0] + ":changed"
    await eventually(lambda: subscribers(cluster, channel) == 2, "both stores to subscribe")
    first.invalidate_games()
    await eventually(lambda: second.cache_stats().age is None, "the announcement")
    assert list_requests(platform) == 1


async def test_a_url_with_cluster_true_makes_and_owns_a_cluster_client(
    cluster: RedisClusterServers,
) -> None:
    baseline = connections(cluster)
    store = RedisGameListStore(cluster.url, cluster=True, timeout=TIMEOUT)
    lease = await store.acquire(NS, "url-holder")
    assert lease is not None
    assert await store.write(NS, lease, b"from-a-url", 60) is not None
    assert connections(cluster) > baseline
    await store.aclose()
    await eventually(lambda: connections(cluster) == baseline, "the owned client to disconnect")
    check = redis.RedisCluster.from_url(cluster.url)
    try:
        assert check.get(f"gameapi:{{{NS}}}:value") == b"from-a-url"
    finally:
        check.close()


async def test_a_given_cluster_client_is_left_open(cluster: RedisClusterServers) -> None:
    given = aioredis.RedisCluster.from_url(cluster.url)
    async with RedisGameListStore(given, timeout=TIMEOUT) as store:
        assert (await store.peek(NS)).version is None
    assert await given.ping()  # not closed by the store
    await given.aclose()


def test_cluster_settings_are_checked_naming_the_field() -> None:
    given = aioredis.RedisCluster(host="127.0.0.1", port=7000)
    with pytest.raises(InvalidParameterError) as caught:
        RedisGameListStore(given, cluster=True)  # only a URL needs telling
    assert caught.value.field == "cluster"
    with pytest.raises(InvalidParameterError) as caught:
        RedisGameListStore("redis://127.0.0.1:7000", cluster="yes")  # type: ignore[arg-type]
    assert caught.value.field == "cluster"
    with pytest.raises(InvalidParameterError) as caught:
        RedisGameListStore(aioredis.RedisCluster(host="127.0.0.1", port=7000,
                                                 decode_responses=True))
    assert caught.value.field == "redis"
    with pytest.raises(InvalidParameterError) as caught:
        RedisGameListStore("unix:///tmp/redis.sock", cluster=True)
    assert caught.value.field == "redis"


async def test_an_unreachable_cluster_never_fails_a_call(
    platform: FakePlatform, make_fleet_client: MakeClient
) -> None:
    """A cluster client that reaches no node raises RedisClusterException, which is no
    RedisError: the store must still count it as Redis being down."""
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    async with RedisGameListStore(f"redis://127.0.0.1:{port}", cluster=True,
                                  timeout=TIMEOUT) as store:
        client = make_fleet_client(games_store=store)
        games = await client.list_games()
        assert len(games.games) == len(platform.games)
        assert client.cache_stats().store_errors >= 1
