"""Metrics: call duration, attempts, retries and the clock offset, by endpoint and outcome."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import gameapi_async as ga
from gameapi_async import GameApiClient, RetryPolicy
from gameapi_async.otel import Telemetry
from gameapi_async.testing import FakePlatform, ScriptedResponse

from .support import PLAYER, TOKEN, points


async def test_call_duration_by_endpoint_and_outcome(
    otel_client: Callable[..., GameApiClient], fake: FakePlatform,
    reader: InMemoryMetricReader,
) -> None:
    client = otel_client(retry=RetryPolicy.disabled())
    await client.get_game_link_demo(game_id=1, **PLAYER)
    await client.get_game_link_demo(game_id=1, **PLAYER)
    with pytest.raises(ga.GameNotFoundError):
        await client.get_game_link_demo(game_id=999_999, **PLAYER)
    server = {"server.address": "127.0.0.1", "server.port": urlsplit(fake.base_url).port}
    measured = {tuple(sorted(a.items())): p for a, p in
                points(reader, "gameapi.client.call.duration")}
    ok = {**server, "gameapi.endpoint": "get_game_link_demo", "gameapi.outcome": "success",
          "http.response.status_code": 200}
    failed = {**server, "gameapi.endpoint": "get_game_link_demo", "gameapi.outcome": "error",
              "error.type": "game_not_found", "http.response.status_code": 404}
    assert set(measured) == {tuple(sorted(ok.items())), tuple(sorted(failed.items()))}
    assert measured[tuple(sorted(ok.items()))].count == 2
    assert measured[tuple(sorted(failed.items()))].count == 1
    assert all(p.sum > 0 for p in measured.values())


async def test_the_duration_is_in_seconds_with_http_buckets(
    otel_client: Callable[..., GameApiClient], reader: InMemoryMetricReader,
) -> None:
    await otel_client().get_game_link_demo(game_id=1, **PLAYER)
    data = reader.get_metrics_data()
    assert data is not None
    (metric,) = [m for rm in data.resource_metrics for sm in rm.scope_metrics
                 for m in sm.metrics if m.name == "gameapi.client.call.duration"]
    assert metric.unit == "s"
    (point,) = metric.data.data_points
    assert point.explicit_bounds[:3] == (0.005, 0.01, 0.025)
    assert 0 < point.sum < 30  # seconds, not milliseconds


async def test_attempts_and_retries_are_counted(
    otel_client: Callable[..., GameApiClient], fake: FakePlatform,
    reader: InMemoryMetricReader,
) -> None:
    client = otel_client()  # three attempts
    fake.script(ScriptedResponse(error="service_unavailable"),
                ScriptedResponse(error="rate_limited"))
    await client.get_game_link_demo(game_id=1, **PLAYER)
    (attempts,) = points(reader, "gameapi.client.attempts")
    assert attempts[0]["gameapi.outcome"] == "success"
    assert attempts[1].value == 3
    retries = {a["error.type"]: (a["http.response.status_code"], p.value)
               for a, p in points(reader, "gameapi.client.retries")}
    assert retries == {"service_unavailable": (503, 1), "rate_limited": (429, 1)}


async def test_the_clock_offset_gauge_follows_the_platforms_clock(
    otel_client: Callable[..., GameApiClient], fake: FakePlatform,
    reader: InMemoryMetricReader,
) -> None:
    client = otel_client()
    ((_, before),) = points(reader, "gameapi.client.clock.offset")
    assert before.value == 0.0  # reported from the start, before any answer
    fake.faults.clock_offset = -7200.0
    await client.get_game_link_demo(game_id=1, **PLAYER)
    ((attributes, after),) = points(reader, "gameapi.client.clock.offset")
    assert after.value == pytest.approx(-7200.0, abs=5.0)
    assert after.value == client.clock_offset
    assert attributes == {"server.address": "127.0.0.1",
                          "server.port": urlsplit(fake.base_url).port}


async def test_one_telemetry_serves_several_clients_apart(
    telemetry: Telemetry, reader: InMemoryMetricReader,
) -> None:
    async with FakePlatform(agent_id=1, api_token=TOKEN) as one, \
            FakePlatform(agent_id=1, api_token=TOKEN) as two:
        for fake in (one, two, two):
            async with GameApiClient(base_url=fake.base_url, agent_id=1, api_token=TOKEN,
                                     telemetry=telemetry) as client:
                await client.get_game_link_demo(game_id=1, **PLAYER)
        ports = {a["server.port"]: p.count
                 for a, p in points(reader, "gameapi.client.call.duration")}
        assert ports == {urlsplit(one.base_url).port: 1, urlsplit(two.base_url).port: 2}


async def test_two_telemetries_on_one_meter_provider_both_keep_reporting(
    meter_provider: MeterProvider, reader: InMemoryMetricReader,
) -> None:
    async with FakePlatform(agent_id=1, api_token=TOKEN) as fake:
        for _ in range(2):
            telemetry = Telemetry(meter_provider=meter_provider)
            async with GameApiClient(base_url=fake.base_url, agent_id=1, api_token=TOKEN,
                                     telemetry=telemetry) as client:
                await client.get_game_link_demo(game_id=1, **PLAYER)
    ((_, point),) = points(reader, "gameapi.client.call.duration")
    assert point.count == 2


async def test_metrics_are_recorded_when_every_span_is_sampled_out(
    meter_provider: MeterProvider, reader: InMemoryMetricReader,
    exporter: InMemorySpanExporter,
) -> None:
    tracer_provider = TracerProvider(sampler=ALWAYS_OFF)
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    async with FakePlatform(agent_id=1, api_token=TOKEN) as fake, GameApiClient(
        base_url=fake.base_url, agent_id=1, api_token=TOKEN, telemetry=telemetry
    ) as client:
        await client.list_games()
        await client.get_game_link_demo(game_id=1, **PLAYER)
    assert exporter.get_finished_spans() == ()
    counts = {a["gameapi.endpoint"]: p.count
              for a, p in points(reader, "gameapi.client.call.duration")}
    assert counts == {"list_games": 1, "get_game_link_demo": 1}
    tracer_provider.shutdown()
