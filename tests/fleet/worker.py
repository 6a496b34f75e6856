"""One fleet worker process: ``python -m tests.fleet.worker REDIS_URL BASE_URL TOKEN LEASE``.

Reads commands on stdin, one per line, answers one JSON line each on stdout:
``call N`` (N concurrent ``list_games()``), ``advance S`` (move this process's clock),
``quit``. Says ``{"ready": pid}`` once its store answers.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import attrs

from gameapi_async import GameApiClient, RedisGameListStore, RetryPolicy


class ShiftedClock:
    """The real clock, moved forward on command (all workers move together)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def say(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def call(client: GameApiClient, callers: int) -> dict[str, object]:
    started = time.perf_counter()
    finished: list[float] = []

    async def one() -> str | None:
        games = await client.list_games()
        finished.append(time.perf_counter() - started)
        assert len(games.games) == games.total
        return games.request_id

    results = await asyncio.gather(*(one() for _ in range(callers)), return_exceptions=True)
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    return {
        "ok": len(results) - len(errors),
        "errors": errors[:3],
        "request_ids": sorted({r for r in results if isinstance(r, str)}),
        "slowest": max(finished, default=0.0),
        "stats": attrs.asdict(client.cache_stats()),
    }


async def main(redis_url: str, base_url: str, token: str, lease: float) -> None:
    clock = ShiftedClock()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with RedisGameListStore(redis_url, lease=lease, poll_interval=0.5) as store:
        await store.peek("warm-up")
        async with GameApiClient(
            base_url=base_url, agent_id=1, api_token=token, games_store=store, clock=clock,
            retry=RetryPolicy.disabled(), timeout=120,
        ) as client:
            say({"ready": True})
            while line := (await reader.readline()).decode().split():
                command, argument = line[0], float(line[1]) if len(line) > 1 else 0.0
                if command == "call":
                    say(await call(client, int(argument)))
                elif command == "advance":
                    clock.offset += argument
                    say({"advanced": clock.offset})
                elif command == "quit":
                    break


if __name__ == "__main__":
    redis_url, base_url, token, lease = sys.argv[1:5]
    asyncio.run(main(redis_url, base_url, token, float(lease)))
