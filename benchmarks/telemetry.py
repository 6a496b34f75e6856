"""``python -m benchmarks.telemetry [--quick]``: what ``telemetry=`` costs per call, in one run.

Three clients make the same ``get_game_link`` calls against the loopback benchmark server:

- *no telemetry*: the baseline;
- *Telemetry(), no SDK*: ``telemetry=Telemetry()`` with only the API's no-op providers (no
  global SDK is ever set in this process); issue 13 budgets it at 2% over the baseline;
- *Telemetry(SDK)*: explicit SDK providers recording every span (a batch processor feeding an
  exporter that discards) and every metric, for information.

Each round measures each telemetry mode beside the baseline in ABBA slices (baseline, mode,
mode, baseline; the reverse on odd rounds), so both share the machine's load and a drifting
load cancels out; the ratio reported is the median of the per-round paired CPU ratios, with
their range. The same pairs are also run with an in-process transport (no sockets, no
aiohttp): there the SDK's own cost is the whole call, so the added microseconds stand out.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from gameapi_async import GameApiClient
from gameapi_async._protocol import RawResponse, SignedRequest
from gameapi_async.otel import Telemetry

from .clients import PARAMS, TOKEN
from .server import BenchServer, catalogue, envelope
from .suite import _drive, _measure

_GROUPS = 4  # ABBA groups per round: short slices side by side share the load best

BASELINE = "no telemetry"
NOOP = "Telemetry(), no SDK"
RECORDING = "Telemetry(SDK)"

_LINK = envelope({"url": "https://game.example.com/play?token=abc123&gameId=123"})
_LIST = envelope({"games": catalogue(200), "total": 200})


class _Discard(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class _InProcess:
    """A transport answering every request at once with the server's link envelope."""

    async def send(self, request: SignedRequest, timeouts: object) -> RawResponse:
        return RawResponse(200, _LIST if request.endpoint.name == "list_games" else _LINK)

    async def aclose(self) -> None:
        pass


class _Mode:
    """One client, driven like the main suite's modes (``call``/``close``)."""

    def __init__(self, name: str, base_url: str, *, in_process: bool) -> None:
        settings: dict[str, Any] = {"base_url": base_url, "agent_id": 1, "api_token": TOKEN}
        if in_process:
            settings["transport"] = _InProcess()
        self._providers: tuple[TracerProvider, MeterProvider] | None = None
        if name == NOOP:
            settings["telemetry"] = Telemetry()
        elif name == RECORDING:
            tracer_provider = TracerProvider()
            tracer_provider.add_span_processor(BatchSpanProcessor(_Discard()))
            meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
            self._providers = (tracer_provider, meter_provider)
            settings["telemetry"] = Telemetry(
                tracer_provider=tracer_provider, meter_provider=meter_provider
            )
        self.name = name
        self._client = GameApiClient(**settings)

    async def call(self) -> str:
        return (await self._client.get_game_link(**PARAMS)).url

    async def lookup(self) -> int:
        return len((await self._client.list_games()).games)

    async def close(self) -> None:
        await self._client.close()
        if self._providers is not None:
            for provider in self._providers:
                provider.shutdown()


