"""The five benchmarks. Each returns plain data; ``__main__`` runs them and writes reports.

CPU per request is the client process's CPU time (``time.process_time``) over a batch divided
by the batch size: the server runs in another process, so only the client's work is counted.
Modes are interleaved round by round in a rotating order, and ratios are paired (each mode
against raw aiohttp in the same round) with the median round reported, because this machine
is shared and noisy.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import attrs

from gameapi_async import GameApiClient
from gameapi_async._protocol import RawResponse, parse_game_list, parse_response

from .callbacks import callback_overhead
from .clients import TOKEN, Mode, available_modes
from .server import BenchServer, catalogue, envelope


@attrs.frozen
class Settings:
    levels: tuple[int, ...] = (1, 16, 64, 256)
    rounds: int = 7
    requests: int = 4000
    cached_calls: int = 200_000
    stampede: int = 10_000
    sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    in_flight: int = 10_000
    callback_requests: int = 4000

    @classmethod
    def quick(cls) -> Settings:
        return cls(levels=(1, 16, 64), rounds=2, requests=300, cached_calls=20_000,
                   stampede=2_000, sizes=(1_000, 10_000), in_flight=1_000, callback_requests=300)


async def _drive(mode: Mode, requests: int, concurrency: int) -> None:
    """``requests`` calls by a fixed pool of ``concurrency`` workers, each one call at a time.

    A pool rather than one task per request behind a semaphore: the harness then costs next to
    nothing per request, so the client's own CPU is what differs between modes.
    """
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await mode.call()

    await asyncio.gather(*(worker() for _ in range(min(concurrency, requests))))


async def _measure(mode: Any, count: int, level: int) -> tuple[float, float]:
    """CPU seconds and wall seconds of ``count`` calls through ``mode``."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    await _drive(mode, count, level)
    return time.process_time() - cpu, time.perf_counter() - wall


