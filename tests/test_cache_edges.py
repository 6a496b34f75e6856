"""The game-list cache at its edges, through the client: invalidation of a cached list, the
stale window's bounds, the back-off after a failed refresh, and what the log says. Each case
pins a line that mutation testing (docs/testing.md) showed the broader tests of test_cache.py
leave free. Only public behaviour is used, so these hold for any cache store behind the client.
"""

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
from gameapi_async.testing import MockTransport

from .support import FakeClock, Script, failure, game_list_body

TTL = 3 * 3600.0
MakeClient = Callable[..., GameApiClient]


def ok(ids: range | list[int] = range(1, 4), request_id: str = "rid") -> RawResponse:
    return RawResponse(200, game_list_body(ids, request_id))


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


def cached_client(make_client: MakeClient, transport: MockTransport,
                  **settings: object) -> GameApiClient:
    return make_client(transport=transport, retry=RetryPolicy.disabled(), **settings)


async def settle() -> None:
    """Let background tasks run to their next wait."""
    for _ in range(5):
        await asyncio.sleep(0)


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
