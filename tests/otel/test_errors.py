"""Every way a call can fail sets the span's error status, ``error.type`` and the metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import gameapi_async as ga
from gameapi_async import Call, GameApiClient, Reply, RetryPolicy
from gameapi_async._errors import ERROR_CLASSES
from gameapi_async.testing import FakePlatform, ScriptedResponse
from gameapi_async.testing._faults import ERRORS

from .support import PLAYER, attributes, client_spans, events, only, points


async def demo_link(client: GameApiClient) -> ga.GameLink:
    return await client.get_game_link_demo(game_id=1, **PLAYER)


def assert_failed_call(
    exporter: InMemorySpanExporter, reader: InMemoryMetricReader, *, error_type: str,
    status: int | None, outcome: str = "error",
) -> None:
    span = only(client_spans(exporter))
    assert span.status.status_code is StatusCode.ERROR
    assert attributes(span)["error.type"] == error_type
    assert attributes(span).get("http.response.status_code") == status
    (duration,) = [p for a, p in points(reader, "gameapi.client.call.duration")
                   if a["gameapi.endpoint"] == "get_game_link_demo"]
    assert duration.count == 1
    (measured,) = [a for a, _ in points(reader, "gameapi.client.call.duration")]
    assert measured["gameapi.outcome"] == outcome
    assert measured["error.type"] == error_type
    assert measured.get("http.response.status_code") == status


@pytest.mark.parametrize("code", sorted(ERRORS))
async def test_every_documented_platform_error_is_its_code(
    otel_client: Callable[..., GameApiClient], fake: FakePlatform,
    exporter: InMemorySpanExporter, reader: InMemoryMetricReader, code: str,
) -> None:
    client = otel_client(retry=RetryPolicy.disabled())
    fake.script(ScriptedResponse(error=code))
    with pytest.raises(ERROR_CLASSES[code]) as caught:
        await demo_link(client)
    status = ERRORS[code][0]
    assert_failed_call(exporter, reader, error_type=code, status=status)
    span = only(client_spans(exporter))
    assert attributes(span)["gameapi.request_id"] == caught.value.request_id
    assert attributes(span)["gameapi.attempts"] == 1
    assert span.status.description == f"{ERROR_CLASSES[code].__name__} (HTTP {status})"
    (attempt,) = events(span, "gameapi.attempt")
    assert attempt["error.type"] == code


async def test_an_unknown_platform_code_keeps_its_code(
    otel_client: Callable[..., GameApiClient], fake: FakePlatform,
    exporter: InMemorySpanExporter, reader: InMemoryMetricReader,
) -> None:
    client = otel_client(retry=RetryPolicy.disabled())
    fake.script(ScriptedResponse(error="rate_limited"))
    with pytest.raises(ga.ApiError):
        await demo_link(client)
    assert_failed_call(exporter, reader, error_type="rate_limited", status=429)


async def test_a_code_unfit_for_a_metric_falls_back_to_the_class(
    otel_client: Callable[..., GameApiClient], fake: FakePlatform,
    exporter: InMemorySpanExporter, reader: InMemoryMetricReader,
) -> None:
    client = otel_client(retry=RetryPolicy.disabled())
    fake.script(ScriptedResponse(error="Not A Code! <script>", status=400))
    with pytest.raises(ga.ApiError):
        await demo_link(client)
    assert_failed_call(exporter, reader, error_type="ApiError", status=400)


ANSWERS: list[tuple[str, ScriptedResponse, dict[str, Any], type[ga.GameApiError], int | None]] = [
    ("not an envelope", ScriptedResponse(json={"status": "success"}), {},
     ga.MalformedResponseError, 200),
    ("an HTML error page", ScriptedResponse(status=502, body=b"<html>Bad gateway</html>"), {},
     ga.MalformedResponseError, 502),
    ("too large", ScriptedResponse(json={"status": "success", "pad": "x" * 4096}),
     {"max_response_bytes": 1024}, ga.ResponseTooLargeError, 200),
    ("a dropped connection", ScriptedResponse(drop=True), {}, ga.NetworkError, None),
]


@pytest.mark.parametrize(
    ("answer", "options", "error", "status"),
    [case[1:] for case in ANSWERS], ids=[case[0] for case in ANSWERS],
)
async def test_answers_that_are_not_envelopes_and_lost_connections(
    otel_client: Callable[..., GameApiClient], fake: FakePlatform,
    exporter: InMemorySpanExporter, reader: InMemoryMetricReader,
    answer: ScriptedResponse, options: dict[str, Any], error: type[ga.GameApiError],
    status: int | None,
) -> None:
    client = otel_client(retry=RetryPolicy.disabled(), **options)
    fake.script(answer)
    with pytest.raises(error):
        await demo_link(client)
    assert_failed_call(exporter, reader, error_type=error.__name__, status=status)


async def test_a_timeout(
    otel_client: Callable[..., GameApiClient], fake: FakePlatform,
    exporter: InMemorySpanExporter, reader: InMemoryMetricReader,
) -> None:
    fake.faults.stall_rate = 1.0
    fake.faults.stall_seconds = 60.0  # far past the attempt's timeout, however loaded the host
    client = otel_client(retry=RetryPolicy.disabled(), timeout=0.3)
    with pytest.raises(ga.RequestTimeoutError):
        await demo_link(client)
    assert_failed_call(exporter, reader, error_type="RequestTimeoutError", status=None)


async def test_transient_failures_to_the_last_attempt_report_every_attempt(
    otel_client: Callable[..., GameApiClient], fake: FakePlatform,
    exporter: InMemorySpanExporter, reader: InMemoryMetricReader,
) -> None:
    client = otel_client()  # three attempts
    fake.script(*[ScriptedResponse(error="internal_error")] * 3)
    with pytest.raises(ga.ApiError) as caught:
        await demo_link(client)
    assert caught.value.attempts == 3
    assert_failed_call(exporter, reader, error_type="internal_error", status=500)
    span = only(client_spans(exporter))
    assert attributes(span)["gameapi.attempts"] == 3
    assert len(events(span, "gameapi.attempt")) == 3
    assert len(events(span, "gameapi.retry")) == 2
    ((counted, attempts),) = points(reader, "gameapi.client.attempts")
    assert (counted["gameapi.outcome"], counted["error.type"], attempts.value) == (
        "error", "internal_error", 3)


def hold_in_flight() -> tuple[asyncio.Event, Callable[..., Awaitable[Reply]]]:
    """A middleware that says when a call is on its way to the platform."""
    sent = asyncio.Event()

    async def middleware(call: Call, call_next: Callable[[Call], Awaitable[Reply]]) -> Reply:
        sent.set()
        return await call_next(call)

    return sent, middleware


async def test_a_client_closed_during_the_call(
    otel_client: Callable[..., GameApiClient], fake: FakePlatform,
    exporter: InMemorySpanExporter, reader: InMemoryMetricReader,
) -> None:
    fake.faults.stall_rate = 1.0
    sent, middleware = hold_in_flight()
    client = otel_client(retry=RetryPolicy.disabled(), middlewares=[middleware])
    call = asyncio.ensure_future(demo_link(client))
    await asyncio.wait_for(sent.wait(), 30)
    await client.close()
    with pytest.raises(ga.ClientClosedError):
        await asyncio.wait_for(call, 30)
    assert_failed_call(exporter, reader, error_type="ClientClosedError", status=None)


async def test_a_cancelled_call(
    otel_client: Callable[..., GameApiClient], fake: FakePlatform,
    exporter: InMemorySpanExporter, reader: InMemoryMetricReader,
) -> None:
    fake.faults.stall_rate = 1.0
    sent, middleware = hold_in_flight()
    client = otel_client(retry=RetryPolicy.disabled(), middlewares=[middleware])
    call = asyncio.ensure_future(demo_link(client))
    await asyncio.wait_for(sent.wait(), 30)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert_failed_call(exporter, reader, error_type="cancelled", status=None,
                       outcome="cancelled")


async def test_a_bug_in_a_callers_middleware(
    otel_client: Callable[..., GameApiClient],
    exporter: InMemorySpanExporter, reader: InMemoryMetricReader,
) -> None:
    async def broken(call: Call, call_next: Callable[[Call], Awaitable[Reply]]) -> Reply:
        raise LookupError("a bug")

    client = otel_client(middlewares=[broken])
    with pytest.raises(LookupError):
        await demo_link(client)
    assert_failed_call(exporter, reader, error_type="LookupError", status=None)