async def overhead(
    server_url: str, settings: Settings, modes: list[Any] | None = None
) -> list[dict[str, Any]]:
    """Benchmark 1: get_game_link through each mode at each concurrency level.

    Each round compares every mode with raw aiohttp measured right beside it, in an ABBA
    pattern (raw, mode, mode, raw; the reverse on odd rounds): half the requests in each slice,
    CPU summed per mode. Slices side by side share the machine's load, and ABBA cancels a load
    that drifts during the round, so the per-round ratio is a fair pair even on a shared, noisy
    machine. The reported ratio is the median of those per-round ratios, with their range.
    """
    modes = available_modes() if modes is None else modes
    baseline = next(m for m in modes if m.name == "raw aiohttp")
    others = [m for m in modes if m is not baseline]
    samples: dict[tuple[str, int], list[tuple[float, float]]] = {}
    ratios: dict[tuple[str, int], list[float]] = {}
    for level in settings.levels:
        requests = max(settings.requests // (4 if level == 1 else 1), 100)
        for round_number in range(settings.rounds):
            for other_class in others:
                # httpx costs milliseconds per request under concurrency: fewer of them give
                # the same per-request figure without stretching the run to many minutes.
                count = requests // 8 if other_class.name == "raw httpx" else requests
                half = max(count // 2, 50)
                raw, other = baseline(server_url), other_class(server_url)
                for mode in (raw, other):
                    await _drive(mode, min(200, half), level)  # warm connections and caches
                pattern = (raw, other, other, raw) if round_number % 2 == 0 else (
                    other, raw, raw, other)
                spent = {raw.name: [0.0, 0.0], other.name: [0.0, 0.0]}
                for mode in pattern:
                    cpu, wall = await _measure(mode, half, level)
                    spent[mode.name][0] += cpu
                    spent[mode.name][1] += wall
                await raw.close()
                await other.close()
                per_request = {name: cpu / (2 * half) * 1e6 for name, (cpu, _) in spent.items()}
                for name, (_, wall) in spent.items():
                    samples.setdefault((name, level), []).append(
                        (per_request[name], 2 * half / wall)
                    )
                ratios.setdefault((other.name, level), []).append(
                    per_request[other.name] / per_request[raw.name]
                )
                ratios.setdefault((raw.name, level), []).append(1.0)
    rows = []
    for level in settings.levels:
        for mode_class in modes:
            runs = samples[(mode_class.name, level)]
            paired = ratios[(mode_class.name, level)]
            rows.append({
                "mode": mode_class.name,
                "concurrency": level,
                "cpu_us_per_request": round(statistics.median(c for c, _ in runs), 1),
                "throughput_rps": round(statistics.median(t for _, t in runs)),
                "cpu_ratio_to_raw_aiohttp": round(statistics.median(paired), 3),
                "cpu_ratio_min": round(min(paired), 3),
                "cpu_ratio_max": round(max(paired), 3),
                "rounds": settings.rounds,
            })
    return rows


async def cached_list_cost(server_url: str, settings: Settings) -> dict[str, Any]:
    """Benchmark 2: the cost of a cached list_games() call (the hit path)."""
    async with GameApiClient(base_url=server_url, agent_id=1, api_token=TOKEN) as client:
        await client.list_games()
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(settings.cached_calls // 5):
                await client.list_games()
            best = min(best, (time.perf_counter() - start) / (settings.cached_calls // 5))
        hits = client.cache_stats().hits
    return {"us_per_call": round(best * 1e6, 2), "calls": settings.cached_calls, "hits": hits}


async def _control(session: aiohttp.ClientSession, url: str, **settings: Any) -> dict[str, Any]:
    async with session.post(url + "/_control", json=settings) as response:
        result: dict[str, Any] = await response.json()
        return result


async def stampede(server_url: str, settings: Settings) -> dict[str, Any]:
    """Benchmark 3: many concurrent list_games() on a cold cache."""
    async with aiohttp.ClientSession() as session:
        before = (await _control(session, server_url))["list_requests"]
        await _control(session, server_url, delay=0.05)  # a realistic upstream time
        async with GameApiClient(base_url=server_url, agent_id=1, api_token=TOKEN) as client:
            start = time.perf_counter()
            results = await asyncio.gather(
                *(client.list_games() for _ in range(settings.stampede))
            )
            elapsed = time.perf_counter() - start
        after = (await _control(session, server_url, delay=0.0))["list_requests"]
    return {
        "callers": settings.stampede,
        "upstream_requests": after - before,
        "seconds": round(elapsed, 4),
        "all_same_list": all(r is results[0] for r in results),
    }


def catalogue_scale(settings: Settings) -> list[dict[str, Any]]:
    """Benchmark 4: decipher + structure a catalogue against json.loads of the same bytes."""
    rows = []
    for size in settings.sizes:
        body = envelope({"games": catalogue(size), "total": size})
        response = RawResponse(200, body)

        def best(work: Any) -> float:
            times = []
            for _ in range(5):
                start = time.perf_counter()
                work()
                times.append(time.perf_counter() - start)
            return min(times)

        loads = best(lambda body=body: json.loads(body))
        sdk = best(lambda response=response: parse_game_list(parse_response(response, now=0.0)))
        rows.append({
            "games": size,
            "bytes": len(body),
            "json_loads_ms": round(loads * 1e3, 2),
            "sdk_parse_ms": round(sdk * 1e3, 2),
            "ratio_to_json_loads": round(sdk / loads, 2),
        })
    return rows


def memory(settings: Settings) -> dict[str, Any]:
    """Benchmark 5: peak RSS with many calls in flight, and RSS across completed batches.

    Runs in a fresh interpreter so earlier benchmarks do not inflate the peak.
    """
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", str(settings.in_flight)],
        capture_output=True, text=True, check=True, timeout=600,
        cwd=Path(__file__).resolve().parent.parent,
    )
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


async def run_all(settings: Settings) -> dict[str, Any]:
    with BenchServer(games=200) as server:
        results: dict[str, Any] = {
            "overhead": await overhead(server.url, settings),
            "cached_list_games": await cached_list_cost(server.url, settings),
            "stampede": await stampede(server.url, settings),
        }
    results["callbacks"] = await callback_overhead(settings.rounds, settings.callback_requests)
    results["catalogue"] = catalogue_scale(settings)
    results["memory"] = memory(settings)
    return results
