"""The retry budget and the circuit, shared by the fleet on a real redis-server.

Each client here has its own store (its own connections), as each process of a fleet would;
the contract about real processes is in test_resilience_processes.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
import redis

import gameapi_async as ga
from gameapi_async import (
    CircuitBreaker,
    GameApiClient,
    RedisGameListStore,
    RetryBudget,
    RetryPolicy,
)
from gameapi_async.fleet._shared_list import namespace_for
from gameapi_async.testing import FakePlatform, ScriptedResponse

from .redis_server import RedisServer
from .support import DEADLINE, eventually

PLAYER: dict[str, Any] = {"game_id": 1, "player_id": "p1", "player_username": "u",
                          "language": "en", "currency": "EUR", "home_url": "https://home/",
                          "ip": "1.2.3.4"}
DEMO_PATH = "/api/games/get_game_link_demo"
MakeClient = Callable[..., GameApiClient]
MakeStore = Callable[..., RedisGameListStore]
T = TypeVar("T")


def upstream(platform: FakePlatform) -> int:
    return len(platform.requests_to(DEMO_PATH))


async def outcome(client: GameApiClient) -> ga.GameLink | ga.GameApiError:
    try:
        return await client.get_game_link_demo(**PLAYER)
    except ga.GameApiError as error:
        return error


def listeners(server: RedisServer, platform: FakePlatform) -> int:
    """Subscribers to the fleet's circuit channel."""
    channel = f"gameapi:{{{namespace_for(platform.base_url, 1)}:circuit}}:changed"
    return int(server.client().pubsub_numsub(channel)[0][1])


def command_counts(looker: redis.Redis) -> dict[str, int]:
    """``INFO commandstats``: calls by command, the commands scripts run included, the looks
    left out (made on one connection, opened before the first look)."""
    stats = looker.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()
            if k != "cmdstat_info"}


def sent_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}


async def until(client: GameApiClient, kind: type[T], what: str) -> T:
    """Call until the outcome is a ``kind``, polling (never a fixed wait) up to DEADLINE."""
    give_up = time.monotonic() + DEADLINE
    while not isinstance(result := await outcome(client), kind):
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out waiting for {what}; last: {result!r}")
        await asyncio.sleep(0.02)
    return result


