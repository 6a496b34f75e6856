"""The outage suite: what a fleet sends a platform that is down, and how fast it comes back.

P worker processes x C callers each make demo-link calls (one every ``pause`` seconds a caller)
against one FakePlatform; after ``before`` seconds the platform goes down (every request 503)
for ``down`` seconds, then answers again, and the callers run ``after`` seconds more. Three
configurations, one after the other, on the same platform and redis-server:

- ``today``: the retries of every call on their own (``RetryPolicy(budget=None)``, no breaker);
- ``in-process``: the default retry budget and ``CircuitBreaker()``, each process by itself;
- ``fleet-shared``: the same, shared by the fleet through ``RedisGameListStore``.

Reported per configuration: upstream requests while the platform was down, the callers' errors
(during the outage, and in calls started after the platform came back), and the time to full
recovery (from the platform coming back to the last error any caller saw). With the ``plot``
extra, a PNG of upstream requests per second over time.

Run: ``python -m benchmarks --suite outage [--quick]``.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import queue
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import attrs

from gameapi_async import (
    CircuitBreaker,
    GameApiClient,
    GameApiError,
    RedisGameListStore,
    RetryPolicy,
)
from gameapi_async.testing import FakePlatform
from tests.fleet.redis_server import RedisServer

CONFIGS = ("today", "in-process", "fleet-shared")
TOKEN = "outage-token"
DEMO_PATH = "/api/games/get_game_link_demo"
PLAYER = {"game_id": 1, "player_id": "p1", "player_username": "u", "language": "en",
          "currency": "EUR", "home_url": "https://home.example/", "ip": "203.0.113.1"}


@attrs.frozen
class OutageSettings:
    processes: int = 8
    callers: int = 500
    # Seconds between one caller's calls: 4,000 callers make 40 calls/s, so even today's four
    # attempts a call (160 requests/s) stay well within what the fake platform answers on a
    # loaded 2-core machine (about 300/s); a saturated fake would cap, and hide, amplification.
    pause: float = 100.0
    before: float = 5.0
    down: float = 30.0
    after: float = 20.0
    cool_down: float = 2.0  # the breaker's default

    @classmethod
    def quick(cls) -> OutageSettings:
        return cls(processes=2, callers=20, pause=0.3, before=0.5, down=1.5, after=1.5,
                   cool_down=0.3)


# -- one worker process ---------------------------------------------------------------------


def _worker(spec: dict[str, Any], go: Any, results: Any) -> None:
    results.put(asyncio.run(_work(spec, go, results)))


async def _work(spec: dict[str, Any], go: Any, results: Any
                ) -> list[tuple[float, float, str | None]]:
    config = spec["config"]
    store = RedisGameListStore(spec["redis_url"]) if config == "fleet-shared" else None
    client = GameApiClient(
        base_url=spec["base_url"], agent_id=1, api_token=TOKEN, games_store=store,
        retry=RetryPolicy(budget=None) if config == "today" else RetryPolicy(),
        breaker=None if config == "today" else CircuitBreaker(cool_down=spec["cool_down"]),
    )
    records: list[tuple[float, float, str | None]] = []
    rng = random.Random()
    await client.get_game_link_demo(**PLAYER)  # connected (and, shared, listening)
    results.put("ready")
    # Every process ready: the main process hands out the start time.
    start_at = await asyncio.to_thread(go.get, True, 600)
    stop_at = start_at + spec["run"]

    async def caller() -> None:
        first = start_at + rng.uniform(0, spec["pause"])
        await asyncio.sleep(max(0.0, min(first, stop_at) - time.time()))
        while (started := time.time()) < stop_at:
            try:
                await client.get_game_link_demo(**PLAYER)
                kind = None
            except GameApiError as error:
                kind = type(error).__name__
            records.append((started, time.time(), kind))
            await asyncio.sleep(max(0.0, min(started + spec["pause"], stop_at) - time.time()))

    try:
        await asyncio.gather(*(caller() for _ in range(spec["callers"])))
    finally:
        await client.close()
        if store is not None:
            await store.aclose()
    return records


# -- one configuration ----------------------------------------------------------------------


async def _run_config(config: str, settings: OutageSettings, fake: FakePlatform,
                      redis_url: str) -> dict[str, Any]:
    fake.come_back()
    run = settings.before + settings.down + settings.after
    spec = {"config": config, "base_url": fake.base_url, "redis_url": redis_url,
            "callers": settings.callers, "pause": settings.pause, "run": run,
            "cool_down": settings.cool_down}
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    go = context.Queue()
    workers = [context.Process(target=_worker, args=(spec, go, results))
               for _ in range(settings.processes)]
    for worker in workers:
        worker.start()
    for _ in workers:  # imported, connected, one call made
        ready = await asyncio.to_thread(results.get, True, 300)
        assert ready == "ready", ready
    fake.requests.clear()
    start_at = time.time() + 0.5
    for _ in workers:
        go.put(start_at)
    down_at = start_at + settings.before
    up_at = down_at + settings.down
    stop_at = up_at + settings.after
    series: list[tuple[float, int]] = []

    async def sample() -> None:  # upstream requests per half second, for the plot
        seen = len(fake.requests)
        while True:
            await asyncio.sleep(0.5)
            count = len(fake.requests)
            series.append((round(time.time() - down_at, 2), count - seen))
            seen = count

    sampler = asyncio.create_task(sample())
    await asyncio.sleep(max(0.0, down_at - time.time()))
    # The platform's own moments, not the planned ones: "after recovery" starts when it answers.
    down_at = time.time()
    fake.go_down(seconds=settings.down)
    up_at = down_at + settings.down
    records: list[tuple[float, float, str | None]] = []
    try:
        for _ in workers:  # the last calls may still retry for their 30 s deadline
            wait = stop_at - time.time() + 90
            records += await asyncio.to_thread(results.get, True, max(wait, 1.0))
    except queue.Empty:
        print(f"outage suite: a {config} worker did not report", flush=True)
    finally:
        sampler.cancel()
        for worker in workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()
    outage_requests = sum(r.outcome == "outage" for r in fake.requests)
    errors = [r for r in records if r[2] is not None]
    after_errors = [r for r in errors if r[0] >= up_at]
    last_error = max((r[1] for r in errors), default=up_at)
    during = [r for r in records if down_at <= r[0] < up_at]
    after = [r for r in records if r[0] >= up_at]
    return {
        "config": config,
        "calls": len(records),
        "upstream_during_outage": outage_requests,
        "calls_during_outage": sum(down_at <= r[0] < up_at for r in records),
        "errors_during_outage": sum(down_at <= r[0] < up_at for r in errors),
        "errors_after_recovery": len(after_errors),
        "calls_after_recovery": sum(r[0] >= up_at for r in records),
        "recovery_seconds": round(max(0.0, last_error - up_at), 2),
        "error_kinds": sorted({r[2] for r in errors if r[2]}),
        # What failed after recovery, and when (seconds from the platform coming back).
        "after_recovery_error_kinds": dict(Counter(r[2] for r in after_errors)),
        "after_recovery_error_window": (
            [round(min(r[0] for r in after_errors) - up_at, 3),
             round(max(r[1] for r in after_errors) - up_at, 3)] if after_errors else None
        ),
        # How long calls took: a failing call while down (fail fast or not), and calls started
        # after recovery (what waiting for the platform costs once it is back).
        "seconds_to_fail_while_down": _quantiles([r[1] - r[0] for r in during if r[2]]),
        "seconds_per_call_after_recovery": _quantiles([r[1] - r[0] for r in after]),
        "series": series,
    }


def _quantiles(durations: list[float]) -> dict[str, float] | None:
    """Median, 99th percentile and maximum, in seconds."""
    if not durations:
        return None
    ordered = sorted(durations)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": round(at(0.5), 3), "p99": round(at(0.99), 3), "max": round(ordered[-1], 3)}


async def run_outage(settings: OutageSettings) -> dict[str, Any]:
    server = RedisServer().start()
    try:
        async with FakePlatform(agent_id=1, api_token=TOKEN) as fake:
            rows = [await _run_config(config, settings, fake, server.url) for config in CONFIGS]
    finally:
        server.close()
    return {"settings": attrs.asdict(settings), "rows": rows}


def outage_markdown(results: dict[str, Any]) -> str:
    settings = results["settings"]
    lines = [
        f"{settings['processes']} processes x {settings['callers']} callers (a call every "
        f"{settings['pause']} s each), platform down {settings['down']} s then up; breaker "
        f"cool-down {settings['cool_down']} s. \"After recovery\": calls started once the "
        "platform answers again.",
        "",
        "| configuration | upstream requests while down | calls while down | errors while down "
        "| median s to fail while down | calls after recovery | errors after recovery "
        "| p99 / max s a call after recovery | time to full recovery (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["rows"]:
        fail = row["seconds_to_fail_while_down"] or {"p50": 0.0}
        after = row["seconds_per_call_after_recovery"] or {"p99": 0.0, "max": 0.0}
        kinds = ", ".join(f"{n} {kind}" for kind, n in row["after_recovery_error_kinds"].items())
        lines.append(
            f"| {row['config']} | {row['upstream_during_outage']} | {row['calls_during_outage']}"
            f" | {row['errors_during_outage']} | {fail['p50']} | {row['calls_after_recovery']}"
            f" | {row['errors_after_recovery']}{f' ({kinds})' if kinds else ''}"
            f" | {after['p99']} / {after['max']} | {row['recovery_seconds']} |"
        )
    today, *others = results["rows"]
    for row in others:
        ratio = today["upstream_during_outage"] / max(row["upstream_during_outage"], 1)
        lines.append(f"\n{row['config']}: {ratio:.1f}x fewer upstream requests while down "
                     "than today's retries.")
    return "\n".join(lines)


def outage_plot(results: dict[str, Any], path: Path) -> bool:
    """Upstream requests per second over time, one line per configuration (``plot`` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axis = plt.subplots(figsize=(9, 4))
    for row in results["rows"]:
        times = [t for t, _ in row["series"]]
        rates = [n / 0.5 for _, n in row["series"]]
        axis.plot(times, rates, label=row["config"])
    settings = results["settings"]
    axis.axvspan(0, settings["down"], color="red", alpha=0.1, label="platform down")
    axis.set_xlabel("seconds from the start of the outage")
    axis.set_ylabel("upstream requests / s")
    axis.set_yscale("symlog")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def write_outage(results: dict[str, Any], folder: Path, quick: bool) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    stem = "outage-quick" if quick else "outage"
    table = outage_markdown(results)
    written = [folder / f"{stem}.json", folder / f"{stem}.md"]
    written[0].write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    written[1].write_text(table + "\n", encoding="utf-8")
    if outage_plot(results, folder / f"{stem}.png"):
        written.append(folder / f"{stem}.png")
    return written
