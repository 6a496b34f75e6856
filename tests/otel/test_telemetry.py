"""``Telemetry`` itself, the ``telemetry=`` keyword, and what is imported when."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NoOpTracerProvider

import gameapi_async as ga
from gameapi_async import GameApiClient
from gameapi_async.otel import Telemetry
from gameapi_async.testing import FakePlatform

from .support import PLAYER, TOKEN, points

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("field", ["tracer_provider", "meter_provider"])
def test_a_provider_of_the_wrong_kind_is_refused_by_name(field: str) -> None:
    with pytest.raises(ga.InvalidParameterError) as caught:
        Telemetry(**{field: "console"})  # type: ignore[arg-type]
    assert caught.value.field == field


def test_providers_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        Telemetry(TracerProvider())  # type: ignore[misc]


def test_telemetry_must_be_a_telemetry() -> None:
    with pytest.raises(ga.InvalidParameterError) as caught:
        GameApiClient(base_url="https://api.example.test", agent_id=1, api_token="t",
                      telemetry=object())  # type: ignore[arg-type]
    assert caught.value.field == "telemetry"


def test_repr_names_the_providers() -> None:
    assert repr(Telemetry()) == "Telemetry(tracer_provider=global, meter_provider=global)"
    explicit = Telemetry(tracer_provider=TracerProvider(), meter_provider=MeterProvider())
    assert repr(explicit) == (
        "Telemetry(tracer_provider=TracerProvider, meter_provider=MeterProvider)"
    )


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True,
        text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


CALL_THE_FAKE = """
    import asyncio, sys
    from gameapi_async import GameApiClient
    from gameapi_async.testing import FakePlatform

    async def main(**options):
        async with FakePlatform(agent_id=1, api_token="t") as fake:
            async with GameApiClient(base_url=fake.base_url, agent_id=1, api_token="t",
                                     **options) as client:
                await client.list_games()
                await client.get_game_link_demo(
                    game_id=1, player_id="p", player_username="u", language="en",
                    currency="EUR", home_url="https://h/", ip="1.2.3.4")

    def imported():
        return sorted(m for m in sys.modules
                      if m.split(".")[0] == "opentelemetry" or m == "gameapi_async.otel")
"""


def test_without_telemetry_nothing_of_opentelemetry_is_imported() -> None:
    out = run_python(CALL_THE_FAKE + """
    asyncio.run(main())
    print(imported())
    """)
    assert out.strip() == "[]"


def test_with_telemetry_it_is_and_the_check_above_would_see_it() -> None:
    out = run_python(CALL_THE_FAKE + """
    from gameapi_async.otel import Telemetry
    asyncio.run(main(telemetry=Telemetry()))
    print(imported())
    """)
    assert "'opentelemetry.trace'" in out
    assert "'gameapi_async.otel'" in out


def test_global_providers_set_after_the_client_is_built_are_used() -> None:
    out = run_python(CALL_THE_FAKE + """
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from gameapi_async.otel import Telemetry

    telemetry = Telemetry()  # before any SDK: the API's proxies
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    asyncio.run(main(telemetry=telemetry))
    print(sorted(s.name for s in exporter.get_finished_spans()))
    print(sorted(m.name for rm in reader.get_metrics_data().resource_metrics
                 for sm in rm.scope_metrics for m in sm.metrics))
    """)
    spans, names = out.strip().splitlines()
    assert spans == str(sorted(
        ["POST /api/games/list", "list_games", "POST /api/games/get_game_link_demo"]
    ))
    assert "gameapi.client.call.duration" in names


def test_the_otel_extra_is_the_api_alone_and_the_package_never_imports_the_sdk() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    otel = project["optional-dependencies"]["otel"]
    assert [requirement.split(">")[0] for requirement in otel] == ["opentelemetry-api"]
    imported = set()
    for source in (ROOT / "gameapi_async" / "otel").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert any(name.startswith("opentelemetry") for name in imported)
    assert not any(name.startswith("opentelemetry.sdk") for name in imported), imported


def test_an_sdk_set_later_is_seen_within_a_second_of_the_last_look() -> None:
    out = run_python("""
    import types
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    import gameapi_async.otel._gate as gate_module
    from gameapi_async.otel._gate import TracingGate

    now = [1000.0]
    gate_module.time = types.SimpleNamespace(monotonic=lambda: now[0])
    gate = TracingGate(None)
    seen = [gate()]                      # no SDK yet
    trace.set_tracer_provider(TracerProvider())
    now[0] += 0.5
    seen.append(gate())                  # not looked at again yet
    now[0] += 0.6
    seen.append(gate())                  # a second later: the SDK is used
    now[0] += 0.1
    seen.append(gate())                  # and stays
    print(seen)
    """)
    assert out.strip() == "[False, False, True, True]"


async def test_an_explicit_no_op_tracer_provider_still_gets_metrics() -> None:
    reader = InMemoryMetricReader()
    telemetry = Telemetry(tracer_provider=NoOpTracerProvider(),
                          meter_provider=MeterProvider(metric_readers=[reader]))
    async with FakePlatform(agent_id=1, api_token=TOKEN) as fake, GameApiClient(
        base_url=fake.base_url, agent_id=1, api_token=TOKEN, telemetry=telemetry
    ) as client:
        await client.list_games()
        await client.list_games()
        await client.get_game_link_demo(game_id=1, **PLAYER)
    counts = {a["gameapi.endpoint"]: p.count
              for a, p in points(reader, "gameapi.client.call.duration")}
    assert counts == {"list_games": 1, "get_game_link_demo": 1}
    lookups = {a["gameapi.cache.outcome"]: p.value
               for a, p in points(reader, "gameapi.client.cache.lookups")}
    assert lookups == {"miss": 1, "hit": 1}
