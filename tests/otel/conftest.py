"""Fixtures: a Telemetry on SDK providers with in-memory exporters, a fake platform, clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gameapi_async import GameApiClient, RetryPolicy
from gameapi_async.otel import Telemetry
from gameapi_async.testing import FakePlatform

from ..support import closing_clients
from .support import TOKEN


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def tracer_provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def meter_provider(reader: InMemoryMetricReader) -> Iterator[MeterProvider]:
    provider = MeterProvider(metric_readers=[reader])
    yield provider
    provider.shutdown()


@pytest.fixture
def telemetry(tracer_provider: TracerProvider, meter_provider: MeterProvider) -> Telemetry:
    return Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)


@pytest.fixture
async def fake() -> AsyncIterator[FakePlatform]:
    async with FakePlatform(agent_id=1, api_token=TOKEN) as platform:
        yield platform


# Retries wait a millisecond at most: enough to be real waits, never a test's bottleneck.
QUICK_RETRY = RetryPolicy(attempts=3, wait_initial=0.001, wait_max=0.001)


@pytest.fixture
async def otel_client(
    fake: FakePlatform, telemetry: Telemetry
) -> AsyncIterator[Callable[..., GameApiClient]]:
    """Clients of ``fake`` reporting to ``telemetry``; closed when the test ends."""
    async with closing_clients(
        base_url=fake.base_url, agent_id=1, api_token=TOKEN, telemetry=telemetry,
        retry=QUICK_RETRY,
    ) as factory:
        yield factory
