"""The fleet as it runs: real worker processes (tests/fleet/worker.py) sharing one real
redis-server and one fake platform served on loopback by this test."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from gameapi_async.testing import FakePlatform

from .conftest import FLEET_TOKEN, list_requests
from .redis_server import RedisServer
from .support import DEADLINE, age_stored_lists, command_calls, eventually, namespace_keys

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


class Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def ask(self, command: str) -> dict[str, Any]:
        await self.send(command)
        return await self.answer()

    async def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()

    async def answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), DEADLINE)
        if not line:
            raise AssertionError(f"worker {self.process.pid} exited ({self.process.returncode})")
        answer: dict[str, Any] = json.loads(line)
        return answer


@asynccontextmanager
async def fleet(
    count: int, server: RedisServer, platform: FakePlatform, lease: float = 10.0
) -> AsyncIterator[list[Worker]]:
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.fleet.worker", server.url, platform.base_url,
            FLEET_TOKEN, str(lease), cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(count)
    ]
    workers = [Worker(p) for p in processes]
    try:
        for worker in workers:
            assert await worker.answer() == {"ready": True}
        yield workers
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
            await asyncio.wait_for(process.wait(), DEADLINE)


async def test_cold_stampede_of_8_processes_makes_one_upstream_request(
    redis_server: RedisServer, platform: FakePlatform
) -> None:
    platform.faults.latency = 2.0
    async with fleet(8, redis_server, platform) as workers:
        answers = await asyncio.gather(*(w.ask("call 500") for w in workers))
    assert list_requests(platform) == 1
    assert [a["ok"] for a in answers] == [500] * 8
    assert len({rid for a in answers for rid in a["request_ids"]}) == 1  # one list everywhere
    assert sum(a["stats"]["lock_waits"] + a["stats"]["shared_hits"] for a in answers) >= 7


async def test_past_the_ttl_the_fleet_serves_stale_at_once_and_refreshes_once(
    redis_server: RedisServer, platform: FakePlatform
) -> None:
    async with fleet(4, redis_server, platform) as workers:
        first = await asyncio.gather(*(w.ask("call 50") for w in workers))
        old = {rid for a in first for rid in a["request_ids"]}
        assert len(old) == 1
        assert list_requests(platform) == 1
        hours = 4 * 3600.0  # past the 3 h default TTL, within the 24 h max-stale
        platform.faults.clock_offset = hours
        platform.faults.latency = 1.0
        await asyncio.gather(*(w.ask(f"advance {hours}") for w in workers))
        stale = await asyncio.gather(*(w.ask("call 50") for w in workers))
        assert {rid for a in stale for rid in a["request_ids"]} == old  # at once, no error

        async def everyone_has_a_new_list() -> set[str]:
            while True:
                answers = await asyncio.gather(*(w.ask("call 1") for w in workers))
                ids = {rid for a in answers for rid in a["request_ids"]}
                if len(ids) == 1 and ids != old:
                    return ids
                await asyncio.sleep(0.1)

        await asyncio.wait_for(everyone_has_a_new_list(), DEADLINE)
    assert list_requests(platform) == 2  # one refresh for the whole fleet


async def test_a_holder_killed_mid_fetch_is_taken_over_within_the_lease(
    redis_server: RedisServer, platform: FakePlatform
) -> None:
    platform.faults.stall_rate = 1.0  # the first fetch hangs (the fake cancels it on stop)
    platform.faults.stall_seconds = 600.0
    server = redis_server.client()
    # A lease long enough that the waiter, started before the kill, surely finds the lock
    # still held on a loaded machine (and so waits, then takes over).
    async with fleet(2, redis_server, platform, lease=6.0) as (holder, waiter):
        await holder.send("call 10")
        await eventually(
            lambda: any(k.endswith(":lock") for k in namespace_keys(server)), "the lock"
        )
        # The holder's request must be hanging at the platform before the stall is lifted:
        # one still in a socket buffer (a loaded machine) would be answered 200 to nobody,
        # counted below as a second successful fetch.
        await eventually(lambda: len(platform._stalls) == 1, "the holder's request to hang")
        await waiter.send("call 10")  # waits: the lock is held
        os.kill(holder.process.pid, signal.SIGKILL)
        # Only now may fetches succeed: the holder's request never gets an answer, so the
        # waiter can only have the list by taking over.
        platform.faults.stall_rate = 0.0
        answer = await waiter.answer()
    assert answer["ok"] == 10
    assert answer["stats"]["takeovers"] == 1
    assert answer["stats"]["lock_waits"] == 1
    assert len([r for r in platform.requests_to("/api/games/list") if r.status == 200]) == 1


async def test_during_a_platform_outage_a_new_process_gets_the_fleets_list_and_one_retry(
    redis_server: RedisServer, platform: FakePlatform
) -> None:
    server = redis_server.client()
    async with fleet(3, redis_server, platform) as (first, newcomer, other):
        listed = await first.ask("call 10")
        assert list_requests(platform) == 1
        hours = 4 * 3600.0  # past the TTL, within max-stale
        platform.faults.clock_offset = hours
        platform.faults.error_rate, platform.faults.error_statuses = 1.0, (503,)
        await asyncio.gather(*(w.ask(f"advance {hours}") for w in (first, newcomer, other)))
        age_stored_lists(server, hours)  # the fleet ages lists by Redis' clock
        answer = await newcomer.ask("call 10")  # its first call: the fleet's list, no error
        assert answer["ok"] == 10
        assert answer["request_ids"] == listed["request_ids"]
        await newcomer.ask("call 1")  # stale: its background refresh fails and backs off
        await eventually(
            lambda: any(k.endswith(":backoff") for k in namespace_keys(server)), "the back-off"
        )
        looks = command_calls(server, "pttl")
        assert (await other.ask("call 10"))["ok"] == 10  # the fleet's list, at once
        answer = await other.ask("call 10")  # stale: its refresh sees the back-off
        assert answer["ok"] == 10
        await eventually(lambda: command_calls(server, "pttl") > looks, "the back-off check")
        assert (await other.ask("call 10"))["ok"] == 10
    assert list_requests(platform) == 2  # the first fetch and one failed refresh, fleet-wide
