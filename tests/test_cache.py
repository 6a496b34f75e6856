"""The game-list cache, through the client: stampedes, expiry, stale serving, failures."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import Callable

import pytest

import gameapi_async as ga
from gameapi_async import GameApiClient, RetryPolicy
from gameapi_async._pipeline import Call, Handler, Reply
from gameapi_async._protocol import RawResponse
from gameapi_async.testing import FakePlatform, MockTransport

from .support import FakeClock, Script, failure, game_list_body

TTL = 3 * 3600.0
MakeClient = Callable[..., GameApiClient]


def ok(ids: range | list[int] = range(1, 4), request_id: str = "rid") -> RawResponse:
    return RawResponse(200, game_list_body(ids, request_id))


def unavailable() -> ga.ApiError:
    return ga.ApiError("busy", code="service_unavailable", http_status=503)


def bad_signature() -> ga.ApiError:
    return ga.InvalidSignatureError("nope", code="invalid_signature", http_status=403)


@pytest.fixture
def script() -> Script:
    return Script(ok())


@pytest.fixture
def transport(script: Script) -> MockTransport:
    return MockTransport(script)


@pytest.fixture
def client(make_client: MakeClient, transport: MockTransport) -> GameApiClient:
    return make_client(transport=transport, retry=RetryPolicy.disabled())


async def settle() -> None:
    """Let background tasks run to their next wait."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_stampede_makes_exactly_one_request(
    client: GameApiClient, transport: MockTransport, script: Script
) -> None:
    script.gate = asyncio.Event()
    callers = [asyncio.create_task(client.list_games()) for _ in range(5000)]
    await settle()
    assert len(transport.requests) == 1
    script.gate.set()
    results = await asyncio.gather(*callers)
    assert len(transport.requests) == 1
    assert all(r is results[0] for r in results)
    stats = client.cache_stats()
    assert (stats.misses, stats.joins, stats.hits) == (1, 4999, 0)


async def test_fresh_list_is_served_from_the_cache(
    client: GameApiClient, transport: MockTransport, clock: FakeClock
) -> None:
    first = await client.list_games()
    clock.advance(TTL * 0.9)
    assert await client.list_games() is first
    assert len(transport.requests) == 1
    assert client.cache_stats().hits == 1
    assert client.cache_stats().age == pytest.approx(TTL * 0.9)


async def test_a_cancelled_waiter_cancels_neither_the_fetch_nor_the_others(
    client: GameApiClient, transport: MockTransport, script: Script
) -> None:
    script.gate = asyncio.Event()
    waiters = [asyncio.create_task(client.list_games()) for _ in range(3)]
    await settle()
    waiters[0].cancel()
    await settle()
    script.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await waiters[0]
    second, third = await asyncio.gather(*waiters[1:])
    assert second is third
    assert len(transport.requests) == 1


async def test_an_abandoned_fetch_still_fills_the_cache(
    client: GameApiClient, transport: MockTransport, script: Script
) -> None:
    script.gate = asyncio.Event()
    waiter = asyncio.create_task(client.list_games())
    await settle()
    waiter.cancel()
    script.gate.set()
    await settle()
    await client.list_games()
    assert len(transport.requests) == 1
    assert client.cache_stats().hits == 1


async def test_a_failed_fetch_reaches_every_waiter_and_is_not_cached(
    client: GameApiClient, transport: MockTransport, script: Script
) -> None:
    script.gate = asyncio.Event()
    script.answers.append(unavailable())
    waiters = [asyncio.create_task(client.list_games()) for _ in range(10)]
    await settle()
    script.gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, ga.ApiError) and r.code == "service_unavailable" for r in results)
    assert (await client.list_games()).total == 3
    assert len(transport.requests) == 2
    assert client.cache_stats().errors == 1


async def test_past_the_ttl_the_stale_list_is_served_while_one_refresh_runs(
    client: GameApiClient, transport: MockTransport, script: Script, clock: FakeClock
) -> None:
    old = await client.list_games()
    clock.advance(TTL + 1)
    script.gate = asyncio.Event()
    script.answers.append(ok(range(1, 6), "rid-new"))
    stale = [await client.list_games() for _ in range(20)]
    assert all(s is old for s in stale)
    await settle()
    assert len(transport.requests) == 2  # one background refresh, however many callers
    script.gate.set()
    await settle()
    new = await client.list_games()
    assert new.total == 5
    assert new.request_id == "rid-new"
    stats = client.cache_stats()
    assert (stats.refreshes, stats.stale_served) == (1, 20)


