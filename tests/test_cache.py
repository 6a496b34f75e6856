"""The game-list cache, through the client: stampedes, expiry, stale serving, failures; and at
its edges: invalidation, the stale window's bounds, the back-off after a failed refresh, and
what the log says."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import random
import weakref
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


def answer(status: int, code: str) -> RawResponse:
    return RawResponse(status, json.dumps(failure(code)).encode())


class Extreme(random.Random):
    """Every ``uniform(a, b)`` draw at one end of its range: the TTL jitter and the back-off
    after a failed refresh then take their documented extreme values."""

    def __init__(self, end: str) -> None:
        super().__init__(0)
        self.end = end

    def uniform(self, a: float, b: float) -> float:
        return a if self.end == "low" else b



@pytest.fixture
def script() -> Script:
    return Script(ok())


@pytest.fixture
def transport(script: Script) -> MockTransport:
    return MockTransport(script)


@pytest.fixture
def client(make_client: MakeClient, transport: MockTransport) -> GameApiClient:
    return make_client(transport=transport, retry=RetryPolicy.disabled())


def cached_client(make_client: MakeClient, transport: MockTransport,
                  **settings: object) -> GameApiClient:
    return make_client(transport=transport, retry=RetryPolicy.disabled(), **settings)



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


# -- at the edges ----------------------------------------------------------------------------
# Each case below pins a line that mutation testing (docs/testing.md) showed the broader tests
# above leave free. Only public behaviour is used, so these hold for any cache store behind the
# client.

# -- invalidate -----------------------------------------------------------------------------

async def test_invalidate_drops_a_fresh_list(
    make_client: MakeClient, transport: MockTransport, script: Script
) -> None:
    client = cached_client(make_client, transport)
    await client.list_games()
    client.invalidate_games()
    script.answers.append(ok(range(1, 6), "rid-new"))
    assert (await client.list_games()).request_id == "rid-new"
    assert len(transport.requests) == 2


async def test_invalidate_drops_a_stale_list_instead_of_serving_it(
    make_client: MakeClient, transport: MockTransport, script: Script, clock: FakeClock
) -> None:
    client = cached_client(make_client, transport)
    await client.list_games()
    clock.advance(TTL + 1)
    client.invalidate_games()
    script.answers.append(ok(range(1, 6), "rid-new"))
    assert (await client.list_games()).request_id == "rid-new"
    assert client.cache_stats().stale_served == 0
    assert client.cache_stats().age == 0.0


async def test_a_fetch_started_between_two_invalidations_never_writes(
    make_client: MakeClient, transport: MockTransport, script: Script
) -> None:
    client = cached_client(make_client, transport)
    client.invalidate_games()
    script.gate = asyncio.Event()
    script.answers.extend([ok([1], "between"), ok([1, 2], "after")])
    waiter = asyncio.create_task(client.list_games())
    await settle()
    client.invalidate_games()
    script.gate.set()
    assert (await waiter).request_id == "between"
    assert (await client.list_games()).request_id == "after"
    assert len(transport.requests) == 2


# -- the stale window ------------------------------------------------------------------------

@pytest.mark.parametrize(("max_stale", "window"), [(24 * 3600.0, 24 * 3600.0), (60.0, TTL)])
async def test_a_list_is_served_stale_until_the_longer_of_max_stale_and_the_ttl(
    make_client: MakeClient, transport: MockTransport, script: Script, clock: FakeClock,
    max_stale: float, window: float,
) -> None:
    client = cached_client(make_client, transport, games_max_stale=max_stale,
                           rng=Extreme("low"))
    old = await client.list_games()
    script.default = answer(503, "overloaded")
    clock.advance(window - 1)
    assert await client.list_games() is old
    clock.advance(1)
    with pytest.raises(ga.ApiError) as caught:
        await client.list_games()
    assert caught.value.code == "overloaded"


async def test_every_hit_and_miss_is_counted(
    make_client: MakeClient, transport: MockTransport
) -> None:
    client = cached_client(make_client, transport)
    for refresh in (False, False, False, True, False):
        await client.list_games(refresh=refresh)
    stats = client.cache_stats()
    assert (stats.misses, stats.hits, stats.joins, len(transport.requests)) == (2, 3, 0, 2)


async def test_every_background_refresh_is_counted(
    make_client: MakeClient, transport: MockTransport, clock: FakeClock
) -> None:
    client = cached_client(make_client, transport)
    await client.list_games()
    for _ in range(3):
        clock.advance(TTL + 1)
        await client.list_games()
        await settle()
    stats = client.cache_stats()
    assert (stats.refreshes, stats.stale_served, len(transport.requests)) == (3, 3, 4)


# -- after a failed background refresh -----------------------------------------------------

@pytest.mark.parametrize(("end", "backoff"), [("low", 30.0), ("high", 60.0)])
async def test_after_a_transient_failure_no_refresh_starts_for_the_back_off(
    make_client: MakeClient, transport: MockTransport, script: Script, clock: FakeClock,
    end: str, backoff: float,
) -> None:
    client = cached_client(make_client, transport, rng=Extreme(end))
    old = await client.list_games()
    clock.advance(TTL + 1)
    script.default = answer(503, "overloaded")
    assert await client.list_games() is old
    await settle()
    assert len(transport.requests) == 2
    clock.advance(backoff - 0.5)
    assert await client.list_games() is old
    await settle()
    assert len(transport.requests) == 2
    clock.advance(0.5)
    assert await client.list_games() is old
    await settle()
    assert len(transport.requests) == 3


async def test_a_good_list_ends_the_back_off(
    make_client: MakeClient, transport: MockTransport, script: Script, clock: FakeClock
) -> None:
    client = cached_client(make_client, transport, games_ttl=10, rng=Extreme("high"))
    await client.list_games()
    clock.advance(11)
    script.answers.append(answer(503, "overloaded"))
    await client.list_games()  # stale; the refresh fails: no refresh for 60 s
    await settle()
    await client.list_games(refresh=True)  # a good list arrives anyway
    clock.advance(11)
    await client.list_games()  # stale again, 22 s after the failure: refresh at once
    await settle()
    assert len(transport.requests) == 4


async def test_a_failed_foreground_fetch_sets_no_back_off(
    make_client: MakeClient, transport: MockTransport, script: Script, clock: FakeClock
) -> None:
    client = cached_client(make_client, transport, games_ttl=10, rng=Extreme("high"))
    await client.list_games()
    script.answers.append(answer(503, "overloaded"))
    with pytest.raises(ga.ApiError):
        await client.list_games(refresh=True)
    clock.advance(11)  # well within any back-off
    await client.list_games()  # stale: a background refresh starts at once
    await settle()
    assert len(transport.requests) == 3


async def test_a_failed_foreground_fetch_keeps_the_cached_list(
    make_client: MakeClient, transport: MockTransport, script: Script, clock: FakeClock
) -> None:
    client = cached_client(make_client, transport)
    cached = await client.list_games()
    script.answers.append(answer(403, "invalid_signature"))
    with pytest.raises(ga.InvalidSignatureError):
        await client.list_games(refresh=True)
    assert await client.list_games() is cached
    clock.advance(TTL + 1)
    assert await client.list_games() is cached  # and served stale past the TTL


def cache_records(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records
            if r.name == "gameapi_async.cache"]


async def test_a_transient_refresh_failure_is_logged_with_the_age_served(
    make_client: MakeClient, transport: MockTransport, script: Script, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = cached_client(make_client, transport, rng=Extreme("low"))
    await client.list_games()
    clock.advance(TTL + 1)
    script.answers.append(answer(503, "overloaded"))
    with caplog.at_level(logging.WARNING, logger="gameapi_async.cache"):
        await client.list_games()
        await settle()
    ((level, message),) = cache_records(caplog)
    assert level == logging.WARNING
    assert message.startswith("refreshing the game list failed (")
    assert "overloaded" in message
    assert message.endswith(f"); serving the cached list, {TTL + 1:.0f} s old")


async def test_a_definite_refresh_failure_is_logged_as_an_error(
    make_client: MakeClient, transport: MockTransport, script: Script, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = cached_client(make_client, transport)
    await client.list_games()
    clock.advance(TTL + 1)
    script.answers.append(answer(403, "invalid_signature"))
    with caplog.at_level(logging.WARNING, logger="gameapi_async.cache"):
        await client.list_games()
        await settle()
    ((level, message),) = cache_records(caplog)
    assert level == logging.ERROR
    assert message.startswith("refreshing the game list failed (")
    assert "invalid_signature" in message
    assert message.endswith("); dropping the cached list")


async def test_a_bug_in_a_refresh_is_logged_naming_the_exception_type(
    make_client: MakeClient, transport: MockTransport, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken_after_the_first(call: Call, call_next: Handler) -> Reply:
        if transport.requests:
            raise KeyError("bug")
        return await call_next(call)

    client = make_client(transport=transport, retry=RetryPolicy.disabled(),
                         middlewares=[broken_after_the_first])
    await client.list_games()
    clock.advance(TTL + 1)
    with caplog.at_level(logging.WARNING, logger="gameapi_async.cache"):
        await client.list_games()
        await settle()
    assert cache_records(caplog) == [(
        logging.ERROR,
        "refreshing the game list failed with an unexpected KeyError; dropping the cached list",
    )]


async def test_a_caller_waiting_when_the_client_closes_is_told_why(
    make_client: MakeClient, transport: MockTransport, script: Script
) -> None:
    client = cached_client(make_client, transport)
    script.gate = asyncio.Event()
    waiter = asyncio.create_task(client.list_games())
    await settle()
    await client.close()
    with pytest.raises(ga.ClientClosedError) as caught:
        await waiter
    assert str(caught.value) == "the client was closed while the game list was being fetched"


async def test_a_finished_fetch_keeps_no_list_alive(
    make_client: MakeClient, transport: MockTransport
) -> None:
    # With caching off each call fetches; the cache must not hold on to finished fetches.
    client = cached_client(make_client, transport, games_ttl=0)
    old = weakref.ref(await client.list_games())
    await client.list_games()
    await settle()
    gc.collect()
    assert old() is None
