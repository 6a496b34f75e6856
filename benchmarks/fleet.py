"""The fleet suite: our shared store beside cashews ``@cache(lock=True)`` and aiocache
``cached_stampede``, on one redis-server, in one run.

For each library: a cold stampede of P processes x C callers on a fetch taking L seconds
(fetches made, slowest caller), Redis commands per warm hit (``CONFIG RESETSTAT`` then
``INFO stats``), takeover time after the fetching process is SIGKILLed, and the cost of a
10,000-game list read from Redis. The anchors' fetch sleeps L then returns the same catalogue
as plain dicts and counts itself with an INCR; ours goes through ``GameApiClient`` to a
FakePlatform answering after L, counted in its request log.

Run: ``python -m benchmarks --suite fleet [--quick]`` (needs the ``bench`` extra).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import queue
import signal
import socket
import statistics
import time
from typing import Any

import attrs
import redis

from gameapi_async import Game, GameApiClient, RedisGameListStore, RetryPolicy
from gameapi_async.fleet._shared_list import decode, encode
from gameapi_async.fleet._store import Lease
from gameapi_async.testing import FakePlatform
from tests.fleet.redis_server import RedisServer

MODES = ("gameapi_async", "cashews", "aiocache")
TOKEN = "bench-token"
CACHE_TTL = 3 * 3600  # the SDK's default games_ttl, for every library


@attrs.frozen
class FleetSettings:
    processes: int = 8
    callers: int = 500
    latency: float = 2.0
    warm_hits: int = 2000
    lease: float = 10.0  # ours, the default
    takeover_cap: float = 30.0  # seconds we wait for a takeover before giving up
    decode_games: int = 10_000
    decode_rounds: int = 20

    @classmethod
    def quick(cls) -> FleetSettings:
        return cls(processes=2, callers=50, latency=0.3, warm_hits=200, lease=2.0,
                   takeover_cap=10.0, decode_games=10_000, decode_rounds=3)


def _catalogue(count: int) -> list[dict[str, Any]]:
    return [
        {"id": i, "title": f"Game {i}", "brand": f"Brand {i % 40}",
         "image_url": f"https://cdn.example.test/games/{i}.png", "demo": i % 3 == 0}
        for i in range(1, count + 1)
    ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- one library, inside one process ------------------------------------------------------


class _Cached:
    """``await cached()`` -> the list, through one library; ``aclose()`` after."""

    def __init__(self, mode: str, port: int, base_url: str, latency: float, lease: float,
                 games: int = 24) -> None:
        self.mode = mode
        self._port = port
        self._base_url = base_url
        self._latency = latency
        self._lease = lease
        self._games = _catalogue(games)
        self._counter = redis.asyncio.Redis(port=port)
        self._closers: list[Any] = [self._counter.aclose]

    async def _fetch(self) -> list[dict[str, Any]]:
        await self._counter.set("bench:fetching", 1)
        await self._counter.incr("bench:fetches")
        await asyncio.sleep(self._latency)
        return self._games

    async def setup(self) -> Any:
        url = f"redis://127.0.0.1:{self._port}/0"
        if self.mode == "gameapi_async":
            store = RedisGameListStore(url, lease=self._lease)
            client = GameApiClient(base_url=self._base_url, agent_id=1, api_token=TOKEN,
                                   games_store=store, retry=RetryPolicy.disabled(), timeout=3600)
            self._closers[:0] = [client.close, store.aclose]
            return client.list_games
        if self.mode == "cashews":
            from cashews import Cache

            cache = Cache()
            cache.setup(url)
            self._closers.insert(0, cache.close)
            return cache(ttl=CACHE_TTL, lock=True, key="bench:cashews")(self._fetch)
        from aiocache import Cache as AioCache
        from aiocache import cached_stampede

        decorator = cached_stampede(
            lease=2, ttl=CACHE_TTL, cache=AioCache.REDIS, endpoint="127.0.0.1",
            port=self._port, key="bench:aiocache",
        )
        return decorator(self._fetch)

    async def aclose(self) -> None:
        for close in self._closers:
            await close()


def _worker(spec: dict[str, Any], results: Any) -> None:
    """A fleet process: wait for the go key, then run the callers; report by the queue."""
    # aiocache logs a traceback for every failed cache read; the table counts them instead.
    logging.getLogger("aiocache").setLevel(logging.CRITICAL)
    asyncio.run(_work(spec, results))


async def _work(spec: dict[str, Any], results: Any) -> None:
    cached = _Cached(spec["mode"], spec["port"], spec["base_url"], spec["latency"],
                     spec["lease"])
    call = await cached.setup()
    control = redis.asyncio.Redis(port=spec["port"])
    await control.incr("bench:ready")
    await control.blpop(["bench:go"], timeout=300)  # one token per process: a start line
    started = time.perf_counter()
    finished: list[float] = []

    async def one() -> None:
        await asyncio.wait_for(call(), spec["cap"])
        finished.append(time.perf_counter() - started)

    outcome = await asyncio.gather(*(one() for _ in range(spec["callers"])),
                                   return_exceptions=True)
    failures = sum(isinstance(o, BaseException) for o in outcome)
    results.put({"slowest": max(finished, default=spec["cap"]), "failures": failures})
    await control.aclose()
    await cached.aclose()


async def _wait_for(server: redis.Redis, key: str, at_least: int, cap: float) -> None:
    give_up = time.monotonic() + cap
    while int(server.get(key) or 0) < at_least:
        if time.monotonic() > give_up:
            raise RuntimeError(f"timed out waiting for {key} >= {at_least}")
        await asyncio.sleep(0.01)


# -- the measurements ---------------------------------------------------------------------


async def _stampede(mode: str, settings: FleetSettings, port: int, fake: FakePlatform,
                    server: redis.Redis) -> dict[str, Any]:
    server.flushall()
    before = len(fake.requests_to("/api/games/list"))
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    spec = {"mode": mode, "port": port, "base_url": fake.base_url, "latency": settings.latency,
            "lease": settings.lease, "callers": settings.callers, "cap": 120.0}
    processes = [context.Process(target=_worker, args=(spec, results))
                 for _ in range(settings.processes)]
    for process in processes:
        process.start()
    await _wait_for(server, "bench:ready", settings.processes, 120)
    server.rpush("bench:go", *([1] * settings.processes))
    answers = [await asyncio.to_thread(results.get, True, 180) for _ in processes]
    for process in processes:
        await asyncio.to_thread(process.join, 60)
    fetches = (len(fake.requests_to("/api/games/list")) - before if mode == "gameapi_async"
               else int(server.get("bench:fetches") or 0))
    return {
        "callers": settings.processes * settings.callers,
        "fetches": fetches,
        "slowest_s": round(max(a["slowest"] for a in answers), 3),
        "failures": sum(a["failures"] for a in answers),
    }


async def _warm_commands(mode: str, settings: FleetSettings, port: int, fake: FakePlatform,
                         server: redis.Redis) -> float:
    server.flushall()
    fake.faults.latency = 0.0
    cached = _Cached(mode, port, fake.base_url, 0.0, settings.lease)
    call = await cached.setup()
    await call()
    server.config_resetstat()
    for _ in range(settings.warm_hits):
        await call()
    processed = int(server.info("stats")["total_commands_processed"]) - 1  # the INFO
    await cached.aclose()
    return round(processed / settings.warm_hits, 2)


async def _takeover(mode: str, settings: FleetSettings, port: int, fake: FakePlatform,
                    server: redis.Redis) -> float | None:
    """Seconds from the SIGKILL of the fetching process to the other one's answer;
    ``None`` when none came within ``takeover_cap``."""
    server.flushall()
    fake.faults.stall_rate, fake.faults.stall_seconds = 1.0, 3600.0
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    spec = {"mode": mode, "port": port, "base_url": fake.base_url, "latency": 3600.0,
            "lease": settings.lease, "callers": 1, "cap": 3600.0}
    holder = context.Process(target=_worker, args=(spec, results))
    holder.start()
    await _wait_for(server, "bench:ready", 1, 120)
    server.rpush("bench:go", 1)
    if mode == "gameapi_async":
        await _wait_for_lock(server)
    else:
        await _wait_for(server, "bench:fetching", 1, 120)
    spec = spec | {"latency": 0.0, "cap": settings.takeover_cap}
    waiter = context.Process(target=_worker, args=(spec, results))
    waiter.start()
    await _wait_for(server, "bench:ready", 2, 120)
    server.rpush("bench:go", 1)
    killed = time.perf_counter()
    os.kill(holder.pid or 0, signal.SIGKILL)
    fake.faults.stall_rate = 0.0  # only now: the holder can never have been answered
    try:  # the cap is enforced here: a library may not let its wait be cancelled
        answer = await asyncio.to_thread(results.get, True, settings.takeover_cap + 2)
    except queue.Empty:
        answer = {"failures": 1}
        waiter.kill()
    took = time.perf_counter() - killed
    await asyncio.to_thread(waiter.join, 60)
    await asyncio.to_thread(holder.join, 60)
    return None if answer["failures"] or took > settings.takeover_cap else round(took, 2)


async def _wait_for_lock(server: redis.Redis) -> None:
    give_up = time.monotonic() + 120
    while not any(k.endswith(b":lock") for k in server.scan_iter("gameapi:*")):
        if time.monotonic() > give_up:
            raise RuntimeError("the fetch lock never appeared")
        await asyncio.sleep(0.01)


async def _read_cost(mode: str, settings: FleetSettings, port: int,
                     server: redis.Redis) -> float:
    """Microseconds to get a ``decode_games`` list out of Redis as the library does on a
    read: ours, a version change (read + decode into GameList); theirs, a hit."""
    server.flushall()
    rounds: list[float] = []
    if mode == "gameapi_async":
        store = RedisGameListStore(f"redis://127.0.0.1:{port}/0")
        games = _catalogue(settings.decode_games)
        from gameapi_async._models import GameList, structure

        value = structure({"games": games, "total": len(games), "request_id": "r"}, GameList)
        lease = await store.acquire("bench", "token-bench")
        assert isinstance(lease, Lease)
        await store.write("bench", lease, encode(value, time.time()), 600)
        for _ in range(settings.decode_rounds):
            start = time.perf_counter()
            got = await store.read("bench")
            assert got is not None
            listed, _ = decode(got.value, 64 * 1024 * 1024)
            rounds.append(time.perf_counter() - start)
            assert isinstance(listed.games[0], Game)
        await store.aclose()
    else:
        cached = _Cached(mode, port, "http://unused", 0.0, settings.lease,
                         games=settings.decode_games)
        call = await cached.setup()
        await call()
        for _ in range(settings.decode_rounds):
            start = time.perf_counter()
            assert len(await call()) == settings.decode_games
            rounds.append(time.perf_counter() - start)
        await cached.aclose()
    return round(statistics.median(rounds) * 1e6, 1)


async def run_fleet(settings: FleetSettings) -> dict[str, Any]:
    port = _free_port()
    server_process = RedisServer(port=port).start()
    server = redis.Redis(port=port)
    rows: list[dict[str, Any]] = []
    try:
        async with FakePlatform(agent_id=1, api_token=TOKEN) as fake:
            for mode in MODES:
                fake.faults.latency = settings.latency
                row: dict[str, Any] = {"mode": mode}
                row |= await _stampede(mode, settings, port, fake, server)
                row["commands_per_warm_hit"] = await _warm_commands(
                    mode, settings, port, fake, server)
                row["takeover_s"] = await _takeover(mode, settings, port, fake, server)
                row["read_10k_us"] = await _read_cost(mode, settings, port, server)
                rows.append(row)
    finally:
        server.close()
        server_process.close()
    return {"settings": attrs.asdict(settings), "rows": rows}


def fleet_markdown(results: dict[str, Any]) -> str:
    s = results["settings"]
    lines = [
        f"**Fleet** ({s['processes']} processes x {s['callers']} concurrent callers, fetch "
        f"taking {s['latency']} s, one redis-server; our lock lease {s['lease']} s; a takeover "
        f"not seen within {s['takeover_cap']} s is shown as '>'):",
        "",
        "| library | callers | fetches | failed callers | slowest caller | "
        "Redis commands / warm hit | "
        f"takeover after SIGKILL | read {s['decode_games']:,} games from Redis |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["rows"]:
        takeover = (f"> {s['takeover_cap']} s" if row["takeover_s"] is None
                    else f"{row['takeover_s']} s")
        lines.append(
            f"| {row['mode']} | {row['callers']} | {row['fetches']} | {row['failures']} | "
            f"{row['slowest_s']} s | "
            f"{row['commands_per_warm_hit']} | {takeover} | {row['read_10k_us']:,} µs |"
        )
    return "\n".join(lines)
