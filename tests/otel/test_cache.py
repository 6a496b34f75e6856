"""``list_games()``: one INTERNAL span per lookup with the cache's outcome; a CLIENT span only
for a fetch that really goes to the platform."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import gameapi_async as ga
from gameapi_async import Call, GameApiClient, Reply, RetryPolicy
from gameapi_async.testing import FakePlatform, ScriptedResponse

from .support import attributes, children, client_spans, lookup_spans, only, points


def outcomes(exporter: InMemorySpanExporter) -> list[str]:
    return [attributes(s)["gameapi.cache.outcome"] for s in lookup_spans(exporter)]


def lookups_counted(reader: InMemoryMetricReader) -> dict[str, int]:
    return {a["gameapi.cache.outcome"]: p.value
            for a, p in points(reader, "gameapi.client.cache.lookups")}


async def test_a_miss_fetches_inside_its_lookup_and_a_hit_makes_no_request(
    otel_client: Callable[..., GameApiClient], exporter: InMemorySpanExporter,
    reader: InMemoryMetricReader,
) -> None:
    client = otel_client()
    first = await client.list_games()
    assert await client.list_games() is first
    miss, hit = lookup_spans(exporter)
    assert attributes(miss) == {"gameapi.endpoint": "list_games", "gameapi.agent_id": 1,
                                "gameapi.cache.outcome": "miss"}
    assert attributes(hit) == {"gameapi.endpoint": "list_games", "gameapi.agent_id": 1,
                               "gameapi.cache.outcome": "hit"}
    assert miss.kind is hit.kind is SpanKind.INTERNAL
    fetch = only(client_spans(exporter))
    assert fetch.name == "POST /api/games/list"
    assert children(exporter, miss) == [fetch]
    assert children(exporter, hit) == []  # a hit pretends no request
    assert lookups_counted(reader) == {"miss": 1, "hit": 1}
    (fetched,) = points(reader, "gameapi.client.call.duration")
    assert fetched[0]["gameapi.endpoint"] == "list_games"
    assert fetched[1].count == 1  # the hit is not a platform call


async def test_callers_joining_a_fetch_share_its_one_request(
    otel_client: Callable[..., GameApiClient], exporter: InMemorySpanExporter,
    reader: InMemoryMetricReader,
) -> None:
    fetching, release = asyncio.Event(), asyncio.Event()

    async def held(call: Call, call_next: Callable[[Call], Awaitable[Reply]]) -> Reply:
        fetching.set()
        await release.wait()
        return await call_next(call)

    client = otel_client(middlewares=[held])
    callers = [asyncio.ensure_future(client.list_games()) for _ in range(3)]
    # The fetch task was created by the first caller, after the other two were scheduled:
    # once it runs, they have joined.
    await asyncio.wait_for(fetching.wait(), 30)
    assert client.cache_stats().joins == 2
    release.set()
    results = await asyncio.wait_for(asyncio.gather(*callers), 30)
    assert results[0] is results[1] is results[2]
    assert sorted(outcomes(exporter)) == ["join", "join", "miss"]
    fetch = only(client_spans(exporter))
    (miss,) = [s for s in lookup_spans(exporter)
               if attributes(s)["gameapi.cache.outcome"] == "miss"]
    assert children(exporter, miss) == [fetch]
    assert lookups_counted(reader) == {"miss": 1, "join": 2}


class SteppedMonotonic:
    """The real wall clock (the fake platform checks signatures against it) with a monotonic
    clock the test moves forward, so a cached list can go stale without waiting."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def test_a_stale_answer_refreshes_in_a_trace_of_its_own_linked_to_the_lookup(
    otel_client: Callable[..., GameApiClient], exporter: InMemorySpanExporter,
    reader: InMemoryMetricReader,
) -> None:
    fetched = asyncio.Event()

    async def tell(call: Call, call_next: Callable[[Call], Awaitable[Reply]]) -> Reply:
        reply = await call_next(call)
        fetched.set()  # the fetch's span ends before its task next yields to the loop
        return reply

    clock = SteppedMonotonic()
    client = otel_client(clock=clock, games_ttl=60, middlewares=[tell])
    await client.list_games()
    fetched.clear()
    clock.skipped += 120  # past the TTL, well within games_max_stale
    await client.list_games()
    await asyncio.wait_for(fetched.wait(), 30)
    assert outcomes(exporter) == ["miss", "stale"]
    stale = lookup_spans(exporter)[1]
    assert children(exporter, stale) == []  # the caller did not wait for the refresh
    refresh = client_spans(exporter)[1]
    assert refresh.parent is None
    assert refresh.context is not None
    assert stale.context is not None
    assert refresh.context.trace_id != stale.context.trace_id
    (link,) = refresh.links
    assert link.context.span_id == stale.context.span_id
    assert client.cache_stats().refreshes == 1
    assert lookups_counted(reader) == {"miss": 1, "stale": 1}


async def test_refresh_true_fetches_again_as_a_miss(
    otel_client: Callable[..., GameApiClient], exporter: InMemorySpanExporter,
) -> None:
    client = otel_client()
    await client.list_games()
    await client.list_games(refresh=True)
    assert outcomes(exporter) == ["miss", "miss"]
    assert len(client_spans(exporter)) == 2


async def test_without_a_cache_every_lookup_fetches(
    otel_client: Callable[..., GameApiClient], exporter: InMemorySpanExporter,
) -> None:
    client = otel_client(games_ttl=0)
    await client.list_games()
    await client.get_game(1)
    assert outcomes(exporter) == ["miss", "miss"]
    assert [children(exporter, s) != [] for s in lookup_spans(exporter)] == [True, True]


async def test_a_failed_fetch_fails_the_lookup_too(
    otel_client: Callable[..., GameApiClient], fake: FakePlatform,
    exporter: InMemorySpanExporter,
) -> None:
    client = otel_client(retry=RetryPolicy.disabled())
    fake.script(ScriptedResponse(error="agent_not_found"))
    with pytest.raises(ga.AgentNotFoundError):
        await client.list_games()
    lookup = only(lookup_spans(exporter))
    fetch = only(client_spans(exporter))
    for span in (lookup, fetch):
        assert span.status.status_code is StatusCode.ERROR
        assert attributes(span)["error.type"] == "agent_not_found"
    assert attributes(lookup)["gameapi.cache.outcome"] == "miss"