async def paired(
    base_url: str, modes: Sequence[str], *, in_process: bool, rounds: int, requests: int,
    concurrency: int,
) -> list[dict[str, Any]]:
    """Each mode against the baseline, ABBA slices per round; median of per-round ratios."""
    half = max(requests // 2, 50)
    per_request: dict[str, list[float]] = {name: [] for name in (BASELINE, *modes)}
    ratios: dict[str, list[float]] = {name: [] for name in modes}
    for round_number in range(rounds):
        for name in modes:
            base = _Mode(BASELINE, base_url, in_process=in_process)
            other = _Mode(name, base_url, in_process=in_process)
            for mode in (base, other):
                await _drive(mode, min(200, half), concurrency)  # warm connections and caches
            pattern = (base, other, other, base) if round_number % 2 == 0 else (
                other, base, base, other)
            spent = {BASELINE: 0.0, name: 0.0}
            for mode in pattern * _GROUPS:
                cpu, _ = await _measure(mode, half // _GROUPS, concurrency)
                spent[mode.name] += cpu
            await base.close()
            await other.close()
            for key, cpu in spent.items():
                per_request[key].append(cpu / (2 * (half // _GROUPS) * _GROUPS) * 1e6)
            ratios[name].append(spent[name] / spent[BASELINE])
    rows = []
    for name in (BASELINE, *modes):
        paired_ratios = ratios.get(name, [1.0])
        us = statistics.median(per_request[name])
        rows.append({
            "transport": "in-process" if in_process else "loopback",
            "concurrency": concurrency,
            "mode": name,
            "cpu_us_per_call": round(us, 2),
            "ratio_to_no_telemetry": round(statistics.median(paired_ratios), 4),
            "ratio_min": round(min(paired_ratios), 4),
            "ratio_max": round(max(paired_ratios), 4),
            "rounds": rounds,
        })
    base_us = rows[0]["cpu_us_per_call"]
    for row in rows:
        row["added_us_per_call"] = round(
            (row["ratio_to_no_telemetry"] - 1) * base_us, 2
        )
    return rows


async def cached_lookups(*, rounds: int, calls: int) -> list[dict[str, Any]]:
    """``list_games()`` answered from the cache (no I/O at all), with and without telemetry:
    the path where telemetry's share is largest."""
    ratios: list[float] = []
    per_call: dict[str, list[float]] = {BASELINE: [], NOOP: []}
    for round_number in range(rounds):
        base = _Mode(BASELINE, "https://bench.invalid", in_process=True)
        other = _Mode(NOOP, "https://bench.invalid", in_process=True)
        spent = {BASELINE: 0.0, NOOP: 0.0}
        for mode in (base, other):
            await mode.lookup()  # fill the cache
        pattern = (base, other, other, base) if round_number % 2 == 0 else (
            other, base, base, other)
        for mode in pattern * _GROUPS:
            gc.collect()
            started = time.process_time()
            for _ in range(calls // (2 * _GROUPS)):
                await mode.lookup()
            spent[mode.name] += time.process_time() - started
        await base.close()
        await other.close()
        for key, cpu in spent.items():
            per_call[key].append(cpu / (calls // (2 * _GROUPS) * 2 * _GROUPS) * 1e6)
        ratios.append(spent[NOOP] / spent[BASELINE])
    base_us = statistics.median(per_call[BASELINE])
    return [{
        "transport": "cache hit",
        "concurrency": 1,
        "mode": name,
        "cpu_us_per_call": round(statistics.median(per_call[name]), 2),
        "ratio_to_no_telemetry": round(statistics.median(ratios) if name == NOOP else 1.0, 4),
        "ratio_min": round(min(ratios) if name == NOOP else 1.0, 4),
        "ratio_max": round(max(ratios) if name == NOOP else 1.0, 4),
        "added_us_per_call": round(
            (statistics.median(ratios) - 1) * base_us if name == NOOP else 0.0, 2
        ),
        "rounds": rounds,
    } for name in (BASELINE, NOOP)]


async def run(*, rounds: int, requests: int, concurrency: int) -> list[dict[str, Any]]:
    modes = (NOOP, RECORDING)
    with BenchServer() as server:
        loopback = await paired(server.url, modes, in_process=False, rounds=rounds,
                                requests=requests, concurrency=concurrency)
    in_process = await paired("https://bench.invalid", modes, in_process=True, rounds=rounds,
                              requests=requests * 4, concurrency=concurrency)
    cached = await cached_lookups(rounds=rounds, calls=requests * 10)
    return loopback + in_process + cached


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| transport | mode | client CPU / call | vs no telemetry (median, range) | added |",
        "|---|---|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['transport']} (c={row['concurrency']}) | {row['mode']} | "
            f"{row['cpu_us_per_call']} µs | {row['ratio_to_no_telemetry']:.3f}x "
            f"({row['ratio_min']:.3f}-{row['ratio_max']:.3f}) | {row['added_us_per_call']} µs |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.telemetry")
    parser.add_argument("--quick", action="store_true", help="a few small rounds")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args(argv)
    rounds, requests = (1, 100) if args.quick else (args.rounds, args.requests)
    rows = asyncio.run(run(rounds=rounds, requests=requests, concurrency=args.concurrency))
    print(json.dumps(rows, indent=2) if args.json else markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