async def test_stale_if_error_serves_the_last_list_backs_off_then_gives_up(
    client: GameApiClient, transport: MockTransport, script: Script, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    old = await client.list_games()
    clock.advance(TTL + 1)
    script.default = RawResponse(503, json.dumps(failure("overloaded")).encode())
    with caplog.at_level(logging.WARNING, logger="gameapi_async.cache"):
        assert await client.list_games() is old
        await settle()
    assert len(transport.requests) == 2
    assert "serving the cached list" in caplog.text
    for _ in range(50):  # within the back-off: no new request however many callers
        assert await client.list_games() is old
    await settle()
    assert len(transport.requests) == 2
    clock.advance(61)
    assert await client.list_games() is old
    await settle()
    assert len(transport.requests) == 3
    clock.advance(24 * 3600)  # past max-stale: the error is raised
    with pytest.raises(ga.ApiError) as caught:
        await client.list_games()
    assert caught.value.code == "overloaded"


async def test_a_definite_error_is_not_hidden_behind_a_stale_list(
    client: GameApiClient, script: Script, clock: FakeClock
) -> None:
    await client.list_games()
    clock.advance(TTL + 1)
    script.answers.extend([bad_signature(), bad_signature()])
    await client.list_games()  # stale, while the refresh finds the misconfiguration
    await settle()
    with pytest.raises(ga.InvalidSignatureError):
        await client.list_games()


async def test_refresh_true_fetches_now_and_raises_despite_a_cached_list(
    client: GameApiClient, transport: MockTransport, script: Script
) -> None:
    await client.list_games()
    fresh = await client.list_games(refresh=True)
    assert len(transport.requests) == 2
    assert await client.list_games() is fresh
    script.answers.append(unavailable())
    with pytest.raises(ga.ApiError):
        await client.list_games(refresh=True)


async def test_refresh_true_joins_a_fetch_in_flight(
    client: GameApiClient, transport: MockTransport, script: Script
) -> None:
    script.gate = asyncio.Event()
    first = asyncio.create_task(client.list_games())
    forced = asyncio.create_task(client.list_games(refresh=True))
    await settle()
    script.gate.set()
    assert await first is await forced
    assert len(transport.requests) == 1


async def test_ttl_zero_fetches_every_call_but_shares_concurrent_ones(
    make_client: MakeClient, transport: MockTransport, script: Script
) -> None:
    client = make_client(transport=transport, games_ttl=0)
    await client.list_games()
    await client.list_games()
    assert len(transport.requests) == 2
    script.gate = asyncio.Event()
    waiters = [asyncio.create_task(client.list_games()) for _ in range(10)]
    await settle()
    script.gate.set()
    await asyncio.gather(*waiters)
    assert len(transport.requests) == 3


async def test_invalidate_during_a_fetch_keeps_its_result_out_of_the_cache(
    client: GameApiClient, script: Script
) -> None:
    script.gate = asyncio.Event()
    script.answers.extend([ok([1], "old"), ok([1, 2], "new")])
    before = asyncio.create_task(client.list_games())
    await settle()
    client.invalidate_games()
    script.gate.set()
    assert (await before).request_id == "old"  # its waiters still get their answer
    after = await client.list_games()
    assert after.request_id == "new"
    assert await client.list_games() is after


async def test_two_agents_never_share_a_list() -> None:
    async with FakePlatform(agents={1: "a", 2: "b"}) as fake:
        fake.set_unavailable(2, {1, 2, 3})
        async with (
            GameApiClient(base_url=fake.base_url, agent_id=1, api_token="a") as one,
            GameApiClient(base_url=fake.base_url, agent_id=2, api_token="b") as two,
        ):
            first, second = await one.list_games(), await two.list_games()
    assert first.total == second.total + 3
    assert second.get(1) is None
    assert first.get(1) is not None


async def test_close_during_a_refresh_leaves_no_task_and_fails_waiters_clearly(
    client: GameApiClient, transport: MockTransport, script: Script, clock: FakeClock
) -> None:
    await client.list_games()
    clock.advance(TTL + 1)
    script.gate = asyncio.Event()
    await client.list_games()  # starts the background refresh
    waiter = asyncio.create_task(client.list_games(refresh=True))
    await settle()
    await client.close()
    with pytest.raises(ga.ClientClosedError):
        await waiter
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert transport.closed
    with pytest.raises(ga.ClientClosedError):
        await client.list_games()


async def test_get_game_and_demo_games_use_the_cached_list(
    client: GameApiClient, transport: MockTransport, script: Script
) -> None:
    script.default = ok(range(1, 1001))
    game = await client.get_game(500)
    assert game is not None
    assert game.id == 500
    assert await client.get_game(5000) is None
    games = await client.list_games()
    assert [g.id for g in games.demo_games][:3] == [1, 3, 5]
    assert all(g.demo for g in games.demo_games)
    assert len(transport.requests) == 1
    with pytest.raises(ga.InvalidParameterError):
        await client.get_game("500")  # type: ignore[arg-type]


async def test_ttl_is_jittered_down_by_at_most_five_percent(make_client: MakeClient) -> None:
    ttls = {make_client(games_ttl=1000)._parts.games.ttl for _ in range(20)}
    assert all(t is not None and 950 <= t <= 1000 for t in ttls)
    assert len(ttls) > 1


@pytest.mark.parametrize(
    ("settings", "field"),
    [({"games_ttl": -1}, "games_ttl"), ({"games_max_stale": -1}, "games_max_stale"),
     ({"games_ttl": "1h"}, "games_ttl")],
)
def test_bad_cache_settings_name_the_field(
    make_client: MakeClient, settings: dict[str, object], field: str
) -> None:
    with pytest.raises(ga.InvalidParameterError) as caught:
        make_client(**settings)
    assert caught.value.field == field


async def test_close_also_cancels_a_fetch_orphaned_by_invalidate(
    client: GameApiClient, script: Script
) -> None:
    script.gate = asyncio.Event()
    waiter = asyncio.create_task(client.list_games())
    await settle()
    client.invalidate_games()  # the running fetch is no longer the cache's flight
    await client.close()
    with pytest.raises(ga.ClientClosedError):
        await waiter
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_a_background_refresh_failing_with_a_bug_is_counted_logged_and_not_wedged(
    make_client: MakeClient, transport: MockTransport, script: Script, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = False

    async def middleware(call: Call, call_next: Handler) -> Reply:
        if broken:
            raise RuntimeError("bug in a user middleware")
        return await call_next(call)

    client = make_client(transport=transport, retry=RetryPolicy.disabled(),
                         middlewares=[middleware])
    old = await client.list_games()
    clock.advance(TTL + 1)
    broken = True
    with caplog.at_level(logging.WARNING, logger="gameapi_async.cache"):
        assert await client.list_games() is old  # served stale; the refresh fails
        await settle()
    assert client.cache_stats().errors == 1
    failed = [r for r in caplog.records if "refreshing the game list failed" in r.getMessage()]
    assert len(failed) == 1
    assert failed[0].levelno == logging.ERROR
    assert failed[0].exc_info is not None
    assert "bug in a user middleware" in caplog.text
    # Not a transient failure: like a definite error it is not hidden behind the stale list.
    with pytest.raises(RuntimeError):
        await client.list_games()
    assert client.cache_stats().errors == 2
    broken = False
    script.answers.append(ok(range(1, 6), "rid-new"))
    assert (await client.list_games()).request_id == "rid-new"


async def test_a_failed_background_refresh_leaves_no_unretrieved_exception(
    make_client: MakeClient, transport: MockTransport, clock: FakeClock,
) -> None:
    async def middleware(call: Call, call_next: Handler) -> Reply:
        if clock.mono > 2 * TTL:
            raise RuntimeError("boom")
        return await call_next(call)

    contexts: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: contexts.append(context))
    try:
        client = make_client(transport=transport, retry=RetryPolicy.disabled(),
                             middlewares=[middleware])
        await client.list_games()
        clock.advance(2 * TTL)
        await client.list_games()
        await settle()
        gc.collect()
        await client.close()
        gc.collect()
    finally:
        loop.set_exception_handler(None)
    assert contexts == []
