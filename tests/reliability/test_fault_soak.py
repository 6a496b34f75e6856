"""Fault soak: thousands of calls through injected 5xx, dropped connections and stalls."""

from __future__ import annotations

import asyncio
import gc
import random
import time
from collections import Counter

import pytest

import gameapi_async as ga
from gameapi_async import GameApiClient
from gameapi_async.testing import FakePlatform, Faults

CALLS = 2000
CONCURRENCY = 100
ATTEMPT_TIMEOUT = 2.0
PLAYER = {"player_id": "p", "player_username": "u", "language": "en", "currency": "USD",
          "home_url": "https://c.example", "ip": "203.0.113.1"}


@pytest.mark.slow
async def test_default_policy_rides_out_twenty_percent_faults() -> None:
    # 20% of answers are faults: 12% server errors, 4% dropped connections, 4% stalls that
    # outlast the client's attempt timeout. The timeout must sit well above a healthy answer's
    # latency even on a loaded CI machine (p99 reached 0.46 s with the CPU shared three ways),
    # or healthy answers time out too and the fault rate the test means to inject is exceeded.
    faults = Faults(error_rate=0.125, error_statuses=(500, 502, 503, 504, 429), drop_rate=0.04,
                    stall_rate=0.04, stall_seconds=60.0)
    rng = random.Random(7)
    outcomes: list[object] = []
    started = time.monotonic()
    async with FakePlatform(agent_id=1, api_token="soak", faults=faults, seed=11) as fake:
        async with GameApiClient(base_url=fake.base_url, agent_id=1, api_token="soak",
                                 timeout=ATTEMPT_TIMEOUT, games_ttl=0) as client:
            gate = asyncio.Semaphore(CONCURRENCY)

            async def one(n: int) -> None:
                async with gate:
                    try:
                        if n % 10 == 0:
                            outcomes.append(await client.list_games())
                        elif n % 2:
                            outcomes.append(await client.get_game_link(
                                game_id=rng.choice((2, 6, 10)), agent_session_id=f"s{n}",
                                **PLAYER))
                        else:
                            outcomes.append(await client.get_game_link_demo(
                                game_id=rng.choice((1, 3, 4)), **PLAYER))
                    except ga.GameApiError as error:
                        outcomes.append(error)

            async with asyncio.timeout(120):
                await asyncio.gather(*(one(n) for n in range(CALLS)))
        injected = sum(r.outcome in ("injected", "dropped") for r in fake.requests)
    elapsed = time.monotonic() - started

    failures = [o for o in outcomes if isinstance(o, ga.GameApiError)]
    assert len(outcomes) == CALLS  # nothing lost
    assert injected > CALLS * 0.1  # the faults really happened
    kinds = Counter(type(failure).__name__ for failure in failures)
    assert len(failures) <= CALLS * 0.005, (kinds, failures[:5])
    for failure in failures:  # typed, and says how hard it tried
        assert isinstance(failure, ga.TransportError | ga.ApiError | ga.ResponseError)
        assert failure.attempts >= 1
    assert elapsed < 120
    gc.collect()
    assert asyncio.all_tasks() == {asyncio.current_task()}
