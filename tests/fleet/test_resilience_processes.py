"""The fleet's circuit across real processes (tests/fleet/resilience_worker.py) sharing one real
redis-server and one fake platform: one process opens it for all, one probe closes it for all."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from gameapi_async.fleet._shared_list import namespace_for
from gameapi_async.testing import FakePlatform

from .conftest import FLEET_TOKEN
from .redis_server import RedisServer
from .support import DEADLINE, eventually

ROOT = Path(__file__).resolve().parents[2]
DEMO_PATH = "/api/games/get_game_link_demo"

pytestmark = pytest.mark.slow


class Process:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()
        return await self.answer()

    async def answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), DEADLINE)
        if not line:
            raise AssertionError(f"worker {self.process.pid} exited ({self.process.returncode})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def call_until(self, outcome: str, what: str) -> dict[str, Any]:
        """Call until the outcome is ``outcome`` (polling, up to DEADLINE)."""
        async def poll() -> dict[str, Any]:
            for _ in itertools.count():
                answer = await self.ask("call")
                if answer["outcome"] == outcome:
                    break
                await asyncio.sleep(0.02)  # a poll, bounded by DEADLINE below
            return answer

        try:
            return await asyncio.wait_for(poll(), DEADLINE)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None


@asynccontextmanager
async def processes(
    server: RedisServer, platform: FakePlatform, thresholds: list[int], cool_down: float
) -> AsyncIterator[list[Process]]:
    started = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.fleet.resilience_worker", server.url,
            platform.base_url, FLEET_TOKEN, str(threshold), str(cool_down), cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        for threshold in thresholds
    ]
    workers = [Process(p) for p in started]
    try:
        for worker in workers:
            assert await worker.answer() == {"ready": True}
        channel = f"gameapi:{{{namespace_for(platform.base_url, 1)}:circuit}}:changed"
        await eventually(
            lambda: server.client().pubsub_numsub(channel)[0][1] == len(workers),
            "every process listening to the fleet",
        )
        yield workers
    finally:
        for process in started:
            if process.returncode is None:
                process.kill()
            await asyncio.wait_for(process.wait(), DEADLINE)


async def test_one_process_opens_the_circuit_and_one_probe_closes_it_for_all(
    redis_server: RedisServer, platform: FakePlatform
) -> None:
    # Only the first process can open the circuit by itself; the others only hear of it.
    async with processes(redis_server, platform, [3, 10_000, 10_000], cool_down=1.0) as fleet:
        opener, *others = fleet
        platform.go_down()
        for _ in range(3):
            assert (await opener.ask("call"))["outcome"] == "ApiError"
        assert (await opener.ask("call"))["outcome"] == "CircuitOpenError"
        for other in others:
            told = await other.call_until("CircuitOpenError", "the fleet's word: open")
            assert told["changes"] == [["open", "fleet"]]
        down = len(platform.requests_to(DEMO_PATH))
        for other in others:  # while open, the fleet sends nothing
            assert (await other.ask("call"))["outcome"] == "CircuitOpenError"
        assert len(platform.requests_to(DEMO_PATH)) == down
        platform.come_back()
        await opener.call_until("link", "the opener's probe, after the cool-down")
        probed = len(platform.requests_to(DEMO_PATH))
        for other in others:  # back within the cool-down, with no probe of their own
            answer = await other.call_until("link", "the fleet's word: closed")
            assert answer["changes"][-1][0] == "closed"
        assert len(platform.requests_to(DEMO_PATH)) == probed + len(others)
        assert platform.requests_to(DEMO_PATH)[probed - 1].outcome == "success"
