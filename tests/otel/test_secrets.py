"""No secret in any exported attribute: no token, signature, player data or launch link."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import gameapi_async as ga
from gameapi_async import GameApiClient, RetryPolicy
from gameapi_async.testing import FakePlatform, ScriptedResponse

from .support import IP, PLAYER, TOKEN, all_metric_points

PLAYER_LINK = "https://games.example/play?token=PLAYER-SESSION-TOKEN-31337&gameId=1"


def exported_texts(
    exporter: InMemorySpanExporter, reader: InMemoryMetricReader
) -> Iterator[str]:
    """Every name, attribute key and value, event, link and status the SDK would export."""
    for span in exporter.get_finished_spans():
        yield span.name
        yield span.status.description or ""
        yield from _flatten(span.attributes)
        for event in span.events:
            yield event.name
            yield from _flatten(event.attributes)
        for link in span.links:
            yield from _flatten(link.attributes)
    for name, attributes in all_metric_points(reader):
        yield name
        yield from _flatten(attributes)


def _flatten(attributes: Mapping[str, object] | None) -> Iterator[str]:
    for key, value in (attributes or {}).items():
        yield key
        yield json.dumps(value) if not isinstance(value, str) else value


async def test_nothing_secret_is_exported_on_any_path(
    otel_client: Callable[..., GameApiClient], fake: FakePlatform,
    exporter: InMemorySpanExporter, reader: InMemoryMetricReader,
) -> None:
    client = otel_client(retry=RetryPolicy(attempts=2, wait_initial=0.001, wait_max=0.001))
    links = [
        await client.get_game_link(game_id=2, agent_session_id="session-SECRET-9", **PLAYER),
        await client.get_game_link_demo(game_id=1, **PLAYER),
    ]
    await client.list_games()
    # Answers that quote the player: an error message echoing the IP, a malformed answer
    # whose body holds a launch link, a retried failure that does too.
    fake.script(
        ScriptedResponse(error="validation_error", message=f"ip: {IP} is not allowed"),
        ScriptedResponse(json={"status": "success", "request_id": "r",
                               "content": {"link": PLAYER_LINK}}),
        ScriptedResponse(status=503, body=PLAYER_LINK.encode()),
        ScriptedResponse(status=503, body=PLAYER_LINK.encode()),
    )
    with pytest.raises(ga.ValidationError) as echoed:
        await client.get_game_link_demo(game_id=1, **PLAYER)
    assert IP in str(echoed.value)  # the platform really did quote the IP
    with pytest.raises(ga.MalformedResponseError) as quoted:
        await client.get_game_link_demo(game_id=1, **PLAYER)
    assert PLAYER_LINK[:40] in str(quoted.value)  # and the body really held a link
    with pytest.raises(ga.MalformedResponseError):
        await client.get_game_link_demo(game_id=1, **PLAYER)
    fake.faults.clock_offset = 900.0  # a resync too
    await client.get_game_link_demo(game_id=1, **PLAYER)

    signatures = [r.headers["X-Signature"] for r in fake.requests if "X-Signature" in r.headers]
    assert len(signatures) >= 9
    secrets = [TOKEN, IP, PLAYER_LINK, "PLAYER-SESSION-TOKEN", PLAYER["player_id"],
               PLAYER["player_username"], "session-SECRET-9",
               *[link.url for link in links], *signatures]
    texts = list(exported_texts(exporter, reader))
    assert len(texts) > 100  # spans, events and metrics were really exported
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"{secret[:12]}... exported in {text[:80]!r}"
