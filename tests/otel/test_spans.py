"""The span of each platform call: name, kind, parent, attributes, attempt and retry events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gameapi_async import Call, GameApiClient, Reply, RetryPolicy
from gameapi_async.testing import FakePlatform, ScriptedResponse

from .support import PLAYER, attributes, children, client_spans, events, only


async def test_a_link_call_is_one_client_span_named_and_attributed_as_an_http_call(
    otel_client: Callable[..., GameApiClient], fake: FakePlatform,
    exporter: InMemorySpanExporter,
) -> None:
    client = otel_client()
    link = await client.get_game_link(game_id=2, agent_session_id="s-1", **PLAYER)
    span = only(exporter.get_finished_spans())
    assert span.name == "POST /api/games/get_game_link"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET  # HTTP convention: success is unset
    port = urlsplit(fake.base_url).port
    assert attributes(span) == {
        "http.request.method": "POST",
        "server.address": "127.0.0.1",
        "server.port": port,
        "url.full": f"{fake.base_url}/api/games/get_game_link",
        "url.template": "/api/games/get_game_link",
        "http.response.status_code": 200,
        "gameapi.endpoint": "get_game_link",
        "gameapi.agent_id": 1,
        "gameapi.attempts": 1,
        "gameapi.request_id": link.request_id,
        "gameapi.clock.offset": 0.0,
    }
    (attempt,) = events(span, "gameapi.attempt")
    assert attempt["gameapi.attempt.number"] == 1
    assert attempt["http.response.status_code"] == 200
    assert attempt["gameapi.request_id"] == link.request_id
    assert attempt["gameapi.attempt.duration"] > 0
    assert "error.type" not in attempt


@pytest.mark.parametrize(
    ("method", "endpoint"),
    [("get_game_link_demo", "get_game_link_demo"), ("get_game_link", "get_game_link")],
)
async def test_each_endpoint_names_its_span(
    otel_client: Callable[..., GameApiClient], exporter: InMemorySpanExporter,
    method: str, endpoint: str,
) -> None:
    client = otel_client()
    extra = {"agent_session_id": "s"} if endpoint == "get_game_link" else {}
    await getattr(client, method)(game_id=1, **PLAYER, **extra)
    span = only(client_spans(exporter))
    assert span.name == f"POST /api/games/{endpoint}"
    assert attributes(span)["gameapi.endpoint"] == endpoint


async def test_the_call_span_is_a_child_of_the_callers_current_span(
    otel_client: Callable[..., GameApiClient], exporter: InMemorySpanExporter,
    tracer_provider: TracerProvider,
) -> None:
    client = otel_client()
    tracer = tracer_provider.get_tracer("the-service")
    with tracer.start_as_current_span("handle request") as parent:
        await client.get_game_link_demo(game_id=1, **PLAYER)
    call = only(client_spans(exporter))
    assert call.parent is not None
    assert call.parent.span_id == parent.get_span_context().span_id
    assert call.context is not None
    assert call.context.trace_id == parent.get_span_context().trace_id


async def test_the_callers_middlewares_run_inside_the_call_span(
    otel_client: Callable[..., GameApiClient], exporter: InMemorySpanExporter,
    tracer_provider: TracerProvider,
) -> None:
    tracer = tracer_provider.get_tracer("the-service")

    async def audited(call: Call, call_next: Callable[[Call], Awaitable[Reply]]) -> Reply:
        with tracer.start_as_current_span("audit"):
            return await call_next(call)

    client = otel_client(middlewares=[audited])
    await client.get_game_link_demo(game_id=1, **PLAYER)
    call = only(client_spans(exporter))
    (audit,) = children(exporter, call)
    assert audit.name == "audit"


async def test_every_attempt_and_retry_wait_is_an_event_on_the_one_span(
    otel_client: Callable[..., GameApiClient], fake: FakePlatform,
    exporter: InMemorySpanExporter,
) -> None:
    client = otel_client(retry=RetryPolicy(attempts=3, wait_initial=0.001, wait_max=0.001))
    fake.script(ScriptedResponse(error="service_unavailable"),
                ScriptedResponse(error="service_unavailable"))
    link = await client.get_game_link_demo(game_id=1, **PLAYER)
    span = only(exporter.get_finished_spans())
    assert span.status.status_code is StatusCode.UNSET
    assert attributes(span)["gameapi.attempts"] == 3
    assert attributes(span)["http.response.status_code"] == 200
    assert attributes(span)["gameapi.request_id"] == link.request_id
    attempts = events(span, "gameapi.attempt")
    assert [a["gameapi.attempt.number"] for a in attempts] == [1, 2, 3]
    assert [a["http.response.status_code"] for a in attempts] == [503, 503, 200]
    assert [a.get("error.type") for a in attempts] == [
        "service_unavailable", "service_unavailable", None,
    ]
    retries = events(span, "gameapi.retry")
    assert [r["gameapi.attempt.number"] for r in retries] == [1, 2]
    assert all(0 <= r["gameapi.retry.wait"] <= 0.001 for r in retries)
    assert all(r["error.type"] == "service_unavailable" for r in retries)
    # The events are in the order things happened: attempt, retry, attempt, retry, attempt.
    assert [e.name for e in span.events] == [
        "gameapi.attempt", "gameapi.retry", "gameapi.attempt", "gameapi.retry",
        "gameapi.attempt",
    ]


async def test_a_clock_resync_shows_the_offset_applied_and_the_resync(
    otel_client: Callable[..., GameApiClient], fake: FakePlatform,
    exporter: InMemorySpanExporter,
) -> None:
    fake.faults.clock_offset = 3600.0  # the platform's clock is an hour ahead of ours
    client = otel_client(retry=RetryPolicy.disabled())
    await client.get_game_link_demo(game_id=1, **PLAYER)
    span = only(exporter.get_finished_spans())
    first, second = events(span, "gameapi.attempt")
    assert first["error.type"] == "request_expired"
    assert first["gameapi.clock.offset"] == 0.0
    assert second["http.response.status_code"] == 200
    assert second["gameapi.clock.offset"] == pytest.approx(3600.0, abs=5.0)
    (resync,) = events(span, "gameapi.clock_resync")
    assert resync["gameapi.clock.resync_reason"] == "request_expired"
    assert resync["gameapi.clock.previous_offset"] == 0.0
    assert resync["gameapi.clock.offset"] == pytest.approx(3600.0, abs=5.0)
    assert attributes(span)["gameapi.clock.offset"] == pytest.approx(3600.0, abs=5.0)
    assert attributes(span)["gameapi.attempts"] == 2
    assert span.status.status_code is StatusCode.UNSET


async def test_with_options_views_report_to_the_same_telemetry(
    otel_client: Callable[..., GameApiClient], exporter: InMemorySpanExporter,
) -> None:
    client = otel_client()
    await client.with_options(timeout=5).get_game_link_demo(game_id=1, **PLAYER)
    assert only(client_spans(exporter)).name == "POST /api/games/get_game_link_demo"


async def test_refused_input_makes_no_span_because_nothing_is_called(
    otel_client: Callable[..., GameApiClient], exporter: InMemorySpanExporter,
) -> None:
    client = otel_client()
    with pytest.raises(ValueError, match="ip"):
        await client.get_game_link_demo(game_id=1, **{**PLAYER, "ip": "not an ip"})
    assert exporter.get_finished_spans() == ()