async def test_the_fleet_spends_one_budget(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    retry = RetryPolicy(wait_initial=0, budget=RetryBudget(share=0, per_second=0, max_tokens=4))
    first = make_fleet_client(games_store=make_store(), retry=retry)
    second = make_fleet_client(games_store=make_store(), retry=retry)
    platform.go_down()
    one = await outcome(first)
    two = await outcome(second)
    assert isinstance(one, ga.ApiError)
    assert isinstance(two, ga.ApiError)
    # Four tokens for the fleet: three retries for the first, one left for the second.
    assert (one.attempts, two.attempts) == (4, 2)
    assert upstream(platform) == 6


async def test_a_call_that_succeeds_sends_redis_nothing(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient,
    redis_server: RedisServer,
) -> None:
    client = make_fleet_client(games_store=make_store(), retry=RetryPolicy(),
                               breaker=CircuitBreaker())
    await client.get_game_link_demo(**PLAYER)  # the first call reads the fleet's circuit once
    await eventually(lambda: listeners(redis_server, platform) == 1, "listening to the fleet")
    looker = redis_server.client()
    before = command_counts(looker)
    for _ in range(50):
        await client.get_game_link_demo(**PLAYER)
    assert sent_between(before, command_counts(looker)) == {}


async def test_a_retry_costs_one_command(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient,
    redis_server: RedisServer,
) -> None:
    client = make_fleet_client(games_store=make_store(), retry=RetryPolicy(wait_initial=0))
    platform.go_down()
    await outcome(client)  # the first retry loads the script and opens a connection
    looker = redis_server.client()
    before = command_counts(looker)
    error = await outcome(client)
    assert isinstance(error, ga.ApiError)
    assert error.attempts == 4
    # One script per retry, and what it runs inside: nothing else.
    inside = ("time", "hmget", "hset", "pexpire")
    assert sent_between(before, command_counts(looker)) == {"evalsha": 3} | dict.fromkeys(
        inside, 3)


async def test_the_circuit_opens_for_the_whole_fleet(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient,
    redis_server: RedisServer,
) -> None:
    told: list[ga.Event] = []
    opener = make_fleet_client(games_store=make_store(),
                               breaker=CircuitBreaker(failure_threshold=3, cool_down=30, hold=0))
    # A threshold it never reaches in this test: only the fleet can open its circuit.
    other = make_fleet_client(games_store=make_store(), on_event=told.append,
                              breaker=CircuitBreaker(
                                  failure_threshold=10_000, cool_down=30, hold=0))
    await opener.get_game_link_demo(**PLAYER)
    await other.get_game_link_demo(**PLAYER)  # it listens from its first call on
    await eventually(lambda: listeners(redis_server, platform) == 2, "both listening")
    platform.go_down()
    for _ in range(3):
        await outcome(opener)
    refused = await outcome(opener)
    assert isinstance(refused, ga.CircuitOpenError)
    told_refusal = await until(other, ga.CircuitOpenError, "the fleet's word")
    assert 20 < told_refusal.next_probe_in <= 30
    changes = [(e.state, e.reason) for e in told if isinstance(e, ga.CircuitChanged)]
    assert changes == [("open", "fleet")]


async def test_a_process_that_starts_late_learns_the_open_circuit(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    breaker = CircuitBreaker(failure_threshold=2, cool_down=30, hold=0)
    opener = make_fleet_client(games_store=make_store(), breaker=breaker)
    platform.go_down()
    for _ in range(2):
        await outcome(opener)
    late = make_fleet_client(games_store=make_store(), breaker=breaker)
    before = upstream(platform)
    refused = await outcome(late)
    assert isinstance(refused, ga.CircuitOpenError)
    assert upstream(platform) == before  # it sent nothing


async def test_one_probe_brings_the_whole_fleet_back(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient,
    redis_server: RedisServer,
) -> None:
    told: list[ga.Event] = []
    first = make_fleet_client(games_store=make_store(),
                              breaker=CircuitBreaker(failure_threshold=2, cool_down=0.5, hold=0))
    second = make_fleet_client(games_store=make_store(), on_event=told.append,
                               breaker=CircuitBreaker(
                                   failure_threshold=10_000, cool_down=0.5, hold=0))
    await second.get_game_link_demo(**PLAYER)
    await eventually(lambda: listeners(redis_server, platform) == 1, "listening to the fleet")
    platform.go_down()
    for _ in range(2):
        await outcome(first)
    await until(second, ga.CircuitOpenError, "the fleet's word that the circuit is open")
    platform.come_back()
    await until(first, ga.GameLink, "the first process's probe, after the cool-down")
    sent = upstream(platform)
    link = await outcome(second)
    assert isinstance(link, ga.GameLink)
    assert upstream(platform) == sent + 1  # straight through, at once
    # Told by pub/sub, or (a message late) its own look at the fleet's state finds the
    # circuit gone and its one attempt is the probe: closed either way, within the cool-down.
    state, reason = [(e.state, e.reason) for e in told if isinstance(e, ga.CircuitChanged)][-1]
    assert state == "closed"
    assert reason in ("fleet", "probe_succeeded")


async def test_without_redis_each_process_keeps_its_own(
    platform: FakePlatform, make_fleet_client: MakeClient,
) -> None:
    # Nothing listens on port 1: every Redis command fails at once.
    async with RedisGameListStore("redis://127.0.0.1:1/0", timeout=0.5) as store:
        client = make_fleet_client(
            games_store=store, breaker=CircuitBreaker(failure_threshold=5, cool_down=0.2, hold=0),
            retry=RetryPolicy(wait_initial=0,
                              budget=RetryBudget(share=0, per_second=0, max_tokens=2)),
        )
        platform.go_down()
        first = await outcome(client)
        assert isinstance(first, ga.ApiError)
        assert first.attempts == 3  # this process's own two tokens
        second = await outcome(client)
        assert isinstance(second, ga.ApiError)
        assert second.attempts == 1
        for _ in range(2):
            await outcome(client)
        refused = await outcome(client)  # five failures in a row: its own circuit opened
        assert isinstance(refused, ga.CircuitOpenError)
        platform.come_back()
        await until(client, ga.GameLink, "its own probe, after its own cool-down")


@pytest.mark.parametrize("status", [503, 502])
async def test_the_fake_plays_an_outage_and_a_recovery(
    make_fleet_client: MakeClient, platform: FakePlatform, status: int
) -> None:
    client = make_fleet_client(games_ttl=0)
    platform.go_down(status=status)
    assert platform.down
    error = await outcome(client)
    assert isinstance(error, ga.ApiError)
    assert error.http_status == status
    platform.come_back()
    assert not platform.down
    assert isinstance(await outcome(client), ga.GameLink)
    platform.go_down(seconds=0)
    assert isinstance(await outcome(client), ga.GameLink)  # an outage of no time is over
    assert [r.outcome for r in platform.requests_to(DEMO_PATH)] == ["outage", "success",
                                                                    "success"]


async def test_calls_deposit_and_answered_retries_refund_into_the_fleet_bucket(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    # One token a call deposited, one at most: each call in the outage funds one retry.
    deposits = RetryPolicy(wait_initial=0, budget=RetryBudget(share=1, per_second=0,
                                                                max_tokens=1))
    client = make_fleet_client(games_store=make_store(), retry=deposits)
    platform.go_down()
    for _ in range(3):
        error = await outcome(client)
        assert isinstance(error, ga.ApiError)
        assert error.attempts == 2
    # No deposits, one token: only the refund of an answered retry funds the next one.
    refunds = RetryPolicy(wait_initial=0, budget=RetryBudget(share=0, per_second=0,
                                                               max_tokens=1))
    other = make_fleet_client(games_store=make_store(), retry=refunds)
    platform.come_back()
    platform.script(ScriptedResponse(path=DEMO_PATH, error="service_unavailable"))
    assert isinstance(await outcome(other), ga.GameLink)  # a retry, answered
    platform.go_down()
    error = await outcome(other)
    assert isinstance(error, ga.ApiError)
    assert error.attempts == 2  # the refunded token


async def test_the_fleet_hears_the_probe_succeed_before_its_own_look(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient,
    redis_server: RedisServer,
) -> None:
    told: list[ga.Event] = []
    opener = make_fleet_client(games_store=make_store(),
                               breaker=CircuitBreaker(failure_threshold=2, cool_down=0.3, hold=0))
    # Its own look would come a quarter of 120 s after the probe started: only the word of
    # the fleet can close its circuit within this test.
    other = make_fleet_client(games_store=make_store(), on_event=told.append,
                              breaker=CircuitBreaker(
                                  failure_threshold=10_000, cool_down=120, hold=0))
    await other.get_game_link_demo(**PLAYER)
    await eventually(lambda: listeners(redis_server, platform) == 1, "listening to the fleet")
    platform.go_down()
    for _ in range(2):
        await outcome(opener)
    await until(other, ga.CircuitOpenError, "the fleet's word that the circuit is open")
    platform.come_back()
    platform.faults.latency = 1.0  # the probe stays out a while
    probing = asyncio.create_task(until(opener, ga.GameLink, "the opener's probe"))
    probe_key = f"gameapi:{{{namespace_for(platform.base_url, 1)}}}:probe"
    looker = redis_server.client()
    await eventually(lambda: looker.exists(probe_key) == 1, "the opener holding the probe")
    # Past the fleet's cool-down it looks, finds another process probing, and waits a quarter
    # of its own cool-down before looking again.
    give_up = time.monotonic() + DEADLINE
    while True:
        refused = await outcome(other)
        assert isinstance(refused, ga.CircuitOpenError)
        if refused.next_probe_in > 10 or time.monotonic() > give_up:
            break
        await asyncio.sleep(0.02)
    assert refused.next_probe_in > 10
    await probing
    platform.faults.latency = 0.0
    await until(other, ga.GameLink, "the fleet's word that the circuit is closed")
    changes = [(e.state, e.reason) for e in told if isinstance(e, ga.CircuitChanged)]
    assert changes == [("open", "fleet"), ("closed", "fleet")]


async def test_calls_waiting_in_another_process_go_on_when_the_fleet_probe_is_answered(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient,
    redis_server: RedisServer,
) -> None:
    told: list[ga.Event] = []
    opener = make_fleet_client(games_store=make_store(),
                               breaker=CircuitBreaker(failure_threshold=2, cool_down=3.0))
    # It never opens the circuit, nor looks again by itself within the test (a quarter of
    # 120 s); a probe due more than 0.5 s away refuses it at once, which is how it learns the
    # fleet's circuit is open. It waits for a probe on its way within a generous timeout.
    other = make_fleet_client(games_store=make_store(), on_event=told.append, timeout=DEADLINE,
                              breaker=CircuitBreaker(failure_threshold=10_000, cool_down=120,
                                                     hold=0.5))
    await other.get_game_link_demo(**PLAYER)
    await eventually(lambda: listeners(redis_server, platform) == 1, "listening to the fleet")
    platform.go_down()
    for _ in range(2):
        await outcome(opener)
    await until(other, ga.CircuitOpenError, "the fleet's word that the circuit is open")
    platform.come_back()
    platform.faults.latency = 1.0  # the probe stays out a while
    probing = asyncio.create_task(until(opener, ga.GameLink, "the opener's probe"))
    probe_key = f"gameapi:{{{namespace_for(platform.base_url, 1)}}}:probe"
    looker = redis_server.client()
    await eventually(lambda: looker.exists(probe_key) == 1, "the opener holding the probe")
    sent = upstream(platform)
    # Refused at once before; now each waits for the opener's probe, then goes.
    waiting = [asyncio.create_task(outcome(other)) for _ in range(3)]
    await probing
    links = await asyncio.gather(*waiting)
    assert all(isinstance(link, ga.GameLink) for link in links), links
    assert upstream(platform) == sent + 1 + 3  # the probe, then the three: no probe of theirs
    changes = [(e.state, e.reason) for e in told if isinstance(e, ga.CircuitChanged)]
    assert changes == [("open", "fleet"), ("closed", "fleet")]


async def test_calls_waiting_in_another_process_fail_with_the_fleet_probe(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient,
    redis_server: RedisServer,
) -> None:
    opener = make_fleet_client(games_store=make_store(),
                               breaker=CircuitBreaker(failure_threshold=2, cool_down=3.0))
    # As above; its timeout is the longest it could wait if the fleet's word did not come.
    other = make_fleet_client(games_store=make_store(), timeout=2 * DEADLINE,
                              breaker=CircuitBreaker(failure_threshold=10_000, cool_down=120,
                                                     hold=0.5))
    await other.get_game_link_demo(**PLAYER)
    await eventually(lambda: listeners(redis_server, platform) == 1, "listening to the fleet")
    platform.go_down()
    for _ in range(2):
        await outcome(opener)
    await until(other, ga.CircuitOpenError, "the fleet's word that the circuit is open")
    # The probe stays out a while, and fails.
    platform.script(ScriptedResponse(path=DEMO_PATH, error="service_unavailable", delay=1.0))
    probing = asyncio.create_task(outcome(opener))
    probe_key = f"gameapi:{{{namespace_for(platform.base_url, 1)}}}:probe"
    looker = redis_server.client()
    await eventually(lambda: looker.exists(probe_key) == 1, "the opener holding the probe")
    sent = upstream(platform)
    waiting = [asyncio.create_task(outcome(other)) for _ in range(3)]
    failed_probe = await probing
    assert isinstance(failed_probe, ga.ApiError)
    # The fleet's word that the probe failed ends their wait, long before their timeout.
    refusals = await asyncio.wait_for(asyncio.gather(*waiting), DEADLINE)
    assert all(isinstance(r, ga.CircuitOpenError) for r in refusals), refusals
    assert all(0 < r.next_probe_in <= 3.0 for r in refusals)  # type: ignore[union-attr]
    assert upstream(platform) == sent + 1  # the probe alone
